import type { CacheKeys } from '../keys.js';
import { logEvent } from '../logger.js';
import type { Call, StrategyDeps } from './context.js';
import { isFresh, type Envelope } from './envelope.js';
import type { Subscription } from './notifier.js';
import { elapsed } from './recompute.js';
import { readEnvelope } from './store.js';

export type WaitOutcome =
  | { kind: 'value'; envelope: Envelope }
  /** The holder's computation failed; `reason` is its message. */
  | { kind: 'failed'; reason: string }
  /** The holder gave the lock back without a value, or its lock expired: contend again. */
  | { kind: 'released' }
  | { kind: 'timeout' };

/**
 * Wait for the holder, at most `timeoutMs`. Subscribes first, then checks the lock and the
 * value: a value written between our miss and our SUBSCRIBE is found by the read, a lock released
 * without a value in that time (a failed holder) by the check; anything later arrives as a
 * message. The same check runs again when the subscriber reconnects (`recheck`), since messages
 * published while it was away are lost. Sends no command while it waits.
 */
export async function waitForHolder(call: Call<unknown>, deps: StrategyDeps, keys: CacheKeys, timeoutMs: number): Promise<WaitOutcome> {
  const started = performance.now();
  const deadline = Date.now() + timeoutMs;
  logEvent(call.log, 'info', 'wait.start', { timeoutMs });
  let outcome: WaitOutcome = { kind: 'timeout' };
  const subscription = await deps.notifier().listen(keys.channel, timeoutMs);
  try {
    if (subscription !== 'timeout') outcome = await nextOutcome(deps, keys, subscription, deadline);
    return outcome;
  } finally {
    if (subscription !== 'timeout') subscription.close();
    logEvent(call.log, 'info', 'wait.end', { waitedMs: elapsed(started), outcome: outcome.kind });
  }
}

/** Check on the holder, then again at every wake-up, until something decides the wait. */
async function nextOutcome(deps: StrategyDeps, keys: CacheKeys, subscription: Subscription, deadline: number): Promise<WaitOutcome> {
  for (;;) {
    const checked = await checkHolder(deps, keys);
    if (checked) return checked;
    const wakeup = await subscription.next(deadline - Date.now());
    if (wakeup === 'timeout') return { kind: 'timeout' };
    if (wakeup.kind === 'recheck') continue;
    const { message } = wakeup;
    if (message.startsWith('failed:')) return { kind: 'failed', reason: message.slice('failed:'.length) };
    const written = message === 'written' ? await freshValue(deps, keys) : null;
    return written ? { kind: 'value', envelope: written } : { kind: 'released' };
  }
}

/**
 * The lock is checked before the value is read: a holder that failed (or gave up) before our
 * SUBSCRIBE took effect told nobody, and left no value; without this we would wait out the whole
 * TTL for a notification that already went. No lock then and no value now: contend again.
 * Null: the holder is still at work.
 */
async function checkHolder(deps: StrategyDeps, keys: CacheKeys): Promise<WaitOutcome | null> {
  const locked = (await deps.redis.exists(keys.lock)) === 1;
  const now = await freshValue(deps, keys);
  if (now) return { kind: 'value', envelope: now };
  return locked ? null : { kind: 'released' };
}

async function freshValue(deps: StrategyDeps, keys: CacheKeys): Promise<Envelope | null> {
  const envelope = await readEnvelope(deps.redis, keys);
  return envelope && isFresh(envelope) ? envelope : null;
}
