import { emitEvent } from '../../events.js';
import type { Call, Answer, StrategyDeps } from '../context.js';
import { fill } from '../fill.js';
import { shareFlight } from './shared-flight.js';
import { gatedClaim, hit } from './steps.js';
import type { CacheKeys } from '../../keys.js';
import type { Claim, ClaimOptions } from '../claim.js';

/**
 * Fleet-wide protection. Inside a process, concurrent callers for one key share one flight
 * (one claim to Redis); across processes one holder of the Redis lock recomputes and the others
 * wait for its notification. Exactly one recomputation per key per expiry. The first claim reads
 * and, on a miss, takes the lock in the same round trip, so a holder computes after one round
 * trip and stores (with release and notification) in a second.
 */
export function getWithRedisLock<T>(call: Call<T>, deps: StrategyDeps): Promise<Answer<T>> {
  return shareFlight('redis-lock', call, deps, async () => {
    const keys = deps.keys(call.key);
    const claimed = await gatedClaim<T>(call, deps, keys, redisLockClaim(deps));
    return afterClaim(call, deps, keys, claimed);
  });
}

/** How `redis-lock` claims: a running failure back-off is honoured under the `stale` policy. */
export function redisLockClaim(deps: StrategyDeps): ClaimOptions {
  return { honourBackoff: deps.failurePolicy === 'stale' };
}

/** What `redis-lock` does with a claim's answer (getManyOrCompute does the same for each of its keys). */
export function afterClaim<T>(call: Call<T>, deps: StrategyDeps, keys: CacheKeys, claimed: Claim<T>): Answer<T> | Promise<Answer<T>> {
  if (claimed.kind === 'value') return hit(call, claimed.envelope);
  if (claimed.kind === 'stale') {
    // A failure back-off: the stale value, without a computation (see backoff.ts).
    const { envelope } = claimed;
    emitEvent(call, 'info', 'cache.miss', { stale: true });
    emitEvent(call, 'info', 'stale.served', {
      reason: 'backoff',
      computedAt: envelope.computedAt,
      backoffUntil: envelope.backoffUntil,
    });
    return { value: envelope.value, source: 'stale' };
  }
  emitEvent(call, 'info', 'cache.miss', claimed.stale ? { stale: true } : {});
  return fill(call, deps, keys, claimed);
}
