/**
 * One defaults object and one validator for every guard option, shared by the library and the
 * environment loader; the lock API refuses what Redis would turn into a deletion; no timer is
 * handed a delay Node would turn into 1 ms.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createGuard, type GuardOptions } from '../src/cache/guard.js';
import { loadConfig } from '../scripts/common/config.js';
import { cacheKeys } from '../src/keys.js';
import { acquireLock, extendLock } from '../src/lock/redis-lock.js';
import { closeAll, connect, uniquePrefix } from './support/redis.js';
import { MAX_TIMER_MS } from '../src/timers.js';
import { toPort } from '../src/redis/adapt.js';

let redis: Redis;
beforeAll(() => {
  redis = connect();
});
afterAll(async () => {
  await closeAll(redis);
});

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code;
  }
}

async function rejection(promise: Promise<unknown>): Promise<{ code?: string; message: string } | 'resolved'> {
  return promise.then(
    () => 'resolved' as const,
    (err: Error & { code?: string }) => ({ code: err.code, message: err.message }),
  );
}

describe('the lock API refuses TTLs that are not positive whole numbers', () => {
  it('extendLock with -1, 0 or 1.5 ms is refused and the lock stays', async () => {
    const keys = cacheKeys(uniquePrefix('extend-ttl'), 'k');
    const lease = (await acquireLock(toPort(redis), keys, 30_000))!;
    for (const ttl of [-1, 0, 1.5, Number.NaN]) {
      const outcome = await rejection(extendLock(toPort(redis), keys, lease, ttl));
      expect(outcome).toMatchObject({ code: 'E_OPTIONS', message: expect.stringContaining('ttlMs') });
    }
    expect(await redis.get(keys.lock)).toBe(lease.token);
    expect(await redis.pttl(keys.lock)).toBeGreaterThan(25_000);
  });

  it('acquireLock with 0, -5, 2.5 or 2^31 ms is refused and writes nothing', async () => {
    const prefix = uniquePrefix('acquire-ttl');
    const keys = cacheKeys(prefix, 'k');
    for (const ttl of [0, -5, 2.5, 2 ** 31]) {
      expect(await rejection(acquireLock(toPort(redis), keys, ttl))).toMatchObject({ code: 'E_OPTIONS' });
    }
    expect(await redis.keys(`${prefix}:*`)).toEqual([]);
  });

  it('accepts both ends of the range, 1 ms and 2^31 - 1 ms', async () => {
    const keys = cacheKeys(uniquePrefix('ttl-ends'), 'k');
    const lease = (await acquireLock(toPort(redis), keys, 2 ** 31 - 1))!;
    expect(await redis.pttl(keys.lock)).toBeGreaterThan(2 ** 31 - 60_000);
    expect(await extendLock(toPort(redis), keys, lease, 1)).toBe(true);
    expect(await rejection(extendLock(toPort(redis), keys, lease, 2 ** 31))).toMatchObject({
      code: 'E_OPTIONS',
      message: `ttlMs must be a whole number of ms from 1 to ${2 ** 31 - 1}, got ${2 ** 31}`,
    });
  });
});

describe('timers', () => {
  it('a compute timeout of 2^31 ms, which Node would turn into 1 ms, is refused; 2^31 - 1 ms waits', () => {
    expect(codeOf(() => createGuard({ redis, computeTimeoutMs: 2 ** 31 }))).toBe('E_OPTIONS');
  });

  it('the longest compute timeout a timer can hold does not cut a computation short', async () => {
    const guard = createGuard({ redis, keyPrefix: uniquePrefix('timer'), computeTimeoutMs: 2 ** 31 - 1 });
    const result = await guard.getOrCompute('k', async () => {
      await new Promise((resolve) => setTimeout(resolve, 50));
      return 'done';
    });
    expect(result).toEqual({ value: 'done', source: 'computed' });
    await guard.close();
  });
});

describe('guard options: one validator', () => {
  const bad: Array<[string, Partial<GuardOptions> & Record<string, unknown>]> = [
    ['lockTtlMs', { lockTtlMs: 1.5 }],
    ['lockTtlMs', { lockTtlMs: 50 }],
    ['lockTtlMs', { lockTtlMs: 2 ** 31 }],
    ['valueTtlMs', { valueTtlMs: 0 }],
    ['valueTtlMs', { valueTtlMs: Number.POSITIVE_INFINITY }],
    ['graceMs', { graceMs: -1 }],
    ['maxWaitMs', { maxWaitMs: 10.5 }],
    ['computeTimeoutMs', { computeTimeoutMs: -1 }],
    ['failureBackoffMs', { failureBackoffMs: -1 }],
    ['ttlJitter', { ttlJitter: 1.5 }],
    ['xfetchBeta', { xfetchBeta: 0 }],
    ['failurePolicy', { failurePolicy: 'sometimes' as never }],
    ['redisTimeoutMs', { redisTimeoutMs: 0 }],
    ['redisTimeoutMs', { redisTimeoutMs: 100.5 }],
    ['onRedisDown', { onRedisDown: 'wait' as never }],
    ['strategy', { strategy: 'toString' as never }],
    ['keyPrefix', { keyPrefix: 'a{b}' }],
    ['random', { random: 0.5 as never }],
    ['prefix', { prefix: 'typo-for-keyPrefix' }],
  ];
  for (const [field, options] of bad) {
    it(`refuses ${JSON.stringify(options)} with E_OPTIONS naming ${field}`, () => {
      let error: (Error & { code?: string }) | undefined;
      try {
        createGuard({ redis, ...options });
      } catch (err) {
        error = err as Error & { code?: string };
      }
      expect(error?.code).toBe('E_OPTIONS');
      expect(error?.message).toContain(field);
    });
  }

  it('the environment loader applies the same rules as the library', () => {
    const cases: Array<[string, keyof GuardOptions, string]> = [
      ['LOCK_TTL_MS', 'lockTtlMs', '50'],
      ['LOCK_TTL_MS', 'lockTtlMs', '100'],
      ['VALUE_TTL_MS', 'valueTtlMs', '1'],
      ['GRACE_MS', 'graceMs', '0'],
      ['COMPUTE_TIMEOUT_MS', 'computeTimeoutMs', '0'],
      ['XFETCH_BETA', 'xfetchBeta', '0.001'],
      ['TTL_JITTER', 'ttlJitter', '1'],
      ['FAILURE_BACKOFF_MS', 'failureBackoffMs', '0'],
      ['FAILURE_BACKOFF_MS', 'failureBackoffMs', '-3'],
    ];
    for (const [name, field, raw] of cases) {
      const fromEnv = codeOf(() => loadConfig({}, { [name]: raw }));
      const fromLibrary = codeOf(() => createGuard({ redis, [field]: Number(raw) }));
      expect({ name, raw, accepted: fromEnv === undefined }).toEqual({ name, raw, accepted: fromLibrary === undefined });
    }
  });

  it('l1: maxEntries turns the tier on; bad bounds are refused by the library and the environment alike', () => {
    expect(codeOf(() => createGuard({ redis, l1: { maxEntries: 0 } }))).toBe('E_OPTIONS');
    expect(codeOf(() => createGuard({ redis, l1: { maxEntries: 10, maxBytes: -1 } }))).toBe('E_OPTIONS');
    expect(codeOf(() => createGuard({ redis, l1: { maxEntries: 10, ttl: 5 } as never }))).toBe('E_OPTIONS');
    expect(loadConfig({}, {}).l1).toBeNull();
    expect(loadConfig({}, { L1_MAX_ENTRIES: '500', L1_MAX_BYTES: '1000000' }).l1).toEqual({ maxEntries: 500, maxBytes: 1_000_000 });
    expect(() => loadConfig({}, { L1_MAX_ENTRIES: '0' })).toThrow(/^L1_MAX_ENTRIES must be a whole number from 1/);
    expect(() => loadConfig({}, { L1_MAX_BYTES: '1000' })).toThrow(/L1_MAX_BYTES needs L1_MAX_ENTRIES/);
  });

  it('a per-call ttlMs of 0 or less still gives the value 1 ms of fresh time; no number, or past the largest timer, is refused', async () => {
    const guard = createGuard({ redis, keyPrefix: uniquePrefix('ttl0') });
    expect(await guard.getOrCompute('k', async () => 'v', { ttlMs: 0 })).toEqual({ value: 'v', source: 'computed' });
    expect(await guard.getOrCompute('k2', async () => 'v', { ttlMs: -5 })).toEqual({ value: 'v', source: 'computed' });
    for (const ttlMs of [Number.NaN, '60' as never, Number.POSITIVE_INFINITY, MAX_TIMER_MS + 1]) {
      await expect(guard.getOrCompute('k3', async () => 'v', { ttlMs })).rejects.toMatchObject({
        code: 'E_OPTIONS',
        message: `ttlMs must be a number of ms up to ${MAX_TIMER_MS}, got ${String(ttlMs)}`,
      });
    }
    expect(await guard.getOrCompute('k4', async () => 'v', { ttlMs: MAX_TIMER_MS })).toEqual({ value: 'v', source: 'computed' });
    await guard.close();
  });

  it('subscriber: the command connection itself is refused (subscriber mode would refuse its commands)', () => {
    expect(() => createGuard({ redis, subscriber: redis })).toThrow(
      expect.objectContaining({
        code: 'E_OPTIONS',
        option: 'subscriber',
        message: expect.stringMatching(/^subscriber must be a connection of its own/),
      }),
    );
  });
});
