/**
 * getManyOrCompute on real Redis (and a real Redis Cluster): hits, misses and keys held by another
 * process in one batch, one computeMany for the keys it holds, the round trips it takes, single
 * calls and batches racing on the same keys, and the failures of one key.
 */
import { Cluster, type Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ComputeError } from '../src/errors.js';
import { createGuard, type StampedeGuard } from '../src/cache/guard.js';
import { startEmbeddedCluster, type EmbeddedCluster } from '../scripts/redis/redis-cluster.js';
import { keySlot } from '../src/redis/key-slot.js';
import { cacheKeys } from '../src/keys.js';
import { closeGuards, processGuard } from './support/guards.js';
import { closeAll, connect, uniquePrefix } from './support/redis.js';
import { deferred, sleep, waitUntil } from './support/wait.js';

afterEach(closeGuards);
const admin = connect();
afterAll(() => closeAll(admin));

/** The commands a client sends, as [name, numkeys] for scripts: counted on the real client, not a stand-in. */
function recordCommands(client: Redis | Cluster): Array<[string, number]> {
  const sent: Array<[string, number]> = [];
  const send = client.sendCommand.bind(client) as (cmd: unknown) => unknown;
  (client as unknown as { sendCommand: (cmd: unknown) => unknown }).sendCommand = (cmd) => {
    const { name, args } = cmd as { name: string; args: unknown[] };
    sent.push([name, name === 'evalsha' || name === 'eval' ? Number(args[1]) : 0]);
    return send(cmd);
  };
  return sent;
}

const values = (keys: string[], tag: string) => new Map(keys.map((k) => [k, `${tag}:${k}`]));
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `k${from + i}`);

