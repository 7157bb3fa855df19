/**
 * Every key the guard writes expires, and fences stay monotonic without any key that lives
 * forever: also when everything of a key was lost (eviction, a restart without persistence).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { Envelope } from '../src/cache/envelope.js';
import { readEnvelope, writeEnvelope } from '../src/cache/store.js';
import { STRATEGIES } from '../src/cache/strategy.js';
import { cacheKeys } from '../src/keys.js';
import { acquireLock, releaseLock } from '../src/lock/redis-lock.js';
import { closeGuards, processGuard } from './support/guards.js';
import { closeAll, connect, uniquePrefix } from './support/redis.js';
import { waitUntil } from './support/wait.js';
import { toPort } from '../src/redis/adapt.js';

let redis: Redis;
beforeAll(() => {
  redis = connect();
});
afterAll(async () => {
  await closeGuards();
  await closeAll(redis);
});

async function keysUnder(prefix: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    found.push(...batch);
  } while (cursor !== '0');
  return found;
}

function envelope<T>(value: T, fence: number): Envelope<T> {
  const now = Date.now();
  return { value, fence, computedAt: now, computeMs: 1, ttlMs: 60_000, freshUntil: now + 60_000 };
}

describe('every key expires', () => {
  it('after calls with every strategy, every key under the prefix has a TTL, and none is left once the values expired', async () => {
    const prefix = uniquePrefix('expire');
    const { guard } = processGuard({ keyPrefix: prefix, valueTtlMs: 300, graceMs: 300, lockTtlMs: 2000 });
    for (const strategy of STRATEGIES) {
      for (let i = 0; i < 5; i++) {
        await guard.getOrCompute(`${strategy}-${i}`, async () => `v${i}`, { strategy });
      }
    }
    const written = await keysUnder(prefix);
    expect(written.length).toBeGreaterThan(0);
    const ttls = await Promise.all(written.map((k) => redis.pttl(k)));
    expect(written.filter((_, i) => ttls[i]! < 0)).toEqual([]);
    // Nothing outlives its value's grace (600 ms) by more than a lock TTL (2 s).
    await waitUntil('every key expired', async () => (await keysUnder(prefix)).length === 0, { timeoutMs: 4000 });
  });
});

describe('fences without a counter that lives forever', () => {
  it('a holder from before a total loss of the key can never overwrite the value of a holder after it', async () => {
    const prefix = uniquePrefix('fence-loss');
    const keys = cacheKeys(prefix, 'k');
    // Seven holders come and go: the fence is well above its starting point.
    for (let i = 0; i < 7; i++) {
      const lease = (await acquireLock(toPort(redis), keys, 30_000))!;
      expect((await writeEnvelope(toPort(redis), keys, envelope(`v${i}`, lease.fence), lease, 60_000)).written).toBe(true);
    }
    const old = (await acquireLock(toPort(redis), keys, 30_000))!; // then pauses for a long time...
    // ...while every key of this cache key is lost (evicted, or Redis restarted without persistence).
    await redis.del(...(await keysUnder(prefix)));

    const next = (await acquireLock(toPort(redis), keys, 30_000))!;
    expect(next.fence).toBeGreaterThan(old.fence);
    expect((await writeEnvelope(toPort(redis), keys, envelope('newer', next.fence), next, 60_000)).written).toBe(true);
    const late = await writeEnvelope(toPort(redis), keys, envelope('older', old.fence), old, 60_000);
    expect(late.written).toBe(false);
    expect((await readEnvelope<string>(toPort(redis), keys))?.value).toBe('newer');
    await releaseLock(toPort(redis), keys, old);
  });

  it('a lock that was never used to write leaves nothing behind after its TTL', async () => {
    const prefix = uniquePrefix('lock-only');
    const keys = cacheKeys(prefix, 'k');
    const lease = (await acquireLock(toPort(redis), keys, 200))!;
    expect(lease).not.toBeNull();
    const ttls = await Promise.all((await keysUnder(prefix)).map((k) => redis.pttl(k)));
    expect(ttls.every((t) => t > 0 && t <= 200)).toBe(true);
    await waitUntil('the lock expired', async () => (await keysUnder(prefix)).length === 0, { timeoutMs: 3000 });
  });
});
