import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { shouldRefreshEarly } from '../src/cache/strategies/xfetch.js';
import type { Envelope } from '../src/cache/envelope.js';
import { cacheKeys } from '../src/keys.js';
import { acquireLock, releaseLock } from '../src/lock/redis-lock.js';
import { runGuardChildren } from './support/children.js';
import { closeGuards, processGuard } from './support/guards.js';
import { closeAll, connect, redisUrl, uniquePrefix } from './support/redis.js';
import { deferred, sleep, waitUntil } from './support/wait.js';
import { toPort } from '../src/redis/adapt.js';

afterEach(closeGuards);
const admin = connect();
afterAll(() => closeAll(admin));

const never = async (): Promise<string> => {
  throw new Error('the backend is down');
};

describe('swr: stale-while-revalidate', () => {
  it('a warm key past its soft expiry, 4 processes x 50 calls: all served at once, the fleet refreshes exactly once', async () => {
    const prefix = uniquePrefix('swr-fleet');
    const valueTtlMs = 300;
    const warm = processGuard({ keyPrefix: prefix, valueTtlMs, graceMs: 60_000 });
    await warm.guard.getOrCompute('hot', async () => 'warm-value', { strategy: 'swr' });
    await sleep(valueTtlMs + 100); // stale now, well within its grace

    const reports = await runGuardChildren(4, {
      REDIS_URL: redisUrl(),
      PREFIX: prefix,
      STRATEGY: 'swr',
      KEY: 'hot',
      CALLS: '50',
      COMPUTE_MS: '500',
      VALUE_TTL_MS: '60000',
    });
    const sources = reports.flatMap((r) => r.sources);
    // Nobody waited for the computation: every caller got the stale value (or, if it read after
    // the refresh landed, the fresh one from the cache).
    expect(sources.filter((s) => s !== 'stale' && s !== 'cache')).toEqual([]);
    expect(sources.filter((s) => s === 'stale').length).toBeGreaterThan(0);
    expect(reports.reduce((n, r) => n + r.computations, 0)).toBe(1);
  });

  it('a cold key behaves like redis-lock: one computation, the others wait', async () => {
    const prefix = uniquePrefix('swr-cold');
    const a = processGuard({ keyPrefix: prefix });
    const b = processGuard({ keyPrefix: prefix });
    let computations = 0;
    const compute = async () => {
      computations += 1;
      await sleep(100);
      return 'v';
    };
    const results = await Promise.all(
      [a, b].flatMap(({ guard }) => Array.from({ length: 10 }, () => guard.getOrCompute('k', compute, { strategy: 'swr' }))),
    );
    expect(computations).toBe(1);
    expect(results.filter((r) => r.source === 'computed')).toHaveLength(1);
  });

  it('a stale key another process is refreshing is served stale at once, never waited for; callers sharing the flight are told so', async () => {
    const prefix = uniquePrefix('swr-busy');
    const a = processGuard({ keyPrefix: prefix, valueTtlMs: 100, graceMs: 60_000 });
    const b = processGuard({ keyPrefix: prefix, valueTtlMs: 100, graceMs: 60_000 });
    await a.guard.getOrCompute('k', async () => 'old', { strategy: 'swr' });
    await sleep(150); // stale, within its grace
    const refresh = deferred<string>();
    // A's read takes the lock and refreshes in the background, until the test lets it finish
    // (the new value stays fresh for the rest of the test).
    expect(await a.guard.getOrCompute('k', () => refresh.promise, { strategy: 'swr', ttlMs: 60_000 })).toEqual({
      value: 'old',
      source: 'stale',
    });

    const results = await Promise.all([1, 2, 3].map(() => b.guard.getOrCompute('k', async () => 'never', { strategy: 'swr' })));
    expect(results).toEqual([1, 2, 3].map(() => ({ value: 'old', source: 'stale' })));
    expect(b.capture.count('wait.start')).toBe(0);
    expect(b.capture.lines.filter((l) => l.event === 'stale.served').map((l) => l.reason ?? (l.coalesced && 'coalesced'))).toEqual([
      'refreshing',
      'coalesced',
      'coalesced',
    ]);
    refresh.resolve('new');
    await waitUntil(
      'the refresh wrote',
      async () => (await b.guard.getOrCompute('k', async () => 'never', { strategy: 'swr' })).value === 'new',
    );
    expect(a.capture.count('recompute.start') + b.capture.count('recompute.start')).toBe(2);
  });
});

