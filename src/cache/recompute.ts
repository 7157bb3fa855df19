import { ComputeTimeoutError } from '../errors.js';
import { logEvent } from '../logger.js';
import type { Envelope } from './envelope.js';
import type { Call, StrategyDeps } from './context.js';

/**
 * Run the caller's computation once, logging it: one `recompute.start` is one recomputation
 * (the log report counts exactly these), `recompute.end` carries `durationMs`.
 *
 * The computation's signal aborts after the compute timeout, when the guard closes, and when
 * `lockLost` does. On a timeout or close this rejects at once, without waiting for a
 * computation that ignores its signal, so waiters are told now. A lost lock only asks the
 * computation to stop: if it finishes anyway, its write still comes and the fence decides.
 * Returns the envelope to store, with the given fence.
 */
export async function recompute<T>(
  call: Call<T>,
  deps: StrategyDeps,
  fence: number,
  lockLost?: AbortSignal,
): Promise<Envelope<T>> {
  const started = performance.now();
  const timeout = new AbortController();
  const giveUp = AbortSignal.any([timeout.signal, deps.signal]);
  const signal = lockLost ? AbortSignal.any([giveUp, lockLost]) : giveUp;
  let timer: NodeJS.Timeout | undefined;
  if (deps.computeTimeoutMs > 0) {
    timer = setTimeout(
      () => timeout.abort(new ComputeTimeoutError(`computation of "${call.key}" took longer than ${deps.computeTimeoutMs} ms`)),
      deps.computeTimeoutMs,
    );
    timer.unref();
  }
  logEvent(call.log, 'info', 'recompute.start', { fence });
  let value: T;
  try {
    value = await Promise.race([call.compute({ key: call.key, signal }), rejectOnAbort(giveUp)]);
  } catch (err) {
    logEvent(call.log, 'error', 'recompute.failed', { durationMs: elapsed(started), fence, err });
    throw err;
  } finally {
    clearTimeout(timer);
  }
  const computeMs = elapsed(started);
  logEvent(call.log, 'info', 'recompute.end', { durationMs: computeMs, fence });
  const now = Date.now();
  // Jitter shortens the fresh time at random, so keys written together do not expire together.
  const ttlMs = Math.max(1, Math.round(call.ttlMs * (1 - deps.ttlJitter * deps.random())));
  return { value, fence, computedAt: now, computeMs, ttlMs, freshUntil: now + ttlMs };
}

function rejectOnAbort(signal: AbortSignal): Promise<never> {
  return new Promise((_resolve, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

export function elapsed(startedAt: number): number {
  return Math.round((performance.now() - startedAt) * 100) / 100;
}
