/**
 * The guard's behaviour on each client library it accepts (issue 29): ioredis, iovalkey and
 * node-redis, the same cases, on the test Redis. Every guarantee is written once, above the seam
 * (src/redis/port.ts); these cases are the ones where a library's own ways show: scripts and their
 * NOSCRIPT fallback, the waiters' notifications, a dropped subscriber (reconnect recheck), the L1
 * tier's bus, fences, tags, the lock entry, an unreachable Redis, an ACL user as documented.
 * Assertions go through an ioredis connection of the test's own.
 */
import { createClient } from 'redis';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedRedis, type EmbeddedRedis } from '../scripts/redis/redis-server.js';
import { createGuard, type StampedeGuard } from '../src/cache/guard.js';
import { RedisUnavailableError } from '../src/errors.js';
import { cacheKeys } from '../src/keys.js';
import { acquireLock, releaseLock } from '../src/lock/index.js';
import { CLIENT_LIBRARIES, closeClients, openClient } from './support/clients.js';
import { applyAcl, aclLog, documentedUser } from './support/documented-acl.js';
import { captureLogger } from './support/log-capture.js';
import { closedPort } from './support/ports.js';
import { closeAll, connect, redisUrl, uniquePrefix } from './support/redis.js';
import { gated, sleep, waitUntil } from './support/wait.js';

const admin = connect();
const guards: StampedeGuard[] = [];

afterEach(async () => {
  await Promise.all(guards.splice(0).map((guard) => guard.close()));
  await closeClients();
});
afterAll(() => closeAll(admin));

describe('a client the guard refuses', () => {
  it("iovalkey's Cluster (no sharded subscribers): an OptionsError at createGuard, naming the way out", async () => {
    const { Cluster } = await import('iovalkey');
    const cluster = new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true });
    expect(() => createGuard({ redis: cluster })).toThrow(/no sharded subscribers.*use ioredis or node-redis/);
  });

  it('a node-redis client not connected yet, and an object that is no client', () => {
    expect(() => createGuard({ redis: createClient({ url: redisUrl() }) })).toThrow(/must be connected.*await client\.connect\(\)/);
    expect(() => createGuard({ redis: { get() {} } as never })).toThrow(/redis must be an ioredis or iovalkey client/);
  });
});

describe.each(CLIENT_LIBRARIES)('closed at once, on %s', (library) => {
  let server: EmbeddedRedis;
  beforeAll(async () => {
    server = await startEmbeddedRedis();
  });
  afterAll(() => server?.stop());

  // Found by the model checker on node-redis: a destroy() in the first milliseconds of a connect
  // left the socket open (node-redis 6.3 finishes the connect it had under way).
  it('a guard closed while its own subscriber still connects leaves no connection behind', async () => {
    const observer = new Redis(server.url);
    try {
      for (let i = 0; i < 20; i++) {
        const guard = createGuard({ redis: openClient(library, server.url), keyPrefix: 'closed', l1: { maxEntries: 10 } });
        await guard.close();
      }
      await closeClients();
      const subscribers = async () =>
        ((await observer.client('LIST')) as string).split('\n').filter((line) => line.includes('name=cache-stampede:subscriber'));
      await waitUntil('every subscriber connection is gone', async () => (await subscribers()).length === 0, { timeoutMs: 5000 });
    } finally {
      observer.disconnect();
    }
  });
  it('a guard closed while its subscriber reconnects (killed a moment before) leaves no connection behind', async () => {
    const observer = new Redis(server.url);
    const subscribers = async () =>
      ((await observer.client('LIST')) as string).split('\n').filter((line) => line.includes('name=cache-stampede:subscriber'));
    try {
      for (let i = 0; i < 10; i++) {
        const guard = createGuard({ redis: openClient(library, server.url), keyPrefix: 'killed', l1: { maxEntries: 10 } });
        await waitUntil('the subscriber connected', async () => (await subscribers()).length === 1);
        await observer.client('KILL', 'TYPE', 'pubsub');
        await guard.close();
      }
      await closeClients();
      await waitUntil('every subscriber connection is gone', async () => (await subscribers()).length === 0, { timeoutMs: 5000 });
    } finally {
      observer.disconnect();
    }
  });
});

