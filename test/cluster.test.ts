/**
 * The whole system on a real Redis Cluster (3 masters, started once for this file), and the
 * queue and the cache on two different Redis servers.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import type { Cluster, Redis } from 'ioredis';
import { clearCacheKeys } from '../scripts/redis/clear.js';
import type { Envelope } from '../src/cache/envelope.js';
import { createGuard } from '../src/cache/guard.js';
import { Notifier } from '../src/redis/notifier.js';
import { readEnvelope, writeEnvelope } from '../src/cache/store.js';
import { loadConfig } from '../scripts/common/config.js';
import { REDIS_NAMED_BY_URL } from '../scripts/demo/fleet-env.js';
import { startFleet } from '../scripts/fleet/fleet.js';
import { waitForWorkers } from '../scripts/fleet/wait-ready.js';
import { cacheKeys, type CacheKeys } from '../src/keys.js';
import { acquireLock, extendLock, releaseLock, type LockLease } from '../src/lock/redis-lock.js';
import { runBurst } from '../scripts/burst/burst.js';
import { CLUSTER_QUEUE_PREFIX } from '../src/bullmq/names.js';
import { createQueue } from '../src/bullmq/queue.js';
import { createGetValueClient } from '../src/bullmq/client.js';
import { startWorker } from '../workers/runtime.js';
import { assertRedisReachable, createRedis, createRedisClient, isCluster, type RedisClient } from '../scripts/redis/connection.js';
import { startEmbeddedCluster, type EmbeddedCluster } from '../scripts/redis/redis-cluster.js';
import { startEmbeddedRedis, type EmbeddedRedis } from '../scripts/redis/redis-server.js';
import { captureLogger } from './support/log-capture.js';
import { closeAll, uniquePrefix } from './support/redis.js';
import { deferred, waitUntil } from './support/wait.js';
import { toPort } from '../src/redis/adapt.js';
import { asSubscriber } from './support/subscriber-port.js';

let cluster: EmbeddedCluster;
let redis: Cluster;
let other: Cluster; // a second connection: another process of the fleet
/** Each master by `host:port`, and the slot ranges it owns (from CLUSTER SLOTS). */
let owners: { node: string; from: number; to: number }[];
const opened: RedisClient[] = [];

function connect(): Cluster {
  const client = createRedisClient(cluster.url, 'cache');
  if (!isCluster(client)) throw new Error('expected a Cluster client');
  opened.push(client);
  return client;
}

beforeAll(async () => {
  cluster = await startEmbeddedCluster();
  redis = connect();
  other = connect();
  owners = (await redis.cluster('SLOTS')).map(([from, to, master]) => ({ node: `${master![0]}:${master![1]}`, from, to }));
}, 60_000);

afterAll(async () => {
  await closeAll(...(opened as Redis[]));
  await cluster?.stop();
});

async function keySlot(name: string): Promise<number> {
  return Number(await redis.cluster('KEYSLOT', name));
}

async function masterOf(name: string): Promise<string> {
  const slot = await keySlot(name);
  return owners.find((o) => slot >= o.from && slot <= o.to)!.node;
}

/** Cache keys of `count` user keys, chosen so that they lie on `count` different masters. */
async function keysOnDistinctMasters(prefix: string, count: number): Promise<CacheKeys[]> {
  const chosen = new Map<string, CacheKeys>();
  for (let i = 0; chosen.size < count; i++) {
    const keys = cacheKeys(prefix, `spread-${i}`);
    const master = await masterOf(keys.value);
    if (!chosen.has(master)) chosen.set(master, keys);
  }
  return [...chosen.values()];
}

function envelope<T>(value: T, fence: number, ttlMs = 60_000): Envelope<T> {
  const now = Date.now();
  return { value, fence, computedAt: now, computeMs: 1, ttlMs, freshUntil: now + ttlMs };
}

describe('the cluster itself', () => {
  it('has three masters sharing all 16384 slots', () => {
    expect(new Set(owners.map((o) => o.node)).size).toBe(3);
    expect(owners.reduce((sum, o) => sum + (o.to - o.from + 1), 0)).toBe(16384);
  });

  it('is reachable by its URL; a cluster node named as one Redis, or one Redis named as a cluster, is a clear error', async () => {
    await assertRedisReachable(cluster.url);
    const node = cluster.nodes[0]!;
    await expect(assertRedisReachable(`redis://${node.host}:${node.port}`)).rejects.toThrow(/is a Redis Cluster node.*REDIS_CLUSTER_NODES/);
    const single = await startEmbeddedRedis();
    try {
      await expect(assertRedisReachable(`redis+cluster://127.0.0.1:${single.port}`)).rejects.toThrow(/single Redis, not a cluster node/);
    } finally {
      await single.stop();
    }
  });
});

