/**
 * Redis unavailable (issue 24) on a real Redis Cluster: the guard's circuit breaker is per node
 * (per master, found from the key's slot), not per guard, so one master that goes away degrades
 * the keys on its slots only. 3 masters and 3 replicas, started once for this file, with a
 * cluster-node-timeout (10 s) well above the pause of the first test, so that pause fails nothing
 * over; the second test kills a master and waits out its failover.
 *
 * Two guards on their own connections are two processes of a fleet; each has its own logger, so
 * each guard's breaker transitions are counted apart.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { type Settled, timed } from './support/outage-rig.js';
import type { Cluster, Redis } from 'ioredis';
import { createGuard, type StampedeGuard } from '../src/cache/guard.js';
import { subscribeEvents, type GuardEvent } from '../src/events.js';
import { cacheKeys } from '../src/keys.js';
import { keySlot } from '../src/redis/key-slot.js';
import { killNode, shardOf, waitForNewOwner, type Shard } from '../scripts/redis/cluster-failover.js';
import { createRedisClient, isCluster, type RedisClient } from '../scripts/redis/connection.js';
import { sendCommands } from '../scripts/redis/probe.js';
import { startEmbeddedCluster, type EmbeddedCluster } from '../scripts/redis/redis-cluster.js';
import type { EmbeddedRedis } from '../scripts/redis/redis-server.js';
import { captureLogger } from './support/log-capture.js';
import { closeAll, uniquePrefix } from './support/redis.js';
import { gated, sleep, waitUntil } from './support/wait.js';

/** The deadline of every Redis step in these tests (the default is 1000 ms). */
const DEADLINE_MS = 500;
const COMPUTE_MS = 100;
/** What a loaded 2-core machine may add to a bound. */
const SLACK_MS = 1_500;
/** Concurrent calls per guard and key. */
const CALLS = 10;
/** cluster-node-timeout: a master silent this long counts as failed (and its replica takes over). */
const NODE_TIMEOUT_MS = 10_000;

let cluster: EmbeddedCluster;
const opened: RedisClient[] = [];
const guards: StampedeGuard[] = [];
/** Every node SIGSTOPped and not yet SIGCONTinued: continued whatever happens. */
const paused = new Set<EmbeddedRedis>();

beforeAll(async () => {
  cluster = await startEmbeddedCluster({ replicas: 1, nodeTimeoutMs: NODE_TIMEOUT_MS });
}, 120_000);

afterAll(async () => {
  for (const server of paused) resume(server);
  await Promise.all(guards.map((g) => g.close()));
  await closeAll(...(opened as Redis[]));
  await cluster?.stop();
}, 60_000);

function pause(server: EmbeddedRedis): void {
  paused.add(server);
  process.kill(server.pid, 'SIGSTOP');
}

function resume(server: EmbeddedRedis): void {
  if (!paused.delete(server)) return;
  process.kill(server.pid, 'SIGCONT');
}

const nodeName = (server: EmbeddedRedis) => `127.0.0.1:${server.port}`;

/** A cache connection as a worker opens it (the lab's cluster options). */
function connect(): Cluster {
  const client = createRedisClient(cluster.url, 'cache');
  if (!isCluster(client)) throw new Error('expected a Cluster client');
  client.on('error', () => {}); // a node going away is expected here
  opened.push(client);
  return client;
}

interface Process {
  guard: StampedeGuard;
  client: Cluster;
  /** The guard's breaker transitions for `node` (from its own log): `redis.unavailable`, `redis.available`. */
  transitions(node?: string): { event: string; node: string; downMs?: number }[];
}

/** Two guards on their own cluster connections (and their own sharded subscribers, created by the guard): two processes. */
function twoProcesses(prefix: string): [Process, Process] {
  const make = (): Process => {
    const log = captureLogger('info');
    const client = connect();
    const guard = createGuard({ redis: client, keyPrefix: prefix, redisTimeoutMs: DEADLINE_MS, logger: log.logger });
    guards.push(guard);
    return {
      guard,
      client,
      transitions: (node) =>
        log.lines
          .filter((l) => l.event === 'redis.unavailable' || l.event === 'redis.available')
          .map((l) => ({ event: l.event!, node: l.node as string, ...(typeof l.downMs === 'number' && { downMs: l.downMs }) }))
          .filter((t) => node === undefined || t.node === node),
    };
  };
  return [make(), make()];
}

