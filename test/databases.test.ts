/**
 * Two deployments on one Redis, in different databases, with the same key prefix: pub/sub
 * ignores the database number, so the channels must name it, or one deployment's failure fails
 * the other's waiters.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createGuard, type StampedeGuard } from '../src/cache/guard.js';
import { cacheKeys } from '../src/keys.js';
import { captureLogger } from './support/log-capture.js';
import { closeAll, redisUrl, uniquePrefix } from './support/redis.js';
import { deferred, waitUntil } from './support/wait.js';

const clients: Redis[] = [];
const guards: StampedeGuard[] = [];
afterAll(async () => {
  await Promise.all(guards.map((g) => g.close()));
  await closeAll(...clients);
});

function guardOn(db: number, prefix: string, logger = captureLogger().logger): StampedeGuard {
  const redis = new Redis(`${redisUrl()}/${db}`, { maxRetriesPerRequest: 2 });
  clients.push(redis);
  const guard = createGuard({ redis, keyPrefix: prefix, lockTtlMs: 30_000, failurePolicy: 'error', logger });
  guards.push(guard);
  return guard;
}

describe('databases are isolated', () => {
  it('a computation failing on db 1 does not fail the waiters of the same key on db 0', async () => {
    const prefix = uniquePrefix('dbs');
    const holder0 = guardOn(0, prefix);
    const waiterLog = captureLogger();
    const waiter0 = guardOn(0, prefix, waiterLog.logger);
    const holder1 = guardOn(1, prefix);

    const computing0 = deferred();
    const gate0 = deferred();
    const held0 = holder0.getOrCompute('k', async () => {
      computing0.resolve();
      await gate0.promise;
      return 'db0-value';
    });
    await computing0.promise;
    const waited0 = waiter0.getOrCompute('k', async () => 'not-expected');
    await waitUntil('the db 0 waiter waits', () => waiterLog.count('wait.start') === 1);

    await expect(holder1.getOrCompute('k', async () => Promise.reject(new Error('db 1 is broken')))).rejects.toThrow('db 1 is broken');
    gate0.resolve();
    expect(await held0).toEqual({ value: 'db0-value', source: 'computed' });
    expect(await waited0).toEqual({ value: 'db0-value', source: 'waited' });
  });

  it('every channel starts with the key prefix and names the database', () => {
    expect(cacheKeys('cs', 'k', 3).channel).toMatch(/^cs:\{k\}:.*db3/);
    expect(cacheKeys('cs', 'k', 0).channel).not.toBe(cacheKeys('cs', 'k', 1).channel);
  });
});
