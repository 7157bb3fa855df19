/**
 * Redis unavailable (issue 24), on a real redis-server that is killed (refuses), paused (SIGSTOP:
 * no refusal, no answer) or blackholed (a TCP proxy that stops passing bytes). The clients are the
 * kind BullMQ asks for (`maxRetriesPerRequest: null`), with which calls used to never settle.
 *
 * Every call settles within the deadline plus the computation; under `compute` the computation
 * runs once per key in the process, under `error` it never runs and the call rejects with
 * RedisUnavailableError; once the breaker is open no call sends a command (so none pays the
 * deadline twice); waiters stop waiting when their Redis goes away; after recovery the fleet is
 * back to one computation per key, and what the L1 tier held through the outage is forgotten.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGuard, type StampedeGuard } from '../src/cache/guard.js';
import { STRATEGIES, type Strategy } from '../src/cache/strategy.js';
import { subscribeEvents, type GuardEvent } from '../src/events.js';
import { STALE_PROBE_MS } from '../src/redis/gate.js';
import { countingClient, OUTAGES, type OutageRig, type Settled, startOutageRig, timed } from './support/outage-rig.js';
import { uniquePrefix } from './support/redis.js';
import { gated, sleep, waitUntil } from './support/wait.js';

/** The deadline of every Redis step in these tests (the default is 1000 ms). */
const DEADLINE_MS = 400;
const COMPUTE_MS = 100;
/** What a loaded 2-core machine may add to a bound. */
const SLACK_MS = 1_500;
const CALLS = 20;

/** CALLS concurrent calls of each strategy, each strategy on its own new key; counts computations per key. */
async function burst(guard: StampedeGuard, tag: string, computations: Map<string, number>): Promise<Map<Strategy, Settled[]>> {
  const results = new Map<Strategy, Settled[]>();
  await Promise.all(
    STRATEGIES.map(async (strategy) => {
      const key = `${tag}-${strategy}`;
      const compute = async () => {
        computations.set(key, (computations.get(key) ?? 0) + 1);
        await sleep(COMPUTE_MS);
        return `value of ${key}`;
      };
      results.set(
        strategy,
        await Promise.all(Array.from({ length: CALLS }, () => timed(() => guard.getOrCompute(key, compute, { strategy })))),
      );
    }),
  );
  return results;
}

describe('a probe Redis never answers', () => {
  it('is given up on after STALE_PROBE_MS and another sent (one at a time until then), and the breaker closes once Redis answers', async () => {
    const rig = await startOutageRig('paused');
    const { redis, sent } = countingClient(rig.url);
    const guard = createGuard({ redis, keyPrefix: uniquePrefix('outage-stale-probe'), redisTimeoutMs: DEADLINE_MS });
    try {
      await guard.getOrCompute('warm', async () => 'warm');
      await rig.down();
      await guard.getOrCompute('k', async () => 'v'); // opens the breaker
      const before = sent.length;
      await sleep(STALE_PROBE_MS + 3_000);
      // Paused: the first probe is never answered. One out at a time, then one more after STALE_PROBE_MS.
      expect(sent.slice(before).filter((name) => name === 'hexists').length).toBe(2);
      await rig.up();
      await waitUntil('the breaker closes', async () => rig.transitions().at(-1)?.event === 'redis.available', { timeoutMs: 15_000 });
    } finally {
      await rig.up();
      await guard.close();
      redis.disconnect();
      await rig.stop();
    }
  }, 60_000);
});