/** A user key of `prefix` whose cache keys lie on a shard that `accept` takes, found by CLUSTER KEYSLOT and CLUSTER NODES. */
async function keyOn(prefix: string, label: string, accept: (shard: Shard) => boolean): Promise<{ key: string; shard: Shard }> {
  for (let i = 0; i < 1000; i++) {
    const key = `${label}-${i}`;
    const shard = await shardOf(cluster.servers, cacheKeys(prefix, key).value);
    if (accept(shard)) return { key, shard };
  }
  throw new Error(`no key ${label}-* on the shard wanted`);
}

/** Whether `server` holds the value of `key` (asked directly, not through a cluster client). */
async function stored(server: EmbeddedRedis, prefix: string, key: string): Promise<boolean> {
  const [reply] = await sendCommands({ host: '127.0.0.1', port: server.port }, [['HEXISTS', cacheKeys(prefix, key).value, 'envelope']]);
  return reply === 1;
}

/** CALLS concurrent calls of `key` on each guard; counts the computations (all processes together). */
async function burst(processes: Process[], key: string): Promise<{ results: Settled[]; computations: number }> {
  let computations = 0;
  const compute = async () => {
    computations += 1;
    await sleep(COMPUTE_MS);
    return `value of ${key}`;
  };
  const results = await Promise.all(
    processes.flatMap(({ guard }) => Array.from({ length: CALLS }, () => timed(() => guard.getOrCompute(key, compute)))),
  );
  return { results, computations };
}

/**
 * Both guards through Redis on `key`'s master, the second waiting for the first's computation: the
 * connections to that master, the slot maps and the guards' sharded subscribers exist before any
 * node goes away (a process that never waited would open its subscriber during the outage).
 */
async function warm([first, second]: [Process, Process], prefix: string, key: string, master: EmbeddedRedis): Promise<void> {
  const { channel } = cacheKeys(prefix, key);
  const pairs: [Process, Process][] = [
    [first, second],
    [second, first],
  ];
  for (const [holder, waiter] of pairs) {
    const slow = gated();
    const held = holder.guard.getOrCompute(key, slow.compute);
    await slow.started;
    const waited = waiter.guard.getOrCompute(key, async () => 'must not run');
    await waitUntil('the waiter subscribed', async () => (await shardSubscribers(master, channel)) === 1);
    slow.finish('warm');
    expect(await held).toEqual({ value: 'warm', source: 'computed' });
    expect(await waited).toEqual({ value: 'warm', source: 'waited' });
    await holder.guard.delete(key); // a miss again for the next round
  }
}

/** PUBSUB SHARDNUMSUB of `channel` on `server`. */
async function shardSubscribers(server: EmbeddedRedis, channel: string): Promise<number> {
  const [reply] = await sendCommands({ host: '127.0.0.1', port: server.port }, [['PUBSUB', 'SHARDNUMSUB', channel]]);
  return Number((reply as unknown[])[1]);
}

/** The guard events of `key` so far. */
function recorder() {
  const seen: GuardEvent[] = [];
  const unsubscribe = subscribeEvents((event) => seen.push(event));
  return {
    unsubscribe,
    of: (key: string, event?: string) => seen.filter((e) => e.key === key && (event === undefined || e.event === event)),
  };
}

