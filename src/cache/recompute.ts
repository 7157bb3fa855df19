import { ComputeTimeoutError } from '../errors.js';
import { logEvent } from '../logger.js';
import type { Envelope } from './envelope.js';
import type { Call, StrategyDeps } from './context.js';

/**
 * Run the caller's computation once, logging it: one `recompute.start` is one recomputation
 * (the log report counts exactly these), `recompute.end` carries `durationMs`.
 *
 * The computation's signal aborts when `abort` does (the holder lost its lock), when the guard
 * closes, or after the compute timeout; on a timeout or abort this rejects at once, without
 * waiting for a computation that ignores its signal, so waiters are not held up by it.
 * Returns the envelope to store, with the given fence.
 */
export async function recompute<T>(
  call: Call<T>,
  deps: StrategyDeps,
  fence: number,
  abort: AbortController = new AbortController(),
): Promise<Envelope<T>> {
  const started = performance.now();
  const signal = AbortSignal.any([abort.signal, deps.signal]);
  let timer: NodeJS.Timeout | undefined;
  if (deps.computeTimeoutMs > 0) {
    timer = setTimeout(
      () => abort.abort(new ComputeTimeoutError(`computation of "${call.key}" took longer than ${deps.computeTimeoutMs} ms`)),
      deps.computeTimeoutMs,
    );
    timer.unref();
  }
  logEvent(call.log, 'info', 'recompute.start', { fence });
  let value: T;
  try {
    value = await Promise.race([call.compute({ key: call.key, signal }), rejectOnAbort(signal)]);
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
