/**
 * A master of a Redis Cluster with replicas fails over while the guard works (issue 17): 3
 * masters and 3 replicas, cluster-node-timeout 2000 ms, started once for this file. Planned
 * failovers come first (both nodes of the shard stay up), the kill last (it leaves its shard
 * without a replica). Guards wait with a lock TTL of 60 s, so a waiter that sat the lock out
 * could not pass.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { Cluster, type Redis } from 'ioredis';
import { Job, Queue, Worker } from 'bullmq';
import { createGetValueClient } from '../src/bullmq/client.js';
import type { GetValueData } from '../src/bullmq/job-data.js';
import { queuePrefix } from '../src/bullmq/names.js';
import { createProcessor } from '../src/bullmq/processor.js';
import { createGuard, type StampedeGuard } from '../src/cache/guard.js';
import { cacheKeys, l1BusChannel } from '../src/keys.js';
import { killNode, planFailover, shardOf, waitForNewOwner, type Shard } from '../scripts/redis/cluster-failover.js';
import { assertRedisReachable, createRedisClient, isCluster, type RedisClient } from '../scripts/redis/connection.js';
import { sendCommands } from '../scripts/redis/probe.js';
import { startEmbeddedCluster, type EmbeddedCluster } from '../scripts/redis/redis-cluster.js';
import { clientLibraryFromEnv, closeClients, openClusterClient } from './support/clients.js';
import type { SupportedRedisClient } from '../src/redis/client.js';
import { captureLogger } from './support/log-capture.js';
import { closeAll, uniquePrefix } from './support/redis.js';
import { deferred, waitUntil } from './support/wait.js';

const LOCK_TTL_MS = 60_000;
let cluster: EmbeddedCluster;
const opened: RedisClient[] = [];
const guards: StampedeGuard[] = [];

beforeAll(async () => {
  cluster = await startEmbeddedCluster({ replicas: 1, nodeTimeoutMs: 2000 });
}, 90_000);

afterAll(async () => {
  await Promise.all(guards.map((g) => g.close()));
  await closeAll(...(opened as Redis[]));
  await closeClients();
  await cluster?.stop();
});

/** A cache connection as a worker opens it (the lab's cluster options). */
function connect(): Cluster {
  const client = createRedisClient(cluster.url, 'cache');
  if (!isCluster(client)) throw new Error('expected a Cluster client');
  client.on('error', () => {}); // a failover is expected here
  opened.push(client);
  return client;
}

/**
 * The guards' client library: TEST_REDIS_CLIENT (vitest.config.ts runs this file on each); the
 * lab's ioredis connection when it is ioredis. The cases that are about ioredis or BullMQ run only then.
 */
const library = clientLibraryFromEnv();
const notOnIoredis = library !== 'ioredis';

function guardClient(): Promise<SupportedRedisClient> {
  if (library === 'ioredis') return Promise.resolve(connect());
  return openClusterClient(
    library,
    cluster.nodes.map(({ host, port }) => `${host}:${port}`),
  );
}

/**
 * Two guards on their own connections: two processes of a fleet. Their Redis deadline is longer
 * than a failover: these tests are about riding one out (the client's retries, the waiter's
 * re-check); with the default deadline a failover counts as an outage (redis-outage.test.ts).
 */
async function twoProcesses(prefix: string) {
  const log = captureLogger('info');
  const options = { keyPrefix: prefix, lockTtlMs: LOCK_TTL_MS, redisTimeoutMs: 30_000 };
  const holder = createGuard({ redis: await guardClient(), ...options });
  const waiter = createGuard({ redis: await guardClient(), ...options, logger: log.logger });
  guards.push(holder, waiter);
  return { holder, waiter, log };
}

/** Shards failed over so far, the latest last. */
const failedOver: string[] = [];

/**
 * A key of `prefix` on a shard that was not among the last two failed over: Redis masters do not
 * vote twice for the same shard within 2 x cluster-node-timeout, so a shard failed over moments
 * ago would not fail over again at once.
 */
async function keyOnRestedShard(prefix: string): Promise<{ key: string; shard: Shard }> {
  for (let i = 0; ; i++) {
    const key = `key-${i}`;
    const shard = await shardOf(cluster.servers, cacheKeys(prefix, key).value);
    if (!failedOver.slice(-2).includes(shard.ranges)) {
      failedOver.push(shard.ranges);
      return { key, shard };
    }
  }
}

