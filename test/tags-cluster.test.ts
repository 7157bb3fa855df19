/**
 * Tags and namespaces (issue 28) on a real Redis Cluster (3 masters, started once for this file).
 * Every case chooses its keys and tags (src/redis/key-slot.ts) so that a value's hash and each
 * record of its marks (`<prefix>:tag:{<tag>}:invalidated`, `<prefix>:ns:{<path>}:invalidated`)
 * lie on different slots, and mostly on different masters: an invalidation written on one node
 * must reach a value held by another, and a read must ask the record's node, not the value's.
 *
 * The last part counts what a read sends, per node (INFO commandstats of each master) and in
 * sequence (each command the guard's client sends, and which answers it waited for), so that the
 * docs can say what a tagged read costs on a cluster.
 */
import type { Cluster, Command, Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createGuard, type GuardOptions, type StampedeGuard } from '../src/cache/guard.js';
import { recordKey } from '../src/cache/tags.js';
import { cacheKeys, l1BusChannel } from '../src/keys.js';
import { keySlot } from '../src/redis/key-slot.js';
import { createRedisClient, isCluster } from '../scripts/redis/connection.js';
import { startEmbeddedCluster, type EmbeddedCluster } from '../scripts/redis/redis-cluster.js';
import { captureLogger } from './support/log-capture.js';
import { closeAll, commandCounts, uniquePrefix } from './support/redis.js';
import { sleep, waitUntil } from './support/wait.js';

let cluster: EmbeddedCluster;
let admin: Cluster;
/** The three masters, `host:port`, in slot order; and a connection to each. */
let nodes: [string, string, string];
let masters: Map<string, Redis>;
let owners: { node: string; from: number; to: number }[];

function connect(): Cluster {
  const client = createRedisClient(cluster.url, 'cache');
  if (!isCluster(client)) throw new Error('expected a Cluster client');
  return client;
}

beforeAll(async () => {
  cluster = await startEmbeddedCluster();
  admin = connect();
  owners = (await admin.cluster('SLOTS')).map(([from, to, master]) => ({ node: `${master![0]}:${master![1]}`, from, to }));
  nodes = [...new Set(owners.sort((a, b) => a.from - b.from).map((o) => o.node))] as typeof nodes;
  masters = new Map(admin.nodes('master').map((node) => [`${node.options.host}:${node.options.port}`, node]));
}, 60_000);

afterAll(async () => {
  await closeAll(admin as unknown as Redis);
  await cluster?.stop();
});

/** Guards that stand for separate processes, each with its own cluster connection and log. */
const opened: { guard: StampedeGuard; redis: Cluster }[] = [];
function clusterGuard(options: Omit<GuardOptions, 'redis' | 'logger'>) {
  const redis = connect();
  const capture = captureLogger();
  const guard = createGuard({ ...options, redis, logger: capture.logger });
  opened.push({ guard, redis });
  return { guard, capture, redis };
}
afterEach(async () => {
  const all = opened.splice(0);
  await Promise.all(all.map(({ guard }) => guard.close()));
  await closeAll(...all.map(({ redis }) => redis as unknown as Redis));
});

const nodeOf = (name: string) => owners.find((o) => keySlot(name) >= o.from && keySlot(name) <= o.to)!.node;
const valueName = (prefix: string) => (key: string) => cacheKeys(prefix, key).value;
const tagName = (prefix: string) => (tag: string) => recordKey(prefix, `tag:${tag}`);

/** The first `<label>-<i>` whose Redis name lies on `node` and on none of the slots of `avoid` (Redis names). */
function chooseOn(node: string, label: string, nameOf: (candidate: string) => string, avoid: string[] = []): string {
  const taken = new Set(avoid.map(keySlot));
  for (let i = 0; ; i++) {
    const name = nameOf(`${label}-${i}`);
    if (nodeOf(name) === node && !taken.has(keySlot(name))) return `${label}-${i}`;
  }
}

/** Whether the master `node` itself holds `name` (not the client's routing: the node's own answer). */
const holds = async (node: string, name: string) => (await masters.get(node)!.exists(name)) === 1;

const counter = () => {
  let n = 0;
  return { compute: async () => `v${++n}`, count: () => n };
};

