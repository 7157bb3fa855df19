/**
 * A refresh (swr, xfetch) that wins the lock just after another process's refresh released it
 * must not compute again: the read and the lock are one step (the claim script), which finds the
 * new value instead. The proxy holds the claim on its way to Redis while the other process
 * refreshes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createGuard } from '../src/cache/guard.js';
import type { Envelope } from '../src/cache/envelope.js';
import { readEnvelope, writeEnvelope } from '../src/cache/store.js';
import { cacheKeys } from '../src/keys.js';
import { acquireLock } from '../src/lock/redis-lock.js';
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

function envelope(value: string, freshForMs: number, fence = 0): Envelope<string> {
  const now = Date.now();
  return { value, fence, computedAt: now - 1, computeMs: 10_000, ttlMs: 60_000, freshUntil: now + freshForMs };
}

describe('swr: a stale read takes the lock in the same step as the read', () => {
  it('a claim that reaches Redis after another process refreshed gets the new value, and computes nothing', async () => {
    const prefix = uniquePrefix('reread-swr');
    const keys = cacheKeys(prefix, 'k');
    const { guard } = proxiedGuard(prefix);
    await guard.getOrCompute('warm', async () => 'loads the scripts');
    await writeEnvelope(toPort(admin), keys, envelope('v1', -1000), null, 60_000);

    let computations = 0;
    const hold = proxy.holdRequest(keys.lock);
    const served = guard.getOrCompute('k', async () => `recomputed-${++computations}`, { strategy: 'swr' });
    await hold.arrived; // the read of the stale value is on its way...
    await refreshElsewhere(keys); // ...when another process refreshes it
    hold.release();

    expect(await served).toEqual({ value: 'v2', source: 'cache' });
    await guard.close();
    expect(computations).toBe(0);
    expect((await readEnvelope<string>(toPort(admin), keys))?.value).toBe('v2');
  });
});

describe('xfetch: an early refresh of a fresh value', () => {
  it('a refresh that gets the lock after another process refreshed does not compute again', async () => {
    const prefix = uniquePrefix('reread-xfetch');
    const keys = cacheKeys(prefix, 'k');
    const { guard } = proxiedGuard(prefix);
    await guard.getOrCompute('warm', async () => 'loads the scripts');
    await writeEnvelope(toPort(admin), keys, envelope('v1', 30_000), null, 60_000);

    let computations = 0;
    // The read goes through; the early refresh's own claim is held.
    const hold = proxy.holdRequest(keys.lock, 1);
    expect(await guard.getOrCompute('k', async () => `recomputed-${++computations}`, { strategy: 'xfetch' })).toEqual({
      value: 'v1',
      source: 'cache',
    });
    await hold.arrived;
    await refreshElsewhere(keys);
    hold.release();

    await guard.close(); // waits for the background refresh
    expect(computations).toBe(0);
    expect((await readEnvelope<string>(toPort(admin), keys))?.value).toBe('v2');
  });
});

function proxiedGuard(prefix: string) {
  const redis = createRedis(proxy.url, 'cache');
  clients.push(redis);
  // random() near 0: XFetch's test says "refresh early" for any fresh value.
  return { redis, guard: createGuard({ redis, keyPrefix: prefix, lockTtlMs: 30_000, random: () => 1e-9 }) };
}

/** Another process refreshes the key: takes the lock, writes v2, releases. */
async function refreshElsewhere(keys: ReturnType<typeof cacheKeys>): Promise<void> {
  const other = (await acquireLock(toPort(admin), keys, 30_000))!;
  expect((await writeEnvelope(toPort(admin), keys, envelope('v2', 60_000, other.fence), other, 60_000)).released).toBe(true);
}
