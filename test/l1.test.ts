/**
 * The L1 tier: hits answered in-process with no Redis command; every process's copy dropped at
 * once when any process sets, deletes or recomputes the key; never a value past its fresh time;
 * cleared (and bypassed) while its bus connection is down; bounded in size.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createGuard, type GuardOptions, type StampedeGuard } from '../src/cache/guard.js';
import { L1Store } from '../src/cache/l1.js';
import { createRedis } from '../scripts/redis/connection.js';
import { captureLogger } from './support/log-capture.js';
import { redisUrl, uniquePrefix } from './support/redis.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';
import { deferred, sleep, waitUntil } from './support/wait.js';

let proxy: TcpProxy;
const clients: Redis[] = [];
const guards: StampedeGuard[] = [];
beforeAll(async () => {
  const target = new URL(redisUrl());
  proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
});
afterAll(async () => {
  await Promise.all(guards.map((g) => g.close()));
  for (const client of clients) client.disconnect();
  await proxy.close();
});

/** A process with an L1 tier; its cache connection goes through the counting proxy. */
async function process(prefix: string, options: Partial<GuardOptions> = {}) {
  const redis = createRedis(proxy.url, 'cache');
  const subscriber = new Redis(redisUrl(), { enableReadyCheck: false, maxRetriesPerRequest: null, retryStrategy: () => 300 });
  subscriber.on('error', () => {});
  clients.push(redis, subscriber);
  const subscriberId = Number(await subscriber.client('ID'));
  const log = captureLogger();
  const guard = createGuard({ redis, subscriber, keyPrefix: prefix, l1: { maxEntries: 100 }, logger: log.logger, ...options });
  guards.push(guard);
  // The tier answers once its bus subscription is live.
  await waitUntil('the bus is subscribed', async () => ((await subscriberCount(prefix)) ?? 0) >= 1);
  return { guard, log, subscriber, subscriberId };
}

async function subscriberCount(prefix: string): Promise<number> {
  const admin = new Redis(redisUrl());
  try {
    return (await admin.pubsub('NUMSUB', `${prefix}:{!l1}:db0:written`))[1] as number;
  } finally {
    admin.disconnect();
  }
}

/**
 * A tap on a prefix's bus. `handled(n, ...processes)` resolves once n announcements were published
 * and each process's bus subscriber has handled them: its PING is answered after every message
 * Redis sent it before. (L1 hits resolve without I/O, so a loop of them never lets an
 * announcement in: a test must wait for it.)
 */
async function busTap(prefix: string) {
  const tap = new Redis(redisUrl());
  clients.push(tap);
  let published = 0;
  tap.on('message', () => published++);
  await tap.subscribe(`${prefix}:{!l1}:db0:written`);
  return {
    async handled(n: number, ...processes: { subscriber: Redis }[]) {
      await waitUntil(`${n} announcements`, () => published >= n);
      await Promise.all(processes.map((p) => p.subscriber.ping()));
    },
  };
}

const never = async (): Promise<string> => {
  throw new Error('should not compute');
};

