import type { CacheKeys } from '../keys.js';
import { logEvent } from '../logger.js';
import type { Call, StrategyDeps } from './context.js';
import { isFresh, type Envelope } from './envelope.js';
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
 * Wait for the holder's notification, at most `timeoutMs`. Subscribes first, then checks the
 * lock and re-reads: a value written between our miss and our SUBSCRIBE is found by the read, a
 * lock released without a value in that time (a failed holder) by the check; anything later
 * arrives as a message. Sends no command while it waits.
 */
export async function waitForHolder(
  call: Call<unknown>,
  deps: StrategyDeps,
  keys: CacheKeys,
  timeoutMs: number,
): Promise<WaitOutcome> {
  const started = performance.now();
  logEvent(call.log, 'info', 'wait.start', { timeoutMs });
  const subscription = await deps.notifier().listen(keys.channel);
  let outcome: WaitOutcome = { kind: 'timeout' };
  try {
    // The lock is checked before the re-read: a holder that failed (or gave up) before our
    // SUBSCRIBE took effect told nobody, and left no value; without this we would wait out the
    // whole TTL for a notification that already went. No lock then and no value now: contend again.
    const locked = (await deps.redis.exists(keys.lock)) === 1;
    const now = await freshValue(deps, keys);
    if (now) return (outcome = { kind: 'value', envelope: now });
    if (!locked) return (outcome = { kind: 'released' });
    const message = await subscription.next(timeoutMs);
    if (message === 'timeout') return (outcome = { kind: 'timeout' });
    if (message.startsWith('failed:')) return (outcome = { kind: 'failed', reason: message.slice('failed:'.length) });
    const written = message === 'written' ? await freshValue(deps, keys) : null;
    return (outcome = written ? { kind: 'value', envelope: written } : { kind: 'released' });
  } finally {
    subscription.close();
    logEvent(call.log, 'info', 'wait.end', { waitedMs: elapsed(started), outcome: outcome.kind });
  }
}

async function freshValue(deps: StrategyDeps, keys: CacheKeys): Promise<Envelope | null> {
  const envelope = await readEnvelope(deps.redis, keys);
  return envelope && isFresh(envelope) ? envelope : null;
}
