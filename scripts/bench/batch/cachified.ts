import { Redis } from 'ioredis';
import { cachified, createBatch } from '@epic-web/cachified';
import { redisCacheAdapter, type RedisLikeCache } from 'cachified-redis-adapter';
import type { BatchAdapterFactory } from './adapter.js';

/**
 * @epic-web/cachified with its `createBatch`: one `cachified({ getFreshValue: batch.add(key) })`
 * per key, all at once; the keys that missed the cache are fetched by one `getFreshValues(keys)`
 * call (one origin request), and each value is written under its own key. Its cache is Redis,
 * the bench's own, through cachified-redis-adapter (written for node-redis: `set(key, value,
 * { EXAT })`), given an ioredis client behind that three-method interface: one GET per key read,
 * one SET ... EXAT per key written. cachified dedupes calls for the same key in one process (per
 * cache object); it has no lock across processes.
 */
export const create: BatchAdapterFactory = async (settings, variant) => {
  if (variant !== undefined) throw new Error(`cachified has no variant "${variant}"`);
  const redis = new Redis(settings.redisUrl);
  await redis.ping();
  const client: RedisLikeCache = {
    name: 'ioredis',
    set: (key, value, options) => (options ? redis.set(key, value, 'EXAT', options.EXAT) : redis.set(key, value)),
    get: (key) => redis.get(key),
    del: (key) => redis.del(key),
  };
  const cache = redisCacheAdapter(client);
  return {
    getMany(keys, origin) {
      const batch = createBatch<string, string>(async (missing) => {
        const values = await origin.fetch(missing);
        return missing.map((key) => values.get(key)!);
      });
      return Promise.all(
        keys.map((key) => cachified({ cache, key: `${settings.prefix}:${key}`, ttl: settings.valueTtlMs, getFreshValue: batch.add(key) })),
      );
    },
    async close() {
      await redis.quit();
    },
  };
};