describe('the L1 tier', () => {
  it('answers repeated reads in-process: no Redis command, source cache, logged with tier l1', async () => {
    const prefix = uniquePrefix('l1-hits');
    const bus = await busTap(prefix);
    const a = await process(prefix);
    const { guard, log } = a;
    expect(await guard.getOrCompute('k', async () => 'v')).toEqual({ value: 'v', source: 'computed' });
    await bus.handled(1, a); // its own announcement of the value does not drop its own copy
    const before = proxy.requests;
    for (let i = 0; i < 100; i++) expect(await guard.getOrCompute('k', never)).toEqual({ value: 'v', source: 'cache' });
    expect(proxy.requests - before).toBe(0);
    expect(log.lines.filter((l) => l.event === 'cache.hit' && l.tier === 'l1')).toHaveLength(100);
  });

  it("a set, a delete or a recomputation in one process drops the others' copies", async () => {
    const prefix = uniquePrefix('l1-coherent');
    const a = await process(prefix, { valueTtlMs: 60_000 });
    const b = await process(prefix, { valueTtlMs: 60_000 });
    await a.guard.getOrCompute('k', async () => 'v1');
    expect(await b.guard.getOrCompute('k', never)).toEqual({ value: 'v1', source: 'cache' }); // now in b's L1 too

    await a.guard.set('k', 'v2');
    await waitUntil('b sees the set', async () => (await b.guard.getOrCompute('k', never)).value === 'v2');

    await a.guard.delete('k');
    await waitUntil('b sees the delete', async () => (await b.guard.getOrCompute('k', async () => 'v3')).value === 'v3');
    // b recomputed (v3, in its own L1 and in Redis): a, which deleted, reads it from Redis.
    expect(await a.guard.getOrCompute('k', never)).toEqual({ value: 'v3', source: 'cache' });
    // And a recomputation in a (after a delete elsewhere) reaches b.
    await b.guard.delete('k');
    await waitUntil('a recomputes', async () => (await a.guard.getOrCompute('k', async () => 'v4')).value === 'v4');
    await waitUntil('b sees the recomputation', async () => (await b.guard.getOrCompute('k', never)).value === 'v4');
  });

  it('a read under way when its key is announced keeps nothing: a late result cannot bring back a replaced value', async () => {
    const prefix = uniquePrefix('l1-late');
    const bus = await busTap(prefix);
    const a = await process(prefix, { valueTtlMs: 60_000 });
    const b = await process(prefix, { valueTtlMs: 60_000 });
    const computing = deferred();
    const finish = deferred<string>();
    const late = b.guard.getOrCompute('k', () => {
      computing.resolve();
      return finish.promise;
    });
    await computing.promise;
    await a.guard.set('k', 'from-a'); // newer than b's lock: b's write will be refused
    await bus.handled(1, b);
    finish.resolve('b-computed');
    expect(await late).toEqual({ value: 'b-computed', source: 'computed' });
    const rejected = b.log.lines.filter((l) => l.event === 'cache.write.rejected');
    expect(rejected).toHaveLength(1);
    expect(Number(rejected[0]?.storedFence)).toBeGreaterThan(Number(rejected[0]?.fence));
    expect(await b.guard.getOrCompute('k', never)).toEqual({ value: 'from-a', source: 'cache' });
  });

  it('with maxBytes, a value larger than that is served from Redis, never kept in the tier', async () => {
    const prefix = uniquePrefix('l1-bytes');
    const { guard } = await process(prefix, { l1: { maxEntries: 100, maxBytes: 500 } });
    await guard.getOrCompute('small', async () => 'v');
    await guard.getOrCompute('large', async () => 'x'.repeat(1000));
    const before = proxy.requests;
    expect(await guard.getOrCompute('small', never)).toEqual({ value: 'v', source: 'cache' });
    expect(proxy.requests).toBe(before);
    expect(await guard.getOrCompute('large', never)).toEqual({ value: 'x'.repeat(1000), source: 'cache' });
    expect(proxy.requests).toBeGreaterThan(before);
  });

  it('never answers with a value past its fresh time', async () => {
    const prefix = uniquePrefix('l1-fresh');
    const { guard } = await process(prefix, { valueTtlMs: 150, graceMs: 0 });
    await guard.getOrCompute('k', async () => 'first');
    expect(await guard.getOrCompute('k', never)).toEqual({ value: 'first', source: 'cache' });
    await sleep(200);
    expect(await guard.getOrCompute('k', async () => 'second')).toEqual({ value: 'second', source: 'computed' });
  });

  it('an L1 hit near expiry refreshes early under xfetch, as a Redis hit does', async () => {
    const prefix = uniquePrefix('l1-xfetch');
    // -ln(0.1) x 200 ms computation = 460 ms: reads in the last 460 ms of the fresh time refresh.
    const { guard, log } = await process(prefix, { valueTtlMs: 1000, graceMs: 60_000, random: () => 0.1 });
    const compute = async () => {
      await sleep(200);
      return `v${Date.now()}`;
    };
    const first = await guard.getOrCompute('k', compute, { strategy: 'xfetch' });
    await sleep(700);
    expect(await guard.getOrCompute('k', compute, { strategy: 'xfetch' })).toEqual({ value: first.value, source: 'cache' });
    expect(log.lines.filter((l) => l.event === 'cache.hit').map((l) => l.tier)).toEqual(['l1']);
    await waitUntil(
      'the early refresh wrote',
      async () => (await guard.getOrCompute('k', compute, { strategy: 'xfetch' })).value !== first.value,
    );
    expect(log.lines.filter((l) => l.event === 'refresh.start').map((l) => l.reason)).toEqual(['early']);
    expect(log.count('stale.served')).toBe(0);
  });

  it('keeps no stale value: a stale value served under swr comes from Redis each time, never from the tier', async () => {
    const prefix = uniquePrefix('l1-swr');
    const { guard, log } = await process(prefix, { valueTtlMs: 100, graceMs: 60_000 });
    await guard.getOrCompute('k', async () => 'old', { strategy: 'swr' });
    await sleep(150); // stale, within its grace
    const refresh = deferred<string>(); // the refresh lasts until the reads are done
    for (let i = 0; i < 2; i++) {
      expect(await guard.getOrCompute('k', () => refresh.promise, { strategy: 'swr' })).toEqual({ value: 'old', source: 'stale' });
    }
    expect(log.lines.filter((l) => l.event === 'cache.hit').map((l) => l.tier ?? 'redis')).toEqual(['redis', 'redis']);
    refresh.resolve('new');
  });

  it('a dropped bus connection clears the tier; a set during the outage is seen once it is back', async () => {
    const prefix = uniquePrefix('l1-drop');
    const bus = await busTap(prefix);
    const a = await process(prefix);
    const b = await process(prefix);
    await a.guard.getOrCompute('k', async () => 'v1');
    await bus.handled(1, b);
    expect(await b.guard.getOrCompute('k', never)).toEqual({ value: 'v1', source: 'cache' });
    const inTier = proxy.requests;
    expect(await b.guard.getOrCompute('k', never)).toEqual({ value: 'v1', source: 'cache' });
    expect(proxy.requests).toBe(inTier); // b's tier has v1 when its bus drops

    const admin = new Redis(redisUrl());
    clients.push(admin);
    await admin.client('KILL', 'ID', String(b.subscriberId));
    await waitUntil('b saw its bus connection drop', () => b.subscriber.status !== 'ready');
    await a.guard.set('k', 'v2'); // announced while b's bus is down: lost
    // b does not answer from its tier meanwhile: its reads go to Redis, which has v2.
    const before = proxy.requests;
    expect(await b.guard.getOrCompute('k', never)).toEqual({ value: 'v2', source: 'cache' });
    expect(proxy.requests).toBeGreaterThan(before);
    await waitUntil('b is subscribed again', async () => (await subscriberCount(prefix)) === 2);
    await waitUntil('b answers from its tier again', async () => {
      const at = proxy.requests;
      await b.guard.getOrCompute('k', never);
      return proxy.requests === at;
    });
    expect(await b.guard.getOrCompute('k', never)).toEqual({ value: 'v2', source: 'cache' });
  });
});

