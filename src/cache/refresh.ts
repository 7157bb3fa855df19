import { LockLostError } from '../errors.js';
import type { CacheKeys } from '../keys.js';
import { logEvent } from '../logger.js';
import { startBackoff } from './backoff.js';
import { claim } from './claim.js';
import type { Call, StrategyDeps } from './context.js';
import { computeAsHolder } from './holder.js';
import { elapsed } from './recompute.js';
import type { Cached } from './store.js';

/**
 * Refresh a key in the background, if nobody in the fleet already is: one zero-wait attempt at
 * the Redis lock; whoever loses does nothing (its caller has been served already). Inside a
 * process, one refresh per key at a time, so a burst of stale reads sends one lock attempt.
 * A refresh is a recomputation: it logs `recompute.start` like any other.
 *
 * `seen` is the value the refresh is for. The lock is taken only if that value is still the one
 * stored: a process that read it just before another process's refresh finished finds the new
 * value instead and computes nothing (double-checked locking, in the same script as the lock).
 */
export function refreshInBackground(
  call: Call<unknown>,
  deps: StrategyDeps,
  keys: CacheKeys,
  reason: 'stale' | 'early',
  seen: Cached,
): void {
  if (deps.refreshing.has(call.key) || deps.signal.aborted) return;
  const run = (async () => {
    const claimed = await claim(deps.redis, keys, deps.lockTtlMs, seen, call.log);
    if (claimed.kind === 'busy') {
      logEvent(call.log, 'debug', 'lock.busy', { refresh: reason });
      return;
    }
    if (claimed.kind === 'value') return; // refreshed by someone else since we read it
    const { lease } = claimed;
    const started = performance.now();
    logEvent(call.log, 'info', 'lock.acquired', { fence: lease.fence });
    logEvent(call.log, 'info', 'refresh.start', { reason, fence: lease.fence });
    let ok = false;
    try {
      await computeAsHolder(call, deps, keys, lease);
      ok = true;
    } catch (err) {
      // The stale value was served for this failure: the fleet backs off before trying again.
      if (reason === 'stale' && !deps.signal.aborted && !(err instanceof LockLostError)) await startBackoff(call, deps, keys, seen);
      throw err;
    } finally {
      logEvent(call.log, 'info', 'refresh.end', { reason, fence: lease.fence, ok, durationMs: elapsed(started) });
    }
  })()
    // The caller was served already; the failure is in the log (recompute.failed, refresh.end).
    .catch(() => {})
    .finally(() => deps.refreshing.delete(call.key));
  deps.refreshing.set(call.key, run);
}
