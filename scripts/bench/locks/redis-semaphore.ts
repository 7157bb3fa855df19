import { Redis } from 'ioredis';
import { Mutex } from 'redis-semaphore';
import type { LockAdapterFactory } from './adapter.js';

/**
 * redis-semaphore's Mutex: `acquire` (SET NX PX, polling every 10 ms while held) and
 * `release`. Its defaults, except a 10-minute acquireTimeout so that no contender gives up.
 */
export const create: LockAdapterFactory = async (settings) => {
  const redis = new Redis(settings.redisUrl);
  await redis.ping();
  return {
    async acquire(key) {
      const mutex = new Mutex(redis, `${settings.prefix}:${key}`, { lockTimeout: settings.ttlMs, acquireTimeout: 600_000 });
      await mutex.acquire();
      return () => mutex.release();
    },
    async close() {
      await redis.quit();
    },
  };
};
