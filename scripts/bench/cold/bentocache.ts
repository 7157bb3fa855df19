import { Redis } from 'ioredis';
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { redisBusDriver, redisDriver } from 'bentocache/drivers/redis';
import type { ColdAdapterFactory } from './adapter.js';

/**
 * bentocache `getOrSet`, its own stampede protection measured as it comes:
 * - `l2`: Redis as the only tier (its single-tier handler: read, in-process lock, read again,
 *   run the factory, write);
 * - `l1-l2-bus`: in-memory L1 in front of Redis, and the Redis bus that keeps the L1s of a
 *   fleet in step (what its docs recommend for several instances).
 * Its lock is per process, so each process of the fleet is expected to compute once.
 */
export const create: ColdAdapterFactory = async (settings, variant) => {
  if (variant !== 'l2' && variant !== 'l1-l2-bus') throw new Error(`unknown bentocache variant "${variant}"`);
  const redis = new Redis(settings.redisUrl);
  const busRedis = variant === 'l1-l2-bus' ? new Redis(settings.redisUrl) : undefined;
  await Promise.all([redis.ping(), busRedis?.ping()]);

  const store = bentostore().useL2Layer(redisDriver({ connection: redis }));
  if (variant === 'l1-l2-bus') {
    store.useL1Layer(memoryDriver({ maxSize: '50mb' })).useBus(redisBusDriver({ connection: busRedis! }));
  }
  const bento = new BentoCache({ default: 'bench', prefix: settings.prefix, stores: { bench: store } });
  return {
    get(key, compute) {
      return bento.getOrSet({ key, ttl: settings.valueTtlMs, factory: () => compute() });
    },
    async close() {
      // Closes the drivers; their clients were ours, so quit what is still open.
      await bento.disconnectAll().catch(() => {});
      for (const client of [redis, busRedis]) if (client && client.status !== 'end') client.disconnect();
    },
  };
};