describe('a value and its tags on different masters', () => {
  for (const strategy of ['redis-lock', 'swr', 'none'] as const) {
    it(`${strategy}: invalidateTags written on the tag's master makes a value on another master count as missing in another process; a value without the tag stays`, async () => {
      const prefix = uniquePrefix(`tc-${strategy}`);
      const [A, B, C] = nodes;
      const key = chooseOn(A, 'value', valueName(prefix));
      const other = chooseOn(B, 'other', valueName(prefix));
      const onB = chooseOn(B, 'tag', tagName(prefix), [valueName(prefix)(other)]);
      const onC = chooseOn(C, 'tag', tagName(prefix));
      const a = clusterGuard({ keyPrefix: prefix, strategy });
      const b = clusterGuard({ keyPrefix: prefix, strategy });
      const values = counter();
      const others = counter();

      expect(await a.guard.getOrCompute(key, values.compute, { tags: [onB, onC] })).toEqual({ value: 'v1', source: 'computed' });
      expect(await a.guard.getOrCompute(other, others.compute, { tags: [onC] })).toEqual({ value: 'v1', source: 'computed' });
      expect(await holds(A, valueName(prefix)(key))).toBe(true);
      expect(await b.guard.getOrCompute(key, values.compute)).toEqual({ value: 'v1', source: 'cache' });

      await a.guard.invalidateTags([onB]);
      expect(await holds(B, tagName(prefix)(onB))).toBe(true);
      expect(await b.guard.getOrCompute(key, values.compute, { tags: [onB, onC] })).toEqual({ value: 'v2', source: 'computed' });
      // The floor b read is the stamp the invalidation wrote on B.
      const stamp = Number(await masters.get(B)!.get(tagName(prefix)(onB)));
      expect(b.capture.lines.filter((l) => l.event === 'cache.invalidated')).toMatchObject([{ invalidatedAt: stamp }]);
      expect(await a.guard.getOrCompute(key, values.compute)).toEqual({ value: 'v2', source: 'cache' });
      expect(await b.guard.getOrCompute(other, others.compute)).toEqual({ value: 'v1', source: 'cache' });

      // The tag both carry, on the third master: both count as missing.
      await b.guard.invalidateTags([onC]);
      expect(await holds(C, tagName(prefix)(onC))).toBe(true);
      expect(await a.guard.getOrCompute(other, others.compute, { tags: [onC] })).toEqual({ value: 'v2', source: 'computed' });
      expect(await a.guard.getOrCompute(key, values.compute, { tags: [onB, onC] })).toEqual({ value: 'v3', source: 'computed' });
      expect(values.count() + others.count()).toBe(5);
    });
  }

  it('swr: a stale value within its grace is never served once its tag (on another master) is invalidated, not even when the recomputation fails', async () => {
    const prefix = uniquePrefix('tc-grace');
    const [A, B] = nodes;
    const key = chooseOn(A, 'value', valueName(prefix));
    const tag = chooseOn(B, 'tag', tagName(prefix));
    const options = { keyPrefix: prefix, strategy: 'swr', graceMs: 60_000, failurePolicy: 'stale' } as const;
    const a = clusterGuard(options);
    const b = clusterGuard(options);
    await a.guard.getOrCompute(key, async () => 'old', { tags: [tag], ttlMs: 20 });
    await sleep(60); // past its fresh time, well within its grace
    await a.guard.invalidateTags([tag]);
    await expect(b.guard.getOrCompute(key, async () => Promise.reject(new Error('origin down')), { tags: [tag] })).rejects.toThrow(
      /origin down/,
    );
    expect(await b.guard.getOrCompute(key, async () => 'new', { tags: [tag] })).toEqual({ value: 'new', source: 'computed' });
    expect(b.capture.count('stale.served')).toBe(0);
  });

  it("a value with tags on all three masters (one on the value's own master, another slot): each tag's invalidation reaches it; one call invalidating all three writes each record on its own master", async () => {
    const prefix = uniquePrefix('tc-several');
    const [A, B, C] = nodes;
    const key = chooseOn(A, 'value', valueName(prefix));
    const tags = [
      chooseOn(A, 'tag', tagName(prefix), [valueName(prefix)(key)]),
      chooseOn(B, 'tag', tagName(prefix)),
      chooseOn(C, 'tag', tagName(prefix)),
    ];
    expect(new Set([valueName(prefix)(key), ...tags.map(tagName(prefix))].map(keySlot)).size).toBe(4);
    const a = clusterGuard({ keyPrefix: prefix });
    const b = clusterGuard({ keyPrefix: prefix });
    const values = counter();
    await a.guard.getOrCompute(key, values.compute, { tags });
    for (const tag of tags) {
      await b.guard.invalidateTags([tag]);
      expect(await a.guard.getOrCompute(key, values.compute, { tags }), tag).toMatchObject({ source: 'computed' });
      expect(await b.guard.getOrCompute(key, values.compute), tag).toMatchObject({ source: 'cache' });
    }
    expect(values.count()).toBe(4);

    const before = await Promise.all(tags.map((tag) => admin.get(tagName(prefix)(tag))));
    await a.guard.invalidateTags(tags);
    for (const [i, node] of [A, B, C].entries()) {
      const stamp = await masters.get(node)!.get(tagName(prefix)(tags[i]!));
      expect(Number(stamp)).toBeGreaterThan(Number(before[i]));
    }
    expect(await b.guard.getOrCompute(key, values.compute, { tags })).toEqual({ value: 'v5', source: 'computed' });
  });
});

