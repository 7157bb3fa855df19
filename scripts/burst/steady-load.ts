import type { Queue, QueueEvents } from 'bullmq';
import type { Strategy } from '../../src/cache/strategy.js';
import { JOB_NAME } from '../../src/bullmq/names.js';
import type { GetValueData } from '../../src/bullmq/job-data.js';
import { JobTracker, type TrackedSummary } from './job-tracker.js';

export interface SteadyLoadSpec {
  key: string;
  strategy: Strategy;
  computeMs: number;
  runId: string;
  /** Jobs per second, sent in small batches every `tickMs`. */
  ratePerSecond: number;
  durationMs: number;
  /** @default 50 */
  tickMs?: number;
}

export interface SteadyLoadSummary extends TrackedSummary {
  runId: string;
  jobs: number;
  timedOut: boolean;
}

/**
 * Steady traffic on one key, as a hot key sees between bursts: a few jobs every tick for a while,
 * then wait for all of them. Run across a value's expiry, it shows whether requests wait for the
 * recomputation (`redis-lock`) or keep being served (`swr`, `xfetch`).
 */
export async function runSteadyLoad(
  queue: Queue<GetValueData>,
  events: QueueEvents,
  spec: SteadyLoadSpec,
  timeoutMs = 120_000,
): Promise<SteadyLoadSummary> {
  await events.waitUntilReady();
  const tracker = new JobTracker(events);
  const tickMs = spec.tickMs ?? 50;
  const perTick = Math.max(1, Math.round((spec.ratePerSecond * tickMs) / 1000));
  const data: GetValueData = { key: spec.key, strategy: spec.strategy, computeMs: spec.computeMs, runId: spec.runId };
  let jobs = 0;
  try {
    const endAt = Date.now() + spec.durationMs;
    let nextTick = Date.now();
    while (nextTick < endAt) {
      const enqueuedAt = Date.now();
      const added = await queue.addBulk(Array.from({ length: perTick }, () => ({ name: JOB_NAME, data })));
      tracker.add(
        added.map((job) => job.id!),
        enqueuedAt,
      );
      jobs += added.length;
      // Fixed-rate ticks (not fixed delays), so a slow addBulk does not lower the rate.
      nextTick += tickMs;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, nextTick - Date.now())));
    }
    const done = await tracker.allDone(timeoutMs);
    return { runId: spec.runId, jobs, timedOut: !done, ...tracker.summary() };
  } finally {
    tracker.close();
  }
}