describe('getManyOrCompute', () => {
  it('100 keys: 30 hits, 50 misses, 20 held by another process: one computeMany over the 50, the 20 waited for, one claim round trip', async () => {
    const prefix = uniquePrefix('many-100');
    const a = processGuard({ keyPrefix: prefix });
    const b = processGuard({ keyPrefix: prefix });
    const hits = range(0, 30);
    const misses = range(30, 80);
    const heldByB = range(80, 100);
    for (const k of hits) await a.guard.set(k, `set:${k}`);
    // Scripts loaded, so what is counted below is the batch's own commands.
    await a.guard.getManyOrCompute(['warm'], async (ks) => values(ks, 'warm'));
    await a.guard.getOrCompute('warm-single', async () => 'warm');

    const bComputing = deferred<void>();
    const bRelease = deferred<void>();
    const bBatch = b.guard.getManyOrCompute(heldByB, async (ks) => {
      bComputing.resolve();
      await bRelease.promise;
      return values(ks, 'b');
    });
    await bComputing.promise;

    const sent = recordCommands(a.redis);
    const calls: string[][] = [];
    const aBatch = a.guard.getManyOrCompute([...hits, ...misses, ...heldByB], async (ks) => {
      calls.push(ks);
      return values(ks, 'a');
    });
    await waitUntil('A computed its keys', () => calls.length === 1);
    bRelease.resolve();
    const [result, bResult] = await Promise.all([aBatch, bBatch]);

    expect(calls).toEqual([misses]);
    expect([...result.keys()]).toEqual([...hits, ...misses, ...heldByB]);
    for (const k of hits) expect(result.get(k)).toEqual({ value: `set:${k}`, source: 'cache' });
    for (const k of misses) expect(result.get(k)).toEqual({ value: `a:${k}`, source: 'computed' });
    for (const k of heldByB) expect(result.get(k)).toEqual({ value: `b:${k}`, source: 'waited' });
    for (const k of heldByB) expect(bResult.get(k)).toEqual({ value: `b:${k}`, source: 'computed' });
    // Round trips: the 100 keys claimed by one script (300 KEYS); then one fenced write per computed
    // key, sent together; each waited key subscribes and claims again as a single waiter does.
    const scripts = (keys: number) => sent.filter(([name, n]) => (name === 'evalsha' || name === 'eval') && n === keys);
    expect(scripts(300)).toEqual([['evalsha', 300]]);
    expect(scripts(2)).toHaveLength(50);
    expect(scripts(3)).toHaveLength(20);
    expect(sent.filter(([name]) => name === 'ssubscribe' || name === 'subscribe').length).toBeLessThanOrEqual(20);
  });

  it('a batch and single calls racing on the same keys, in two processes: each key computed once', async () => {
    const prefix = uniquePrefix('many-race');
    const a = processGuard({ keyPrefix: prefix });
    const b = processGuard({ keyPrefix: prefix });
    const keys = range(0, 20);
    const computed = new Map<string, number>();
    const count = (k: string) => computed.set(k, (computed.get(k) ?? 0) + 1);
    const many = async (ks: string[]) => {
      for (const k of ks) count(k);
      await sleep(150);
      return values(ks, 'v');
    };
    const single = (k: string) => async () => {
      count(k);
      await sleep(150);
      return `v:${k}`;
    };
    const answers = await Promise.all([
      a.guard.getManyOrCompute(keys, many),
      ...keys.slice(0, 10).map((k) => a.guard.getOrCompute(k, single(k))),
      b.guard.getManyOrCompute(keys.slice(5), many),
      ...keys.slice(10).map((k) => b.guard.getOrCompute(k, single(k))),
    ]);
    expect([...computed.values()].every((n) => n === 1)).toBe(true);
    expect(computed.size).toBe(20);
    const batchA = answers[0] as Map<string, { value: unknown }>;
    for (const k of keys) expect(batchA.get(k)).toMatchObject({ value: `v:${k}` });
  });

  it('a key the batch left out fails alone (stale under the stale policy), and so does its waiter elsewhere', async () => {
    const prefix = uniquePrefix('many-omit');
    const a = processGuard({ keyPrefix: prefix, failurePolicy: 'error' });
    const b = processGuard({ keyPrefix: prefix, failurePolicy: 'error' });
    const started = deferred<void>();
    const aBatch = a.guard.getManyOrCompute(['x', 'y', 'z'], async () => {
      started.resolve();
      await sleep(150);
      return { x: 1, z: 3 }; // y is missing
    });
    await started.promise;
    // Its handler attached now: B may be told before A's batch answers, and an unhandled
    // rejection meanwhile fails the run.
    const bFails = expect(b.guard.getOrCompute('y', async () => 'never: A holds it')).rejects.toThrow(
      /the batch computation returned no value for "y"/,
    );
    const result = await aBatch;
    expect(result.get('x')).toEqual({ value: 1, source: 'computed' });
    expect(result.get('z')).toEqual({ value: 3, source: 'computed' });
    const y = result.get('y') as { error: Error };
    expect(y.error).toBeInstanceOf(ComputeError);
    expect(y.error.message).toBe('the batch computation returned no value for "y"');
    await bFails;
    expect(await admin.exists(cacheKeys(prefix, 'y').value)).toBe(0);

    // Under the stale policy a stale value of the key is the answer instead.
    const prefix2 = uniquePrefix('many-omit-stale');
    const c = processGuard({ keyPrefix: prefix2, valueTtlMs: 100, graceMs: 60_000 });
    await c.guard.getOrCompute('y', async () => 'old');
    await sleep(150);
    const again = await c.guard.getManyOrCompute(['y'], async () => ({}));
    expect(again.get('y')).toEqual({ value: 'old', source: 'stale' });
  });

  it('a batch computation that throws fails each key it held, not the hits', async () => {
    const prefix = uniquePrefix('many-throw');
    const { guard } = processGuard({ keyPrefix: prefix, failurePolicy: 'error' });
    await guard.set('hit', 'h');
    const result = await guard.getManyOrCompute(['hit', 'm1', 'm2'], async () => {
      throw new Error('origin down');
    });
    expect(result.get('hit')).toEqual({ value: 'h', source: 'cache' });
    for (const k of ['m1', 'm2']) expect((result.get(k) as { error: Error }).error.message).toBe('origin down');
  });

  it('a batch computation past the compute timeout fails each key it held with ComputeTimeoutError', async () => {
    const prefix = uniquePrefix('many-timeout');
    const { guard } = processGuard({ keyPrefix: prefix, failurePolicy: 'error', computeTimeoutMs: 200 });
    const result = await guard.getManyOrCompute(['a', 'b', 'c'], (_keys, { signal }) => {
      return new Promise<Record<string, never>>((_resolve, reject) =>
        signal.addEventListener('abort', () => reject(signal.reason), { once: true }),
      );
    });
    for (const k of ['a', 'b', 'c']) {
      const { error } = result.get(k) as { error: Error & { code?: string } };
      expect({ k, code: error.code }).toEqual({ k, code: 'E_COMPUTE_TIMEOUT' });
    }
  });

  it('each key its own TTL and skip; duplicates asked once; bad keys refused before anything is sent', async () => {
    const prefix = uniquePrefix('many-ttl');
    const { guard } = processGuard({ keyPrefix: prefix, valueTtlMs: 60_000 });
    const result = await guard.getManyOrCompute(['short', 'skip', 'plain', 'short'], async (ks, { setTtl, skipCache }) => {
      setTtl('short', { ttlMs: 5_000, graceMs: 0 });
      skipCache('skip');
      return values(ks, 'v');
    });
    expect([...result.keys()]).toEqual(['short', 'skip', 'plain']);
    const pttl = (k: string) => admin.pttl(cacheKeys(prefix, k).value);
    expect(await pttl('short')).toBeLessThanOrEqual(5_000);
    expect(await pttl('short')).toBeGreaterThan(0);
    expect(await pttl('plain')).toBeGreaterThan(60_000);
    expect(await admin.exists(cacheKeys(prefix, 'skip').value)).toBe(0);
    await expect(guard.getManyOrCompute(['ok', ''], async () => ({}))).rejects.toThrow(/a cache key must be a string/);
    expect(await guard.getManyOrCompute([], async () => ({}))).toEqual(new Map());
  });
});

