/**
 * A value's lifetime decided by its computation (`ctx.setTtl`), and a value stored nowhere
 * (`ctx.skipCache`), on a real Redis, with guards that stand for separate processes.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { OptionsError } from '../src/errors.js';
import { cacheKeys } from '../src/keys.js';
import { decodeEnvelope } from '../src/cache/envelope.js';
import { closeGuards, processGuard } from './support/guards.js';
import { closeAll, connect, uniquePrefix } from './support/redis.js';
import { sleep } from './support/wait.js';

afterEach(closeGuards);
const admin = connect();
afterAll(() => closeAll(admin));

const stored = async (prefix: string, key: string) => decodeEnvelope(await admin.hget(cacheKeys(prefix, key).value, 'envelope'));
const keyTtlMs = (prefix: string, key: string) => admin.pttl(cacheKeys(prefix, key).value);

describe('setTtl: the computation decides its value lifetime', () => {
  it("the fresh time and grace in Redis are the computation's, not the guard's, for that value only", async () => {
    const prefix = uniquePrefix('ttl-set');
    const { guard } = processGuard({ keyPrefix: prefix, valueTtlMs: 60_000, graceMs: 60_000 });
    await guard.getOrCompute('token', async ({ setTtl }) => {
      setTtl({ ttlMs: 10 * 60_000, graceMs: 5_000 }); // a token valid for 10 minutes
      return 't';
    });
    await guard.getOrCompute('plain', async () => 'p');
    const token = (await stored(prefix, 'token'))!;
    expect(token.ttlMs).toBe(600_000);
    expect(token.graceMs).toBe(5_000);
    // The key lives the value's fresh time plus its own grace: 605 s, not 600 + 60.
    expect(await keyTtlMs(prefix, 'token')).toBeGreaterThan(600_000);
    expect(await keyTtlMs(prefix, 'token')).toBeLessThanOrEqual(605_000);
    const plain = (await stored(prefix, 'plain'))!;
    expect(plain.ttlMs).toBe(60_000);
    expect(plain).not.toHaveProperty('graceMs');
    expect(await keyTtlMs(prefix, 'plain')).toBeGreaterThan(119_000);
  });

  it('a "not found" remembered for 200 ms: computed again after it, in every strategy', async () => {
    const prefix = uniquePrefix('ttl-short');
    const { guard } = processGuard({ keyPrefix: prefix, valueTtlMs: 60_000 });
    for (const strategy of ['none', 'local-lock', 'redis-lock'] as const) {
      let computations = 0;
      const lookUp = async ({ setTtl }: { setTtl: (t: { ttlMs?: number; graceMs?: number }) => void }) => {
        computations += 1;
        setTtl({ ttlMs: 200, graceMs: 0 });
        return null;
      };
      await guard.getOrCompute(`missing-${strategy}`, lookUp, { strategy });
      expect((await guard.getOrCompute(`missing-${strategy}`, lookUp, { strategy })).source).toBe('cache');
      await sleep(300);
      expect((await guard.getOrCompute(`missing-${strategy}`, lookUp, { strategy })).source).toBe('computed');
      expect({ strategy, computations }).toEqual({ strategy, computations: 2 });
    }
  });

  it('a grace of 0: swr has no stale value to serve once the value is past its fresh time', async () => {
    const prefix = uniquePrefix('ttl-grace');
    const { guard } = processGuard({ keyPrefix: prefix, valueTtlMs: 60_000, graceMs: 60_000 });
    await guard.getOrCompute(
      'k',
      async ({ setTtl }) => {
        setTtl({ ttlMs: 100, graceMs: 0 });
        return 'old';
      },
      { strategy: 'swr' },
    );
    await sleep(200);
    const next = await guard.getOrCompute('k', async () => 'new', { strategy: 'swr' });
    expect(next).toEqual({ value: 'new', source: 'computed' });
  });

  it('the L1 tier honours it: a value fresh for 150 ms is not served from process memory after that', async () => {
    const prefix = uniquePrefix('ttl-l1');
    const { guard } = processGuard({ keyPrefix: prefix, valueTtlMs: 60_000, l1: { maxEntries: 10 } });
    const compute = async ({ setTtl }: { setTtl: (t: { ttlMs?: number }) => void }) => {
      setTtl({ ttlMs: 150 });
      return Date.now();
    };
    const first = await guard.getOrCompute('k', compute);
    expect(await guard.getOrCompute('k', compute)).toEqual({ value: first.value, source: 'cache' });
    await sleep(250);
    expect((await guard.getOrCompute('k', compute)).source).toBe('computed');
  });

  it('a bad lifetime fails the computation with OptionsError naming it; nothing is stored', async () => {
    const prefix = uniquePrefix('ttl-bad');
    const { guard } = processGuard({ keyPrefix: prefix, failurePolicy: 'error' });
    for (const bad of [{ ttlMs: -1 }, { ttlMs: Number.NaN }, { graceMs: 2 ** 31 }, { ttlMs: '5' }, null]) {
      const call = guard.getOrCompute('k', async ({ setTtl }) => {
        setTtl(bad as never);
        return 1;
      });
      await expect(call, JSON.stringify(bad)).rejects.toThrow(OptionsError);
    }
    await expect(
      guard.getOrCompute('k', async ({ setTtl }) => {
        setTtl({ graceMs: -5 });
        return 1;
      }),
    ).rejects.toThrow(/setTtl: graceMs must be a number of ms from 0/);
    expect(await admin.exists(cacheKeys(prefix, 'k').value)).toBe(0);
  });
});

describe('skipCache: the value answers its waiters and is stored nowhere', () => {
  it('redis-lock over two processes: one computation, every waiter gets the value, Redis holds nothing, the next call computes', async () => {
    const prefix = uniquePrefix('skip-burst');
    const a = processGuard({ keyPrefix: prefix });
    const b = processGuard({ keyPrefix: prefix });
    let computations = 0;
    const compute = async ({ skipCache }: { skipCache: () => void }) => {
      computations += 1;
      await sleep(200);
      skipCache(); // e.g. a partial answer from a degraded origin
      return `answer ${computations}`;
    };
    const results = await Promise.all([a, b].flatMap(({ guard }) => Array.from({ length: 10 }, () => guard.getOrCompute('k', compute))));
    expect(computations).toBe(1);
    expect(new Set(results.map((r) => r.value))).toEqual(new Set(['answer 1']));
    expect(results.filter((r) => r.source === 'computed')).toHaveLength(1);
    expect(results.filter((r) => r.source === 'waited')).toHaveLength(19);
    expect(await admin.exists(cacheKeys(prefix, 'k').value)).toBe(0);
    // The lock was given back at once: the next call computes without waiting out a lock TTL.
    const started = Date.now();
    expect(await b.guard.getOrCompute('k', compute)).toEqual({ value: 'answer 2', source: 'computed' });
    expect(Date.now() - started).toBeLessThan(2000);
    // The holder's log says so, and no write.
    const ends = a.capture.lines.concat(b.capture.lines).filter((l) => l.event === 'recompute.end');
    expect(ends.every((l) => l.uncached === true)).toBe(true);
    expect(a.capture.lines.concat(b.capture.lines).filter((l) => l.event === 'cache.write')).toEqual([]);
  });

  it('the L1 tier keeps no skipped value, in the process that computed it or in one that waited', async () => {
    const prefix = uniquePrefix('skip-l1');
    const a = processGuard({ keyPrefix: prefix, l1: { maxEntries: 10 } });
    const b = processGuard({ keyPrefix: prefix, l1: { maxEntries: 10 } });
    let computations = 0;
    const compute = async ({ skipCache }: { skipCache: () => void }) => {
      computations += 1;
      await sleep(150);
      skipCache();
      return computations;
    };
    await Promise.all([a.guard.getOrCompute('k', compute), b.guard.getOrCompute('k', compute)]);
    expect(computations).toBe(1);
    expect((await a.guard.getOrCompute('k', compute)).source).toBe('computed');
    expect((await b.guard.getOrCompute('k', compute)).source).toBe('computed');
    expect(computations).toBe(3);
  });

  it('none and local-lock: the caller gets the value, nothing is written', async () => {
    const prefix = uniquePrefix('skip-unlocked');
    const { guard, capture } = processGuard({ keyPrefix: prefix });
    for (const strategy of ['none', 'local-lock'] as const) {
      const result = await guard.getOrCompute(
        strategy,
        async ({ skipCache }) => {
          skipCache();
          return 1;
        },
        { strategy },
      );
      expect(result).toEqual({ value: 1, source: 'computed' });
      expect(await admin.exists(cacheKeys(prefix, strategy).value)).toBe(0);
    }
    expect(capture.lines.filter((l) => l.event === 'cache.write')).toEqual([]);
  });
});