describe('a master paused (SIGSTOP) shorter than cluster-node-timeout: no failover', () => {
  it("its keys are degraded within the deadline, the other masters' keys go on through Redis; one redis.unavailable per guard, for that master only; after SIGCONT one computation per key for the fleet again", async () => {
    const prefix = uniquePrefix('cluster-paused');
    const a = await keyOn(prefix, 'a', () => true);
    const b = await keyOn(prefix, 'b', (shard) => shard.master !== a.shard.master);
    const stopped = nodeName(a.shard.master);
    const processes = twoProcesses(prefix);
    const events = recorder();
    onTestFailed(() => {
      for (const [i, p] of processes.entries()) console.error(`guard ${i} transitions: ${JSON.stringify(p.transitions())}`);
    });
    try {
      await warm(processes, prefix, (await keyOn(prefix, 'warm', (s) => s.master === b.shard.master)).key, b.shard.master);
      await warm(processes, prefix, (await keyOn(prefix, 'warm', (s) => s.master === a.shard.master)).key, a.shard.master);
      // The guards' clients route both keys as the cluster does: the gate names these nodes.
      for (const { client } of processes) {
        expect(client.slots[keySlot(cacheKeys(prefix, a.key).value)]?.[0]).toBe(stopped);
        expect(client.slots[keySlot(cacheKeys(prefix, b.key).value)]?.[0]).toBe(nodeName(b.shard.master));
      }

      const pausedAt = Date.now();
      pause(a.shard.master);

      // a: every call answered within the deadline plus the computation, computed in each process once.
      const onA = await burst(processes, a.key);
      expect(onA.results.every((r) => r.ok && r.value === `value of ${a.key}`)).toBe(true);
      expect(onA.computations).toBe(2);
      expect(Math.max(...onA.results.map((r) => r.ms))).toBeLessThan(DEADLINE_MS + COMPUTE_MS + SLACK_MS);
      expect(events.of(a.key, 'cache.degraded')).toHaveLength(2 * CALLS);
      expect(events.of(a.key, 'cache.degraded').every((e) => (e.fields as { policy: string }).policy === 'compute')).toBe(true);
      for (const p of processes) expect(p.transitions()).toEqual([{ event: 'redis.unavailable', node: stopped }]);

      // b, while a's master is still paused and both breakers for it are open: through Redis, one
      // computation for the two processes, written on b's master, nothing degraded.
      const onB = await burst(processes, b.key);
      expect(onB.results.every((r) => r.ok && r.value === `value of ${b.key}`)).toBe(true);
      expect(onB.computations).toBe(1);
      expect(onB.results.filter((r) => r.source === 'computed')).toHaveLength(1);
      expect(events.of(b.key, 'cache.degraded')).toEqual([]);
      expect(events.of(b.key, 'recompute.start').every((e) => !(e.fields as { degraded?: true }).degraded)).toBe(true);
      expect(await stored(b.shard.master, prefix, b.key)).toBe(true);

      // a again, breaker open: answered from what each process computed in this outage, at once.
      const again = await burst(processes, a.key);
      expect(again.computations).toBe(0);
      expect(again.results.every((r) => r.ok && r.value === `value of ${a.key}` && r.source === 'cache')).toBe(true);
      expect(Math.max(...again.results.map((r) => r.ms))).toBeLessThan(SLACK_MS);

      // Still one redis.unavailable per guard, for the paused master, none for any other node.
      for (const p of processes) expect(p.transitions()).toEqual([{ event: 'redis.unavailable', node: stopped }]);
      const pausedFor = Date.now() - pausedAt;
      resume(a.shard.master);
      // Well within the node timeout: the cluster did not fail a's master over.
      expect(pausedFor).toBeLessThan(NODE_TIMEOUT_MS / 2);

      await waitUntil('both guards see the master back', () => processes.every((p) => p.transitions().length === 2), {
        timeoutMs: 20_000,
      });
      for (const p of processes) {
        expect(p.transitions().map(({ event, node }) => ({ event, node }))).toEqual([
          { event: 'redis.unavailable', node: stopped },
          { event: 'redis.available', node: stopped },
        ]);
        expect(p.transitions()[1]!.downMs).toBeGreaterThan(0);
      }
      expect((await shardOf(cluster.servers, cacheKeys(prefix, a.key).value)).master).toBe(a.shard.master);

      // Back: nothing computed during the pause was written, nor is it kept; the next miss of a is
      // the fleet's one computation, written on a's master (the lock a late claim took was given back).
      expect(await stored(a.shard.master, prefix, a.key)).toBe(false);
      const degradedBefore = events.of(a.key, 'cache.degraded').length;
      const back = await burst(processes, a.key);
      expect(back.results.every((r) => r.ok && r.value === `value of ${a.key}`)).toBe(true);
      expect(back.computations).toBe(1);
      expect(back.results.filter((r) => r.source === 'computed')).toHaveLength(1);
      expect(events.of(a.key, 'cache.degraded')).toHaveLength(degradedBefore);
      expect(await stored(a.shard.master, prefix, a.key)).toBe(true);
      expect(processes.every((p) => p.transitions().length === 2)).toBe(true);
    } finally {
      resume(a.shard.master);
      events.unsubscribe();
    }
  }, 90_000);
});