describe('a cluster with a password', () => {
  it('works with the right one in the URL; a wrong or missing one is a clear error that never repeats it', async () => {
    const nodes = cluster.nodes.map((n) => `${n.host}:${n.port}`).join(',');
    // Connections already open stay authenticated, so the other tests' clients are unaffected.
    await Promise.all(redis.nodes('master').map((node) => node.config('SET', 'requirepass', 'hunter2')));
    try {
      await assertRedisReachable(`redis+cluster://:hunter2@${nodes}`);
      const client = createRedisClient(`redis+cluster://:hunter2@${nodes}`, 'producer');
      opened.push(client);
      await Promise.all(Array.from({ length: 10 }, (_, i) => client.set(`pw-${i}`, String(i))));
      expect(await client.get('pw-3')).toBe('3');

      const wrong = (await assertRedisReachable(`redis+cluster://:wrong-secret@${nodes}`).catch((e: unknown) => e)) as Error;
      expect(wrong.message).toMatch(/wrong password/);
      expect(wrong.message).not.toContain('wrong-secret');
      await expect(assertRedisReachable(`redis+cluster://${nodes}`)).rejects.toThrow(/password is required/);
    } finally {
      await Promise.all(redis.nodes('master').map((node) => node.config('SET', 'requirepass', '')));
    }
  });
});

describe("the guard's keys on the cluster", () => {
  it('puts the value, lock, lease and channel of one cache key in one slot (CLUSTER KEYSLOT)', async () => {
    const prefix = uniquePrefix('slots');
    const userKeys = ['plain', 'user:42', 'with space', 'ünïcödé', '{braces}', 'a}b{c', 'x'.repeat(1000)];
    const slotsSeen = new Set<number>();
    for (const key of userKeys) {
      const keys = cacheKeys(prefix, key);
      const slots = await Promise.all([keys.value, keys.lock, keys.lease, keys.channel].map(keySlot));
      expect(new Set(slots).size, key).toBe(1);
      slotsSeen.add(slots[0]!);
    }
    // Different cache keys are spread, not piled on one slot.
    expect(slotsSeen.size).toBeGreaterThan(1);
  });

  it('refuses a cluster subscriber that cannot SSUBSCRIBE (no shardedSubscribers), saying what to do', () => {
    const plain = redis.duplicate([], { lazyConnect: true });
    opened.push(plain);
    expect(() => new Notifier(asSubscriber(plain))).toThrow(/shardedSubscribers: true/);
  });

  it('clears every key of a prefix from every master', async () => {
    const prefix = uniquePrefix('clear');
    const names = Array.from({ length: 30 }, (_, i) => cacheKeys(prefix, `k${i}`));
    await Promise.all(names.flatMap((k) => [redis.set(k.lease, '1'), redis.hset(k.value, 'fence', '1')]));
    expect(new Set(await Promise.all(names.map((k) => masterOf(k.value)))).size).toBe(3);
    const keep = cacheKeys(uniquePrefix('keep'), 'k');
    await redis.set(keep.lease, '1');

    expect(await clearCacheKeys(redis, prefix)).toBe(60);
    for (const node of redis.nodes('master')) {
      expect((await node.scan('0', 'MATCH', `${prefix}:*`, 'COUNT', 10_000))[1]).toEqual([]);
    }
    expect(await redis.get(keep.lease)).toBe('1');
  });
});

