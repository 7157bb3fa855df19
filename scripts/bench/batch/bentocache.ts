import { Redis } from 'ioredis';
import { BentoCache, bentostore } from 'bentocache';
import { redisDriver } from 'bentocache/drivers/redis';
import type { BatchAdapterFactory } from './adapter.js';

/**
 * bentocache 1.6 has no batch getOrSet (its provider has get, getOrSet, set, has, delete,
 * deleteMany, ...: nothing that computes many keys in one factory call), so its row is what a
 * user writes instead: one `getOrSet({ key, factory })` per key, all at once, each factory asking
 * the origin for its one key. Redis is its only tier (no L1, no bus: a cold key misses both
 * anyway, and the bus would add a message per write).
 */
export const create: BatchAdapterFactory = async (settings, variant) => {
  if (variant !== undefined) throw new Error(`bentocache has no variant "${variant}" here`);
  const redis = new Redis(settings.redisUrl);
  await redis.ping();
  const store = bentostore().useL2Layer(redisDriver({ connection: redis }));
  const bento = new BentoCache({ default: 'bench', prefix: settings.prefix, stores: { bench: store } });
  return {
    getMany(keys, origin) {
      return Promise.all(keys.map((key) => bento.getOrSet({ key, ttl: settings.valueTtlMs, factory: () => origin.fetchOne(key) })));
    },
    async close() {
      await bento.disconnectAll().catch(() => {});
      if (redis.status !== 'end') redis.disconnect();
    },
  };
};