describe('getManyOrCompute on the cluster', () => {
  it('keys on three masters, a tag on a fourth slot, one key tagged more by its computation: each invalidation recomputes exactly the keys it covers', async () => {
    const prefix = uniquePrefix('tc-batch');
    const [A, B, C] = nodes;
    const keys = [A, B, C].map((node) => chooseOn(node, 'item', valueName(prefix)));
    const shared = chooseOn(B, 'batch', tagName(prefix), keys.map(valueName(prefix)));
    const extra = chooseOn(C, 'extra', tagName(prefix), keys.map(valueName(prefix)));
    const a = clusterGuard({ keyPrefix: prefix });
    const b = clusterGuard({ keyPrefix: prefix });
    const asked: string[][] = [];
    const computeMany = async (held: string[], ctx: { addTags(key: string, tags: string[]): void }) => {
      asked.push([...held].sort());
      if (held.includes(keys[0]!)) ctx.addTags(keys[0]!, [extra]);
      return Object.fromEntries(held.map((k) => [k, `${k}@${asked.length}`]));
    };
    const sources = async (guard: StampedeGuard) =>
      [...(await guard.getManyOrCompute(keys, computeMany, { tags: [shared] })).values()].map((r) => ('source' in r ? r.source : r.error));

    expect(await sources(a.guard)).toEqual(['computed', 'computed', 'computed']);
    expect(asked).toEqual([[...keys].sort()]);
    expect(await sources(b.guard)).toEqual(['cache', 'cache', 'cache']);

    await a.guard.invalidateTags([extra]);
    expect(await sources(b.guard)).toEqual(['computed', 'cache', 'cache']);
    expect(asked.at(-1)).toEqual([keys[0]]);

    await b.guard.invalidateTags([shared]);
    expect(await sources(a.guard)).toEqual(['computed', 'computed', 'computed']);
    expect(await sources(b.guard)).toEqual(['cache', 'cache', 'cache']);
    expect(asked).toHaveLength(3);
  });
});

