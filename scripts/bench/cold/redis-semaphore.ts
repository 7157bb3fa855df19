import { Redis } from 'ioredis';
import { Mutex } from 'redis-semaphore';
import type { ColdAdapterFactory } from './adapter.js';
import { getWithLockAndPolling } from './poll-cache.js';

/**
 * redis-semaphore's Mutex around the computation, waiters polling the cache. `tryAcquire`
 * alone would keep retrying SET NX for `acquireTimeout` (10 s by default); one attempt
 * (`acquireAttemptsLimit: 1`) is what makes it a try-lock.
 */
export const create: ColdAdapterFactory = async (settings) => {
  const redis = new Redis(settings.redisUrl);
  await redis.ping();
  const cache = { redis, pollMs: settings.pollMs, lockTtlMs: settings.lockTtlMs, valueTtlMs: settings.valueTtlMs };
  return {
    get(key, compute) {
      const fullKey = `${settings.prefix}:${key}`;
      return getWithLockAndPolling(
        cache,
        fullKey,
        async (fn) => {
          const mutex = new Mutex(redis, `${settings.prefix}:${key}`, { lockTimeout: settings.lockTtlMs, acquireAttemptsLimit: 1 });
          if (!(await mutex.tryAcquire())) return { held: false };
          try {
            return { held: true, value: await fn() };
          } finally {
            await mutex.release();
          }
        },
        compute,
      );
    },
    async close() {
      await redis.quit();
    },
  };
};
