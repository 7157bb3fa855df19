import type { CacheKeys } from '../../keys.js';
import { logEvent } from '../../logger.js';
import type { Call, GuardResult, StrategyDeps } from '../context.js';
import { isFresh, type Envelope } from '../envelope.js';
import { recompute } from '../recompute.js';
import { refreshInBackground } from '../refresh.js';
import { inBackoff } from '../backoff.js';
import { writeEnvelope, type Cached } from '../store.js';

/** The steps the strategies share, each logging what it does. */

/** A fresh value is a hit: log it and return it; anything else is for the strategy to decide. */
export function freshHit<T>(call: Call<T>, cached: Envelope<T> | null): GuardResult<T> | null {
  if (!cached || !isFresh(cached)) return null;
  logEvent(call.log, 'info', 'cache.hit');
  return { value: cached.value, source: 'cache' };
}

/** Compute and store without a Redis lock (`none`, `local-lock`): an unfenced write (fence 0). */
export async function computeUnlocked<T>(call: Call<T>, deps: StrategyDeps, keys: CacheKeys): Promise<GuardResult<T>> {
  const envelope = await recompute(call, deps, 0);
  const outcome = await writeEnvelope(deps.redis, keys, envelope, null, deps.graceMs, call.log);
  if (outcome.written) logEvent(call.log, 'info', 'cache.write', { fence: 0 });
  return { value: envelope.value, source: 'computed' };
}

/**
 * `swr` and `xfetch` past the fresh time: serve the stale value now and refresh it in the
 * background, unless a failed refresh started a back-off (then only serve it).
 */
export function serveStaleWhileRefreshing<T>(call: Call<T>, deps: StrategyDeps, keys: CacheKeys, stale: Cached<T>): GuardResult<T> {
  logEvent(call.log, 'info', 'cache.hit', { stale: true });
  if (inBackoff(stale)) {
    logEvent(call.log, 'info', 'stale.served', { reason: 'backoff', computedAt: stale.computedAt, backoffUntil: stale.backoffUntil });
  } else {
    logEvent(call.log, 'info', 'stale.served', { reason: 'refreshing', computedAt: stale.computedAt });
    refreshInBackground(call as Call<unknown>, deps, keys, 'stale', stale);
  }
  return { value: stale.value, source: 'stale' };
}