describe.each(CLIENT_LIBRARIES)('on %s', (library) => {
  /** A guard standing for a process: its own connection (and its own subscriber, duplicated by the guard). */
  const processGuard = (options: Omit<Parameters<typeof createGuard>[0], 'redis'>) => {
    const guard = createGuard({ redis: openClient(library, redisUrl()), ...options });
    guards.push(guard);
    return guard;
  };

  it('a cold burst across three processes computes once; the others wait for its value', async () => {
    const keyPrefix = uniquePrefix(`cl-burst-${library}`);
    const fleet = [0, 1, 2].map(() => processGuard({ keyPrefix, lockTtlMs: 30_000 }));
    let computations = 0;
    const compute = async () => {
      computations += 1;
      await sleep(300);
      return { n: 42 };
    };
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => fleet[i % 3]!.getOrCompute('hot', compute)));
    expect(computations).toBe(1);
    expect(answers.every((a) => (a.value as { n: number }).n === 42)).toBe(true);
    expect(answers.filter((a) => a.source === 'computed')).toHaveLength(1);
    expect(answers.filter((a) => a.source === 'waited').length).toBeGreaterThan(0);
    // The next call is a hit, through the script cache.
    expect(await fleet[1]!.getOrCompute('hot', compute)).toEqual({ value: { n: 42 }, source: 'cache' });
  });

  it('every strategy answers on it; none recomputes per process, redis-lock once', async () => {
    const keyPrefix = uniquePrefix(`cl-strategies-${library}`);
    const guard = processGuard({ keyPrefix });
    for (const strategy of ['none', 'local-lock', 'redis-lock', 'swr', 'xfetch'] as const) {
      const answer = await guard.getOrCompute(`k-${strategy}`, async () => strategy, { strategy });
      expect(answer).toEqual({ value: strategy, source: 'computed' });
      expect(await guard.getOrCompute(`k-${strategy}`, async () => 'again', { strategy })).toEqual({ value: strategy, source: 'cache' });
    }
  });

  it('after SCRIPT FLUSH the scripts are sent again (EVALSHA falls back to EVAL) and the call succeeds', async () => {
    const keyPrefix = uniquePrefix(`cl-noscript-${library}`);
    const log = captureLogger();
    const guard = processGuard({ keyPrefix, logger: log.logger });
    await guard.getOrCompute('a', async () => 1);
    await admin.script('FLUSH');
    expect(await guard.getOrCompute('a', async () => 2)).toEqual({ value: 1, source: 'cache' });
    expect(log.count('script.not-cached')).toBeGreaterThan(0);
  });

  it('a write fenced out by a later set is refused: the set value stays', async () => {
    const keyPrefix = uniquePrefix(`cl-fence-${library}`);
    const holder = processGuard({ keyPrefix, lockTtlMs: 30_000 });
    const writer = processGuard({ keyPrefix });
    const computing = gated();
    const held = holder.getOrCompute('k', computing.compute);
    await computing.started;
    await writer.set('k', 'new');
    computing.finish('old');
    await held;
    expect(await writer.getOrCompute('k', async () => 'recomputed')).toEqual({ value: 'new', source: 'cache' });
  });

  it('waiters whose subscriber dropped recheck once it is back, long before the lock TTL', async () => {
    const keyPrefix = uniquePrefix(`cl-reconnect-${library}`);
    const holder = processGuard({ keyPrefix, lockTtlMs: 30_000 });
    const log = captureLogger();
    const waiter = processGuard({ keyPrefix, lockTtlMs: 30_000, maxWaitMs: 30_000, logger: log.logger });
    const computing = gated();
    const held = holder.getOrCompute('k', computing.compute);
    await computing.started;
    const waited = waiter.getOrCompute('k', async () => 'waiter-computed');
    const channel = cacheKeys(keyPrefix, 'k').channel;
    await waitUntil('the waiter subscribed', async () => ((await admin.pubsub('NUMSUB', channel)) as [string, number])[1] === 1);
    // Kill every pub/sub connection of this channel, then write while the subscriber is away.
    await admin.client('KILL', 'TYPE', 'pubsub');
    computing.finish('v');
    expect(await held).toEqual({ value: 'v', source: 'computed' });
    const started = Date.now();
    expect(await waited).toEqual({ value: 'v', source: 'waited' });
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it("the L1 tier's bus: a set in one process drops the others' copies", async () => {
    const keyPrefix = uniquePrefix(`cl-l1-${library}`);
    const reader = processGuard({ keyPrefix, l1: { maxEntries: 100 } });
    const writer = processGuard({ keyPrefix, l1: { maxEntries: 100 } });
    // The tier keeps what it reads once its bus is live (the subscriber connects first).
    await waitUntil('the reader keeps a copy', async () => {
      await reader.getOrCompute('k', async () => 'first');
      // Gone from Redis behind the guards' backs: only the reader's tier still has it.
      await admin.unlink(cacheKeys(keyPrefix, 'k').value);
      return (await reader.getOrCompute('k', async () => 'first')).source === 'cache';
    });
    await writer.set('k', 'second');
    await waitUntil('the reader dropped its copy', async () => (await reader.getOrCompute('k', async () => 'x')).value === 'second');
  });

  it('tags: an invalidation in one process makes the value missing in another', async () => {
    const keyPrefix = uniquePrefix(`cl-tags-${library}`);
    const a = processGuard({ keyPrefix });
    const b = processGuard({ keyPrefix });
    await a.getOrCompute('k', async () => 1, { tags: ['t'] });
    await b.invalidateTags(['t']);
    expect(await a.getOrCompute('k', async () => 2, { tags: ['t'] })).toEqual({ value: 2, source: 'computed' });
    const many = await b.getManyOrCompute(['x', 'y'], async (keys) => new Map(keys.map((k) => [k, k.toUpperCase()])));
    expect([...many.values()]).toEqual([
      { value: 'X', source: 'computed' },
      { value: 'Y', source: 'computed' },
    ]);
  });

  it('cache-stampede/lock on this client: one holder, released by compare-and-delete', async () => {
    const keys = cacheKeys(uniquePrefix(`cl-lock-${library}`), 'job');
    const redis = openClient(library, redisUrl());
    const lease = await acquireLock(redis, keys, 10_000);
    expect(lease).not.toBeNull();
    expect(await acquireLock(redis, keys, 10_000)).toBeNull();
    expect(await releaseLock(redis, keys, lease!)).toBe(true);
    expect(await releaseLock(redis, keys, lease!)).toBe(false);
  });

  it('an unreachable Redis: the call fails with RedisUnavailableError within the deadline, naming the node', async () => {
    const port = await closedPort();
    const down = createGuard({ redis: openClient(library, `redis://127.0.0.1:${port}`), redisTimeoutMs: 300, onRedisDown: 'error' });
    guards.push(down);
    const error = await down.getOrCompute('k', async () => 1).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(RedisUnavailableError);
    expect((error as Error).message).toContain(`127.0.0.1:${port}`);
  });

  it('under the ACL user docs/managed-redis.md gives the cache (cs-cache), nothing is refused', async () => {
    const user = documentedUser('cs-cache', 'one Redis');
    await applyAcl(admin, user);
    await admin.acl('LOG', 'RESET');
    const url = new URL(redisUrl());
    url.username = user.user;
    url.password = user.password!;
    const keyPrefix = 'cs';
    const guard = createGuard({ redis: openClient(library, url.toString()), keyPrefix });
    guards.push(guard);
    const key = uniquePrefix(`acl-${library}`);
    const both = await Promise.all([guard.getOrCompute(key, async () => 'v'), guard.getOrCompute(key, async () => 'w')]);
    expect(both.map((a) => a.value)).toEqual(['v', 'v']);
    await guard.set(`${key}-set`, 1, { tags: ['t'] });
    await guard.delete(`${key}-set`);
    const refused = (await aclLog(admin)).filter((entry) => entry.username === user.user);
    expect(refused).toEqual([]);
  });
});