/** The holder computes until `finish`; the waiter, in the other process, is subscribed. */
async function holderAndWaiter(prefix: string, key: string) {
  const { holder, waiter, log } = await twoProcesses(prefix);
  const computing = deferred();
  const finish = deferred<string>();
  const held = holder.getOrCompute(key, async () => {
    computing.resolve();
    return finish.promise;
  });
  await computing.promise;
  const waited = waiter.getOrCompute(key, async () => 'computed by the waiter');
  await waitUntil('the waiter waits', () => log.count('wait.start') === 1);
  onTestFailed(() => console.error(`the waiter's log:\n${log.lines.map((l) => JSON.stringify(l)).join('\n')}`));
  return { held, waited, finish, log };
}

describe("the L1 tier's bus", () => {
  it('is subscribed again after its master failed over: a write in one process still evicts the copy of another', async () => {
    const prefix = uniquePrefix('l1');
    const shard = await shardOf(cluster.servers, l1BusChannel(prefix, 0)); // the first test: nothing failed over yet
    failedOver.push(shard.ranges);
    const log = captureLogger('info');
    const reader = createGuard({ redis: await guardClient(), keyPrefix: prefix, l1: { maxEntries: 100 }, logger: log.logger });
    const writer = createGuard({ redis: await guardClient(), keyPrefix: prefix, l1: { maxEntries: 100 } });
    guards.push(reader, writer);
    const compute = async () => 'computed';
    /** The reader reads `value` from its own tier (no Redis command) once the announcements are through. */
    const readsFromL1 = (value: string) =>
      waitUntil(`the reader's tier answers ${value}`, async () => {
        const hits = log.count('cache.hit');
        const got = await reader.getOrCompute('k', compute);
        return (
          got.value === value &&
          log.lines
            .filter((l) => l.event === 'cache.hit')
            .slice(hits)
            .some((l) => l.tier === 'l1')
        );
      });

    await writer.set('k', 'before');
    await readsFromL1('before');
    await planFailover(cluster.servers, shard);
    await waitForNewOwner(cluster.servers, shard);
    // Announced on the new master: the reader's tier must not keep 'before' (its fresh time is a minute).
    await writer.set('k', 'after');
    await readsFromL1('after');
    await writer.set('k', 'later');
    await readsFromL1('later');
  }, 90_000);
});

describe('a planned failover (CLUSTER FAILOVER) of a master', () => {
  it('waiters subscribed on the former master learn of it and get the value written on the new one at once', async () => {
    const prefix = uniquePrefix('planned');
    const { key, shard } = await keyOnRestedShard(prefix);
    const { held, waited, finish, log } = await holderAndWaiter(prefix, key);

    await planFailover(cluster.servers, shard);
    await waitForNewOwner(cluster.servers, shard);
    // Only now: the value is written and announced on the new master, where nobody subscribed
    // before. ioredis does not move the subscription by itself (the former master just dropped it).
    const wrote = Date.now();
    finish.resolve('on the new master');

    expect(await held).toEqual({ value: 'on the new master', source: 'computed' });
    expect(await waited).toEqual({ value: 'on the new master', source: 'waited' });
    expect(Date.now() - wrote).toBeLessThan(10_000);
    expect(log.lines.find((l) => l.event === 'wait.end')).toMatchObject({ outcome: 'value' });
  }, 90_000);
});

describe.skipIf(notOnIoredis)('a script the new master has not cached', () => {
  it('runs with EVAL, also when its NOSCRIPT comes wrapped in a redirection error', async () => {
    const prefix = uniquePrefix('noscript');
    const { key, shard } = await keyOnRestedShard(prefix);
    // A client whose slot map predates the failover and that follows one redirection: its EVALSHA
    // goes to the former master, is MOVED to the new one, whose NOSCRIPT ioredis then reports as
    // "Too many Cluster redirections. Last error: ReplyError: NOSCRIPT ...".
    const stale = new Cluster(cluster.nodes, { maxRedirections: 1 });
    stale.on('error', () => {});
    opened.push(stale);
    await stale.get(cacheKeys(prefix, key).value);
    const log = captureLogger('info');
    const guard = createGuard({ redis: stale, keyPrefix: prefix, lockTtlMs: LOCK_TTL_MS, logger: log.logger });
    guards.push(guard);

    await planFailover(cluster.servers, shard);
    const promoted = await waitForNewOwner(cluster.servers, shard);
    await sendCommands({ host: '127.0.0.1', port: promoted.port }, [['SCRIPT', 'FLUSH']]);

    expect(await guard.getOrCompute(key, async () => 'computed')).toEqual({ value: 'computed', source: 'computed' });
    expect(log.lines.filter((l) => l.event === 'script.not-cached').map((l) => l.script)).toContain('cache.claim');
  }, 90_000);
});

