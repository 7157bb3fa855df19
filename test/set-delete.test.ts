/**
 * guard.set and guard.delete: what one process sets or deletes is what every other process sees
 * next; waiters are woken; a holder that was computing from older data cannot overwrite either.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { resolveGuardOptions } from '../src/cache/options.js';
import { readEnvelope } from '../src/cache/store.js';
import { cacheKeys } from '../src/keys.js';
import { closeGuards, processGuard } from './support/guards.js';
import { closeAll, connect, uniquePrefix } from './support/redis.js';
import { deferred, waitUntil } from './support/wait.js';
import { toPort } from '../src/redis/adapt.js';

let admin: Redis;
beforeAll(() => {
  admin = connect();
});
afterAll(async () => {
  await closeGuards();
  await closeAll(admin);
});

const never = async (): Promise<string> => {
  throw new Error('should not compute');
};

/** A computation that ignores its signal and finishes when the test says. */
function gated() {
  const started = deferred();
  const gate = deferred<string>();
  return {
    started: started.promise,
    finish: gate.resolve,
    compute: () => {
      started.resolve();
      return gate.promise;
    },
  };
}

describe('guard.set', () => {
  it('another process reads the value it set, without computing, until its ttlMs runs out', async () => {
    const prefix = uniquePrefix('set');
    const a = processGuard({ keyPrefix: prefix, graceMs: 1000 });
    const b = processGuard({ keyPrefix: prefix });
    await a.guard.set('k', { n: 1 }, { ttlMs: 300 });
    expect(await b.guard.getOrCompute('k', never)).toEqual({ value: { n: 1 }, source: 'cache' });
    // The value lives its ttlMs plus grace; its key, holding the set's fence, as long as a tombstone.
    const keys = cacheKeys(prefix, 'k');
    const valueLeft = Number(await admin.hget(keys.value, 'keepUntil')) - Date.now();
    expect(valueLeft).toBeGreaterThan(0);
    expect(valueLeft).toBeLessThanOrEqual(1300);
    const { computeTimeoutMs, lockTtlMs } = resolveGuardOptions({ redis: admin });
    expect(await admin.pttl(keys.value)).toBeGreaterThan(computeTimeoutMs + lockTtlMs - 1000);
    await waitUntil(
      'the value went stale',
      async () => !(await b.guard.getOrCompute('k', async () => 'fresh').then((r) => r.source === 'cache')),
    );
    expect(a.capture.lines.find((l) => l.event === 'cache.write')).toMatchObject({ set: true });
  });

  it('wakes the waiters of a key with the value, and a holder computing meanwhile cannot overwrite it', async () => {
    const prefix = uniquePrefix('set-waiters');
    const holder = processGuard({ keyPrefix: prefix, lockTtlMs: 30_000 });
    const waiter = processGuard({ keyPrefix: prefix, lockTtlMs: 30_000 });
    const setter = processGuard({ keyPrefix: prefix });
    const slow = gated();
    const held = holder.guard.getOrCompute('k', slow.compute);
    await slow.started;
    const waited = waiter.guard.getOrCompute('k', never);
    await waitUntil('the waiter waits', () => waiter.capture.count('wait.start') === 1);

    await setter.guard.set('k', 'from-the-source');
    expect(await waited).toEqual({ value: 'from-the-source', source: 'waited' });
    slow.finish('computed-from-older-data');
    await held;
    expect(holder.capture.count('cache.write.rejected')).toBe(1);
    expect((await readEnvelope(toPort(admin), cacheKeys(prefix, 'k')))?.value).toBe('from-the-source');
  });
});

describe('guard.delete', () => {
  it('the next read in any process recomputes; a second delete finds nothing', async () => {
    const prefix = uniquePrefix('delete');
    const a = processGuard({ keyPrefix: prefix });
    const b = processGuard({ keyPrefix: prefix });
    await a.guard.getOrCompute('k', async () => 'v1');
    expect(await b.guard.delete('k')).toBe(true);
    expect(await a.guard.getOrCompute('k', async () => 'v2')).toEqual({ value: 'v2', source: 'computed' });
    expect(await b.guard.delete('k')).toBe(true);
    expect(await b.guard.delete('k')).toBe(false);
    expect(b.capture.lines.filter((l) => l.event === 'cache.delete').map((l) => l.existed)).toEqual([true, true, false]);
  });

  it('a holder that started before the delete cannot store its value; the next caller computes afresh', async () => {
    const prefix = uniquePrefix('delete-holder');
    const holder = processGuard({ keyPrefix: prefix, lockTtlMs: 30_000 });
    const other = processGuard({ keyPrefix: prefix });
    const slow = gated();
    const held = holder.guard.getOrCompute('k', slow.compute);
    await slow.started;
    await other.guard.delete('k');
    slow.finish('computed-before-the-delete');
    await held;
    expect(holder.capture.count('cache.write.rejected')).toBe(1);
    expect(await other.guard.getOrCompute('k', async () => 'after-the-delete')).toEqual({ value: 'after-the-delete', source: 'computed' });
  });

  it('leaves nothing without a TTL: the tombstone expires', async () => {
    const prefix = uniquePrefix('delete-ttl');
    const { guard } = processGuard({ keyPrefix: prefix, lockTtlMs: 200, computeTimeoutMs: 100 });
    await guard.getOrCompute('k', async () => 'v');
    await guard.delete('k');
    const value = cacheKeys(prefix, 'k').value;
    expect(await admin.pttl(value)).toBeGreaterThan(0);
    expect(await admin.pttl(value)).toBeLessThanOrEqual(300);
    await waitUntil('the tombstone expired', async () => (await admin.keys(`${prefix}:*`)).length === 0, { timeoutMs: 3000 });
  });
});