describe('L1Store', () => {
  const envelope = (value: string, freshForMs = 60_000) => ({
    value,
    fence: 1,
    computedAt: Date.now(),
    computeMs: 1,
    ttlMs: freshForMs,
    freshUntil: Date.now() + freshForMs,
  });

  it('keeps at most maxEntries, dropping the least recently read', () => {
    const store = new L1Store({ maxEntries: 3 });
    for (const k of ['a', 'b', 'c']) store.set(k, envelope(k), 0);
    store.get('a'); // a is now the most recently read
    store.set('d', envelope('d'), 0);
    expect(store.size).toBe(3);
    expect(store.get('b')).toBeNull();
    expect(store.get('a')?.value).toBe('a');
  });

  it('keeps at most maxBytes, and never a value larger than that', () => {
    const store = new L1Store({ maxEntries: 100, maxBytes: 100 });
    store.set('big', envelope('big'), 101);
    expect(store.get('big')).toBeNull();
    for (const k of ['a', 'b', 'c']) store.set(k, envelope(k), 40);
    expect(store.size).toBe(2);
    expect(store.get('a')).toBeNull();
  });

  it('a value larger than maxBytes is refused without evicting anything', () => {
    const store = new L1Store({ maxEntries: 100, maxBytes: 100 });
    store.set('a', envelope('a'), 40);
    store.set('big', envelope('big'), 101);
    expect(store.get('big')).toBeNull();
    expect(store.get('a')?.value).toBe('a');
  });

  it('a value found past its fresh time gives its bytes back', () => {
    const store = new L1Store({ maxEntries: 100, maxBytes: 100 });
    store.set('old', { ...envelope('old'), freshUntil: Date.now() + 20 }, 60);
    expect(store.get('old', Date.now() + 1000)).toBeNull();
    store.set('a', envelope('a'), 60);
    store.set('b', envelope('b'), 40);
    expect([store.get('a')?.value, store.get('b')?.value]).toEqual(['a', 'b']);
  });

  it('drops a value once it is past its fresh time', () => {
    const store = new L1Store({ maxEntries: 10 });
    store.set('k', { ...envelope('k'), freshUntil: Date.now() - 1 }, 0);
    expect(store.get('k')).toBeNull();
    expect(store.size).toBe(0);
  });
});

describe('L1Store accounting', () => {
  const envelope = (value: string) => ({
    value,
    fence: 1,
    computedAt: Date.now(),
    computeMs: 1,
    ttlMs: 60_000,
    freshUntil: Date.now() + 60_000,
  });

  it('replacing, deleting and expiring an entry give its bytes back', () => {
    const store = new L1Store({ maxEntries: 10, maxBytes: 100 });
    store.set('a', envelope('a1'), 60);
    store.set('a', envelope('a2'), 60); // a replacement, not a second 60 bytes
    store.set('b', envelope('b'), 40);
    expect(store.size).toBe(2);
    store.delete('a');
    store.set('c', envelope('c'), 60); // fits only if a's bytes came back
    expect(store.get('b')?.value).toBe('b');
    expect(store.get('c')?.value).toBe('c');
    store.clear();
    expect(store.size).toBe(0);
    store.set('d', envelope('d'), 100);
    expect(store.get('d')?.value).toBe('d');
  });
});
