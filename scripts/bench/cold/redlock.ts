import { Redis } from 'ioredis';
import Redlock, { ExecutionError } from 'redlock';
import type { ColdAdapterFactory } from './adapter.js';
import { getWithLockAndPolling } from './poll-cache.js';

/**
 * redlock 5's `using` around the computation, one Redis (the usual single-instance set-up),
 * one attempt (`retryCount: 0`: a busy lock is an ExecutionError), waiters polling the cache.
 */
export const create: ColdAdapterFactory = async (settings) => {
  const redis = new Redis(settings.redisUrl);
  await redis.ping();
  const redlock = new Redlock([redis], { retryCount: 0 });
  // Redlock re-emits errors from extensions; the burst has none, but an unhandled 'error' would throw.
  redlock.on('error', () => {});
  const cache = { redis, pollMs: settings.pollMs, lockTtlMs: settings.lockTtlMs, valueTtlMs: settings.valueTtlMs };
  return {
    get(key, compute) {
      const fullKey = `${settings.prefix}:${key}`;
      return getWithLockAndPolling(
        cache,
        fullKey,
        async (fn) => {
          try {
            return { held: true, value: await redlock.using([`${fullKey}:lock`], settings.lockTtlMs, () => fn()) };
          } catch (err) {
            if (err instanceof ExecutionError) return { held: false };
            throw err;
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