describe('a master killed (SIGKILL) and failed over to its replica', () => {
  it('its keys are degraded during the failover; once the replica owns the slot in the slot map, calls go through Redis on the new master, not through the breaker of the dead master', async () => {
    const prefix = uniquePrefix('cluster-killed');
    const c = await keyOn(prefix, 'c', () => true);
    const dead = nodeName(c.shard.master);
    const slot = keySlot(cacheKeys(prefix, c.key).value);
    const processes = twoProcesses(prefix);
    const events = recorder();
    onTestFailed(() => {
      for (const [i, p] of processes.entries()) console.error(`guard ${i} transitions: ${JSON.stringify(p.transitions())}`);
    });
    try {
      await warm(processes, prefix, (await keyOn(prefix, 'warm', (s) => s.master === c.shard.master)).key, c.shard.master);
      for (const { client } of processes) expect(client.slots[slot]?.[0]).toBe(dead);

      killNode(c.shard.master);
      const during = await burst(processes, c.key);
      expect(during.results.every((r) => r.ok && r.value === `value of ${c.key}`)).toBe(true);
      expect(during.computations).toBe(2);
      expect(Math.max(...during.results.map((r) => r.ms))).toBeLessThan(DEADLINE_MS + COMPUTE_MS + SLACK_MS);
      expect(events.of(c.key, 'cache.degraded')).toHaveLength(2 * CALLS);
      for (const p of processes) expect(p.transitions()).toEqual([{ event: 'redis.unavailable', node: dead }]);

      const promoted = await waitForNewOwner(cluster.servers, c.shard);
      expect(c.shard.replicas).toContain(promoted);
      // The clients learn the new owner by themselves (the gate's probe of the dead node is
      // retried by ioredis, which refreshes its slot map on each retry).
      await waitUntil(
        "both guards' clients route the slot to the new master",
        () => processes.every((p) => p.client.slots[slot]?.[0] === nodeName(promoted)),
        { timeoutMs: 30_000 },
      );

      // Through Redis again: one computation for the two processes, written on the new master,
      // nothing degraded, although nothing said the dead master is back.
      const degradedBefore = events.of(c.key, 'cache.degraded').length;
      const after = await burst(processes, c.key);
      expect(after.results.every((r) => r.ok && r.value === `value of ${c.key}`)).toBe(true);
      expect(after.computations).toBe(1);
      expect(after.results.filter((r) => r.source === 'computed')).toHaveLength(1);
      expect(events.of(c.key, 'cache.degraded')).toHaveLength(degradedBefore);
      expect(await stored(promoted, prefix, c.key)).toBe(true);
      // The new master was never down for the guards.
      for (const p of processes) expect(p.transitions(nodeName(promoted))).toEqual([]);

      // The dead master's breaker does not stay open (probing forever): its probe goes by key, to
      // the new master now, and once answered in time the breaker closes. Its redis.available
      // names the dead node: it means "the keys behind this breaker are served again", which is
      // also when each process forgets what it computed apart from the fleet.
      await waitUntil('both guards close the breaker of the dead master', () => processes.every((p) => p.transitions(dead).length === 2), {
        timeoutMs: 20_000,
      });
      for (const p of processes) expect(p.transitions().map((t) => t.event)).toEqual(['redis.unavailable', 'redis.available']);
    } finally {
      events.unsubscribe();
    }
  }, 120_000);
});
