/**
 * A master of a Redis Cluster with replicas fails over while the guard works (issue 17): 3
 * masters and 3 replicas, cluster-node-timeout 2000 ms, started once for this file. Each test
 * fails over a shard of its own (a killed master leaves its shard without a replica), and every
 * guard waits with a lock TTL of 60 s, so a waiter that sat the lock out could not pass.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import type { Cluster, Redis } from 'ioredis';
import { createGuard, type StampedeGuard } from '../src/cache/guard.js';
import { cacheKeys } from '../src/keys.js';
import { killNode, planFailover, shardOf, waitForNewOwner, type Shard } from '../scripts/redis/cluster-failover.js';
import { createRedisClient, isCluster, type RedisClient } from '../scripts/redis/connection.js';
import { startEmbeddedCluster, type EmbeddedCluster } from '../scripts/redis/redis-cluster.js';
import { captureLogger } from './support/log-capture.js';
import { closeAll, uniquePrefix } from './support/redis.js';
import { deferred, waitUntil } from './support/wait.js';

const LOCK_TTL_MS = 60_000;
let cluster: EmbeddedCluster;
const opened: RedisClient[] = [];
const guards: StampedeGuard[] = [];
/** Ports of the shards failed over so far: the next test picks another shard. */
const used = new Set<number>();

beforeAll(async () => {
  cluster = await startEmbeddedCluster({ replicas: 1, nodeTimeoutMs: 2000 });
}, 90_000);

afterAll(async () => {
  await Promise.all(guards.map((g) => g.close()));
  await closeAll(...(opened as Redis[]));
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

/** Two guards on their own connections: two processes of a fleet. */
function twoProcesses(prefix: string) {
  const log = captureLogger('info');
  const holder = createGuard({ redis: connect(), keyPrefix: prefix, lockTtlMs: LOCK_TTL_MS });
  const waiter = createGuard({ redis: connect(), keyPrefix: prefix, lockTtlMs: LOCK_TTL_MS, logger: log.logger });
  guards.push(holder, waiter);
  return { holder, waiter, log };
}

/** A key of `prefix` on a shard no earlier test failed over, that still has a replica. */
async function keyOnFreshShard(prefix: string): Promise<{ key: string; shard: Shard }> {
  for (let i = 0; ; i++) {
    const key = `key-${i}`;
    const shard = await shardOf(cluster.servers, cacheKeys(prefix, key).value);
    const ports = [shard.master, ...shard.replicas].map((s) => s.port);
    if (shard.replicas.length > 0 && !ports.some((port) => used.has(port))) {
      for (const port of ports) used.add(port);
      return { key, shard };
    }
  }
}

/** The holder computes until `finish`; the waiter, in the other process, is subscribed. */
async function holderAndWaiter(prefix: string, key: string) {
  const { holder, waiter, log } = twoProcesses(prefix);
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

describe('a master killed (SIGKILL) while its key is computed', () => {
  it("the holder's write rides out the failover, and the waiter in another process gets the value once it is over, not after the lock TTL", async () => {
    const prefix = uniquePrefix('killed');
    const { key, shard } = await keyOnFreshShard(prefix);
    const { held, waited, finish } = await holderAndWaiter(prefix, key);

    const killed = Date.now();
    killNode(shard.master);
    finish.resolve('after the kill'); // written while its master is dead: retried until the replica took over
    await waitForNewOwner(cluster.servers, shard);
    const failedOver = Date.now();

    expect(await held).toEqual({ value: 'after the kill', source: 'computed' });
    expect(await waited).toEqual({ value: 'after the kill', source: 'waited' });
    // The failover took failedOver - killed (about 4 s); the waiter needs a round trip or two more.
    expect(Date.now() - failedOver, `failover took ${failedOver - killed} ms`).toBeLessThan(10_000);
  }, 90_000);
});
