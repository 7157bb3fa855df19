import { logEvent } from '../../logger.js';
import type { Call, GuardResult, StrategyDeps } from '../context.js';
import { fill } from '../fill.js';
import { readEnvelope } from '../store.js';
import { shareFlight } from './shared-flight.js';
import { freshHit, serveStaleWhileRefreshing } from './steps.js';

/**
 * Stale-while-revalidate. A fresh value is a hit. A stale value (past its fresh time, within its
 * grace) is served at once, and one holder in the fleet refreshes it in the background. No value
 * at all (cold, or past its grace) is filled as `redis-lock` does: one computes, the others wait.
 */
export function getWithSwr<T>(call: Call<T>, deps: StrategyDeps): Promise<GuardResult<T>> {
  return shareFlight('swr', call, deps, async () => {
    const keys = deps.keys(call.key);
    const cached = await readEnvelope<T>(deps.redis, keys);
    const hit = freshHit(call, cached);
    if (hit) return hit;
    if (cached) return serveStaleWhileRefreshing(call, deps, keys, cached);
    logEvent(call.log, 'info', 'cache.miss');
    return fill(call, deps, keys, null);
  });
}