describe.each(OUTAGES)('a Redis that is %s', (kind) => {
  let rig: OutageRig;
  beforeAll(async () => {
    rig = await startOutageRig(kind);
  });
  afterAll(async () => {
    await rig.stop();
  });

  it('compute: every call answered within the deadline plus the computation, once per key; no command once the breaker is open; one computation per key in the fleet after recovery', async () => {
    const prefix = uniquePrefix(`outage-${kind}`);
    const { redis, sent } = countingClient(rig.url);
    const guard = createGuard({ redis, keyPrefix: prefix, redisTimeoutMs: DEADLINE_MS });
    try {
      await guard.getOrCompute('warm', async () => 'warm'); // connected, scripts loaded
      await rig.down();

      const computations = new Map<string, number>();
      const first = await burst(guard, 'first', computations);
      for (const [strategy, results] of first) {
        expect(
          results.every((r) => r.ok && r.value === `value of first-${strategy}`),
          strategy,
        ).toBe(true);
        expect(computations.get(`first-${strategy}`), strategy).toBe(1);
        expect(Math.max(...results.map((r) => r.ms)), strategy).toBeLessThan(DEADLINE_MS + COMPUTE_MS + SLACK_MS);
        // One computed it, the others shared it (the policy's in-process coalescing).
        expect(results.filter((r) => r.source === 'computed').length, strategy).toBe(1);
      }
      expect(rig.transitions().map((e) => e.event)).toEqual(['redis.unavailable']);

      // The breaker is open: the calls send nothing (only the gate's one probe at a time goes out).
      const before = sent.length;
      const second = await burst(guard, 'second', computations);
      expect(sent.slice(before).filter((name) => name !== 'hexists')).toEqual([]);
      for (const [strategy, results] of second) {
        expect(
          results.every((r) => r.ok),
          strategy,
        ).toBe(true);
        expect(computations.get(`second-${strategy}`), strategy).toBe(1);
        expect(Math.max(...results.map((r) => r.ms)), strategy).toBeLessThan(COMPUTE_MS + SLACK_MS);
      }
      // A value computed in the outage is kept for the process's next callers.
      let again = 0;
      const kept = await guard.getOrCompute('first-redis-lock', async () => `computed again ${++again}`);
      expect(kept).toEqual({ value: 'value of first-redis-lock', source: 'cache' });

      await rig.up();
      await waitUntil('the breaker closes', async () => rig.transitions().length === 2, { timeoutMs: 15_000 });
      expect(rig.transitions()[1]?.event).toBe('redis.available');

      // Back: three processes' guards, one computation per key for the fleet, written to Redis.
      const fleet = [0, 1, 2].map(() => countingClient(rig.url).redis);
      const guards = fleet.map((r) => createGuard({ redis: r, keyPrefix: prefix, redisTimeoutMs: DEADLINE_MS }));
      try {
        let fleetComputations = 0;
        const compute = async () => {
          fleetComputations += 1;
          await sleep(COMPUTE_MS);
          return 'after';
        };
        const results = await Promise.all(guards.flatMap((g) => Array.from({ length: 10 }, () => g.getOrCompute('after', compute))));
        expect(results.every((r) => r.value === 'after')).toBe(true);
        expect(fleetComputations).toBe(1);
        expect(await rig.direct.hexists(`${prefix}:{after}:value`, 'envelope')).toBe(1);
        // Nothing computed during the outage was written, nor kept past it.
        expect(await rig.direct.exists(`${prefix}:{first-redis-lock}:value`)).toBe(0);
        const afterOutage = await guard.getOrCompute('first-redis-lock', async () => 'recomputed after the outage');
        expect(afterOutage).toEqual({ value: 'recomputed after the outage', source: 'computed' });
      } finally {
        await Promise.all(guards.map((g) => g.close()));
        for (const r of fleet) r.disconnect();
      }
    } finally {
      await rig.up();
      await guard.close();
      redis.disconnect();
    }
  }, 60_000);

  it('error: every call rejects with RedisUnavailableError within the deadline, the computation never runs, and at once once the breaker is open', async () => {
    const prefix = uniquePrefix(`outage-error-${kind}`);
    const { redis, sent } = countingClient(rig.url);
    const guard = createGuard({ redis, keyPrefix: prefix, redisTimeoutMs: DEADLINE_MS, onRedisDown: 'error' });
    const seen = rig.transitions().length;
    try {
      await guard.getOrCompute('warm', async () => 'warm');
      await rig.down();
      const computations = new Map<string, number>();
      const first = await burst(guard, 'first', computations);
      const before = sent.length;
      const second = await burst(guard, 'second', computations);
      for (const results of [...first.values(), ...second.values()]) {
        expect(results.every((r) => !r.ok && r.code === 'E_REDIS_UNAVAILABLE')).toBe(true);
      }
      expect(computations.size).toBe(0);
      expect(Math.max(...[...first.values()].flat().map((r) => r.ms))).toBeLessThan(DEADLINE_MS + SLACK_MS);
      expect(Math.max(...[...second.values()].flat().map((r) => r.ms))).toBeLessThan(SLACK_MS);
      expect(sent.slice(before).filter((name) => name !== 'hexists')).toEqual([]);

      await rig.up();
      await waitUntil('the breaker closes', async () => rig.transitions().length === seen + 2, { timeoutMs: 15_000 });
      expect(await guard.getOrCompute('back', async () => 'back')).toEqual({ value: 'back', source: 'computed' });
    } finally {
      await rig.up();
      await guard.close();
      redis.disconnect();
    }
  }, 60_000);

  it('set, delete, lock, invalidateTags and clear() reject with RedisUnavailableError within the deadline, then at once; nothing of them waits for Redis', async () => {
    const prefix = uniquePrefix(`outage-writes-${kind}`);
    const { redis, sent } = countingClient(rig.url);
    const guard = createGuard({ redis, keyPrefix: prefix, redisTimeoutMs: DEADLINE_MS });
    const attempt = async (what: () => Promise<unknown>) => {
      const started = performance.now();
      const code = await what().then(
        () => 'resolved',
        (err: { code?: string }) => err.code,
      );
      return { code, ms: performance.now() - started };
    };
    try {
      await guard.set('k', 'v1');
      await rig.down();
      const operations = [
        () => guard.set('k', 'v2'),
        () => guard.delete('k'),
        () => guard.lock('job', { waitMs: 10_000 }),
        () => guard.invalidateTags(['t']),
        () => guard.namespace('n').clear(),
      ];
      for (const operation of operations) {
        const first = await attempt(operation);
        expect(first.code).toBe('E_REDIS_UNAVAILABLE');
        expect(first.ms).toBeLessThan(DEADLINE_MS + SLACK_MS);
      }
      const before = sent.length;
      for (const operation of operations) {
        const again = await attempt(operation);
        expect(again.code).toBe('E_REDIS_UNAVAILABLE');
        expect(again.ms).toBeLessThan(SLACK_MS);
      }
      expect(sent.slice(before).filter((name) => name !== 'hexists')).toEqual([]);
    } finally {
      await rig.up();
      await guard.close();
      redis.disconnect();
    }
  }, 60_000);

  it('a waiter whose Redis goes away stops waiting within the deadline and computes; a holder whose write fails keeps its value', async () => {
    const prefix = uniquePrefix(`outage-waiter-${kind}`);
    const holderClient = countingClient(rig.url).redis;
    const waiterClient = countingClient(rig.url).redis;
    const holder = createGuard({ redis: holderClient, keyPrefix: prefix, redisTimeoutMs: DEADLINE_MS });
    const waiter = createGuard({ redis: waiterClient, keyPrefix: prefix, redisTimeoutMs: DEADLINE_MS });
    const waitEnds: GuardEvent[] = [];
    const unsubscribe = subscribeEvents((e) => {
      if (e.event === 'wait.end' && e.key === 'k') waitEnds.push(e);
    });
    try {
      const slow = gated();
      const holding = holder.getOrCompute('k', slow.compute);
      await slow.started;
      let waitStarted = false;
      const unsubscribeStart = subscribeEvents((e) => {
        if (e.event === 'wait.start' && e.key === 'k') waitStarted = true;
      });
      const waiting = timed(() => waiter.getOrCompute('k', async () => 'from the waiter'));
      await waitUntil('the waiter waits', async () => waitStarted);
      unsubscribeStart();
      await sleep(100); // subscribed and re-checked: now it only listens

      const downAt = performance.now();
      await rig.down();
      const waited = await waiting;
      // Noticed by the gate's probe (every half deadline, answered within a deadline), then computed.
      expect(waited).toMatchObject({ ok: true, value: 'from the waiter', source: 'computed' });
      expect(performance.now() - downAt).toBeLessThan(DEADLINE_MS * 1.5 + COMPUTE_MS + SLACK_MS);
      expect(waitEnds.map((e) => (e.fields as { outcome: string }).outcome)).toEqual(['unavailable']);

      // The holder finishes during the outage: its caller gets the value, which Redis never got.
      slow.finish('from the holder');
      expect(await holding).toEqual({ value: 'from the holder', source: 'computed' });
    } finally {
      unsubscribe();
      await rig.up();
      await Promise.all([holder.close(), waiter.close()]);
      holderClient.disconnect();
      waiterClient.disconnect();
    }
  }, 60_000);

  it('a holder whose write met an open breaker writes it (fenced) and gives its lock back once Redis answers: nobody waits out its lock', async () => {
    const prefix = uniquePrefix(`outage-late-write-${kind}`);
    const holderClient = countingClient(rig.url).redis;
    const otherClient = countingClient(rig.url).redis;
    // A long lock TTL: waiting it out would show.
    const options = { keyPrefix: prefix, redisTimeoutMs: DEADLINE_MS, lockTtlMs: 30_000 };
    const holder = createGuard({ redis: holderClient, ...options });
    const other = createGuard({ redis: otherClient, ...options });
    const seen = rig.transitions().length;
    try {
      const slow = gated();
      const holding = holder.getOrCompute('k', slow.compute);
      await slow.started; // it holds the lock
      await rig.down();
      // Another call of the holder's process opens its breaker: the holder's write will not be sent.
      await holder.getOrCompute('trip', async () => 'tripped');
      slow.finish('from the holder');
      expect(await holding).toEqual({ value: 'from the holder', source: 'computed' });

      await rig.up();
      await waitUntil('the holder sees Redis again', async () => rig.transitions().length >= seen + 2, { timeoutMs: 15_000 });
      await waitUntil('its write landed', async () => (await rig.direct.hexists(`${prefix}:{k}:value`, 'envelope')) === 1);
      expect(await rig.direct.exists(`${prefix}:{k}:lock`)).toBe(0);
      const started = performance.now();
      expect(await other.getOrCompute('k', async () => 'computed again')).toEqual({ value: 'from the holder', source: 'cache' });
      expect(performance.now() - started).toBeLessThan(SLACK_MS);
    } finally {
      await rig.up();
      await Promise.all([holder.close(), other.close()]);
      holderClient.disconnect();
      otherClient.disconnect();
    }
  }, 60_000);

  it('the L1 tier serves its fresh copy through the outage, swr its stale one (refreshed in the process), and both are forgotten when Redis is back', async () => {
    const prefix = uniquePrefix(`outage-l1-${kind}`);
    const { redis } = countingClient(rig.url);
    const guard = createGuard({ redis, keyPrefix: prefix, redisTimeoutMs: DEADLINE_MS, l1: { maxEntries: 100 }, graceMs: 60_000 });
    const seen = rig.transitions().length;
    try {
      await guard.getOrCompute('fresh', async () => 'fresh v1', { ttlMs: 60_000 });
      await guard.getOrCompute('stale', async () => 'stale v1', { ttlMs: 200, strategy: 'swr' });
      await waitUntil('the L1 tier holds both', async () => (await guard.getOrCompute('fresh', async () => 'x')).source === 'cache');
      await sleep(250); // 'stale' is past its fresh time, within its grace
      await rig.down();

      let computed = 0;
      expect(await guard.getOrCompute('fresh', async () => `fresh v${++computed + 1}`)).toEqual({ value: 'fresh v1', source: 'cache' });
      const refreshed = gated();
      expect(await guard.getOrCompute('stale', refreshed.compute, { strategy: 'swr' })).toEqual({
        value: 'stale v1',
        source: 'stale',
      });
      await refreshed.started; // refreshed in the background, in this process
      refreshed.finish('stale v2');
      await waitUntil(
        'the refresh is kept',
        async () => (await guard.getOrCompute('stale', async () => 'x', { strategy: 'swr' })).value === 'stale v2',
      );
      expect(computed).toBe(0);

      // Meanwhile the rest of the fleet (direct, when the server itself is there) changed nothing we could hear.
      await rig.up();
      await waitUntil('the breaker closes', async () => rig.transitions().length === seen + 2, { timeoutMs: 15_000 });
      await rig.direct.del(`${prefix}:{fresh}:value`);
      // The copies held through the outage are gone: Redis decides again.
      expect(await guard.getOrCompute('fresh', async () => 'fresh after')).toEqual({ value: 'fresh after', source: 'computed' });
    } finally {
      await rig.up();
      await guard.close();
      redis.disconnect();
    }
  }, 60_000);
});