describe('xfetch: probabilistic early refresh', () => {
  const envelope = (freshUntil: number, computeMs: number): Envelope => ({
    value: 1,
    fence: 1,
    computedAt: 0,
    computeMs,
    ttlMs: 0,
    freshUntil,
  });

  it('refreshes early more readily as expiry nears and as the computation gets costlier', () => {
    const now = 10_000;
    // -ln(0.5) = 0.69: a 100 ms computation refreshes within 69 ms of expiry, not before.
    expect(shouldRefreshEarly(envelope(now + 60, 100), now, 1, 0.5)).toBe(true);
    expect(shouldRefreshEarly(envelope(now + 80, 100), now, 1, 0.5)).toBe(false);
    expect(shouldRefreshEarly(envelope(now + 80, 200), now, 1, 0.5)).toBe(true);
    expect(shouldRefreshEarly(envelope(now + 80, 100), now, 2, 0.5)).toBe(true);
    expect(shouldRefreshEarly(envelope(now + 80, 100), now, 1, 0)).toBe(false);
  });

  it('with random() pinned, a read near expiry refreshes early: no read is served stale, the refresh says early', async () => {
    const prefix = uniquePrefix('xfetch-pinned');
    // -ln(0.1) * 200 ms computation = 460 ms: reads in the last 460 ms of the fresh time refresh,
    // early enough for a 200 ms refresh to land before the value goes stale.
    const { guard, capture } = processGuard({ keyPrefix: prefix, valueTtlMs: 1000, graceMs: 60_000, random: () => 0.1 });
    const compute = async () => {
      await sleep(200);
      return `v${Date.now()}`;
    };
    const first = await guard.getOrCompute('k', compute, { strategy: 'xfetch' });
    await sleep(300); // well before the refresh window: a plain hit
    expect(await guard.getOrCompute('k', compute, { strategy: 'xfetch' })).toEqual({ value: first.value, source: 'cache' });
    expect(capture.count('refresh.start')).toBe(0);
    await sleep(400); // inside the window (about 700 ms of 1000)
    expect(await guard.getOrCompute('k', compute, { strategy: 'xfetch' })).toEqual({ value: first.value, source: 'cache' });
    await waitUntil(
      'the early refresh wrote',
      async () => (await guard.getOrCompute('k', compute, { strategy: 'xfetch' })).value !== first.value,
    );
    expect(capture.lines.filter((l) => l.event === 'refresh.start').map((l) => l.reason)).toEqual(['early']);
    expect(capture.count('stale.served')).toBe(0);
    // Reads while it ran started no second refresh (nor a claim that found the lock busy).
    expect(capture.count('lock.busy')).toBe(0);

    // The next window refreshes early again: the first refresh left nothing behind.
    const second = (await guard.getOrCompute('k', compute, { strategy: 'xfetch' })).value;
    await sleep(700);
    await guard.getOrCompute('k', compute, { strategy: 'xfetch' });
    await waitUntil(
      'the second early refresh wrote',
      async () => (await guard.getOrCompute('k', compute, { strategy: 'xfetch' })).value !== second,
    );
    expect(capture.lines.filter((l) => l.event === 'refresh.start').map((l) => l.reason)).toEqual(['early', 'early']);
  });

  it('an early refresh that finds another holder leaves it be; one that fails keeps the fresh value and starts no back-off', async () => {
    const prefix = uniquePrefix('xfetch-early-edges');
    // -ln(0.01) x 200 ms = 920 ms: the last 920 ms of 3 s refresh early, with room to spare.
    const { guard, capture } = processGuard({ keyPrefix: prefix, valueTtlMs: 3000, graceMs: 60_000, random: () => 0.01 });
    const first = await guard.getOrCompute(
      'k',
      async () => {
        await sleep(200);
        return 'v1';
      },
      { strategy: 'xfetch' },
    );
    expect(first).toEqual({ value: 'v1', source: 'computed' });
    await sleep(2300); // inside the refresh window, 700 ms before expiry

    const foreign = await acquireLock(toPort(admin), cacheKeys(prefix, 'k'), 30_000); // another process refreshing
    expect(await guard.getOrCompute('k', never, { strategy: 'xfetch' })).toEqual({ value: 'v1', source: 'cache' });
    await waitUntil('the early claim found it busy', () => capture.count('lock.busy') === 1);
    expect(capture.lines.find((l) => l.event === 'lock.busy')).toMatchObject({ refresh: 'early' });
    await releaseLock(toPort(admin), cacheKeys(prefix, 'k'), foreign!);

    expect(await guard.getOrCompute('k', never, { strategy: 'xfetch' })).toEqual({ value: 'v1', source: 'cache' });
    await waitUntil('the early refresh failed', () => capture.count('refresh.end') === 1);
    expect(capture.lines.find((l) => l.event === 'refresh.end')).toMatchObject({ reason: 'early', ok: false });
    expect(capture.count('backoff.start')).toBe(0);
    expect(await guard.getOrCompute('k', never, { strategy: 'xfetch' })).toMatchObject({ value: 'v1' });
  });

  it('steady reads across several expiry windows: no request misses or waits, at most one refresh at a time', async () => {
    const prefix = uniquePrefix('xfetch-steady');
    const valueTtlMs = 400;
    const readers = [0, 1].map(() => processGuard({ keyPrefix: prefix, valueTtlMs, graceMs: 60_000 }));
    let computing = 0;
    let overlapping = 0;
    let refreshes = 0;
    const compute = async () => {
      computing += 1;
      overlapping = Math.max(overlapping, computing);
      refreshes += 1;
      await sleep(60);
      computing -= 1;
      return `v${refreshes}`;
    };
    await readers[0]!.guard.getOrCompute('k', compute, { strategy: 'xfetch' });
    const warmRefreshes = refreshes;

    const windows = 5;
    const until = Date.now() + valueTtlMs * windows;
    const sources: string[] = [];
    while (Date.now() < until) {
      const batch = await Promise.all(readers.map(({ guard }) => guard.getOrCompute('k', compute, { strategy: 'xfetch' })));
      sources.push(...batch.map((r) => r.source));
      await sleep(10);
    }
    await waitUntil('background refreshes finish', () => computing === 0);

    expect(sources.filter((s) => s !== 'cache' && s !== 'stale')).toEqual([]);
    const misses = readers.reduce((n, { capture }) => n + capture.count('cache.miss'), 0);
    expect(misses).toBe(1); // the warm-up's, nothing after
    expect(overlapping).toBe(1);
    const early = refreshes - warmRefreshes;
    // About one per window: each refresh starts a new window, and none runs beside another.
    expect(early).toBeGreaterThanOrEqual(windows - 2);
    expect(early).toBeLessThanOrEqual(windows * 2);
  });
});
