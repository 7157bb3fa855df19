import { LockLostError, errorMessage } from '../errors.js';
import type { CacheKeys } from '../keys.js';
import { logEvent } from '../logger.js';
import { releaseLock, type LockLease } from '../lock/redis-lock.js';
import { startWatchdog } from '../lock/watchdog.js';
import type { Call, StrategyDeps } from './context.js';
import type { Envelope } from './envelope.js';
import { recompute } from './recompute.js';
import { writeEnvelope } from './store.js';

/** Longest failure reason sent to waiters; the full error is in the holder's log. */
const MAX_REASON = 200;

/**
 * The lock holder's work: compute (with the watchdog extending the lock meanwhile), then write
 * through the fence, release and notify, in one script. When the computation fails, release
 * at once with a `failed:` notification, so waiters learn it now rather than after the TTL.
 */
export async function computeAsHolder<T>(
  call: Call<T>,
  deps: StrategyDeps,
  keys: CacheKeys,
  lease: LockLease,
): Promise<Envelope<T>> {
  const abort = new AbortController();
  const stopWatchdog = startWatchdog(deps.redis, keys, lease, {
    onExtended: () => logEvent(call.log, 'debug', 'lock.extended', { fence: lease.fence }),
    onLost: () => {
      logEvent(call.log, 'warn', 'lock.lost', { fence: lease.fence, during: 'compute' });
      abort.abort(new LockLostError(`lost the lock of "${call.key}" while computing`));
    },
  });

  let envelope: Envelope<T>;
  try {
    envelope = await recompute(call, deps, lease.fence, abort.signal);
  } catch (err) {
    stopWatchdog();
    // A lost lock is someone else's now: nothing to release, and its waiters wait for its holder.
    if (!abort.signal.aborted) {
      const reason = errorMessage(err).slice(0, MAX_REASON);
      await releaseAsHolder(call as Call<unknown>, deps, keys, lease, `failed:${reason}`).catch(() => {});
    }
    throw err;
  }
  stopWatchdog();

  const outcome = await writeEnvelope(deps.redis, keys, envelope, lease, deps.graceMs, call.log);
  if (outcome.written) logEvent(call.log, 'info', 'cache.write', { fence: lease.fence });
  else logEvent(call.log, 'warn', 'cache.write.rejected', { fence: lease.fence, storedFence: outcome.storedFence });
  if (outcome.released) logEvent(call.log, 'info', 'lock.released', { fence: lease.fence });
  else if (!abort.signal.aborted) logEvent(call.log, 'warn', 'lock.lost', { fence: lease.fence, during: 'write' });
  return envelope;
}

/** Give the lock back (compare-and-delete) and notify waiters; log whether it was still ours. */
export async function releaseAsHolder(
  call: Call<unknown>,
  deps: StrategyDeps,
  keys: CacheKeys,
  lease: LockLease,
  notification = 'released',
): Promise<void> {
  if (await releaseLock(deps.redis, keys, lease, call.log, notification)) {
    logEvent(call.log, 'info', 'lock.released', { fence: lease.fence });
  } else {
    logEvent(call.log, 'warn', 'lock.lost', { fence: lease.fence, during: 'release' });
  }
}