describe('lock and fence on the cluster, on each master', () => {
  it('acquire, refuse a non-owner, extend, release and notify', async () => {
    for (const keys of await keysOnDistinctMasters(uniquePrefix('lock'), 3)) {
      const owner = (await acquireLock(toPort(redis), keys, 30_000))!;
      expect(owner).not.toBeNull();
      expect(await acquireLock(toPort(other), keys, 30_000)).toBeNull();

      const intruder: LockLease = { token: 'not-the-owner', fence: owner.fence, ttlMs: 30_000 };
      expect(await releaseLock(toPort(other), keys, intruder)).toBe(false);
      expect(await extendLock(toPort(other), keys, intruder, 600_000)).toBe(false);
      expect(await redis.pttl(keys.lock)).toBeLessThanOrEqual(30_000);
      expect((await writeEnvelope(toPort(other), keys, envelope('intruder', 0), intruder, 0)).released).toBe(false);
      expect(await redis.get(keys.lock)).toBe(owner.token);

      expect(await extendLock(toPort(redis), keys, owner, 600_000)).toBe(true);
      expect(await redis.pttl(keys.lock)).toBeGreaterThan(30_000);

      // The release notification travels by sharded pub/sub, on the key's own shard.
      const listener = await shardMessage(keys);
      expect(await releaseLock(toPort(redis), keys, owner)).toBe(true);
      expect(await listener.message).toBe('released');
      await listener.close();
      expect(await releaseLock(toPort(redis), keys, owner)).toBe(false);
      expect(await extendLock(toPort(redis), keys, owner)).toBe(false);
    }
  });

  it('hands out increasing fences and rejects the write of a holder paused past its TTL', async () => {
    for (const keys of await keysOnDistinctMasters(uniquePrefix('fence'), 3)) {
      const fences: number[] = [];
      for (let i = 0; i < 4; i++) {
        const client = i % 2 === 0 ? redis : other;
        const lease = (await acquireLock(toPort(client), keys, 30_000))!;
        fences.push(lease.fence);
        expect(await releaseLock(toPort(client), keys, lease)).toBe(true);
      }
      for (let i = 1; i < fences.length; i++) expect(fences[i]).toBeGreaterThan(fences[i - 1]!);

      const a = (await acquireLock(toPort(redis), keys, 300))!;
      await waitUntil('the lock expires', async () => (await redis.pttl(keys.lock)) === -2);
      const b = (await acquireLock(toPort(other), keys, 30_000))!;
      expect(b.fence).toBeGreaterThan(a.fence);
      const listener = await shardMessage(keys);
      expect(await writeEnvelope(toPort(other), keys, envelope('from-B', b.fence), b, 0)).toEqual({
        written: true,
        released: true,
        storedFence: b.fence,
      });
      expect(await listener.message).toMatch(/^written:.*from-B/); // the value travels with the notification
      await listener.close();
      expect(await writeEnvelope(toPort(redis), keys, envelope('from-A', a.fence), a, 0)).toEqual({
        written: false,
        released: false,
        storedFence: b.fence,
      });
      expect(await readEnvelope(toPort(redis), keys)).toMatchObject({ value: 'from-B', fence: b.fence });
    }
  });

  it('wakes a waiter of another "process" by a notification on the shard that owns the key', async () => {
    const prefix = uniquePrefix('notify');
    const holder = createGuard({ redis, keyPrefix: prefix, lockTtlMs: 30_000 });
    const waiter = createGuard({ redis: other, keyPrefix: prefix, lockTtlMs: 30_000 });
    try {
      const keys = cacheKeys(prefix, 'hot');
      const computing = deferred();
      const finish = deferred<string>();
      const first = holder.getOrCompute('hot', async () => {
        computing.resolve();
        return finish.promise;
      });
      await computing.promise;
      const second = waiter.getOrCompute('hot', async () => 'must not run');
      // The waiter's SSUBSCRIBE is on the master that owns the key's slot, and only there.
      const owner = await masterOf(keys.channel);
      await waitUntil('the waiter subscribed', async () => (await shardSubscribers(keys.channel)).get(owner) === 1);
      expect([...(await shardSubscribers(keys.channel)).values()].reduce((a, b) => a + b, 0)).toBe(1);

      const started = Date.now();
      finish.resolve('value');
      expect(await first).toEqual({ value: 'value', source: 'computed' });
      expect(await second).toEqual({ value: 'value', source: 'waited' });
      // Woken by the notification, not by its 30 s lock-TTL timeout.
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await Promise.all([holder.close(), waiter.close()]);
    }
  });
});

/** SSUBSCRIBE to the key's channel on a sharded subscriber; resolves the first message. */
async function shardMessage(keys: CacheKeys): Promise<{ message: Promise<string>; close(): Promise<void> }> {
  const subscriber = redis.duplicate([], { shardedSubscribers: true });
  const message = new Promise<string>((resolve) => {
    subscriber.on('smessage', (channel: string, text: string) => {
      if (channel === keys.channel) resolve(text);
    });
  });
  await subscriber.ssubscribe(keys.channel);
  return { message, close: () => closeAll(subscriber as unknown as Redis) };
}

