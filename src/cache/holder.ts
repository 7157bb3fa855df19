import { LockLostError, RedisUnavailableError, errorMessage } from '../errors.js';
import type { CacheKeys } from '../keys.js';
import { emitEvent } from '../events.js';
import { releaseLockFor, type LockLease } from '../lock/redis-lock.js';
import { startWatchdog } from '../lock/watchdog.js';
import type { Call, StrategyDeps } from './context.js';
import { encodeEnvelope, isFresh, type Envelope } from './envelope.js';
import { recompute } from './recompute.js';
import { writeEnvelope } from './store.js';

/** Longest failure reason sent to waiters; the full error is in the holder's log. */
const MAX_REASON = 200;

/**
 * The lock holder's work: compute (with the watchdog extending the lock meanwhile), then write
 * through the fence, release and notify, in one script.
 *
 * When the computation fails, release at once with a `failed:` notification, so waiters learn it
 * now rather than after the TTL. When it fails because the guard is closing, release with
 * `released`: the fleet's waiters contend again (someone else computes) instead of failing.
 * When the lock was lost meanwhile, there is nothing to release (it is someone else's) and the
 * caller gets a LockLostError: it should wait for the new holder. A computation that finishes
 * anyway after losing its lock still writes, and the fence decides.
 */
export async function computeAsHolder<T>(call: Call<T>, deps: StrategyDeps, keys: CacheKeys, lease: LockLease): Promise<Computed<T>> {
  const lost = new AbortController();
  const stopWatchdog = startWatchdog(deps.redis, keys, lease, {
    onExtended: () => emitEvent(call, 'debug', 'lock.extended', { fence: lease.fence }),
    onLost: () => {
      emitEvent(call, 'warn', 'lock.lost', { fence: lease.fence, during: 'compute' });
      lost.abort(new LockLostError(call.key, `lost the lock of "${call.key}" while computing`));
    },
  });

  let envelope: Envelope<T>;
  try {
    envelope = await recompute(call, deps, lease.fence, { lockLost: lost.signal });
  } catch (err) {
    if (lost.signal.aborted) throw lost.signal.reason as LockLostError;
    const notification = deps.signal.aborted ? 'released' : `failed:${errorMessage(err).slice(0, MAX_REASON)}`;
    await releaseAsHolder(call as Call<unknown>, deps, keys, lease, notification).catch(() => {});
    throw err;
  } finally {
    stopWatchdog();
  }

  if (envelope.uncached) {
    // Stored nowhere: the value travels to the waiters in the release's notification, whatever its size.
    try {
      await releaseAsHolder(call as Call<unknown>, deps, keys, lease, `value:${encodeEnvelope(envelope)}`);
    } catch (err) {
      if (!(err instanceof RedisUnavailableError)) throw err;
      // The caller has its value; the lock goes back once Redis answers, for the fleet's next miss.
      deps.outage.afterOutage(() => releaseAsHolder(call as Call<unknown>, deps, keys, lease, 'released'));
    }
    return { envelope, stored: false, rejected: false };
  }

  let outcome: Awaited<ReturnType<typeof writeEnvelope>>;
  try {
    outcome = await deps.gate.run(keys.value, () => writeEnvelope(deps.redis, keys, envelope, lease, deps.graceMs, call));
  } catch (err) {
    if (!(err instanceof RedisUnavailableError)) throw err;
    keepThroughOutage(call, deps, envelope, err);
    deps.outage.afterOutage(() => finishLate(call, deps, keys, envelope, lease));
    return { envelope, stored: false, rejected: false };
  }
  if (outcome.written) {
    emitEvent(call, 'info', 'cache.write', { fence: lease.fence });
    deps.l1?.written(call.key, envelope);
  } else emitEvent(call, 'warn', 'cache.write.rejected', { fence: lease.fence, storedFence: outcome.storedFence });
  if (outcome.released) emitEvent(call, 'info', 'lock.released', { fence: lease.fence });
  else if (!lost.signal.aborted) emitEvent(call, 'warn', 'lock.lost', { fence: lease.fence, during: 'write' });
  return { envelope, stored: outcome.written, rejected: !outcome.written };
}

/**
 * A value computed, that Redis was unavailable to take: the caller gets it, and this process
 * keeps it for its next callers until Redis answers again (outage.ts).
 */
export function keepThroughOutage(call: Call<unknown>, deps: StrategyDeps, envelope: Envelope, down: RedisUnavailableError): void {
  emitEvent(call, 'warn', 'cache.degraded', { policy: deps.onRedisDown, cause: down.reason });
  deps.outage.keep(call.key, envelope);
}

/**
 * The write of a holder that met the outage, done once Redis answers again: its lock is given back
 * and its waiters woken, instead of the fleet waiting out the lock (a waiter arriving after the
 * recovery would find it busy for up to a lock TTL). The value still goes through the fence, so
 * a newer one wins; a value no longer fresh is not written, only the lock given back.
 */
async function finishLate(call: Call<unknown>, deps: StrategyDeps, keys: CacheKeys, envelope: Envelope, lease: LockLease): Promise<void> {
  if (!isFresh(envelope)) return releaseAsHolder(call, deps, keys, lease, 'released');
  const outcome = await deps.gate.run(keys.value, () => writeEnvelope(deps.redis, keys, envelope, lease, deps.graceMs, call));
  if (outcome.written) emitEvent(call, 'info', 'cache.write', { fence: lease.fence });
  else emitEvent(call, 'warn', 'cache.write.rejected', { fence: lease.fence, storedFence: outcome.storedFence });
  if (outcome.released) emitEvent(call, 'info', 'lock.released', { fence: lease.fence });
}

/** What a holder computed, and whether Redis took it, or refused it (a newer value fenced it out). */
export interface Computed<T> {
  envelope: Envelope<T>;
  stored: boolean;
  rejected: boolean;
}

/**
 * Give back a lock that a claim took after its call had given up on it (its deadline passed), so
 * the fleet does not wait a lock TTL for a holder that will not compute. Not through the gate: the
 * late answer shows that Redis answers again before the breaker may know it. Best effort.
 */
export function giveBackLate(call: Call<unknown>, deps: StrategyDeps, keys: CacheKeys, lease: LockLease): void {
  releaseLockFor(call, deps.redis, keys, lease, 'released').then(
    (released) => released && emitEvent(call, 'info', 'lock.released', { fence: lease.fence }),
    () => {},
  );
}

/** Give the lock back (compare-and-delete) and notify waiters; log whether it was still ours. */
export async function releaseAsHolder(
  call: Call<unknown>,
  deps: StrategyDeps,
  keys: CacheKeys,
  lease: LockLease,
  notification: string,
): Promise<void> {
  if (await deps.gate.run(keys.value, () => releaseLockFor(call, deps.redis, keys, lease, notification))) {
    emitEvent(call, 'info', 'lock.released', { fence: lease.fence });
  } else {
    emitEvent(call, 'warn', 'lock.lost', { fence: lease.fence, during: 'release' });
  }
}
