import type { CacheKeys } from '../keys.js';
import { logEvent } from '../logger.js';
import { acquireLock } from '../lock/redis-lock.js';
import type { Call, StrategyDeps } from './context.js';
import { computeAsHolder } from './holder.js';
import { elapsed } from './recompute.js';

/**
 * Refresh a key in the background, if nobody in the fleet already is: one zero-wait attempt at
 * the Redis lock; whoever loses does nothing (its caller has been served already). Inside a
 * process, one refresh per key at a time, so a burst of stale reads sends one lock attempt.
 * A refresh is a recomputation: it logs `recompute.start` like any other.
 */
export function refreshInBackground(call: Call<unknown>, deps: StrategyDeps, keys: CacheKeys, reason: 'stale' | 'early'): void {
  if (deps.refreshing.has(call.key) || deps.signal.aborted) return;
  const run = (async () => {
    const lease = await acquireLock(deps.redis, keys, deps.lockTtlMs, call.log);
    if (!lease) {
      logEvent(call.log, 'debug', 'lock.busy', { refresh: reason });
      return;
    }
    const started = performance.now();
    logEvent(call.log, 'info', 'lock.acquired', { fence: lease.fence });
    logEvent(call.log, 'info', 'refresh.start', { reason, fence: lease.fence });
    let ok = false;
    try {
      await computeAsHolder(call, deps, keys, lease);
      ok = true;
    } finally {
      logEvent(call.log, 'info', 'refresh.end', { reason, fence: lease.fence, ok, durationMs: elapsed(started) });
    }
  })()
    // The caller was served already; the failure is in the log (recompute.failed, refresh.end).
    .catch(() => {})
    .finally(() => deps.refreshing.delete(call.key));
  deps.refreshing.set(call.key, run);
}
