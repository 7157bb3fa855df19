/**
 * Tags and namespaces (issue 28), on real Redis: an invalidation makes every value it covers
 * count as missing, in every process, for every strategy, whatever its grace, its tier, or when
 * its holder writes. The peers' known failures are among the cases: bentocache #71 (after a
 * deleteByTag with grace periods the old value comes back), a namespace's clear reaching every
 * process's L1 tier, a holder that computed before the invalidation writing over it.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { OptionsError } from '../src/errors.js';
import type { Strategy } from '../src/cache/strategy.js';
import { cacheKeys } from '../src/keys.js';
import { RECORD_SLACK_MS, recordKey } from '../src/cache/tags.js';
import { closeGuards, processGuard } from './support/guards.js';
import { closeAll, connect, uniquePrefix } from './support/redis.js';
import { gated, waitUntil } from './support/wait.js';

const admin = connect();
afterEach(closeGuards);
afterAll(() => closeAll(admin));

const counter = () => {
  let n = 0;
  const compute = async () => `v${++n}`;
  return { compute, count: () => n };
};

describe('invalidateTags', () => {
  for (const strategy of ['redis-lock', 'swr', 'xfetch', 'none', 'local-lock'] as const satisfies Strategy[]) {
    it(`${strategy}: a value carrying the tag counts as missing in another process; one without it stays`, async () => {
      const prefix = uniquePrefix(`tags-${strategy}`);
      const a = processGuard({ keyPrefix: prefix, strategy });
      const b = processGuard({ keyPrefix: prefix, strategy });
      const tagged = counter();
      const other = counter();
      expect(await a.guard.getOrCompute('p:1', tagged.compute, { tags: ['product:1', 'catalogue'] })).toEqual({
        value: 'v1',
        source: 'computed',
      });
      expect(await a.guard.getOrCompute('p:2', other.compute, { tags: ['product:2'] })).toEqual({ value: 'v1', source: 'computed' });
      expect(await b.guard.getOrCompute('p:1', tagged.compute)).toEqual({ value: 'v1', source: 'cache' });

      await a.guard.invalidateTags(['catalogue']);
      expect(await b.guard.getOrCompute('p:1', tagged.compute, { tags: ['product:1', 'catalogue'] })).toEqual({
        value: 'v2',
        source: 'computed',
      });
      expect(await a.guard.getOrCompute('p:1', tagged.compute)).toEqual({ value: 'v2', source: 'cache' });
      expect(await b.guard.getOrCompute('p:2', other.compute)).toEqual({ value: 'v1', source: 'cache' });
      expect(b.capture.count('cache.invalidated')).toBeGreaterThanOrEqual(1);
      expect(a.capture.lines.find((l) => l.event === 'tags.invalidated')).toMatchObject({ tags: ['catalogue'] });
    });
  }

  it('redis-lock: a burst over three processes after an invalidation recomputes once', async () => {
    const prefix = uniquePrefix('tags-burst');
    const guards = [0, 1, 2].map(() => processGuard({ keyPrefix: prefix }));
    const c = counter();
    await guards[0]!.guard.getOrCompute('k', c.compute, { tags: ['t'] });
    await guards[1]!.guard.invalidateTags(['t']);
    const slow = async () => {
      await new Promise((r) => setTimeout(r, 50));
      return c.compute();
    };
    const answers = await Promise.all(
      guards.flatMap(({ guard }) => Array.from({ length: 10 }, () => guard.getOrCompute('k', slow, { tags: ['t'] }))),
    );
    expect(c.count()).toBe(2);
    expect(new Set(answers.map((r) => r.value))).toEqual(new Set(['v2']));
  });

  it('bentocache #71: with a grace period, swr never serves the invalidated value as stale, and a failing recomputation does not bring it back', async () => {
    const prefix = uniquePrefix('tags-grace');
    const a = processGuard({ keyPrefix: prefix, strategy: 'swr', graceMs: 60_000, failurePolicy: 'stale' });
    const b = processGuard({ keyPrefix: prefix, strategy: 'swr', graceMs: 60_000, failurePolicy: 'stale' });
    await a.guard.getOrCompute('k', async () => 'old', { tags: ['t'], ttlMs: 20 });
    await new Promise((r) => setTimeout(r, 40)); // stale now, within its grace
    await a.guard.invalidateTags(['t']);
    await expect(b.guard.getOrCompute('k', async () => Promise.reject(new Error('origin down')), { tags: ['t'] })).rejects.toThrow(
      /origin down/,
    );
    expect(await b.guard.getOrCompute('k', async () => 'new', { tags: ['t'] })).toEqual({ value: 'new', source: 'computed' });
    expect(b.capture.lines.some((l) => l.event === 'stale.served')).toBe(false);
  });

  it('redis-lock: the failure policy does not fall back on an invalidated value either', async () => {
    const prefix = uniquePrefix('tags-fallback');
    const a = processGuard({ keyPrefix: prefix, graceMs: 60_000, failurePolicy: 'stale' });
    await a.guard.getOrCompute('k', async () => 'old', { tags: ['t'], ttlMs: 20 });
    await new Promise((r) => setTimeout(r, 40));
    await a.guard.invalidateTags(['t']);
    await expect(a.guard.getOrCompute('k', async () => Promise.reject(new Error('origin down')), { tags: ['t'] })).rejects.toThrow(
      /origin down/,
    );
  });

  for (const strategy of ['redis-lock', 'none'] as const) {
    it(`${strategy}: a holder that began computing before the invalidation writes its value, and nobody reads it`, async () => {
      const prefix = uniquePrefix(`tags-late-${strategy}`);
      const holder = processGuard({ keyPrefix: prefix, strategy });
      const other = processGuard({ keyPrefix: prefix, strategy });
      const computing = gated();
      const held = holder.guard.getOrCompute('k', computing.compute, { tags: ['t'] });
      await computing.started;
      await other.guard.invalidateTags(['t']);
      computing.finish('from-before');
      expect(await held).toEqual({ value: 'from-before', source: 'computed' });
      expect(holder.capture.count('cache.write')).toBe(1);
      expect(await other.guard.getOrCompute('k', async () => 'after', { tags: ['t'] })).toEqual({ value: 'after', source: 'computed' });
      expect(await holder.guard.getOrCompute('k', async () => 'never')).toEqual({ value: 'after', source: 'cache' });
    });
  }

  it('redis-lock: a waiter whose holder began before the invalidation does not take its value', async () => {
    const prefix = uniquePrefix('tags-waiter');
    const holder = processGuard({ keyPrefix: prefix });
    const waiter = processGuard({ keyPrefix: prefix });
    const computing = gated();
    const held = holder.guard.getOrCompute('k', computing.compute, { tags: ['t'] });
    await computing.started;
    const waited = waiter.guard.getOrCompute('k', async () => 'recomputed', { tags: ['t'] });
    await waitUntil('the waiter waits', () => waiter.capture.count('wait.start') === 1);
    await holder.guard.invalidateTags(['t']);
    computing.finish('from-before');
    await held;
    expect(await waited).toEqual({ value: 'recomputed', source: 'computed' });
  });

  it('the computation adds tags (ctx.addTags), for a single call and a batch', async () => {
    const prefix = uniquePrefix('tags-added');
    const { guard } = processGuard({ keyPrefix: prefix });
    await guard.getOrCompute('k', async (ctx) => {
      ctx.addTags(['user:7']);
      return 'v';
    });
    const many = await guard.getManyOrCompute(['a', 'b'], async (keys, ctx) => {
      ctx.addTags('a', ['user:7']);
      return Object.fromEntries(keys.map((k) => [k, k]));
    });
    expect([...many.values()].map((r) => 'source' in r && r.source)).toEqual(['computed', 'computed']);
    await guard.invalidateTags(['user:7']);
    expect((await guard.getOrCompute('k', async () => 'again')).source).toBe('computed');
    const again = await guard.getManyOrCompute(['a', 'b'], async (keys) => Object.fromEntries(keys.map((k) => [k, `${k}2`])));
    expect(again.get('a')).toEqual({ value: 'a2', source: 'computed' });
    expect(again.get('b')).toEqual({ value: 'b', source: 'cache' });
  });

  it('set with tags: invalidated like a computed value; an untagged read of an untagged value costs no more commands', async () => {
    const prefix = uniquePrefix('tags-set');
    const { guard } = processGuard({ keyPrefix: prefix });
    await guard.set('k', 'set', { tags: ['t'] });
    expect(await guard.getOrCompute('k', async () => 'computed')).toEqual({ value: 'set', source: 'cache' });
    await guard.invalidateTags(['t']);
    expect(await guard.getOrCompute('k', async () => 'computed')).toEqual({ value: 'computed', source: 'computed' });
  });

  it('every key it writes expires, and a tagged value lives at most tagRetentionMs', async () => {
    const prefix = uniquePrefix('tags-expire');
    const { guard } = processGuard({ keyPrefix: prefix, tagRetentionMs: 5_000, valueTtlMs: 60_000, graceMs: 60_000 });
    await guard.getOrCompute('k', async () => 'v', { tags: ['t'] });
    await guard.invalidateTags(['t', 'u']);
    for (const name of [recordKey(prefix, 'tag:t'), recordKey(prefix, 'tag:u')]) {
      const ttl = await admin.pttl(name);
      // The record outlives the longest life of a value it covers (RECORD_SLACK_MS).
      expect(ttl).toBeGreaterThan(5_000);
      expect(ttl).toBeLessThanOrEqual(5_000 + RECORD_SLACK_MS);
    }
    await guard.getOrCompute('k', async () => 'v2', { tags: ['t'] });
    const keepUntil = Number(await admin.hget(cacheKeys(prefix, 'k').value, 'keepUntil'));
    expect(keepUntil - Date.now()).toBeLessThanOrEqual(5_000);
  });

  it("a value whose computation outlasted an invalidation lives no longer than the invalidation's record (found by the model checker)", async () => {
    const prefix = uniquePrefix('tags-slow-holder');
    const { guard } = processGuard({ keyPrefix: prefix, tagRetentionMs: 2_000, valueTtlMs: 60_000, graceMs: 60_000 });
    const other = processGuard({ keyPrefix: prefix });
    const computing = gated();
    const held = guard.getOrCompute('k', computing.compute, { tags: ['t'] });
    await computing.started;
    await other.guard.invalidateTags(['t']);
    const recordLeft = await admin.pttl(recordKey(prefix, 'tag:t'));
    await new Promise((r) => setTimeout(r, 500));
    computing.finish('from-before');
    await held;
    // Its life is counted from when its computation began, not from when it ended.
    const keys = cacheKeys(prefix, 'k');
    const valueLeft = Number(await admin.hget(keys.value, 'keepUntil')) - Date.now();
    expect(valueLeft).toBeLessThanOrEqual(2_000 - 500);
    expect(valueLeft).toBeLessThanOrEqual(recordLeft - 500);
  });

  it('bad tags are an OptionsError, before anything is sent', async () => {
    const { guard } = processGuard({ keyPrefix: uniquePrefix('tags-bad') });
    for (const tags of ['t', [''], [1], Array.from({ length: 65 }, (_, i) => `t${i}`)] as unknown[]) {
      await expect(guard.getOrCompute('k', async () => 'v', { tags: tags as string[] })).rejects.toBeInstanceOf(OptionsError);
      await expect(guard.invalidateTags(tags as string[])).rejects.toBeInstanceOf(OptionsError);
    }
    const addsBadTag = async (ctx: { addTags(tags: string[]): void }) => {
      ctx.addTags(['']);
      return 'v';
    };
    await expect(guard.getOrCompute('k', addsBadTag)).rejects.toBeInstanceOf(OptionsError);
  });
});

describe("a flight of another process's holder, begun before a change there (found by the model checker)", () => {
  it('a call that joins it after an invalidation elsewhere does not answer the covered value', async () => {
    const prefix = uniquePrefix('tags-flight');
    const p0 = processGuard({ keyPrefix: prefix });
    const p1 = processGuard({ keyPrefix: prefix });
    const computing = gated();
    const first = p1.guard.getOrCompute('k', computing.compute, { tags: ['t'] });
    await computing.started;
    await p0.guard.invalidateTags(['t']);
    const joiner = p1.guard.getOrCompute('k', async () => 'after', { tags: ['t'] });
    computing.finish('from-before');
    expect(await first).toEqual({ value: 'from-before', source: 'computed' });
    expect(await joiner).toEqual({ value: 'after', source: 'computed' });
  });

  it("a call that joins it after a set elsewhere gets the set's value, not the refused one", async () => {
    const prefix = uniquePrefix('set-flight');
    const p0 = processGuard({ keyPrefix: prefix });
    const p1 = processGuard({ keyPrefix: prefix });
    const computing = gated();
    const first = p1.guard.getOrCompute('k', computing.compute);
    await computing.started;
    await p0.guard.set('k', 'set');
    const joiner = p1.guard.getOrCompute('k', async () => 'never');
    computing.finish('from-before');
    expect(await first).toEqual({ value: 'from-before', source: 'computed' });
    expect(await joiner).toEqual({ value: 'set', source: 'cache' });
  });
});

describe('what the guard did not write, and a closed guard', () => {
  it('a stored value whose marks are not lists of strings is a miss; a record that is not a number covers nothing', async () => {
    const prefix = uniquePrefix('tags-foreign');
    const { guard } = processGuard({ keyPrefix: prefix });
    const keys = cacheKeys(prefix, 'k');
    const envelope = {
      value: 'foreign',
      fence: 0,
      computedAt: Date.now(),
      computeMs: 0,
      ttlMs: 60_000,
      freshUntil: Date.now() + 60_000,
      tags: 5,
    };
    await admin.hset(keys.value, { envelope: JSON.stringify(envelope), freshUntil: String(envelope.freshUntil) });
    await admin.pexpire(keys.value, 60_000);
    expect(await guard.getOrCompute('k', async () => 'recomputed')).toEqual({ value: 'recomputed', source: 'computed' });
    await guard.getOrCompute('j', async () => 'tagged', { tags: ['t'] });
    await admin.set(recordKey(prefix, 'tag:t'), 'not a number', 'PX', 60_000);
    expect(await guard.getOrCompute('j', async () => 'again')).toEqual({ value: 'tagged', source: 'cache' });
    // The next invalidation writes over it.
    await guard.invalidateTags(['t']);
    expect(await guard.getOrCompute('j', async () => 'again')).toEqual({ value: 'again', source: 'computed' });
  });

  it('after close(), invalidateTags and clear() reject with GuardClosedError', async () => {
    const { guard } = processGuard({ keyPrefix: uniquePrefix('tags-closed') });
    await guard.close();
    await expect(guard.invalidateTags(['t'])).rejects.toMatchObject({ code: 'E_CLOSED' });
    await expect(guard.namespace('n').clear()).rejects.toMatchObject({ code: 'E_CLOSED' });
  });
});

describe('the L1 tier', () => {
  it('drops what an invalidation covers in every process, within the bus delivery time', async () => {
    const prefix = uniquePrefix('tags-l1');
    const guards = [0, 1, 2].map(() => processGuard({ keyPrefix: prefix, l1: { maxEntries: 100 } }));
    const c = counter();
    for (const { guard } of guards) await guard.getOrCompute('k', c.compute, { tags: ['t'] });
    await waitUntil('every L1 holds it', async () =>
      (
        await Promise.all(guards.map(({ guard, capture }) => guard.getOrCompute('k', c.compute).then(() => capture.lines.at(-1)?.tier)))
      ).every((t) => t === 'l1'),
    );
    await guards[0]!.guard.invalidateTags(['t']);
    // The others drop it when the announcement arrives: from then on they go to Redis, which says it is covered.
    await waitUntil('no process answers the old value', async () => {
      const values = await Promise.all(guards.map(({ guard }) => guard.getOrCompute('k', c.compute, { tags: ['t'] })));
      return values.every((r) => r.value !== 'v1');
    });
    expect(c.count()).toBe(2);
  });
  it('an invalidation by a guard without a tier of its own reaches the tiers of the others', async () => {
    const prefix = uniquePrefix('tags-l1-mixed');
    const reader = processGuard({ keyPrefix: prefix, l1: { maxEntries: 100 } });
    const invalidator = processGuard({ keyPrefix: prefix });
    const c = counter();
    await reader.guard.getOrCompute('k', c.compute, { tags: ['t'] });
    await waitUntil('the reader answers from its tier', async () => {
      await reader.guard.getOrCompute('k', c.compute);
      return reader.capture.lines.at(-1)?.tier === 'l1';
    });
    await invalidator.guard.invalidateTags(['t']);
    await waitUntil('the reader recomputes', async () => (await reader.guard.getOrCompute('k', c.compute, { tags: ['t'] })).value === 'v2');
  });
});

describe('namespaces', () => {
  it("keys live under the namespace; the computation and the answer see the caller's keys", async () => {
    const prefix = uniquePrefix('ns-keys');
    const { guard } = processGuard({ keyPrefix: prefix });
    const users = guard.namespace('users');
    let seen = '';
    expect(
      await users.getOrCompute('42', async (ctx) => {
        seen = ctx.key;
        return 'u42';
      }),
    ).toEqual({ value: 'u42', source: 'computed' });
    expect(seen).toBe('42');
    expect(await admin.exists(cacheKeys(prefix, 'users:42').value)).toBe(1);
    const many = await users.getManyOrCompute(['1', '2'], async (keys) => new Map(keys.map((k) => [k, `u${k}`])));
    expect([...many.keys()]).toEqual(['1', '2']);
    expect(many.get('2')).toEqual({ value: 'u2', source: 'computed' });
    expect(users.namespace('eu').name).toBe('users/eu');
  });

  it('clear() covers every value of the namespace, and of those inside it, in every process; other namespaces stay', async () => {
    const prefix = uniquePrefix('ns-clear');
    const a = processGuard({ keyPrefix: prefix, l1: { maxEntries: 100 } });
    const b = processGuard({ keyPrefix: prefix, l1: { maxEntries: 100 } });
    const c = counter();
    await a.guard.namespace('users').getOrCompute('1', c.compute);
    await a.guard.namespace('users').namespace('eu').getOrCompute('2', c.compute);
    await a.guard.namespace('orders').getOrCompute('1', c.compute);
    for (const ns of [b.guard.namespace('users'), b.guard.namespace('users').namespace('eu')])
      for (const key of ['1', '2']) await ns.getOrCompute(key, c.compute);
    const before = c.count();
    await a.guard.namespace('users').clear();
    await waitUntil(
      'b recomputes users:1',
      async () => (await b.guard.namespace('users').getOrCompute('1', c.compute)).source === 'computed',
    );
    expect((await b.guard.namespace('users').namespace('eu').getOrCompute('2', c.compute)).source).toBe('computed');
    expect((await b.guard.namespace('orders').getOrCompute('1', c.compute)).source).toBe('cache');
    expect(c.count()).toBeGreaterThan(before);
  });

  it("a value the namespace did not write at one of its keys (the guard's own set) counts as missing through the namespace", async () => {
    const prefix = uniquePrefix('ns-foreign');
    const { guard } = processGuard({ keyPrefix: prefix });
    await guard.set('users:42', 'root');
    expect(await guard.namespace('users').getOrCompute('42', async () => 'ns')).toEqual({ value: 'ns', source: 'computed' });
    expect(await guard.getOrCompute('users:42', async () => 'never')).toEqual({ value: 'ns', source: 'cache' });
  });

  it('bad namespace names are an OptionsError', () => {
    const { guard } = processGuard({ keyPrefix: uniquePrefix('ns-bad') });
    for (const name of ['', 'a:b', 'a/b', '{x}', 'x'.repeat(65), 7]) expect(() => guard.namespace(name as string)).toThrow(OptionsError);
  });
});