/** PUBSUB SHARDNUMSUB of one channel on each master. */
async function shardSubscribers(channel: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const node of redis.nodes('master')) {
    const [, count] = (await node.call('PUBSUB', 'SHARDNUMSUB', channel)) as [string, number];
    counts.set(`${node.options.host}:${node.options.port}`, Number(count));
  }
  return counts;
}

/** `recompute.start` lines per `runId` and key, over every NDJSON file in `dir`. */
async function recomputations(dir: string): Promise<Map<string, Map<string, number>>> {
  const byRun = new Map<string, Map<string, number>>();
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.ndjson'))) {
    for (const line of (await readFile(path.join(dir, file), 'utf8')).split('\n')) {
      if (!line.includes('"recompute.start"')) continue;
      const record = JSON.parse(line) as { event: string; runId: string; key: string };
      if (record.event !== 'recompute.start') continue;
      const byKey = byRun.get(record.runId) ?? new Map<string, number>();
      byKey.set(record.key, (byKey.get(record.key) ?? 0) + 1);
      byRun.set(record.runId, byKey);
    }
  }
  return byRun;
}

describe('the fleet on the cluster', () => {
  it('4 workers, redis-lock: 200 jobs on one key, then on 20 keys spread over all masters, recompute exactly once per key', async () => {
    const logDir = await mkdtemp(path.join(os.tmpdir(), 'cs-cluster-fleet-'));
    const queueName = uniquePrefix('q');
    const keyPrefix = uniquePrefix('fleet');
    const producer = createRedisClient(cluster.url, 'producer');
    opened.push(producer);
    const queue = createQueue(queueName, producer);
    const client = createGetValueClient({ connection: producer, queueName });
    // What happened, for the failure message: the workers' output and the test's own steps.
    const output = new PassThrough();
    let text = '';
    const started = Date.now();
    const step = (what: string) => (text += `[test +${Date.now() - started} ms] ${what}\n`);
    output.on('data', (chunk: Buffer) => (text += chunk.toString()));
    onTestFailed(() => {
      process.stderr.write(`fleet test failed; its steps and worker output:\n${text}\n`);
    });
    const fleet = startFleet({
      workers: 4,
      concurrency: 50,
      env: {
        ...REDIS_NAMED_BY_URL,
        REDIS_URL: cluster.url,
        QUEUE_REDIS_URL: '',
        CACHE_REDIS_URL: '',
        QUEUE_NAME: queueName,
        KEY_PREFIX: keyPrefix,
        LOG_DIR: logDir,
        LOG_LEVEL: 'info',
      },
      outputStream: output,
    });
    /** A graceful stop, or SIGKILL when a worker does not exit within 20 s (the test then fails). */
    const stopFleet = async () => {
      const timer = setTimeout(() => {
        step('a worker did not stop within 20 s: SIGKILL');
        void fleet.stop('SIGKILL');
      }, 20_000);
      const exits = await fleet.stop('SIGTERM');
      clearTimeout(timer);
      return exits;
    };
    try {
      await waitForWorkers(fleet, 4, { timeoutMs: 60_000 });
      step('4 workers ready');
      // BullMQ finds its workers by CLIENT LIST on every node: each is counted once.
      expect(await queue.getWorkersCount()).toBe(4);
      const one = await runBurst(
        client,
        { jobs: 200, keys: 1, keyPrefix: 'one', strategy: 'redis-lock', computeMs: 300, runId: 'one-key' },
        { timeoutMs: 40_000 },
      );
      step(`burst one-key: ${one.completed} completed, ${one.failed} failed, timed out: ${one.timedOut}`);
      const twenty = await runBurst(
        client,
        { jobs: 200, keys: 20, keyPrefix: 'twenty', strategy: 'redis-lock', computeMs: 300, runId: 'twenty-keys' },
        { timeoutMs: 40_000 },
      );
      step(`burst twenty-keys: ${twenty.completed} completed, ${twenty.failed} failed, timed out: ${twenty.timedOut}`);
      const exits = await stopFleet();
      step('fleet stopped');
      expect(
        exits.map((e) => e.exitCode),
        text,
      ).toEqual([0, 0, 0, 0]);

      for (const burst of [one, twenty]) {
        expect(burst, text).toMatchObject({ completed: 200, failed: 0, timedOut: false });
      }
      expect(one.distinctValues).toBe(1);
      expect(twenty.distinctValues).toBe(20);

      const counted = await recomputations(logDir);
      expect(Object.fromEntries(counted.get('one-key') ?? [])).toEqual({ 'one-1': 1 });
      const twentyKeys = Array.from({ length: 20 }, (_, i) => `twenty-${i + 1}`);
      expect(Object.fromEntries(counted.get('twenty-keys') ?? [])).toEqual(Object.fromEntries(twentyKeys.map((k) => [k, 1])));

      // The 20 values are spread over all three masters, and each lives on its slot's owner.
      const masters = new Map<string, number>();
      for (const key of twentyKeys) {
        const name = cacheKeys(keyPrefix, key).value;
        const master = await masterOf(name);
        masters.set(master, (masters.get(master) ?? 0) + 1);
        const node = redis.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === master)!;
        expect(await node.exists(name), name).toBe(1);
      }
      expect(masters.size).toBe(3);

      // The queue is one hash tag, so all of its keys live on one master.
      const queueMasters = new Set<string>();
      for (const node of redis.nodes('master')) {
        const [, found] = await node.scan('0', 'MATCH', `${CLUSTER_QUEUE_PREFIX}:${queueName}:*`, 'COUNT', 100_000);
        if (found.length > 0) queueMasters.add(`${node.options.host}:${node.options.port}`);
      }
      expect(queueMasters.size).toBe(1);
    } finally {
      await stopFleet();
      await client.close();
      await queue.close();
      await rm(logDir, { recursive: true, force: true });
    }
  }, 180_000);
});

