import { logEvent } from '../../logger.js';
import type { Call, GuardResult, StrategyDeps } from '../context.js';
import { fill } from '../fill.js';
import { readEnvelope } from '../store.js';
import { shareFlight } from './shared-flight.js';
import { freshHit } from './steps.js';

/**
 * Fleet-wide protection. Inside a process, concurrent callers for one key share one flight
 * (one read, one lock attempt); across processes one holder of the Redis lock recomputes and
 * the others wait for its notification. Exactly one recomputation per key per expiry.
 */
export function getWithRedisLock<T>(call: Call<T>, deps: StrategyDeps): Promise<GuardResult<T>> {
  return shareFlight('redis-lock', call, deps, async () => {
    const keys = deps.keys(call.key);
    const cached = await readEnvelope<T>(deps.redis, keys);
    const hit = freshHit(call, cached);
    if (hit) return hit;
    logEvent(call.log, 'info', 'cache.miss', cached ? { stale: true } : {});
    return fill(call, deps, keys, cached);
  });
}
