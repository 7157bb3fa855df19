import type { CacheKeys } from '../keys.js';
import type { LockLease } from '../lock/redis-lock.js';
import { emitEvent } from '../events.js';
import { claim } from './claim.js';
import type { Call, StrategyDeps } from './context.js';
import { decodeEnvelope, isFresh, type Envelope } from './envelope.js';
import type { Subscription } from '../redis/notifier.js';
import { elapsed } from './recompute.js';

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
 * Wait for the holder, at most `timeoutMs`. Subscribes first, then claims again (read, or take
 * the lock if the holder is gone): a value written between our miss and our SUBSCRIBE is found
 * by that claim, a lock released without a value (a failed or vanished holder) is taken by it;
 * anything later arrives as a message, with the value in it when it is small. The same claim runs
 * again on every wake-up that is not an answer (a large value, a release, a reconnect of the
 * subscriber, which loses what was published meanwhile). Sends no command while it waits.
 */
export async function waitForHolder(call: Call<unknown>, deps: StrategyDeps, keys: CacheKeys, timeoutMs: number): Promise<WaitOutcome> {
  const started = performance.now();
  const deadline = Date.now() + timeoutMs;
  emitEvent(call, 'info', 'wait.start', { timeoutMs });
  let outcome: WaitOutcome = { kind: 'timeout' };
  const subscription = await deps.notifier().listen(keys.channel, timeoutMs);
  try {
    if (subscription !== 'timeout') outcome = await nextOutcome(call, deps, keys, subscription, deadline);
    return outcome;
  } finally {
    if (subscription !== 'timeout') subscription.close();
    emitEvent(call, 'info', 'wait.end', { waitedMs: elapsed(started), outcome: LOGGED[outcome.kind] });
  }
}

async function nextOutcome(
  call: Call<unknown>,
  deps: StrategyDeps,
  keys: CacheKeys,
  subscription: Subscription,
  deadline: number,
): Promise<WaitOutcome> {
  for (;;) {
    const claimed = await claim(deps.redis, keys, deps.lockTtlMs, {}, call);
    if (claimed.kind === 'value') return { kind: 'value', envelope: claimed.envelope };
    if (claimed.kind === 'lock') return { kind: 'lock', lease: claimed.lease, stale: claimed.stale };
    const wakeup = await subscription.next(deadline - Date.now());
    if (wakeup === 'timeout') return { kind: 'timeout' };
    if (wakeup.kind === 'recheck') continue;
    const { message } = wakeup;
    if (message.startsWith('failed:')) return { kind: 'failed', reason: message.slice('failed:'.length) };
    if (message.startsWith('written:')) {
      const envelope = decodeEnvelope(message.slice('written:'.length));
      if (envelope && isFresh(envelope)) return { kind: 'value', envelope };
    }
    // `written` (a large value), `released`: look again, and take the lock if it is free.
  }
}