describe('namespaces on the cluster', () => {
  it("clear() covers the namespace's values on every master, and those of a namespace inside it, in another process; another namespace's stay", async () => {
    const prefix = uniquePrefix('tc-ns');
    const a = clusterGuard({ keyPrefix: prefix });
    const b = clusterGuard({ keyPrefix: prefix });
    const users = [...nodes].map((node) => chooseOn(node, 'u', (k) => valueName(prefix)(`users:${k}`)));
    const eu = chooseOn(nodes[1], 'e', (k) => valueName(prefix)(`users:eu:${k}`));
    const orders = chooseOn(nodes[2], 'o', (k) => valueName(prefix)(`orders:${k}`));
    const c = counter();
    for (const key of users) await a.guard.namespace('users').getOrCompute(key, c.compute);
    await a.guard.namespace('users').namespace('eu').getOrCompute(eu, c.compute);
    await a.guard.namespace('orders').getOrCompute(orders, c.compute);
    for (const key of users) expect((await b.guard.namespace('users').getOrCompute(key, c.compute)).source).toBe('cache');
    expect(c.count()).toBe(5);

    await a.guard.namespace('users').clear();
    const record = recordKey(prefix, 'ns:users');
    expect(await holds(nodeOf(record), record)).toBe(true);
    // The three values on three masters; the record on one of them, on a slot of its own.
    expect(new Set(users.map((k) => nodeOf(valueName(prefix)(`users:${k}`))))).toEqual(new Set(nodes));
    for (const key of users) expect((await b.guard.namespace('users').getOrCompute(key, c.compute)).source, key).toBe('computed');
    expect((await b.guard.namespace('users').namespace('eu').getOrCompute(eu, c.compute)).source).toBe('computed');
    expect((await b.guard.namespace('orders').getOrCompute(orders, c.compute)).source).toBe('cache');
    expect(c.count()).toBe(9);
  });
});

describe('the L1 tier on the cluster', () => {
  it("two guards with an L1 tier: an invalidation reaches the other's tier over the sharded bus (value, tag record and bus on three masters)", async () => {
    const prefix = uniquePrefix('tc-l1');
    const bus = l1BusChannel(prefix);
    const [onBus, X, Y] = [nodeOf(bus), ...nodes.filter((n) => n !== nodeOf(bus))] as [string, string, string];
    const key = chooseOn(X, 'value', valueName(prefix));
    const tag = chooseOn(Y, 'tag', tagName(prefix));
    const guards = [0, 1].map(() => clusterGuard({ keyPrefix: prefix, valueTtlMs: 600_000, l1: { maxEntries: 100 } }));
    // Both tiers listen by SSUBSCRIBE on the bus channel's master, and only there.
    await waitUntil('both tiers subscribed', async () => {
      const counts = await Promise.all(
        nodes.map(async (node) => Number(((await masters.get(node)!.call('PUBSUB', 'SHARDNUMSUB', bus)) as [string, number])[1])),
      );
      return counts.join() === nodes.map((node) => (node === onBus ? 2 : 0)).join();
    });
    const c = counter();
    for (const { guard } of guards) await guard.getOrCompute(key, c.compute, { tags: [tag] });
    await waitUntil('each tier holds the value', async () => {
      const tiers = await Promise.all(
        guards.map(({ guard, capture }) => guard.getOrCompute(key, c.compute).then(() => capture.lines.at(-1)?.tier)),
      );
      return tiers.every((tier) => tier === 'l1');
    });
    expect(c.count()).toBe(1);

    await guards[0]!.guard.invalidateTags([tag]);
    // The other tier drops it when the announcement arrives (the value's own life is ten minutes).
    await waitUntil('the other process no longer answers the old value', async () => {
      const answer = await guards[1]!.guard.getOrCompute(key, c.compute, { tags: [tag] });
      return answer.value !== 'v1';
    });
    expect(await guards[0]!.guard.getOrCompute(key, c.compute, { tags: [tag] })).toEqual({ value: 'v2', source: 'cache' });
    expect(c.count()).toBe(2);
  });
});

// ---------------------------------------------------------------------------------------------
// What a read costs.
// ---------------------------------------------------------------------------------------------

/** Commands a node counts for its own upkeep and for this measurement, not the guard's. */
const UPKEEP = /^(info|config\|resetstat|cluster\|.*|ping|client\|.*|readonly|command.*)$/;

/** The masters by label: A, B, C in slot order. */
const labels = () => new Map(nodes.map((node, i) => [node, 'ABC'[i]!]));

/** The commands each master ran (INFO commandstats, scripts' own commands included) while `work` ran, by label. */
async function perNode(work: () => Promise<unknown>): Promise<Record<string, Record<string, number>>> {
  await Promise.all([...masters.values()].map((node) => node.config('RESETSTAT')));
  await work();
  const counted: Record<string, Record<string, number>> = {};
  for (const [node, client] of masters) {
    const counts = [...(await commandCounts(client))].filter(([name]) => !UPKEEP.test(name));
    counted[labels().get(node)!] = Object.fromEntries(counts.sort(([x], [y]) => x.localeCompare(y)));
  }
  return counted;
}

