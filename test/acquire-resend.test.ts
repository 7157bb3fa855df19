/**
 * ioredis resends a command whose reply was lost when the connection dropped. When that command
 * was the lock's acquire and Redis had run it, the resend finds the caller's own lock: it must
 * get the same lease back, not "busy" (which would make the whole fleet wait out the lock TTL).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createGuard } from '../src/cache/guard.js';
import { cacheKeys } from '../src/keys.js';
import { acquireLock, releaseLock } from '../src/lock/redis-lock.js';
import { createRedis } from '../scripts/redis/connection.js';
import { closeAll, connect, redisUrl, uniquePrefix } from './support/redis.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';
import { toPort } from '../src/redis/adapt.js';

let proxy: TcpProxy;
let admin: Redis;
const clients: Redis[] = [];
beforeAll(async () => {
  const target = new URL(redisUrl());
  proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
  admin = connect();
  clients.push(admin);
});
afterAll(async () => {
  await closeAll(...clients);
  await proxy.close();
});

/** The guard's own cache connection, through the proxy. */
function proxied(): Redis {
  const redis = createRedis(proxy.url, 'cache');
  redis.on('error', () => {});
  clients.push(redis);
  return redis;
}

describe('acquire is idempotent', () => {
  it('an acquire whose reply was lost is resent and returns the same lease', async () => {
    const prefix = uniquePrefix('resend');
    const redis = proxied();
    // Load the script first, so the dropped reply is the acquire's own, not a NOSCRIPT.
    const warm = cacheKeys(prefix, 'warm');
    await releaseLock(toPort(redis), warm, (await acquireLock(toPort(redis), warm, 1000))!);

    const keys = cacheKeys(prefix, 'k');
    const accepted = proxy.accepted;
    const dropped = proxy.dropReplyTo(keys.lock);
    const lease = await acquireLock(toPort(redis), keys, 30_000);
    await dropped;
    expect(proxy.accepted).toBeGreaterThan(accepted); // it really reconnected and resent
    expect(lease).not.toBeNull();
    expect(await admin.get(keys.lock)).toBe(lease!.token);
    expect(await acquireLock(toPort(admin), keys, 30_000)).toBeNull();
    expect(await releaseLock(toPort(redis), keys, lease!)).toBe(true);
  });

  it('a guard whose acquire reply was lost computes at once instead of waiting for itself', async () => {
    const prefix = uniquePrefix('resend-guard');
    const redis = proxied();
    const guard = createGuard({ redis, keyPrefix: prefix, lockTtlMs: 30_000 });
    await guard.getOrCompute('warm', async () => 'loads the scripts');

    const dropped = proxy.dropReplyTo(cacheKeys(prefix, 'k').lock);
    const started = Date.now();
    const result = await guard.getOrCompute('k', async () => 'computed once');
    await dropped;
    expect(result).toEqual({ value: 'computed once', source: 'computed' });
    expect(Date.now() - started).toBeLessThan(10_000);
    await guard.close();
  });
});
