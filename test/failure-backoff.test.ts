/**
 * Failure back-off: after a failed recomputation was answered with a stale value, every process
 * serves that stale value for failureBackoffMs instead of running the failing computation again;
 * the back-off lives in the value's hash, so it never creates a key and never outlives the value.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { Envelope } from '../src/cache/envelope.js';
import { readEnvelope, writeEnvelope } from '../src/cache/store.js';
import { cacheKeys } from '../src/keys.js';
import { closeGuards, processGuard } from './support/guards.js';
import { closeAll, connect, uniquePrefix } from './support/redis.js';
import { waitUntil } from './support/wait.js';
import { toPort } from '../src/redis/adapt.js';

let admin: Redis;
beforeAll(() => {
  admin = connect();
});
afterAll(async () => {
  await closeGuards();
  await closeAll(admin);
});

/** A value that went stale a second ago and stays in Redis for `graceMs` more. */
async function storeStale(prefix: string, key: string, graceMs = 60_000): Promise<void> {
  const now = Date.now();
  const stale: Envelope<string> = { value: 'stale', fence: 0, computedAt: now - 2000, computeMs: 5, ttlMs: 1000, freshUntil: now - 1000 };
  await writeEnvelope(toPort(admin), cacheKeys(prefix, key), stale, null, graceMs);
}

const failing = (counter: { calls: number }) => async (): Promise<string> => {
  counter.calls += 1;
  throw new Error('backend down');
};

describe('failure back-off', () => {
  it('redis-lock: after one failure served stale, the fleet serves stale without computing until the back-off ends', async () => {
    const prefix = uniquePrefix('backoff-lock');
    await storeStale(prefix, 'k');
    const options = { keyPrefix: prefix, failurePolicy: 'stale' as const, failureBackoffMs: 600 };
    const a = processGuard(options);
    const b = processGuard(options);
    const calls = { calls: 0 };

    expect(await a.guard.getOrCompute('k', failing(calls))).toEqual({ value: 'stale', source: 'stale' });
    expect(calls.calls).toBe(1);
    expect(a.capture.count('backoff.start')).toBe(1);

    // Another process, during the back-off: the stale value, no computation.
    expect(await b.guard.getOrCompute('k', failing(calls))).toEqual({ value: 'stale', source: 'stale' });
    expect(calls.calls).toBe(1);
    expect(b.capture.lines.find((l) => l.event === 'stale.served')).toMatchObject({ reason: 'backoff' });

    // After it: the computation runs again, and a success ends the back-off for good.
    const until = (await readEnvelope(toPort(admin), cacheKeys(prefix, 'k')))!.backoffUntil!;
    await waitUntil('the back-off ended', () => Date.now() > until);
    expect(await b.guard.getOrCompute('k', async () => 'fresh')).toEqual({ value: 'fresh', source: 'computed' });
    expect((await readEnvelope(toPort(admin), cacheKeys(prefix, 'k')))?.backoffUntil).toBeUndefined();
  });

  it('swr: a failed background refresh stops the refreshes of every process for the back-off', async () => {
    const prefix = uniquePrefix('backoff-swr');
    await storeStale(prefix, 'k');
    const options = { keyPrefix: prefix, failureBackoffMs: 60_000 };
    const a = processGuard(options);
    const b = processGuard(options);
    const calls = { calls: 0 };

    expect(await a.guard.getOrCompute('k', failing(calls), { strategy: 'swr' })).toEqual({ value: 'stale', source: 'stale' });
    await waitUntil('the refresh failed and the back-off started', () => a.capture.count('backoff.start') === 1);
    for (let i = 0; i < 5; i++) {
      expect(await b.guard.getOrCompute('k', failing(calls), { strategy: 'swr' })).toEqual({ value: 'stale', source: 'stale' });
    }
    await b.guard.close(); // waits for any background refresh it started
    expect(calls.calls).toBe(1);
    expect(b.capture.count('refresh.start')).toBe(0);
  });

  it("never creates a key where there is no value, and never lengthens a value's life", async () => {
    const prefix = uniquePrefix('backoff-keys');
    const { guard } = processGuard({ keyPrefix: prefix, failurePolicy: 'stale', failureBackoffMs: 60_000 });
    await expect(guard.getOrCompute('missing', failing({ calls: 0 }))).rejects.toThrow('backend down');
    expect(await admin.exists(cacheKeys(prefix, 'missing').value)).toBe(0);

    await storeStale(prefix, 'short', 3000);
    const before = await admin.pttl(cacheKeys(prefix, 'short').value);
    expect(await guard.getOrCompute('short', failing({ calls: 0 }))).toEqual({ value: 'stale', source: 'stale' });
    expect((await readEnvelope(toPort(admin), cacheKeys(prefix, 'short')))?.backoffUntil).toBeGreaterThan(Date.now() + 50_000);
    expect(await admin.pttl(cacheKeys(prefix, 'short').value)).toBeLessThanOrEqual(before);
  });

  it('failureBackoffMs 0 turns it off: the next call computes again', async () => {
    const prefix = uniquePrefix('backoff-off');
    await storeStale(prefix, 'k');
    const { guard, capture } = processGuard({ keyPrefix: prefix, failurePolicy: 'stale', failureBackoffMs: 0 });
    const calls = { calls: 0 };
    await guard.getOrCompute('k', failing(calls));
    await guard.getOrCompute('k', failing(calls));
    expect(calls.calls).toBe(2);
    expect(capture.count('backoff.start')).toBe(0);
  });
});