/**
 * Each command the client sends, with its step: 1 for one sent before any answer came, else one
 * more than the latest step whose answer had arrived when it was sent. The highest step is the
 * number of round trips one after the other.
 */
function recordSteps(client: Cluster) {
  const sent: { name: string; keys: number; step: number }[] = [];
  const answered: number[] = [];
  const send = client.sendCommand.bind(client);
  client.sendCommand = ((command: Command, ...rest: unknown[]) => {
    const step = 1 + Math.max(0, ...answered);
    const args = command.args.length;
    sent.push({ name: command.name.toLowerCase(), keys: command.name.toLowerCase() === 'mget' ? args : 0, step });
    const done = () => void answered.push(step);
    command.promise.then(done, done);
    return (send as (...a: unknown[]) => unknown)(command, ...rest);
  }) as typeof client.sendCommand;
  return {
    take() {
      const taken = sent.splice(0);
      answered.length = 0;
      return { commands: taken, roundTrips: Math.max(0, ...taken.map((c) => c.step)) };
    },
  };
}

/** A tag whose record shares the slot of `tag`'s record (found by trying names). */
function sameSlotAs(prefix: string, tag: string): string {
  const slot = keySlot(tagName(prefix)(tag));
  for (let i = 0; ; i++) if (`twin-${i}` !== tag && keySlot(tagName(prefix)(`twin-${i}`)) === slot) return `twin-${i}`;
}

