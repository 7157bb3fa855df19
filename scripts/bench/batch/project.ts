import { Redis } from 'ioredis';
import { createGuard } from '../../../src/cache/guard.js';
import { redisOptionsFor } from '../../redis/connection.js';
import type { BatchAdapterFactory } from './adapter.js';

/**
 * This project, two ways:
 * - `many`: one `getManyOrCompute(keys, computeMany)`, whose `computeMany(heldKeys)` asks the
 *   origin for all the keys it holds in one request;
 * - `single`: one `getOrCompute(key, compute, { strategy: 'redis-lock' })` per key, all at once,
 *   each `compute` asking the origin for its one key (what a caller without the batch API does).
 * The subscriber is passed in and connected beforehand, as in the cold burst.
 */
export const create: BatchAdapterFactory = async (settings, variant) => {
  if (variant !== 'many' && variant !== 'single') throw new Error(`unknown project variant "${variant}"`);
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
    async getMany(keys, origin) {
      if (variant === 'single') {
        return Promise.all(
          keys.map(async (key) => (await guard.getOrCompute(key, () => origin.fetchOne(key), { strategy: 'redis-lock' })).value),
        );
      }
      const results = await guard.getManyOrCompute(keys, (held) => origin.fetch(held));
      return keys.map((key) => {
        const result = results.get(key);
        if (!result) throw new Error(`no answer for ${key}`);
        if ('error' in result) throw result.error;
        return result.value;
      });
    },
    async close() {
      await guard.close();
      await Promise.all([redis.quit(), subscriber.quit()]);
    },
  };
};
