import type { Redis } from 'ioredis';

/**
 * The usual way to put a Redis lock library around a cache fill, without a notification
 * channel: read; on a miss try the lock once; the holder reads again (double-checked),
 * computes, writes, releases; everyone else polls the cache every `pollMs` until the value
 * is there. A waiter that has seen nothing for a lock TTL assumes the holder died and
 * contends again.
 */
/** Run `fn` holding the lock, or return `{ held: false }` at once when another holds it. */
export type TryLock = <T>(fn: () => Promise<T>) => Promise<{ held: true; value: T } | { held: false }>;

export interface PollingCache {
  redis: Redis;
  pollMs: number;
  lockTtlMs: number;
  valueTtlMs: number;
}

export async function getWithLockAndPolling(
  cache: PollingCache,
  key: string,
  lock: TryLock,
  compute: () => Promise<string>,
): Promise<string> {
  const first = await cache.redis.get(key);
  if (first !== null) return first;
  for (;;) {
    const attempt = await lock(async () => {
      const filled = await cache.redis.get(key);
      if (filled !== null) return filled;
      const value = await compute();
      await cache.redis.set(key, value, 'PX', cache.valueTtlMs);
      return value;
    });
    if (attempt.held) return attempt.value;

    const giveUpAt = Date.now() + cache.lockTtlMs;
    while (Date.now() < giveUpAt) {
      await sleep(cache.pollMs);
      const value = await cache.redis.get(key);
      if (value !== null) return value;
    }
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