describe('what a read costs on the cluster', () => {
  it("a tagged hit: the claim on the value's master, then at once one MGET per slot of its tags, each on its own master: two round trips where an untagged hit takes one", async () => {
    const prefix = uniquePrefix('tc-cost');
    const [A, B, C] = nodes;
    const plain = chooseOn(A, 'plain', valueName(prefix));
    const tagged = chooseOn(A, 'tagged', valueName(prefix), [valueName(prefix)(plain)]);
    // Four tags on three slots: one on the value's master (another slot), two sharing a slot on B, one on C.
    const onB = chooseOn(B, 'tag', tagName(prefix));
    const tags = [
      chooseOn(A, 'tag', tagName(prefix), [plain, tagged].map(valueName(prefix))),
      onB,
      sameSlotAs(prefix, onB),
      chooseOn(C, 'tag', tagName(prefix)),
    ];
    expect(new Set(tags.map((t) => keySlot(tagName(prefix)(t)))).size).toBe(3);

    const { guard, redis } = clusterGuard({ keyPrefix: prefix });
    const steps = recordSteps(redis);
    await guard.getOrCompute(plain, async () => 'p');
    await guard.getOrCompute(tagged, async () => 't', { tags });
    steps.take();

    const untaggedHit = await perNode(async () => {
      expect(await guard.getOrCompute(plain, async () => 'never')).toEqual({ value: 'p', source: 'cache' });
    });
    const untaggedSteps = steps.take();
    const taggedHit = await perNode(async () => {
      expect(await guard.getOrCompute(tagged, async () => 'never', { tags })).toEqual({ value: 't', source: 'cache' });
    });
    const taggedSteps = steps.take();

    // The untagged hit: one EVALSHA on A (the claim script, which runs one HMGET), nothing elsewhere.
    expect(untaggedHit).toEqual({ A: { evalsha: 1, hmget: 1 }, B: {}, C: {} });
    expect(untaggedSteps).toEqual({ commands: [{ name: 'evalsha', keys: 0, step: 1 }], roundTrips: 1 });

    // The tagged hit: the same claim on A, plus one MGET on each master that holds a slot of its tags.
    expect(taggedHit).toEqual({ A: { ...untaggedHit.A, mget: 1 }, B: { mget: 1 }, C: { mget: 1 } });
    expect(taggedSteps.roundTrips).toBe(2);
    expect(taggedSteps.commands[0]).toEqual({ name: 'evalsha', keys: 0, step: 1 });
    expect(
      taggedSteps.commands
        .slice(1)
        .map((c) => `${c.name}:${c.keys}:${c.step}`)
        .sort(),
    ).toEqual(['mget:1:2', 'mget:1:2', 'mget:2:2']);
  });

  it('the same for none (HMGET, then the MGETs), a namespace (one MGET, for its record) and a namespace inside another (one per slot of the two records); an invalidation of tags on three masters: one script per slot, at once', async () => {
    const prefix = uniquePrefix('tc-cost2');
    const [A, B, C] = nodes;
    const tags = [chooseOn(B, 'tag', tagName(prefix)), chooseOn(C, 'tag', tagName(prefix))];
    const key = chooseOn(A, 'value', valueName(prefix));
    const { guard, redis } = clusterGuard({ keyPrefix: prefix, strategy: 'none' });
    const steps = recordSteps(redis);

    await guard.getOrCompute(key, async () => 'v', { tags });
    steps.take();
    const none = await perNode(() => guard.getOrCompute(key, async () => 'never'));
    expect(none).toEqual({ A: { hmget: 1 }, B: { mget: 1 }, C: { mget: 1 } });
    expect(steps.take().roundTrips).toBe(2);

    // Namespaces: a value of `users` carries its mark, one of `users/eu` both (the records of `users` and of `users/eu`).
    const users = recordKey(prefix, 'ns:users');
    const eu = recordKey(prefix, 'ns:users/eu');
    const outerKey = chooseOn(A, 'u', (k) => valueName(prefix)(`users:${k}`), [users, eu]);
    const innerKey = chooseOn(A, 'e', (k) => valueName(prefix)(`users:eu:${k}`), [users, eu]);
    const outer = guard.namespace('users');
    const inner = outer.namespace('eu');
    await outer.getOrCompute(outerKey, async () => 'u', { strategy: 'redis-lock' });
    await inner.getOrCompute(innerKey, async () => 'e', { strategy: 'redis-lock' });
    steps.take();
    const outerHit = await perNode(() => outer.getOrCompute(outerKey, async () => 'never', { strategy: 'redis-lock' }));
    // The claim on A, and one MGET on the master of each slot of `records`.
    const claimAndMgets = (...records: string[]) => {
      const counted: Record<string, Record<string, number>> = { A: { evalsha: 1, hmget: 1 }, B: {}, C: {} };
      for (const name of new Map(records.map((r) => [keySlot(r), r])).values()) {
        const label = labels().get(nodeOf(name))!;
        counted[label] = { ...counted[label], mget: (counted[label]!.mget ?? 0) + 1 };
      }
      return counted;
    };
    expect(outerHit).toEqual(claimAndMgets(users));
    expect(steps.take().roundTrips).toBe(2);
    const innerHit = await perNode(() => inner.getOrCompute(innerKey, async () => 'never', { strategy: 'redis-lock' }));
    expect(innerHit).toEqual(claimAndMgets(users, eu));
    expect(steps.take().roundTrips).toBe(2);

    // invalidateTags of three tags on three masters: one EVALSHA each, sent at once.
    const three = [chooseOn(A, 'tag', tagName(prefix)), ...tags];
    await guard.invalidateTags(three); // loads the script on each master
    await sleep(100); // its announcement answered too, before the count starts
    steps.take();
    const invalidation = await perNode(() => guard.invalidateTags(three));
    const script = { evalsha: 1, time: 1, get: 1, set: 1 };
    // And its announcement on the L1 bus (this guard has no tier, the others may): one SPUBLISH on the bus's master.
    const expected: Record<string, Record<string, number>> = { A: { ...script }, B: { ...script }, C: { ...script } };
    const busNode = labels().get(nodeOf(l1BusChannel(prefix)))!;
    expected[busNode] = { ...expected[busNode], spublish: 1 };
    expect(invalidation).toEqual(expected);
    const sent = steps.take();
    // The three scripts at once, then the announcement (not awaited by the call).
    expect(sent.roundTrips).toBe(2);
    expect(sent.commands.map((c: { name: string }) => c.name).sort()).toEqual(['evalsha', 'evalsha', 'evalsha', 'spublish']);
  });
});
