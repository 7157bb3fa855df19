/**
 * The edges of every guard option, both sides, and the defaults a guard without options gets:
 * the validator is the one place these rules live, so each bound is pinned here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createGuard, type GuardOptions } from '../src/cache/guard.js';
import { GUARD_DEFAULTS, checkL1, resolveGuardOptions } from '../src/cache/options.js';
import { MAX_TIMER_MS } from '../src/timers.js';
import { readEnvelope } from '../src/cache/store.js';
import { cacheKeys } from '../src/keys.js';
import { captureLogger } from './support/log-capture.js';
import { closeAll, connect, uniquePrefix } from './support/redis.js';
import { toPort } from '../src/redis/adapt.js';

let redis: Redis;
beforeAll(() => {
  redis = connect();
});
afterAll(async () => {
  await closeAll(redis);
});

const accepted = (options: Partial<GuardOptions>) => {
  try {
    resolveGuardOptions({ redis, ...options });
    return true;
  } catch {
    return false;
  }
};

describe('option bounds, both sides', () => {
  const cases: Array<[string, unknown, boolean]> = [
    ['lockTtlMs', 100, true],
    ['lockTtlMs', 99, false],
    ['lockTtlMs', MAX_TIMER_MS, true],
    ['lockTtlMs', MAX_TIMER_MS + 1, false],
    ['valueTtlMs', 1, true],
    ['valueTtlMs', 0, false],
    ['graceMs', 0, true],
    ['graceMs', -1, false],
    ['computeTimeoutMs', 0, true],
    ['failureBackoffMs', 0, true],
    ['maxWaitMs', 0, true],
    ['maxWaitMs', MAX_TIMER_MS + 1, false],
    ['ttlJitter', 0, true],
    ['ttlJitter', 1, true],
    ['ttlJitter', -0.01, false],
    ['ttlJitter', 1.01, false],
    ['xfetchBeta', 0.01, true],
    ['xfetchBeta', 100, true],
    ['xfetchBeta', 0.009, false],
    ['xfetchBeta', 100.01, false],
    ['xfetchBeta', '1', false],
    ['keyPrefix', 'p'.repeat(64), true],
    ['keyPrefix', 'p'.repeat(65), false],
    ['keyPrefix', '', false],
    ['keyPrefix', 'a:b.c-d_e', true],
    ['strategy', 'swr', true],
    ['failurePolicy', 'retry', true],
    ['lockTtlMs', '1000', false],
    ['redisTimeoutMs', 10, true],
    ['redisTimeoutMs', 9, false],
    ['redisTimeoutMs', MAX_TIMER_MS, true],
    ['redisTimeoutMs', MAX_TIMER_MS + 1, false],
    ['onRedisDown', 'error', true],
    ['onRedisDown', 'compute', true],
    ['softTimeoutMs', 0, true],
    ['softTimeoutMs', MAX_TIMER_MS, true],
    ['softTimeoutMs', -1, false],
    ['softTimeoutMs', 0.5, false],
    ['tagRetentionMs', 1, true],
    ['tagRetentionMs', MAX_TIMER_MS, true],
    ['tagRetentionMs', 0, false],
  ];
  for (const [name, value, ok] of cases) {
    it(`${name} = ${JSON.stringify(value)} is ${ok ? 'accepted' : 'refused'}`, () => {
      expect(accepted({ [name]: value } as Partial<GuardOptions>)).toBe(ok);
    });
  }

  it('an undefined option takes its default, and the message of a refusal names the value', () => {
    expect(accepted({ lockTtlMs: undefined })).toBe(true);
    expect(() => resolveGuardOptions({ redis, lockTtlMs: 5 })).toThrow(
      'lockTtlMs must be a whole number of ms from 100 to 2147483647, got 5',
    );
    expect(() => resolveGuardOptions({ redis, keyPrefix: `${'x'.repeat(50)}{` })).toThrow(/got "x{40}\.\.\."/);
    expect(() => resolveGuardOptions({ redis, valueTtlMs: true as never })).toThrow(/, got true$/);
    expect(() => resolveGuardOptions({ redis, l1: {} as never })).toThrow(/, got undefined$/);
    expect(() => resolveGuardOptions({ redis, xfetchBeta: 'x' as never })).toThrow(/, got "x"$/);
    expect(() => resolveGuardOptions({ redis, maxWaitMs: [1] as never })).toThrow(/, got a object$/);
    expect(() => resolveGuardOptions({ redis, random: 5 as never })).toThrow('random must be a function, got 5');
    expect(() => resolveGuardOptions({ redis: {} as never })).toThrow('redis must be an ioredis or iovalkey client');
    expect(() => resolveGuardOptions({ redis, subscriber: {} as never })).toThrow('subscriber must be an ioredis or iovalkey client');
    expect(() => resolveGuardOptions({ redis, logger: { info() {} } as never })).toThrow('logger must be a pino logger');
    expect(() => resolveGuardOptions(null as never)).toThrow('createGuard needs an options object');
  });
});

describe('defaults', () => {
  it('a guard with only redis gets the documented defaults, and maxWaitMs follows lockTtlMs', () => {
    const resolved = resolveGuardOptions({ redis });
    expect(resolved).toMatchObject({ ...GUARD_DEFAULTS, maxWaitMs: 6 * GUARD_DEFAULTS.lockTtlMs, l1Options: null });
    expect(GUARD_DEFAULTS).toEqual({
      keyPrefix: 'cs',
      strategy: 'redis-lock',
      valueTtlMs: 60_000,
      graceMs: 60_000,
      ttlJitter: 0,
      computeTimeoutMs: 30_000,
      failurePolicy: 'stale',
      failureBackoffMs: 5_000,
      xfetchBeta: 1,
      lockTtlMs: 10_000,
      redisTimeoutMs: 1_000,
      onRedisDown: 'compute',
      softTimeoutMs: 0,
      tagRetentionMs: 86_400_000,
    });
    expect(resolveGuardOptions({ redis, lockTtlMs: 500 }).maxWaitMs).toBe(3000);
    expect(resolved.random).toBe(Math.random);
    expect(Object.isFrozen(resolved)).toBe(true);
  });

  it('createGuard uses them: a call without options takes the Redis lock and keeps its value 60 s fresh', async () => {
    const capture = captureLogger();
    const prefix = uniquePrefix('defaults');
    const guard = createGuard({ redis, keyPrefix: prefix, logger: capture.logger });
    await guard.getOrCompute('k', async () => 'v');
    expect(capture.count('lock.acquired')).toBe(1);
    expect((await readEnvelope(toPort(redis), cacheKeys(prefix, 'k')))?.ttlMs).toBe(60_000);
    // The key lives the fresh time plus the 60 s grace.
    expect(await redis.pttl(cacheKeys(prefix, 'k').value)).toBeGreaterThan(110_000);
    await guard.close();
  });
});

describe('what a refusal says', () => {
  const refusal = (options: unknown) => {
    try {
      resolveGuardOptions(options as GuardOptions);
    } catch (err) {
      return { option: (err as { option?: string }).option, message: (err as Error).message };
    }
    return null;
  };

  it('names the option and says what it must be, for every kind of rule', () => {
    const plainTtl = `a whole number of ms from 1 to ${MAX_TIMER_MS}`;
    const cases: [unknown, string, string][] = [
      [null, 'options', 'createGuard needs an options object with `redis`'],
      [
        { redis: 1 },
        'redis',
        'redis must be an ioredis or iovalkey client (Redis or Cluster) or a node-redis client (createClient or createCluster)',
      ],
      [
        { redis, subscriber: 1 },
        'subscriber',
        'subscriber must be an ioredis or iovalkey client (Redis or Cluster) or a node-redis client (createClient or createCluster)',
      ],
      [{ redis, random: 'x' }, 'random', 'random must be a function, got "x"'],
      [{ redis, logger: null }, 'logger', 'logger must be a pino logger (or have its shape)'],
      [{ redis, keyPrefix: 'a{b' }, 'keyPrefix', `keyPrefix must be 1-64 letters, digits, '_', '.', ':' or '-', got "a{b"`],
      [{ redis, keyPrefix: `${'x'.repeat(39)}{` }, 'keyPrefix', expect.stringMatching(/, got "x{39}\{"$/) as never],
      [{ redis, valueTtlMs: 0 }, 'valueTtlMs', `valueTtlMs must be ${plainTtl}, got 0`],
      [{ redis, ttlJitter: 2 }, 'ttlJitter', 'ttlJitter must be a number from 0 to 1, got 2'],
      [{ redis, strategy: 'fast' }, 'strategy', 'strategy must be one of none, local-lock, redis-lock, swr, xfetch, got "fast"'],
      [{ redis, l1: { maxEntries: 0 } }, 'l1', 'l1.maxEntries must be a whole number from 1 to 10000000, got 0'],
      [{ redis, l1: { maxEntries: 1, maxBytes: 0 } }, 'l1', 'l1.maxBytes must be a whole number of bytes, got 0'],
      [{ redis, l1: { maxEntries: 1, ttl: 5 } }, 'l1', 'unknown option l1.ttl'],
    ];
    for (const [options, option, message] of cases) expect(refusal(options), message).toEqual({ option, message });
  });

  it('bounds the L1 tier on both sides, and keeps only the bounds given', () => {
    expect(checkL1({ maxEntries: 1 })).toStrictEqual({ maxEntries: 1 });
    expect(checkL1({ maxEntries: 10_000_000, maxBytes: 1 })).toStrictEqual({ maxEntries: 10_000_000, maxBytes: 1 });
    expect(() => checkL1({ maxEntries: 10_000_001 })).toThrow('l1.maxEntries must be');
    expect(() => checkL1({ maxEntries: 1.5 })).toThrow('l1.maxEntries must be');
    expect(() => checkL1('5', 'L1')).toThrow('L1.maxEntries must be a whole number from 1 to 10000000, got undefined');
  });
});
