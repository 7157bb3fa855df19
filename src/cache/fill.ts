import { ComputeError, WaitTimeoutError } from '../errors.js';
import type { CacheKeys } from '../keys.js';
import { logEvent } from '../logger.js';
import { acquireLock } from '../lock/redis-lock.js';
import type { Call, GuardResult, StrategyDeps } from './context.js';
import { isFresh, type Envelope } from './envelope.js';
import { computeAsHolder, releaseAsHolder } from './holder.js';
import { readEnvelope } from './store.js';
import { waitForHolder } from './wait.js';

/**
 * Get a fresh value into the cache with one computation in the fleet: take the lock and
 * compute, or wait for whoever has it; contend again if the holder vanished. `stale` is the
 * value we already have past its fresh time, if any: the failure policy may fall back on it.
 */
export async function fill<T>(
  call: Call<T>,
  deps: StrategyDeps,
  keys: CacheKeys,
  stale: Envelope | null,
): Promise<GuardResult<T>> {
  const giveUpAt = Date.now() + deps.maxWaitMs;
  let retries = deps.failurePolicy === 'retry' ? 1 : 0;

  for (;;) {
    const lease = await acquireLock(deps.redis, keys, deps.lockTtlMs, call.log);
    if (lease) {
      logEvent(call.log, 'info', 'lock.acquired', { fence: lease.fence });
      // Double-checked locking: the previous holder may have written and released between our
      // miss and our acquire. Reading again costs one command per holder and saves a recompute.
      const filled = await readEnvelope<T>(deps.redis, keys);
      if (filled && isFresh(filled)) {
        await releaseAsHolder(call as Call<unknown>, deps, keys, lease);
        return { value: filled.value, source: 'cache' };
      }
      try {
        const envelope = await computeAsHolder(call, deps, keys, lease);
        return { value: envelope.value, source: 'computed' };
      } catch (err) {
        // The holder's own caller gets its error (or the stale value); a retry is for a new holder.
        return fallBack(call, deps, stale, err);
      }
    }

    logEvent(call.log, 'info', 'lock.busy');
    const remaining = giveUpAt - Date.now();
    if (remaining <= 0) throw new WaitTimeoutError(`gave up waiting for key "${call.key}" after ${deps.maxWaitMs} ms`);
    const outcome = await waitForHolder(call as Call<unknown>, deps, keys, Math.min(deps.lockTtlMs, remaining));
    if (outcome.kind === 'value') return { value: outcome.envelope.value as T, source: 'waited' };
    if (outcome.kind === 'failed') {
      if (retries-- > 0) continue; // `retry`: contend once more; one waiter becomes the new holder
      return fallBack(call, deps, stale, new ComputeError(`the computation of "${call.key}" failed in its holder: ${outcome.reason}`));
    }
    // released or timeout: the holder gave up or vanished; contend again.
  }
}

/** The failure policy: a usable stale value (`stale`), else the error. */
function fallBack<T>(call: Call<T>, deps: StrategyDeps, stale: Envelope | null, err: unknown): GuardResult<T> {
  if (deps.failurePolicy === 'stale' && stale) {
    logEvent(call.log, 'warn', 'stale.served', { reason: 'compute-failed', computedAt: stale.computedAt });
    return { value: stale.value as T, source: 'stale' };
  }
  throw err;
}
