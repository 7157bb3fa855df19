import { Redis } from 'ioredis';
import Redlock from 'redlock';
import type { LockAdapterFactory } from './adapter.js';

/**
 * redlock 5 on one Redis: `acquire` / `release`. Its defaults, except that it retries for
 * ever (`retryCount: -1`) instead of failing after 10 attempts, so that under contention
 * every acquisition eventually succeeds and is timed: it retries every 200 ms ± 100 ms.
 */
export const create: LockAdapterFactory = async (settings) => {
  const redis = new Redis(settings.redisUrl);
  await redis.ping();
  const redlock = new Redlock([redis], { retryCount: -1 });
  redlock.on('error', () => {});
  return {
    async acquire(key) {
      const lock = await redlock.acquire([`${settings.prefix}:${key}`], settings.ttlMs);
      return async () => {
        await lock.release();
      };
    },
    async close() {
      await redis.quit();
    },
  };
};
