import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createGuard, type StampedeGuard } from '../src/cache/guard.js';
import type { Strategy } from '../src/cache/strategy.js';
import { captureLogger } from './support/log-capture.js';
import { closeAll, connect, redisUrl, uniquePrefix } from './support/redis.js';
import { runGuardChildren } from './support/children.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('strategies in one process', () => {
  let redis: Redis;
  let guard: StampedeGuard;
  beforeAll(() => {
    redis = connect();
    guard = createGuard({ redis, keyPrefix: uniquePrefix('one-process') });
  });
  afterAll(async () => {
    await guard.close();
    await closeAll(redis);
  });

  async function burst(strategy: Strategy, key: string, calls = 50) {
    const capture = captureLogger();
    let computations = 0;
    const results = await Promise.all(
      Array.from({ length: calls }, () =>
        guard.getOrCompute(
          key,
          async () => {
            computations += 1;
            await sleep(100);
            return { n: computations };
          },
          { strategy, logger: capture.logger },
        ),
      ),
    );
    return { computations, results, capture };
  }

  it('none: 50 concurrent misses compute 50 times (the stampede)', async () => {
    const { computations, results, capture } = await burst('none', 'cold-none');
    expect(computations).toBe(50);
    expect(capture.count('recompute.start')).toBe(50);
    expect(results.every((r) => r.source === 'computed')).toBe(true);
  });

  it('local-lock: 50 concurrent misses compute once', async () => {
    const { computations, results, capture } = await burst('local-lock', 'cold-local');
    expect(computations).toBe(1);
    expect(capture.count('recompute.start')).toBe(1);
    expect(new Set(results.map((r) => JSON.stringify(r.value))).size).toBe(1);
    expect(results.filter((r) => r.source === 'computed')).toHaveLength(1);
  });

  it('redis-lock: 50 concurrent misses compute once, and one lock is taken', async () => {
    const { computations, results, capture } = await burst('redis-lock', 'cold-redis');
    expect(computations).toBe(1);
    expect(capture.count('lock.acquired')).toBe(1);
    expect(capture.count('cache.write')).toBe(1);
    expect(capture.count('lock.released')).toBe(1);
    expect(new Set(results.map((r) => JSON.stringify(r.value))).size).toBe(1);
    // Every caller logs exactly one of hit or miss.
    expect(capture.count('cache.miss') + capture.count('cache.hit')).toBe(50);
  });

  it('a warm key is served from the cache without computing', async () => {
    await burst('redis-lock', 'warm');
    const { computations, results } = await burst('redis-lock', 'warm', 10);
    expect(computations).toBe(0);
    expect(results.every((r) => r.source === 'cache')).toBe(true);
  });

  it('rejects keys that are empty or too long', async () => {
    await expect(guard.getOrCompute('', async () => 1)).rejects.toThrow(/cache key/);
    await expect(guard.getOrCompute('x'.repeat(5000), async () => 1)).rejects.toThrow(/cache key/);
  });
});

describe('strategies across 4 processes x 50 calls', () => {
  // A computation long enough that every process's first call misses before any value is
  // written, even when a loaded machine starts one child late.
  const base = { REDIS_URL: '', CALLS: '50', COMPUTE_MS: '1500' };

  it('local-lock computes once per process', async () => {
    const reports = await runGuardChildren(4, {
      ...base,
      REDIS_URL: redisUrl(),
      PREFIX: uniquePrefix('fleet-local'),
      STRATEGY: 'local-lock',
      KEY: 'hot',
    });
    expect(reports.map((r) => r.computations)).toEqual([1, 1, 1, 1]);
  });

  it('redis-lock computes exactly once in the fleet, and all 200 callers get the same value', async () => {
    const reports = await runGuardChildren(4, {
      ...base,
      REDIS_URL: redisUrl(),
      PREFIX: uniquePrefix('fleet-redis'),
      STRATEGY: 'redis-lock',
      KEY: 'hot',
    });
    const total = reports.reduce((sum, r) => sum + r.computations, 0);
    expect(total).toBe(1);
    const values = reports.flatMap((r) => r.values);
    expect(values).toHaveLength(200);
    expect(new Set(values).size).toBe(1);
  });
});
