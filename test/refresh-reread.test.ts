/**
 * A background refresh (swr, xfetch) that wins the lock just after another process's refresh
 * released it must not compute again: it re-reads after acquiring, as a fill does. The proxy
 * holds the refresh's acquire on its way to Redis while the other process refreshes.
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

for (const { strategy, freshForMs, reason } of [
  { strategy: 'swr', freshForMs: -1000, reason: 'a stale value' },
  { strategy: 'xfetch', freshForMs: 30_000, reason: 'an early refresh of a fresh value' },
] as const) {
  describe(`${strategy}: ${reason}`, () => {
    it('a refresh that gets the lock after another process refreshed does not compute again', async () => {
      const prefix = uniquePrefix(`reread-${strategy}`);
      const keys = cacheKeys(prefix, 'k');
      const redis = createRedis(proxy.url, 'cache');
      clients.push(redis);
      // random() near 0: XFetch's test says "refresh early" for any fresh value.
      const guard = createGuard({ redis, keyPrefix: prefix, lockTtlMs: 30_000, random: () => 1e-9 });
      await guard.getOrCompute('warm', async () => 'loads the scripts');
      await writeEnvelope(admin, keys, envelope('v1', freshForMs), null, 60_000);

      let computations = 0;
      const hold = proxy.holdRequest(keys.lock);
      const served = await guard.getOrCompute('k', async () => `recomputed-${++computations}`, { strategy });
      expect(served.value).toBe('v1');
      await hold.arrived;

      // Meanwhile another process refreshes: takes the lock, writes v2, releases.
      const other = (await acquireLock(admin, keys, 30_000))!;
      expect((await writeEnvelope(admin, keys, envelope('v2', 60_000, other.fence), other, 60_000)).released).toBe(true);

      hold.release();
      await guard.close(); // waits for the background refresh
      expect(computations).toBe(0);
      expect((await readEnvelope<string>(admin, keys))?.value).toBe('v2');
    });
  });
}
