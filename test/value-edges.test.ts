/**
 * Values the guard did not write, TTLs Redis would refuse, and writes without a lock racing a
 * set (issue 22, findings 2 and 3, and what the model-based checker asks of `none`/`local-lock`).
 * Each case failed before: an undecodable value orphaned its key's lock for the fleet, a ttlMs of
 * Infinity left a key that never expires, an unfenced write overwrote a newer `set`.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Envelope } from '../src/cache/envelope.js';
import { setValue } from '../src/cache/set-delete.js';
import { readEnvelope, writeEnvelope } from '../src/cache/store.js';
import type { Strategy } from '../src/cache/strategy.js';
import { cacheKeys } from '../src/keys.js';
import { closeGuards, processGuard } from './support/guards.js';
import { closeAll, connect, uniquePrefix } from './support/redis.js';
import { deferred, gated } from './support/wait.js';
import { toPort } from '../src/redis/adapt.js';

const admin = connect();
afterEach(closeGuards);
afterAll(() => closeAll(admin));

describe('a stored value the guard cannot decode', () => {
  const cases = [
    ['no fresh time', {}],
    ['a fresh time past', { freshUntil: String(Date.now() - 1_000) }],
    ['a fresh time ahead', { freshUntil: String(Date.now() + 60_000) }],
  ] as const;
  for (const strategy of ['redis-lock', 'swr', 'xfetch', 'none', 'local-lock'] as const satisfies Strategy[]) {
    for (const [what, fields] of cases) {
      it(`${strategy}, ${what}: counts as a miss, is recomputed once and replaced, and leaves no lock`, async () => {
        const prefix = uniquePrefix(`undecodable-${strategy}`);
        const keys = cacheKeys(prefix, 'k');
        await admin.hset(keys.value, { envelope: 'written by someone else', ...fields });
        await admin.pexpire(keys.value, 60_000);
        const { guard, capture } = processGuard({ keyPrefix: prefix, lockTtlMs: 500, maxWaitMs: 1_000 });
        const first = guard.getOrCompute('k', async () => 'recomputed', { strategy });
        expect(await first).toEqual({ value: 'recomputed', source: 'computed' });
        expect(await guard.getOrCompute('k', async () => 'again', { strategy })).toEqual({ value: 'recomputed', source: 'cache' });
        expect((await readEnvelope(toPort(admin), keys))?.value).toBe('recomputed');
        expect(await admin.exists(keys.lock)).toBe(0);
        expect(capture.count('recompute.start')).toBe(1);
        expect(capture.count('lock.busy')).toBe(0); // it never waited for a lock of its own
      });
    }
  }
});

describe('a TTL Redis would refuse', () => {
  for (const ttlMs of [Number.POSITIVE_INFINITY, 1e20, 2 ** 31]) {
    it(`a per-call ttlMs of ${ttlMs} is refused before anything is sent, by getOrCompute and set alike`, async () => {
      const prefix = uniquePrefix('ttl-refused');
      const { guard } = processGuard({ keyPrefix: prefix });
      let computed = 0;
      const compute = async () => {
        computed += 1;
        return 'v';
      };
      await expect(guard.getOrCompute('k', compute, { ttlMs })).rejects.toMatchObject({ code: 'E_OPTIONS', option: 'ttlMs' });
      await expect(guard.set('k', 'v', { ttlMs })).rejects.toMatchObject({ code: 'E_OPTIONS', option: 'ttlMs' });
      expect(computed).toBe(0);
      expect(await admin.keys(`${prefix}:*`)).toEqual([]);
    });
  }

  it('the write scripts check the key TTL before they write: an error, and no key left without a TTL', async () => {
    const prefix = uniquePrefix('ttl-script');
    const keys = cacheKeys(prefix, 'k');
    const now = Date.now();
    const forever: Envelope<string> = { value: 'v', fence: 0, computedAt: now, computeMs: 0, ttlMs: 1e18, freshUntil: now + 1e18 };
    await expect(writeEnvelope(toPort(admin), keys, forever, null, 0)).rejects.toThrow(/key ttl must be a whole number of ms/);
    await expect(setValue(toPort(admin), keys, forever, 0, 1_000)).rejects.toThrow(/key ttl must be a whole number of ms/);
    expect(await admin.exists(keys.value, keys.lock, keys.lease)).toBe(0);
  });
});

describe('a write without a lock (none, local-lock) racing a set or a delete', () => {
  for (const strategy of ['none', 'local-lock'] as const) {
    for (const change of ['set', 'delete'] as const) {
      it(`${strategy}: a ${change} that resolves while it computes is not overwritten by the older result`, async () => {
        const prefix = uniquePrefix(`unfenced-${change}`);
        const keys = cacheKeys(prefix, 'k');
        const a = processGuard({ keyPrefix: prefix });
        const b = processGuard({ keyPrefix: prefix });
        const computing = gated();
        const call = a.guard.getOrCompute('k', computing.compute, { strategy });
        await computing.started;
        if (change === 'set') await b.guard.set('k', 'newer');
        else await b.guard.delete('k');
        computing.finish('older');
        expect(await call).toEqual({ value: 'older', source: 'computed' });
        expect((await readEnvelope(toPort(admin), keys))?.value).toBe(change === 'set' ? 'newer' : undefined);
        expect(a.capture.count('cache.write.rejected')).toBe(1);
      });
    }

    it(`${strategy}: concurrent misses still all store (the stampede this strategy shows), the last one winning`, async () => {
      const prefix = uniquePrefix(`unfenced-herd-${strategy}`);
      const a = processGuard({ keyPrefix: prefix });
      const b = processGuard({ keyPrefix: prefix });
      // Both computing before either writes: two misses at once, as in a stampede.
      const bothComputing = deferred();
      let computing = 0;
      const results = Promise.all(
        [a, b].map(({ guard }, i) =>
          guard.getOrCompute(
            'k',
            async () => {
              if (++computing === 2) bothComputing.resolve();
              await bothComputing.promise;
              return `from-${i}`;
            },
            { strategy },
          ),
        ),
      );
      expect((await results).map((r) => r.source)).toEqual(['computed', 'computed']);
      expect(a.capture.count('cache.write') + b.capture.count('cache.write')).toBe(2);
      expect(a.capture.count('cache.write.rejected') + b.capture.count('cache.write.rejected')).toBe(0);
    });
  }
});

describe('a call that starts after a set in its process', () => {
  for (const strategy of ['redis-lock', 'swr', 'xfetch'] as const) {
    it(`${strategy}: does not join a computation that began before the set (found by the model checker)`, async () => {
      const prefix = uniquePrefix(`after-set-${strategy}`);
      const { guard } = processGuard({ keyPrefix: prefix });
      const computing = gated();
      const first = guard.getOrCompute('k', computing.compute, { strategy });
      await computing.started;
      await guard.set('k', 'set');
      const later = guard.getOrCompute('k', async () => 'never', { strategy });
      computing.finish('computed-before-the-set');
      expect(await first).toEqual({ value: 'computed-before-the-set', source: 'computed' });
      expect(await later).toEqual({ value: 'set', source: 'cache' });
    });
  }
});

describe('a set whose value is shorter-lived than a holder that began before it', () => {
  for (const strategy of ['redis-lock', 'none'] as const) {
    it(`${strategy}: the holder's older value is refused after the set's value expired (found by the model checker)`, async () => {
      const prefix = uniquePrefix(`short-set-${strategy}`);
      const keys = cacheKeys(prefix, 'k');
      const a = processGuard({ keyPrefix: prefix, graceMs: 0 });
      const b = processGuard({ keyPrefix: prefix, graceMs: 0 });
      const computing = gated();
      const call = a.guard.getOrCompute('k', computing.compute, { strategy });
      await computing.started;
      await b.guard.set('k', 'newer', { ttlMs: 20 });
      const setFence = Number(await admin.hget(keys.value, 'fence'));
      // The set's value has ended its life; its key still holds the fence.
      await new Promise((r) => setTimeout(r, 60));
      expect(await readEnvelope(toPort(admin), keys)).toBeNull();
      computing.finish('computed-before-the-set');
      await call;
      expect(a.capture.count('cache.write.rejected')).toBe(1);
      expect(Number(await admin.hget(keys.value, 'fence'))).toBe(setFence);
      expect(await readEnvelope(toPort(admin), keys)).toBeNull();
      expect(await admin.pttl(keys.value)).toBeGreaterThan(0);
    });
  }
});
