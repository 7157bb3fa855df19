import type { CacheKeys } from '../keys.js';
import type { LockLease } from '../lock/redis-lock.js';
import { GuardClosedError, RedisUnavailableError } from '../errors.js';
import { emitEvent, type WaitOutcomeName } from '../events.js';
import { SoftTimeout, type CallBound } from './call-bound.js';
import type { Claim } from './claim.js';
import { giveBackLate } from './holder.js';
import type { Call, StrategyDeps } from './context.js';
import { decodeEnvelope, isFresh, type Envelope } from './envelope.js';
import type { Subscription } from '../redis/notifier.js';
import { elapsed } from './recompute.js';
import { gatedClaim, invalidated } from './strategies/steps.js';

export type WaitOutcome =
  | { kind: 'value'; envelope: Envelope }
  /** The holder gave up or vanished, and this caller took the lock: it computes now. */
  | { kind: 'lock'; lease: LockLease; stale: Envelope | null }
  /** The holder's computation failed; `reason` is its message. */
  | { kind: 'failed'; reason: string }
  | { kind: 'timeout' };

/** How the log names each outcome (`released`: the holder gave up and the lock came to us). */
const LOGGED = { value: 'value', lock: 'released', failed: 'failed', timeout: 'timeout' } as const;

/**
 * Wait for the holder, at most a lock TTL (and never past the call's bound). Subscribes first,
 * then claims again (read, or take the lock if the holder is gone): a value written between our
 * miss and our SUBSCRIBE is found by that claim, a lock released without a value (a failed or
 * vanished holder) is taken by it; anything later arrives as a message, with the value in it when
 * it is small. The same claim runs again on every wake-up that is not an answer (a large value, a
 * release, a reconnect of the subscriber, which loses what was published meanwhile). Sends no
 * command while it waits (the gate probes the node, once per process). Rejects with the bound's
 * error at the call's deadline, when the guard closes or when Redis becomes unavailable (logged
 * as `wait.end` with outcome `timeout`, `closed` or `unavailable`).
 */
export async function waitForHolder(call: Call<unknown>, deps: StrategyDeps, keys: CacheKeys, bound: CallBound): Promise<WaitOutcome> {
  const started = performance.now();
  const timeoutMs = Math.min(deps.lockTtlMs, bound.remaining());
  const deadline = Date.now() + timeoutMs;
  emitEvent(call, 'info', 'wait.start', { timeoutMs });
  let logged: WaitOutcomeName = LOGGED.timeout;
  let subscription = 'timeout' as Subscription | 'timeout';
  try {
    const outcome = await bound.whileWatched(async (): Promise<WaitOutcome> => {
      subscription = await bound.race(deps.notifier().listen(keys.channel, timeoutMs), (late) => {
        if (late !== 'timeout') late.close();
      });
      return subscription === 'timeout' ? { kind: 'timeout' } : nextOutcome(call, deps, keys, subscription, deadline, bound);
    });
    logged = LOGGED[outcome.kind];
    return outcome;
  } catch (err) {
    if (err instanceof GuardClosedError) logged = 'closed';
    if (err instanceof RedisUnavailableError) logged = 'unavailable';
    if (err instanceof SoftTimeout) logged = 'soft-timeout';
    throw err;
  } finally {
    if (subscription !== 'timeout') subscription.close();
    emitEvent(call, 'info', 'wait.end', { waitedMs: elapsed(started), outcome: logged });
  }
}

async function nextOutcome(
  call: Call<unknown>,
  deps: StrategyDeps,
  keys: CacheKeys,
  subscription: Subscription,
  deadline: number,
  bound: CallBound,
): Promise<WaitOutcome> {
  for (;;) {
    const claimed = await boundedClaim(call, deps, keys, bound);
    if (claimed.kind === 'value') return { kind: 'value', envelope: claimed.envelope };
    if (claimed.kind === 'lock') return { kind: 'lock', lease: claimed.lease, stale: claimed.stale };
    const wakeup = await bound.race(subscription.next(deadline - Date.now()));
    if (wakeup === 'timeout') return { kind: 'timeout' };
    if (wakeup.kind === 'recheck') continue;
    const { message } = wakeup;
    if (message.startsWith('failed:')) return { kind: 'failed', reason: message.slice('failed:'.length) };
    // A value carried in the message, stored (`written:`) or, its computation having asked not to
    // store it (skipCache), carried only here (`value:`): the answer, unless an invalidation covers
    // it (a holder that began before it); then the claim finds it covered too, and takes the lock.
    const carried = message.startsWith('written:') ? 'written:' : message.startsWith('value:') ? 'value:' : null;
    if (carried) {
      const envelope = decodeEnvelope(message.slice(carried.length));
      if (envelope && isFresh(envelope) && (await bound.race(invalidated(call, deps, envelope))) === null)
        return { kind: 'value', envelope };
    }
    // `written` (a large value), `released`: look again, and take the lock if it is free.
  }
}

/**
 * A waiting call's claim, within its bound. A claim that took the lock after the call gave up
 * gives it back at once, for the others, instead of leaving it to expire.
 */
export function boundedClaim<T>(call: Call<unknown>, deps: StrategyDeps, keys: CacheKeys, bound: CallBound): Promise<Claim<T>> {
  return bound.race(gatedClaim<T>(call as Call<T>, deps, keys, {}), (late) => {
    if (late.kind === 'lock') giveBackLate(call, deps, keys, late.lease);
  });
}
