import { logEvent } from '../logger.js';
import type { Envelope } from './envelope.js';
import type { Call, StrategyDeps } from './context.js';

/**
 * Run the caller's computation once, logging it: one `recompute.start` is one recomputation
 * (the log report counts exactly these), `recompute.end` carries `durationMs`.
 * Returns the envelope to store, with the given fence.
 */
export async function recompute<T>(call: Call<T>, deps: StrategyDeps, fence: number): Promise<Envelope<T>> {
  const started = performance.now();
  logEvent(call.log, 'info', 'recompute.start', { fence });
  let value: T;
  try {
    value = await call.compute({ key: call.key, signal: deps.signal });
  } catch (err) {
    logEvent(call.log, 'error', 'recompute.failed', { durationMs: elapsed(started), err });
    throw err;
  }
  const computeMs = elapsed(started);
  logEvent(call.log, 'info', 'recompute.end', { durationMs: computeMs, fence });
  return { value, fence, computedAt: Date.now(), computeMs, ttlMs: call.ttlMs };
}

export function elapsed(startedAt: number): number {
  return Math.round((performance.now() - startedAt) * 100) / 100;
}
