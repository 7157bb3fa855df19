import { ComputeError, GuardClosedError, LockLostError } from '../errors.js';
import type { CacheKeys } from '../keys.js';
import { emitEvent } from '../events.js';
import { startBackoff } from './backoff.js';
import { CallBound } from './call-bound.js';
import type { Claim } from './claim.js';
import type { Call, Answer, StrategyDeps } from './context.js';
import type { Envelope } from './envelope.js';
import { unrefTimeout } from '../timers.js';
import { computeAsHolder } from './holder.js';
import { boundedClaim, waitForHolder } from './wait.js';

/**
 * Get a fresh value into the cache with one computation in the fleet, after a claim that found
 * none: compute if the claim took the lock, else wait for whoever has it; take over when the
 * holder gave up or vanished, go back to waiting when this caller lost its lock. The claim's
 * stale value, if any, is what the failure policy may fall back on.
 *
 * Bounded (call-bound.ts): from here on every claim and every wait ends by `maxWaitMs`, also
 * while Redis does not answer, at once with GuardClosedError when the guard closes, and at once
 * with RedisUnavailableError when the gate finds Redis unavailable.
 */
export async function fill<T>(
  call: Call<T>,
  deps: StrategyDeps,
  keys: CacheKeys,
  first: Claim<T> & { kind: 'lock' | 'busy' },
): Promise<Answer<T>> {
  const bound = new CallBound(call.key, deps.maxWaitMs, deps.signal, deps.gate, keys.value);
  try {
    const filling = fillWithin(call, deps, keys, first, bound);
    return first.stale && call.softTimeoutMs > 0 ? await softly(call, deps, filling, first.stale, bound) : await filling;
  } finally {
    bound.end();
  }
}

/**
 * The soft timeout (`softTimeoutMs`): the fresh value if it comes in time, else the stale one.
 * Then a waiter stops waiting (its claims and waits end at once), and a holder's computation goes
 * on and writes when it is done, for the fleet: close() waits for it as for a refresh. Its
 * outcome is in its events (`recompute.end`, `cache.write`, or the failure's).
 */
async function softly<T>(
  call: Call<T>,
  deps: StrategyDeps,
  filling: Promise<Answer<T>>,
  stale: Envelope<T>,
  bound: CallBound,
): Promise<Answer<T>> {
  let timer: NodeJS.Timeout | undefined;
  const soft = new Promise<null>((resolve) => {
    timer = unrefTimeout(() => resolve(null), call.softTimeoutMs);
  });
  const answered = await Promise.race([filling, soft]).finally(() => clearTimeout(timer));
  if (answered) return answered;
  bound.giveUp();
  const going = filling.catch(() => {}).finally(() => deps.continuing.delete(going));
  deps.continuing.add(going);
  emitEvent(call, 'info', 'stale.served', { reason: 'soft-timeout', computedAt: stale.computedAt });
  return { value: stale.value, source: 'stale' };
}

async function fillWithin<T>(
  call: Call<T>,
  deps: StrategyDeps,
  keys: CacheKeys,
  first: Claim<T> & { kind: 'lock' | 'busy' },
  bound: CallBound,
): Promise<Answer<T>> {
  const stale = first.stale;
  let retries = deps.failurePolicy === 'retry' ? 1 : 0;
  let claimed: Claim<T> = first;
  let waited = false;
  const claimAgain = () => boundedClaim<T>(call as Call<unknown>, deps, keys, bound);

  for (;;) {
    if (claimed.kind === 'value') return { value: claimed.envelope.value, source: waited ? 'waited' : 'cache', envelope: claimed.envelope };
    if (claimed.kind === 'lock') {
      const { lease } = claimed;
      emitEvent(call, 'info', 'lock.acquired', { fence: lease.fence });
      try {
        const { envelope, stored, rejected } = await computeAsHolder(call, deps, keys, lease);
        // A value Redis refused (a newer one is stored) or that is stored nowhere (skipCache) is this
        // caller's answer, never the L1 tier's; its flight's joiners still link to its computation,
        // look at its marks, and look again when it was refused (strategies/shared-flight.ts).
        if (stored) return { value: envelope.value, source: 'computed', envelope };
        return {
          value: envelope.value,
          source: 'computed',
          unstored: envelope,
          ...(rejected && { superseded: true as const }),
          ...(envelope.trace !== undefined && { computedBy: envelope.trace }),
        };
      } catch (err) {
        // Our lock is someone else's now: wait for that holder's value, like any waiter.
        if (err instanceof LockLostError && !deps.signal.aborted) {
          claimed = await claimAgain();
          continue;
        }
        // The holder's own caller gets its error (or the stale value); a retry is for a new holder.
        return fallBack(call, deps, keys, stale, err, true);
      }
    }

    emitEvent(call, 'info', 'lock.busy');
    bound.throwIfOver();
    const outcome = await waitForHolder(call as Call<unknown>, deps, keys, bound);
    waited = true;
    if (outcome.kind === 'value')
      return { value: outcome.envelope.value as T, source: 'waited', envelope: outcome.envelope as Envelope<T> };
    if (outcome.kind === 'lock') {
      claimed = { kind: 'lock', lease: outcome.lease, stale: outcome.stale as Envelope<T> | null };
      continue;
    }
    if (outcome.kind === 'failed' && retries-- <= 0) {
      const failure = new ComputeError(call.key, `the computation of "${call.key}" failed in its holder: ${outcome.reason}`);
      return fallBack(call, deps, keys, stale, failure, false);
    }
    // A timeout (the holder's lock outlived our wait), or `retry` after a failure: claim again.
    claimed = await claimAgain();
  }
}

/**
 * The failure policy: a usable stale value (`stale`), else the error. The holder that served a
 * stale value for its own failure starts the fleet's back-off (its waiters were told the same).
 * A guard that is closing answers GuardClosedError and writes nothing: nothing failed, so the
 * fleet must not back off.
 */
async function fallBack<T>(
  call: Call<T>,
  deps: StrategyDeps,
  keys: CacheKeys,
  stale: Envelope<T> | null,
  err: unknown,
  holder: boolean,
): Promise<Answer<T>> {
  if (deps.signal.aborted) throw new GuardClosedError();
  if (deps.failurePolicy !== 'stale' || !stale) throw err;
  emitEvent(call, 'warn', 'stale.served', { reason: 'compute-failed', computedAt: stale.computedAt });
  if (holder) await startBackoff(call as Call<unknown>, deps, keys, stale);
  return { value: stale.value, source: 'stale' };
}