describe('the queue and the cache on two different Redis servers', () => {
  let queueServer: EmbeddedRedis;
  let cacheServer: EmbeddedRedis;
  beforeAll(async () => {
    [queueServer, cacheServer] = await Promise.all([startEmbeddedRedis(), startEmbeddedRedis()]);
  });
  afterAll(async () => {
    await Promise.all([queueServer?.stop(), cacheServer?.stop()]);
  });

  it('puts BullMQ keys only on QUEUE_REDIS_URL and cache keys only on CACHE_REDIS_URL', async () => {
    const config = loadConfig(
      { queueName: 'split', keyPrefix: 'split', logDir: os.tmpdir() },
      { QUEUE_REDIS_URL: queueServer.url, CACHE_REDIS_URL: cacheServer.url },
    );
    expect(config).toMatchObject({ queueRedisUrl: queueServer.url, cacheRedisUrl: cacheServer.url });
    const capture = captureLogger('info');
    const worker = await startWorker({ config, workerId: 'split-worker', logger: capture.logger, say: () => {} });
    const producer = createRedisClient(config.queueRedisUrl, 'producer');
    const queueAdmin = createRedis(queueServer.url, 'producer');
    const cacheAdmin = createRedis(cacheServer.url, 'producer');
    const queue = createQueue(config.queueName, producer);
    const client = createGetValueClient({ connection: producer, queueName: config.queueName });
    try {
      const burst = await runBurst(
        client,
        { jobs: 50, keys: 5, strategy: 'redis-lock', computeMs: 100, runId: 'split' },
        { timeoutMs: 30_000 },
      );
      expect(burst).toMatchObject({ completed: 50, failed: 0, distinctValues: 5 });
      expect(capture.count('recompute.start')).toBe(5);

      const queueKeys = await queueAdmin.keys('*');
      const cacheKeyNames = await cacheAdmin.keys('*');
      expect(queueKeys.length).toBeGreaterThan(0);
      expect(
        queueKeys.every((k) => k.startsWith('bull:split:')),
        queueKeys.join(' '),
      ).toBe(true);
      expect(cacheKeyNames.sort()).toEqual(
        Array.from({ length: 5 }, (_, i) => cacheKeys('split', `key-${i + 1}`))
          .flatMap((k) => [k.value, k.lease])
          .sort(),
      );
    } finally {
      await client.close();
      await queue.close();
      await worker.stop();
      // Now, not in the file's afterAll: these servers stop before it runs, and a connection
      // left open would report its reconnect attempts as unhandled errors.
      await closeAll(producer as Redis, queueAdmin, cacheAdmin);
    }
  });
});