describe('getManyOrCompute on a Redis Cluster', () => {
  let cluster: EmbeddedCluster;
  const clients: Cluster[] = [];
  let guards: StampedeGuard[] = [];
  beforeAll(async () => {
    cluster = await startEmbeddedCluster();
  }, 120_000);
  afterAll(async () => {
    await Promise.all(guards.map((g) => g.close()));
    for (const c of clients) c.disconnect();
    await cluster?.stop();
  });

  it('keys across slots and masters: one claim per slot, sent together; a waiter in another process gets the values', async () => {
    const connect = () => {
      const client = new Cluster(cluster.nodes);
      clients.push(client);
      return client;
    };
    const prefix = uniquePrefix('many-cluster');
    const a = createGuard({ redis: connect(), keyPrefix: prefix });
    const b = createGuard({ redis: connect(), subscriber: new Cluster(cluster.nodes, { shardedSubscribers: true }), keyPrefix: prefix });
    guards = [a, b];
    const keys = range(0, 12);
    await a.getManyOrCompute(['warm'], async (ks) => values(ks, 'w')); // scripts loaded on their masters
    const slots = new Set(keys.map((k) => keySlot(cacheKeys(prefix, k).value)));
    expect(slots.size).toBeGreaterThan(3);

    const started = deferred<void>();
    const sent = recordCommands(clients[0]!);
    const aBatch = a.getManyOrCompute(keys, async (ks) => {
      started.resolve();
      await sleep(200);
      return values(ks, 'a');
    });
    await started.promise;
    const bBatch = b.getManyOrCompute(keys, async (ks) => values(ks, 'b'));
    const [ra, rb] = await Promise.all([aBatch, bBatch]);
    for (const k of keys) {
      expect(ra.get(k)).toEqual({ value: `a:${k}`, source: 'computed' });
      expect(rb.get(k)).toEqual({ value: `a:${k}`, source: 'waited' });
    }
    const claims = sent.filter(([name, n]) => name === 'evalsha' && n >= 3 && n % 3 === 0);
    expect(claims).toHaveLength(slots.size);
  }, 60_000);
});
