import { Redis } from 'ioredis';
import { createGuard } from '../../../src/cache/guard.js';
import { isStrategy } from '../../../src/cache/strategy.js';
import { redisOptionsFor } from '../../redis/connection.js';
import type { ColdAdapterFactory } from './adapter.js';

/**
 * This project: `createGuard(...).getOrCompute(key, compute, { strategy })`. The subscriber
 * is passed in and connected before the burst, as in a worker that has been up for a while;
 * a guard left to create it would open it on its first wait, inside the measured window.
 */
export const create: ColdAdapterFactory = async (settings, strategy) => {
  if (!isStrategy(strategy)) throw new Error(`unknown strategy "${strategy}"`);
  const redis = new Redis(settings.redisUrl, redisOptionsFor('cache'));
  const subscriber = new Redis(settings.redisUrl, redisOptionsFor('subscriber'));
  await Promise.all([redis.ping(), subscriber.ping()]);
  const guard = createGuard({
    redis,
    subscriber,
    keyPrefix: settings.prefix,
    valueTtlMs: settings.valueTtlMs,
    lockTtlMs: settings.lockTtlMs,
  });
  return {
    async get(key, compute) {
      return (await guard.getOrCompute(key, compute, { strategy })).value;
    },
    async close() {
      await guard.close();
      await Promise.all([redis.quit(), subscriber.quit()]);
    },
  };
};
