import type { GetManyClient, GetValueClient } from '../../src/bullmq/client.js';
import { EnqueueError, JobFailedError, errorMessage } from '../../src/errors.js';
import { redactUrl } from '../common/logging.js';
import { burstBatchJob, burstJob, type BurstSpec } from './producer.js';
import { Tally, type TallySummary } from './tally.js';

export interface BurstSummary extends TallySummary {
  runId: string;
  /** Jobs the burst was asked to send. */
  jobs: number;
  /** Jobs the producer enqueued: `jobs - notEnqueued`. Completed, failed and lost ones are among these. */
  enqueued: number;
  /** Jobs the producer could not enqueue (Redis down, ...): reported, not waited for. */
  notEnqueued: number;
  /** Why jobs could not be enqueued, and how many jobs each reason cost. */
  enqueueFailures: Record<string, number>;
  elapsedMs: number;
  /** True when the wait ended before every job finished. */
  timedOut: boolean;
  /**
   * A batch burst's jobs (`--batch N`): then `completed`, `failed`, `failures`, `sources`,
   * `distinctValues` and `latencyMs` count key requests (a job of N keys is N of them, a key that
   * failed alone one failed request, a failed job N), and this counts the jobs.
   */
  batch?: BatchCounts;
}

export interface BatchCounts {
  /** Keys per job. */
  keysPerJob: number;
  /** Key requests sent: enqueued jobs x keysPerJob. */
  keyRequests: number;
  /** Jobs that completed (some of their keys may have failed alone), and jobs that failed whole. */
  jobsCompleted: number;
  jobsFailed: number;
}

export interface BurstOptions {
  /** Called after each finished job with (finished, total). */
  onProgress?: (finished: number, total: number) => void;
  /** Give up waiting after this long. @default 10 minutes */
  timeoutMs?: number;
  /**
   * Jobs in flight at most: a burst of a million would otherwise hold a million pending gets.
   * Up to this many, every job is sent at once. @default 10000
   */
  maxInFlight?: number;
}

/**
 * Send a burst through the get-value client, every job at once (up to `maxInFlight`), and wait
 * for every one of them. A job that could not be enqueued is counted and reported, not thrown:
 * the others are still waited for, and the summary says how many did not make it.
 */
export async function runBurst(
  client: GetValueClient & Partial<Pick<GetManyClient, 'requestMany'>>,
  spec: BurstSpec,
  options: BurstOptions = {},
): Promise<BurstSummary> {
  const { batch } = spec;
  const requestMany = client.requestMany;
  if (batch !== undefined && requestMany === undefined)
    throw new Error('a batch burst needs a client with requestMany (createGetManyClient)');
  const jobsOf = { completed: 0, failed: 0 };
  const started = Date.now();
  const deadline = started + (options.timeoutMs ?? 600_000);
  const tally = new Tally();
  const enqueueFailures: Record<string, number> = {};
  let notEnqueued = 0;
  let next = 0;
  const notSent = (reason: string) => {
    notEnqueued += 1;
    enqueueFailures[reason] = (enqueueFailures[reason] ?? 0) + 1;
  };

  const lane = async () => {
    while (next < spec.jobs) {
      const index = next++;
      const timeoutMs = deadline - Date.now();
      if (timeoutMs <= 0) {
        notSent('the burst timed out before this job was sent');
        continue;
      }
      try {
        // Latency counts from the start of the burst, as its requests would.
        if (batch === undefined) {
          tally.completed(await client.request(burstJob(spec, index), { timeoutMs }), Date.now() - started);
        } else {
          const result = await requestMany!(burstBatchJob({ ...spec, batch }, index), { timeoutMs });
          const latencyMs = Date.now() - started;
          jobsOf.completed += 1;
          for (const key of result.keys) {
            const answer = result.results[key]!;
            if ('error' in answer) tally.failed(answer.error, latencyMs);
            else tally.completed(answer, latencyMs);
          }
        }
      } catch (err) {
        if (err instanceof EnqueueError) notSent(redactUrl(errorMessage(err.cause)));
        else if (!tally.notCompleted(err, Date.now() - started, batch)) throw err;
        else if (err instanceof JobFailedError) jobsOf.failed += 1;
      }
      options.onProgress?.(batch === undefined ? tally.finished : jobsOf.completed + jobsOf.failed, spec.jobs - notEnqueued);
    }
  };
  await Promise.all(Array.from({ length: Math.min(spec.jobs, options.maxInFlight ?? 10_000) }, lane));
  return {
    runId: spec.runId,
    jobs: spec.jobs,
    enqueued: spec.jobs - notEnqueued,
    notEnqueued,
    enqueueFailures,
    ...tally.summary(),
    elapsedMs: Date.now() - started,
    timedOut: tally.timedOut > 0,
    ...(batch !== undefined && {
      batch: {
        keysPerJob: batch,
        keyRequests: (spec.jobs - notEnqueued) * batch,
        jobsCompleted: jobsOf.completed,
        jobsFailed: jobsOf.failed,
      },
    }),
  };
}
