import type { CacheKeys } from '../../keys.js';
import { RedisUnavailableError } from '../../errors.js';
import { emitEvent } from '../../events.js';
import { claim, type Claim, type ClaimOptions } from '../claim.js';
import type { Call, Answer, StrategyDeps } from '../context.js';
import { isFresh, type Envelope } from '../envelope.js';
import { fill } from '../fill.js';
import { giveBackLate, keepThroughOutage } from '../holder.js';
import { recompute } from '../recompute.js';
import { refreshWithLease } from '../refresh.js';
import { writeEnvelope } from '../store.js';

/** The steps the strategies share, each logging what it does. */

/**
 * A call's claim (read, and take the lock on a miss), within the call's Redis deadline. A claim
 * answered after the deadline gave up on it gives back the lock it took, for the others.
 */
export function gatedClaim<T>(call: Call<T>, deps: StrategyDeps, keys: CacheKeys, options: ClaimOptions): Promise<Claim<T>> {
  return deps.gate.run(
    keys.value,
    () => claim<T>(deps.redis, keys, deps.lockTtlMs, options, call),
    (late) => {
      if (late.kind === 'lock') giveBackLate(call as Call<unknown>, deps, keys, late.lease);
    },
  );
}

/** A fresh value is a hit: log it and return it. */
export function hit<T>(call: Call<T>, envelope: Envelope<T>): Answer<T> {
  emitEvent(call, 'info', 'cache.hit', { tier: 'redis' });
  return { value: envelope.value, source: 'cache', envelope };
}

/** A read's value when it is fresh (a hit); null for the strategy to decide. */
export function freshHit<T>(call: Call<T>, cached: Envelope<T> | null): Answer<T> | null {
  return cached && isFresh(cached) ? hit(call, cached) : null;
}

/**
 * Compute and store without a Redis lock (`none`, `local-lock`): an unfenced write (fence 0).
 * `seenFence` is the key's fence read before computing: a set, a delete or a lock holder's write
 * that lands meanwhile raises it, and then this older result is not stored.
 */
export async function computeUnlocked<T>(call: Call<T>, deps: StrategyDeps, keys: CacheKeys, seenFence: number): Promise<Answer<T>> {
  const envelope = await recompute(call, deps, 0);
  // Its computation asked that it be stored nowhere (skipCache).
  if (envelope.uncached) return { value: envelope.value, source: 'computed' };
  let outcome: Awaited<ReturnType<typeof writeEnvelope>>;
  try {
    outcome = await deps.gate.run(keys.value, () => writeEnvelope(deps.redis, keys, envelope, null, deps.graceMs, call, seenFence));
  } catch (err) {
    if (!(err instanceof RedisUnavailableError)) throw err;
    keepThroughOutage(call as Call<unknown>, deps, envelope, err);
    return { value: envelope.value, source: 'computed' };
  }
  if (!outcome.written) {
    emitEvent(call, 'warn', 'cache.write.rejected', { fence: 0, storedFence: outcome.storedFence });
    return { value: envelope.value, source: 'computed' };
  }
  emitEvent(call, 'info', 'cache.write', { fence: 0 });
  deps.l1?.written(call.key, envelope);
  return { value: envelope.value, source: 'computed', envelope };
}

/**
 * `swr` and `xfetch` after a claim that found no fresh value. A stale value is served at once:
 * refreshed in the background when the claim took the lock, left alone when another process is
 * refreshing it or a failed refresh started a back-off. No value at all: filled as `redis-lock`
 * does (one computes, the others wait).
 */
export function serveStaleOrFill<T>(
  call: Call<T>,
  deps: StrategyDeps,
  keys: CacheKeys,
  claimed: Exclude<Claim<T>, { kind: 'value' }>,
): Answer<T> | Promise<Answer<T>> {
  if (claimed.kind === 'stale' || (claimed.kind === 'lock' && claimed.stale)) {
    const stale = claimed.kind === 'stale' ? claimed.envelope : claimed.stale!;
    const backoffUntil = claimed.kind === 'stale' ? claimed.envelope.backoffUntil : undefined;
    emitEvent(call, 'info', 'cache.hit', { stale: true });
    emitEvent(call, 'info', 'stale.served', {
      reason: backoffUntil === undefined ? 'refreshing' : 'backoff',
      computedAt: stale.computedAt,
      ...(backoffUntil !== undefined && { backoffUntil }),
    });
    if (claimed.kind === 'lock') refreshWithLease(call as Call<unknown>, deps, keys, claimed.lease, stale);
    return { value: stale.value, source: 'stale' };
  }
  emitEvent(call, 'info', 'cache.miss');
  return fill(call, deps, keys, claimed);
}
