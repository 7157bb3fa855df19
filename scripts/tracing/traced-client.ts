import { SpanKind, SpanStatusCode, trace, type Attributes } from '@opentelemetry/api';
import type { GetValueClient } from '../../src/bullmq/client.js';
import type { GetValueResult } from '../../src/bullmq/job-data.js';
import { errorMessage } from '../../src/errors.js';

/** The producer's span of one job: the root of the job's trace. */
export const REQUEST_SPAN = 'get-value';

/** Run ids whose job count is kept at most; the oldest is forgotten past it (a producer runs a few). */
const MAX_RUNS = 1000;

/**
 * The get-value client with each get in a root span `get-value` of the global tracer provider,
 * active while the job is enqueued (so BullMQ's `add` span, and through the job the worker's
 * spans, are its descendants) and ended when the job's result or failure arrives. Attributes:
 * `cache_stampede.run_id`, `cache_stampede.job.key`, `cache_stampede.job.index` (the n-th get of
 * that run id through this client, from 0: a burst's job index, since a burst sends its jobs in
 * order) and `cache_stampede.strategy`; on completion `cache_stampede.source` and
 * `cache_stampede.worker_id`; a failed get has status ERROR with its message.
 */
export function traceRequests(client: GetValueClient): GetValueClient {
  const tracer = trace.getTracer('cache-stampede-lab');
  const sent = new Map<string, number>();
  const nextIndex = (runId: string) => {
    const index = sent.get(runId) ?? 0;
    sent.delete(runId); // re-inserted last: the map forgets the run used longest ago
    sent.set(runId, index + 1);
    if (sent.size > MAX_RUNS) sent.delete(sent.keys().next().value!);
    return index;
  };
  const traced = <T>(key: string, attributes: Attributes, get: () => Promise<GetValueResult<T>>): Promise<GetValueResult<T>> => {
    const runId = typeof attributes['cache_stampede.run_id'] === 'string' ? attributes['cache_stampede.run_id'] : '';
    const start = { 'cache_stampede.job.key': key, 'cache_stampede.job.index': nextIndex(runId), ...attributes };
    return tracer.startActiveSpan(REQUEST_SPAN, { root: true, kind: SpanKind.CLIENT, attributes: start }, async (span) => {
      try {
        const result = await get();
        span.setAttributes({ 'cache_stampede.source': result.source, 'cache_stampede.worker_id': result.workerId });
        return result;
      } catch (err) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: errorMessage(err) });
        throw err;
      } finally {
        span.end();
      }
    });
  };
  const runAttributes = (runId: string | undefined, strategy: string | undefined): Attributes => ({
    ...(runId !== undefined && { 'cache_stampede.run_id': runId }),
    ...(strategy !== undefined && { 'cache_stampede.strategy': strategy }),
  });
  return {
    get: (key, options) => traced(key, runAttributes(options?.runId, options?.strategy ?? 'redis-lock'), () => client.get(key, options)),
    request: (data, options) => traced(data.key, runAttributes(data.runId, data.strategy), () => client.request(data, options)),
    get pending() {
      return client.pending;
    },
    close: () => client.close(),
  };
}
