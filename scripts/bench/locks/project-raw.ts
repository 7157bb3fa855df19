import { Redis } from 'ioredis';
import { Notifier } from '../../../src/redis/notifier.js';
import { cacheKeys } from '../../../src/keys.js';
import { acquireLock, releaseLock } from '../../../src/lock/redis-lock.js';
import { redisOptionsFor } from '../../redis/connection.js';
import type { LockAdapterFactory } from './adapter.js';
import { toPort } from '../../../src/redis/adapt.js';
import { asSubscriber } from '../../../test/support/subscriber-port.js';

/**
 * This project's lock primitives, `acquireLock` (one Lua call: SET NX PX and a fence from the
 * server clock) and `releaseLock` (compare-and-delete + PUBLISH), with the simplest wait around
 * them: a contender that finds the lock held waits for the release notification on the key's
 * channel, subscribing before trying again (so a release in between is not missed). Every
 * release wakes every waiter of the process: the herd that guard.lock (project.ts) avoids.
 */
export const create: LockAdapterFactory = async (settings) => {
  const redis = new Redis(settings.redisUrl, redisOptionsFor('cache'));
  const subscriber = new Redis(settings.redisUrl, redisOptionsFor('subscriber'));
  await Promise.all([redis.ping(), subscriber.ping()]);
  const notifier = new Notifier(asSubscriber(subscriber));
  return {
    async acquire(key) {
      const keys = cacheKeys(settings.prefix, key);
      for (;;) {
        let lease = await acquireLock(toPort(redis), keys, settings.ttlMs);
        if (!lease) {
          const subscription = await notifier.listen(keys.channel, settings.ttlMs);
          if (subscription === 'timeout') continue;
          try {
            lease = await acquireLock(toPort(redis), keys, settings.ttlMs);
            if (!lease) await subscription.next(settings.ttlMs);
          } finally {
            subscription.close();
          }
        }
        if (lease) {
          const held = lease;
          return async () => {
            await releaseLock(toPort(redis), keys, held);
          };
        }
      }
    },
    async close() {
      await Promise.all([redis.quit(), subscriber.quit()]);
    },
  };
};
