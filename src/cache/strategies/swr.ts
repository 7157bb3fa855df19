import { cacheKeys } from '../../keys.js';
import { logEvent } from '../../logger.js';
import type { Call, GuardResult, StrategyDeps } from '../context.js';
import { isFresh } from '../envelope.js';
import { fill } from '../fill.js';
import { refreshInBackground } from '../refresh.js';
import { readEnvelope } from '../store.js';
import { shareFlight } from './shared-flight.js';

/**
 * Stale-while-revalidate. A fresh value is a hit. A stale value (past its fresh time, within its
 * grace) is served at once, and one holder in the fleet refreshes it in the background. No value
 * at all (cold, or past its grace) is filled as `redis-lock` does: one computes, the others wait.
 */
export function getWithSwr<T>(call: Call<T>, deps: StrategyDeps): Promise<GuardResult<T>> {
  return shareFlight('swr', call, deps, async () => {
    const keys = cacheKeys(deps.keyPrefix, call.key);
    const cached = await readEnvelope<T>(deps.redis, keys);
    if (cached && isFresh(cached)) {
      logEvent(call.log, 'info', 'cache.hit');
      return { value: cached.value, source: 'cache' };
    }
    if (cached) {
      logEvent(call.log, 'info', 'cache.hit', { stale: true });
      logEvent(call.log, 'info', 'stale.served', { reason: 'refreshing', computedAt: cached.computedAt });
      refreshInBackground(call as Call<unknown>, deps, keys, 'stale');
      return { value: cached.value, source: 'stale' };
    }
    logEvent(call.log, 'info', 'cache.miss');
    return fill(call, deps, keys, null);
  });
}
