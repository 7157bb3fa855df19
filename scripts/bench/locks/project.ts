import { Redis } from 'ioredis';
import { createGuard } from '../../../src/cache/guard.js';
import { redisOptionsFor } from '../../redis/connection.js';
import type { LockAdapterFactory } from './adapter.js';

/**
 * This project's lock: `guard.lock` (src/lock/fair-lock.ts). Contenders of one process queue in
 * arrival order and a release hands the lock to the next in one round trip; a process that finds
 * the lock held elsewhere waits for the release notification (pub/sub), never polls.
 */
export const create: LockAdapterFactory = async (settings) => {
  const redis = new Redis(settings.redisUrl, redisOptionsFor('cache'));
  const subscriber = new Redis(settings.redisUrl, redisOptionsFor('subscriber'));
  await Promise.all([redis.ping(), subscriber.ping()]);
  const guard = createGuard({ redis, subscriber, keyPrefix: settings.prefix, lockTtlMs: settings.ttlMs, maxWaitMs: 600_000 });
  return {
    async acquire(key) {
      const held = await guard.lock(key);
      return async () => {
        await held.release();
      };
    },
    async close() {
      await guard.close();
      await Promise.all([redis.quit(), subscriber.quit()]);
    },
  };
};
