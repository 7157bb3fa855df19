import type { CacheKeys } from '../../keys.js';
import { emitEvent } from '../../events.js';
import type { Claim } from '../claim.js';
import type { Call, Answer, StrategyDeps } from '../context.js';
import { isFresh, type Envelope } from '../envelope.js';
import { fill } from '../fill.js';
import { recompute } from '../recompute.js';
import { refreshWithLease } from '../refresh.js';
import { writeEnvelope } from '../store.js';

/** The steps the strategies share, each logging what it does. */

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
  const outcome = await writeEnvelope(deps.redis, keys, envelope, null, deps.graceMs, call, seenFence);
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
