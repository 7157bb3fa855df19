import type { GetValueClient } from '../../src/bullmq/client.js';
import type { GetValueData } from '../../src/bullmq/job-data.js';
import type { Strategy } from '../../src/cache/strategy.js';
import { Tally, type TallySummary } from './tally.js';

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

export interface SteadyLoadSummary extends TallySummary {
  runId: string;
  jobs: number;
  timedOut: boolean;
}

/**
 * Steady traffic on one key, as a hot key sees between bursts: a few jobs every tick for a while,
 * then wait for all of them. Run across a value's expiry, it shows whether requests wait for the
 * recomputation (`redis-lock`) or keep being served (`swr`, `xfetch`).
 */
export async function runSteadyLoad(client: GetValueClient, spec: SteadyLoadSpec, timeoutMs = 120_000): Promise<SteadyLoadSummary> {
  const tally = new Tally();
  const tickMs = spec.tickMs ?? 50;
  const perTick = Math.max(1, Math.round((spec.ratePerSecond * tickMs) / 1000));
  const data: GetValueData = { key: spec.key, strategy: spec.strategy, computeMs: spec.computeMs, runId: spec.runId };
  const gets: Promise<void>[] = [];
  const endAt = Date.now() + spec.durationMs;
  let nextTick = Date.now();
  while (nextTick < endAt) {
    for (let i = 0; i < perTick; i++) {
      const sentAt = Date.now();
      gets.push(
        client.request(data, { timeoutMs }).then(
          (result) => tally.completed(result, Date.now() - sentAt),
          (err: unknown) => {
            if (!tally.notCompleted(err, Date.now() - sentAt)) throw err;
          },
        ),
      );
    }
    // Fixed-rate ticks (not fixed delays), so a slow enqueue does not lower the rate.
    nextTick += tickMs;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, nextTick - Date.now())));
  }
  await Promise.all(gets);
  return { runId: spec.runId, jobs: gets.length, timedOut: tally.timedOut > 0, ...tally.summary() };
}
