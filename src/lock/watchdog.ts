import type { RedisPort } from '../redis/port.js';
import type { CacheKeys } from '../keys.js';
import { extendLock, type LockLease } from './redis-lock.js';

export interface WatchdogEvents {
  onExtended(): void;
  /** The lock is no longer ours (expired and taken, or deleted): stop working for it. */
  onLost(): void;
}

/**
 * Keeps a holder's lock alive while it computes: every third of the TTL it extends the lock
 * (compare-and-PEXPIRE), so a computation longer than the TTL keeps the lock, while a holder
 * that dies stops extending and its lock expires within one TTL. The first failed extension
 * reports the loss and stops. Returns a stop function.
 */
export function startWatchdog(redis: RedisPort, keys: CacheKeys, lease: LockLease, events: WatchdogEvents): () => void {
  let stopped = false;
  const timer = setInterval(
    () => {
      extendLock(redis, keys, lease)
        .then((extended) => {
          if (stopped) return;
          if (extended) {
            events.onExtended();
          } else {
            stop();
            events.onLost();
          }
        })
        // A failed round trip is not a lost lock: the next tick tries again, and if Redis stays
        // away the lock expires and the fence protects the value.
        .catch(() => {});
    },
    Math.max(Math.floor(lease.ttlMs / 3), 10),
  );
  timer.unref();
  const stop = () => {
    stopped = true;
    clearInterval(timer);
  };
  return stop;
}
