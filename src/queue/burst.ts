import type { Queue, QueueEvents } from 'bullmq';
import { percentile } from '../report/percentile.js';
import type { GetValueData, GetValueResult } from './job-data.js';
import { enqueueBurst, type BurstSpec } from './producer.js';

export interface BurstSummary {
  runId: string;
  /** Jobs the burst was asked to send. */
  jobs: number;
  /** Jobs the producer enqueued: `jobs - notEnqueued`. Completed, failed and lost ones are among these. */
  enqueued: number;
  /** Jobs the producer could not enqueue (Redis down, ...): reported, not waited for. */
  notEnqueued: number;
  /** Why jobs could not be enqueued, and how many jobs each reason cost. */
  enqueueFailures: Record<string, number>;
  completed: number;
  failed: number;
  /** Failure reasons and how many jobs failed with each. */
  failures: Record<string, number>;
  distinctValues: number;
  sources: { computed: number; waited: number; cache: number; stale: number };
  /** Enqueue to completion as seen by the producer, ms. */
  latencyMs: { p50: number; p99: number; max: number };
  elapsedMs: number;
  /** True when the wait ended before every job finished. */
  timedOut: boolean;
}

export interface BurstOptions {
  /** Called after each finished job with (finished, total). */
  onProgress?: (finished: number, total: number) => void;
  /** Give up waiting after this long. @default 10 minutes */
  timeoutMs?: number;
  /** Jobs per addBulk call. @default 1000 */
  chunkSize?: number;
}

/**
 * Enqueue a burst and wait for every job of it, collecting return values from QueueEvents.
 * QueueEvents must be ready before the jobs are added, or early completions would be missed.
 */
export async function runBurst(
  queue: Queue<GetValueData>,
  events: QueueEvents,
  spec: BurstSpec,
  options: BurstOptions = {},
): Promise<BurstSummary> {
  await events.waitUntilReady();
  const started = Date.now();
  const pending = new Set<string>();
  const early = new Map<string, { ok: boolean; payload: string }>();
  const latencies: number[] = [];
  const values = new Set<string>();
  const sources = { computed: 0, waited: 0, cache: 0, stale: 0 };
  const failures: Record<string, number> = {};
  const enqueueFailures: Record<string, number> = {};
  let notEnqueued = 0;
  let completed = 0;
  let failed = 0;
  let enqueuedAt = started;
  let finishAll: () => void = () => {};
  const allDone = new Promise<void>((resolve) => (finishAll = resolve));

  const settle = (jobId: string, ok: boolean, payload: string) => {
    if (!pending.delete(jobId)) {
      // Completion raced ahead of addBulk's reply: keep it until we know the id is ours.
      early.set(jobId, { ok, payload });
      return;
    }
    latencies.push(Date.now() - enqueuedAt);
    if (ok) {
      completed += 1;
      const result = parseResult(payload);
      if (result) {
        values.add(JSON.stringify(result.value));
        sources[result.source] += 1;
      }
    } else {
      failed += 1;
      failures[payload] = (failures[payload] ?? 0) + 1;
    }
    options.onProgress?.(completed + failed, spec.jobs - notEnqueued);
    if (pending.size === 0) finishAll();
  };
  const onCompleted = ({ jobId, returnvalue }: { jobId: string; returnvalue: unknown }) =>
    settle(jobId, true, typeof returnvalue === 'string' ? returnvalue : JSON.stringify(returnvalue));
  const onFailed = ({ jobId, failedReason }: { jobId: string; failedReason: string }) => settle(jobId, false, failedReason);
  events.on('completed', onCompleted);
  events.on('failed', onFailed);

  try {
    enqueuedAt = Date.now();
    // A chunk that cannot be enqueued is counted and reported, not thrown: the jobs that did
    // make it are still waited for, and the summary says how many did not.
    const ids = await enqueueBurst(queue, spec, options.chunkSize, ({ jobs, reason }) => {
      notEnqueued += jobs;
      enqueueFailures[reason] = (enqueueFailures[reason] ?? 0) + jobs;
    });
    for (const id of ids) pending.add(id);
    for (const [id, outcome] of early) if (pending.has(id)) settle(id, outcome.ok, outcome.payload);
    early.clear();
    if (pending.size === 0) finishAll();

    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      allDone.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), options.timeoutMs ?? 600_000);
        // The QueueEvents connection keeps the process alive while jobs are awaited; this timer
        // alone must not keep it alive for minutes after a caller gave up on the burst.
        timer.unref();
      }),
    ]);
    clearTimeout(timer);

    return {
      runId: spec.runId,
      jobs: spec.jobs,
      enqueued: ids.length,
      notEnqueued,
      enqueueFailures,
      completed,
      failed,
      failures,
      distinctValues: values.size,
      sources,
      latencyMs: {
        p50: percentile(latencies, 50) ?? 0,
        p99: percentile(latencies, 99) ?? 0,
        max: latencies.length ? Math.max(...latencies) : 0,
      },
      elapsedMs: Date.now() - started,
      timedOut,
    };
  } finally {
    events.off('completed', onCompleted);
    events.off('failed', onFailed);
  }
}

function parseResult(payload: string): GetValueResult | null {
  try {
    return JSON.parse(payload) as GetValueResult;
  } catch {
    return null;
  }
}