describe.skipIf(notOnIoredis)('get-value jobs (DEFAULT_JOB_OPTIONS)', () => {
  it('a completion BullMQ could not record is retried and completes from the cache; a failed computation and bad data fail at once', async () => {
    const prefix = uniquePrefix('jobs');
    const queueName = `q-${prefix}`;
    const log = captureLogger('info');
    const guard = createGuard({ redis: connect(), keyPrefix: prefix, logger: log.logger });
    guards.push(guard);
    const workerConnection = createRedisClient(cluster.url, 'worker');
    const producer = createRedisClient(cluster.url, 'producer');
    opened.push(workerConnection, producer);
    const processor = createProcessor({
      guard,
      logger: log.logger,
      workerId: 'test-worker',
      compute: (data) => async () => {
        if (data.key === 'broken') throw new Error('the backend said no');
        return `value of ${data.key}`;
      },
    });
    const worker = new Worker(queueName, processor, { connection: workerConnection, prefix: queuePrefix(workerConnection) });
    worker.on('error', () => {}); // the recording failure below is reported here too
    const client = createGetValueClient({ connection: producer, queueName, timeoutMs: 60_000 });
    // As when the queue's master fails over while the job ends: the processor returned, but
    // BullMQ's move to completed fails (the error ioredis gave in the run), once.
    const moveToCompleted = Job.prototype.moveToCompleted;
    let completions = 0;
    Job.prototype.moveToCompleted = function (this: Job, ...args: Parameters<Job['moveToCompleted']>) {
      if (this.data.key === 'unrecorded' && ++completions === 1) {
        return Promise.reject(new Error('Too many Cluster redirections. Last error: ReplyError: CLUSTERDOWN The cluster is down'));
      }
      return moveToCompleted.apply(this, args);
    } as Job['moveToCompleted'];
    try {
      expect(await client.get('unrecorded')).toMatchObject({ value: 'value of unrecorded', source: 'cache' });
      expect(completions).toBe(2);
      const broken = await client.get('broken').catch((err: unknown) => err);
      expect(broken).toMatchObject({ code: 'E_JOB_FAILED', reason: 'the backend said no' });
      const bad = await client.request({ key: 'x', strategy: 'nope' } as unknown as GetValueData).catch((err: unknown) => err);
      expect(bad).toMatchObject({ code: 'E_JOB_DATA' });
      const queue = new Queue(queueName, { connection: producer, prefix: queuePrefix(producer) });
      const failed = await queue.getJobs(['failed']);
      await queue.close();
      expect(failed.map((job) => [job.data.key, job.attemptsMade])).toEqual([['broken', 1]]);
    } finally {
      Job.prototype.moveToCompleted = moveToCompleted;
      await client.close();
      await worker.close();
    }
    const events = (key: string) => log.lines.filter((l) => l.key === key).map((l) => l.event);
    expect(events('unrecorded').filter((e) => e === 'recompute.start' || e === 'job.completed')).toEqual([
      'recompute.start',
      'job.completed',
      'job.completed',
    ]);
    expect(events('broken').filter((e) => e?.startsWith('job.'))).toEqual(['job.failed']);
  }, 60_000);
});

describe('a master killed (SIGKILL) while its key is computed', () => {
  it("a new process starts; the holder's write rides out the failover, and the waiter in another process gets the value once it is over, not after the lock TTL", async () => {
    const prefix = uniquePrefix('killed');
    const { key, shard } = await keyOnRestedShard(prefix);
    const { held, waited, finish } = await holderAndWaiter(prefix, key);

    const killed = Date.now();
    killNode(shard.master);
    // A process starting now, while the dead master still owns its slots (for cluster-node-timeout,
    // the cluster still says ok), goes on with a warning instead of refusing.
    const [warning, ...more] = await assertRedisReachable(cluster.url);
    expect(more).toEqual([]);
    expect(warning).toMatch(
      new RegExp(
        `^Redis cluster node 127\\.0\\.0\\.1:${shard.master.port} does not answer \\(connection (refused|reset)\\); the cluster is ok without it, going on$`,
      ),
    );
    finish.resolve('after the kill'); // written while its master is dead: retried until the replica took over
    await waitForNewOwner(cluster.servers, shard);
    const failedOver = Date.now();

    expect(await held).toEqual({ value: 'after the kill', source: 'computed' });
    expect(await waited).toEqual({ value: 'after the kill', source: 'waited' });
    // The failover took failedOver - killed (about 4 s); the waiter needs a round trip or two more.
    expect(Date.now() - failedOver, `failover took ${failedOver - killed} ms`).toBeLessThan(10_000);
  }, 90_000);
});
