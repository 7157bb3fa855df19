import type { Queue, QueueEvents } from 'bullmq';
import type { GetValueData } from '../../src/bullmq/job-data.js';
import { JobTracker, type TrackedSummary } from './job-tracker.js';
import { enqueueBurst, type BurstSpec } from './producer.js';

export interface BurstSummary extends TrackedSummary {
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
  const enqueueFailures: Record<string, number> = {};
  let notEnqueued = 0;
  const tracker = new JobTracker(events, (finished) => options.onProgress?.(finished, spec.jobs - notEnqueued));
  try {
    // A chunk that cannot be enqueued is counted and reported, not thrown: the jobs that did
    // make it are still waited for, and the summary says how many did not.
    const ids = await enqueueBurst(queue, spec, options.chunkSize, ({ jobs, reason }) => {
      notEnqueued += jobs;
      enqueueFailures[reason] = (enqueueFailures[reason] ?? 0) + jobs;
    });
    // Latency counts from the start of the burst, as its requests would.
    tracker.add(ids, started);
    const done = await tracker.allDone(options.timeoutMs ?? 600_000);
    return {
      runId: spec.runId,
      jobs: spec.jobs,
      enqueued: ids.length,
      notEnqueued,
      enqueueFailures,
      ...tracker.summary(),
      elapsedMs: Date.now() - started,
      timedOut: !done,
    };
  } finally {
    tracker.close();
  }
}
