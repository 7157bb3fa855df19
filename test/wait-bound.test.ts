/**
 * `maxWaitMs` bounds a waiting call also while Redis does not answer (issue 22, finding 10). The
 * client here is the kind BullMQ asks for (`maxRetriesPerRequest: null`): it queues a command for
 * as long as Redis is away, so before the fix a waiter whose re-check was not answered never
 * settled.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGuard } from '../src/cache/guard.js';
import { cacheKeys } from '../src/keys.js';
import { acquireLock } from '../src/lock/redis-lock.js';
import { closeAll, connect, redisUrl, uniquePrefix } from './support/redis.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';
import { waitUntil } from './support/wait.js';
import { toPort } from '../src/redis/adapt.js';

const admin = connect();
let proxy: TcpProxy;
beforeAll(async () => {
  const target = new URL(redisUrl());
  proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
});
afterAll(async () => {
  await proxy.close();
  await closeAll(admin);
});

describe('maxWaitMs while Redis does not answer', () => {
  it('a waiter whose re-check is never answered gives up at maxWaitMs with WaitTimeoutError, and gives back a lock its late claim took', async () => {
    const prefix = uniquePrefix('wait-bound');
    const keys = cacheKeys(prefix, 'k');
    expect(await acquireLock(toPort(admin), keys, 800)).not.toBeNull(); // a holder that vanishes: its lock expires
    const redis = new Redis(proxy.url, { maxRetriesPerRequest: null });
    // A Redis deadline above maxWaitMs, so that this is the wait's bound at work, not the outage
    // policy (redis-outage.test.ts: with the default deadline the call computes after 1 s instead).
    const guard = createGuard({ redis, keyPrefix: prefix, lockTtlMs: 10_000, maxWaitMs: 1_500, redisTimeoutMs: 20_000 });
    try {
      // The first claim passes (busy); the one after the SUBSCRIBE, and all after it, are held.
      const held = proxy.holdRequest('evalsha', 1);
      const started = Date.now();
      const call = guard
        .getOrCompute('k', async () => 'computed')
        .then(
          () => null,
          (err: { code?: string }) => err,
        );
      await held.arrived;
      const error = await call;
      expect(error?.code).toBe('E_WAIT_TIMEOUT');
      expect(Date.now() - started).toBeLessThan(1_500 + 3_000); // before: never settled
      // The held claim reaches Redis after the holder's lock expired and takes it: it is given
      // back at once, not left to block the fleet for a lock TTL.
      await waitUntil('the lock expired', async () => (await admin.exists(keys.lock)) === 0);
      held.release();
      await redis.ping();
      expect(await admin.exists(keys.lease)).toBe(1); // the late claim did take the lock
      await waitUntil('the late lock is given back', async () => (await admin.exists(keys.lock)) === 0, { timeoutMs: 5_000 });
    } finally {
      await guard.close();
      redis.disconnect();
    }
  });
});
