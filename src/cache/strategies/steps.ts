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
import { readWithFence, writeEnvelope } from '../store.js';
import { invalidationFloor, serverTime } from '../tags.js';

/** The steps the strategies share, each logging what it does. */

/**
 * A call's claim (read, and take the lock on a miss), within the call's Redis deadline. A claim
 * answered after the deadline gave up on it gives back the lock it took, for the others. A value
 * it finds that an invalidation covers (tags.ts) counts as missing: claimed again over it (its
 * floor), or dropped as the stale value to fall back on.
 */
export async function gatedClaim<T>(call: Call<T>, deps: StrategyDeps, keys: CacheKeys, options: ClaimOptions): Promise<Claim<T>> {
  let floor = options.floor;
  for (let round = 0; ; round++) {
    const asked = floor === undefined ? options : { ...options, floor };
    const claimed = await deps.gate.run(
      keys.value,
      () => claim<T>(deps.redis, keys, deps.lockTtlMs, asked, call),
      (late) => {
        if (late.kind === 'lock') giveBackLate(call as Call<unknown>, deps, keys, late.lease);
      },
    );
    const found = claimed.kind === 'value' || claimed.kind === 'stale' ? claimed.envelope : claimed.stale;
    const invalidAt = found ? await invalidated(call, deps, found) : null;
    if (invalidAt === null) return claimed;
    if (claimed.kind === 'lock' || claimed.kind === 'busy') return { ...claimed, stale: null };
    // A newer value may be there by now, and covered too: each round's floor is above the last.
    floor = round < MAX_CLAIM_ROUNDS ? Math.max(floor ?? 0, invalidAt) : Number.MAX_SAFE_INTEGER;
  }
}

/** Claims over invalidated values before any value counts as missing whatever its birth (a value invalidated as fast as it is written). */
const MAX_CLAIM_ROUNDS = 8;

/**
 * Whether an invalidation covers `envelope`, for this call: null when none does (no command for a
 * value without tags or namespaces), else the floor to claim over it, logged as `cache.invalidated`.
 */
export async function invalidated(call: Call<unknown>, deps: StrategyDeps, envelope: Envelope): Promise<number | null> {
  if (!envelope.tags && !envelope.ns && call.ns.length === 0) return null;
  // Each record read goes through the gate as the node that holds it, not the value's.
  const floor = await invalidationFloor(deps.redis, deps.keyPrefix, envelope, call.ns, (routeKey, send) => deps.gate.run(routeKey, send));
  if (floor !== null) emitEvent(call, 'info', 'cache.invalidated', { bornAt: envelope.bornAt ?? 0, invalidatedAt: floor });
  return floor;
}

/** A read without a lock (`none`, `local-lock`): the stored value unless an invalidation covers it, and the key's fence. */
export async function readChecked<T>(
  call: Call<T>,
  deps: StrategyDeps,
  keys: CacheKeys,
): Promise<{ cached: Envelope<T> | null; fence: number }> {
  const read = await deps.gate.run(keys.value, () => readWithFence<T>(deps.redis, keys));
  if (read.cached && (await invalidated(call as Call<unknown>, deps, read.cached)) !== null) return { cached: null, fence: read.fence };
  return read;
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
  // Without a lock there is no fence to date the computation by: the server's clock, asked
  // before it begins, is its birth for invalidations (tags.ts), if it comes to carry tags.
  const bornAt = await deps.gate.run(keys.value, () => serverTime(deps.redis, keys.value, call));
  const envelope = await recompute(call, deps, 0, { bornAt });
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
