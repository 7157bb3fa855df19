import { ComputeError, LockLostError, WaitTimeoutError } from '../errors.js';
import type { CacheKeys } from '../keys.js';
import { logEvent } from '../logger.js';
import { inBackoff, startBackoff } from './backoff.js';
import { claim } from './claim.js';
import type { Call, GuardResult, StrategyDeps } from './context.js';
import { computeAsHolder } from './holder.js';
import type { Cached } from './store.js';
import { waitForHolder } from './wait.js';

/**
 * Get a fresh value into the cache with one computation in the fleet: take the lock and
 * compute, or wait for whoever has it; contend again if the holder vanished or this caller lost
 * its lock. `stale` is the value we already have past its fresh time, if any: the failure policy
 * may fall back on it, and during a failure back-off it is served without computing.
 */
export async function fill<T>(call: Call<T>, deps: StrategyDeps, keys: CacheKeys, stale: Cached<T> | null): Promise<GuardResult<T>> {
  if (stale && deps.failurePolicy === 'stale' && inBackoff(stale)) {
    logEvent(call.log, 'info', 'stale.served', { reason: 'backoff', computedAt: stale.computedAt, backoffUntil: stale.backoffUntil });
    return { value: stale.value, source: 'stale' };
  }
  const giveUpAt = Date.now() + deps.maxWaitMs;
  let retries = deps.failurePolicy === 'retry' ? 1 : 0;

  for (;;) {
    const claimed = await claim<T>(deps.redis, keys, deps.lockTtlMs, null, call.log);
    // Someone wrote between our miss and now: the script returned the value instead of the lock.
    if (claimed.kind === 'value') return { value: claimed.envelope.value, source: 'cache' };
    if (claimed.kind === 'lock') {
      const { lease } = claimed;
      logEvent(call.log, 'info', 'lock.acquired', { fence: lease.fence });
      try {
        const envelope = await computeAsHolder(call, deps, keys, lease);
        return { value: envelope.value, source: 'computed' };
      } catch (err) {
        // Our lock is someone else's now: wait for that holder's value, like any waiter.
        if (err instanceof LockLostError) continue;
        // The holder's own caller gets its error (or the stale value); a retry is for a new holder.
        return fallBack(call, deps, keys, stale, err, true);
      }
    }

    logEvent(call.log, 'info', 'lock.busy');
    const remaining = giveUpAt - Date.now();
    if (remaining <= 0) throw new WaitTimeoutError(call.key, `gave up waiting for key "${call.key}" after ${deps.maxWaitMs} ms`);
    const outcome = await waitForHolder(call as Call<unknown>, deps, keys, Math.min(deps.lockTtlMs, remaining));
    if (outcome.kind === 'value') return { value: outcome.envelope.value as T, source: 'waited' };
    if (outcome.kind === 'failed') {
      if (retries-- > 0) continue; // `retry`: contend once more; one waiter becomes the new holder
      const failure = new ComputeError(call.key, `the computation of "${call.key}" failed in its holder: ${outcome.reason}`);
      return fallBack(call, deps, keys, stale, failure, false);
    }
    // released or timeout: the holder gave up or vanished; contend again.
  }
}

/**
 * The failure policy: a usable stale value (`stale`), else the error. The holder that served a
 * stale value for its own failure starts the fleet's back-off (its waiters were told the same).
 */
async function fallBack<T>(
  call: Call<T>,
  deps: StrategyDeps,
  keys: CacheKeys,
  stale: Cached<T> | null,
  err: unknown,
  holder: boolean,
): Promise<GuardResult<T>> {
  if (deps.failurePolicy !== 'stale' || !stale) throw err;
  logEvent(call.log, 'warn', 'stale.served', { reason: 'compute-failed', computedAt: stale.computedAt });
  if (holder) await startBackoff(call as Call<unknown>, deps, keys, stale);
  return { value: stale.value, source: 'stale' };
}
