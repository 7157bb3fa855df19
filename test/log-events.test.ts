/**
 * The log contract, event by event (docs/log-contract.md): for each path through the guard, the
 * exact sequence of events and their documented fields. The log report counts these lines, so a
 * renamed event, a dropped field or a step logged twice is a broken contract.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { Envelope } from '../src/cache/envelope.js';
import { writeEnvelope } from '../src/cache/store.js';
import { cacheKeys } from '../src/keys.js';
import { acquireLock } from '../src/lock/redis-lock.js';
import type { CapturedLine } from './support/log-capture.js';
import { closeGuards, processGuard } from './support/guards.js';
import { closeAll, connect, uniquePrefix } from './support/redis.js';
import { deferred, waitUntil } from './support/wait.js';
import { toPort } from '../src/redis/adapt.js';

let admin: Redis;
beforeAll(() => {
  admin = connect();
});
afterEach(closeGuards);
afterAll(async () => {
  await closeAll(admin);
});

/** Each line as its event and the contract's fields, numbers as their type (they vary run to run). */
function events(lines: CapturedLine[]): Array<Record<string, unknown>> {
  const contract = [
    'tier',
    'stale',
    'coalesced',
    'fence',
    'durationMs',
    'timeoutMs',
    'waitedMs',
    'outcome',
    'reason',
    'ok',
    'set',
    'existed',
    'during',
    'storedFence',
    'backoffMs',
    'computedAt',
  ];
  return lines
    .filter((l) => l.event !== 'script.not-cached')
    .map((line) => {
      const out: Record<string, unknown> = { event: line.event };
      for (const field of contract) {
        if (!(field in line)) continue;
        out[field] = typeof line[field] === 'number' ? 'number' : line[field];
      }
      if ('err' in line) out.err = (line.err as { message?: string }).message;
      return out;
    });
}

function staleEnvelope(value: string): Envelope<string> {
  const now = Date.now();
  return { value, fence: 0, computedAt: now - 2000, computeMs: 5, ttlMs: 1000, freshUntil: now - 1000 };
}

describe('the events of each path', () => {
  it('redis-lock: a miss that computes, then a hit', async () => {
    const { guard, capture } = processGuard({ keyPrefix: uniquePrefix('ev-miss') });
    await guard.getOrCompute('warm', async () => 'loads the scripts');
    capture.lines.length = 0;
    await guard.getOrCompute('k', async () => 'v');
    await guard.getOrCompute('k', async () => 'v');
    expect(events(capture.lines)).toEqual([
      { event: 'cache.miss' },
      { event: 'lock.acquired', fence: 'number' },
      { event: 'recompute.start', fence: 'number' },
      { event: 'recompute.end', durationMs: 'number', fence: 'number' },
      { event: 'cache.write', fence: 'number' },
      { event: 'lock.released', fence: 'number' },
      { event: 'cache.hit', tier: 'redis' },
    ]);
  });

  it('redis-lock: callers of one process share a flight; a process whose claim found the lock waits for the value', async () => {
    const prefix = uniquePrefix('ev-wait');
    const holder = processGuard({ keyPrefix: prefix, lockTtlMs: 30_000 });
    const waiter = processGuard({ keyPrefix: prefix, lockTtlMs: 30_000 });
    await waiter.guard.getOrCompute('warm', async () => 'loads the scripts');
    waiter.capture.lines.length = 0;
    const computing = deferred();
    const gate = deferred<string>();
    const held = holder.guard.getOrCompute('k', () => {
      computing.resolve();
      return gate.promise;
    });
    await computing.promise;
    const both = Promise.all([waiter.guard.getOrCompute('k', async () => 'no'), waiter.guard.getOrCompute('k', async () => 'no')]);
    await waitUntil('the waiter waits', () => waiter.capture.count('wait.start') === 1);
    gate.resolve('v');
    await held;
    await both;
    expect(events(waiter.capture.lines)).toEqual([
      { event: 'cache.miss' },
      { event: 'lock.busy' },
      { event: 'wait.start', timeoutMs: 'number' },
      { event: 'wait.end', waitedMs: 'number', outcome: 'value' },
      { event: 'cache.miss', coalesced: true },
      { event: 'flight.joined' },
    ]);
  });

  it('redis-lock: callers of one process sharing a hit are hits, told they shared it', async () => {
    const { guard, capture } = processGuard({ keyPrefix: uniquePrefix('ev-shared-hit') });
    await guard.getOrCompute('k', async () => 'v');
    capture.lines.length = 0;
    const results = await Promise.all([1, 2].map(() => guard.getOrCompute('k', async () => 'never')));
    expect(results).toEqual([
      { value: 'v', source: 'cache' },
      { value: 'v', source: 'cache' },
    ]);
    expect(events(capture.lines)).toEqual([
      { event: 'cache.hit', tier: 'redis' },
      { event: 'cache.hit', tier: 'redis', coalesced: true },
      { event: 'flight.joined' },
    ]);
  });

  it('swr: callers sharing a stale read are served stale, told they shared it; a back-off says so', async () => {
    const prefix = uniquePrefix('ev-swr-shared');
    const { guard, capture } = processGuard({ keyPrefix: prefix, failurePolicy: 'stale', failureBackoffMs: 60_000 });
    const keys = cacheKeys(prefix, 'k');
    await writeEnvelope(toPort(admin), keys, staleEnvelope('old'), null, 60_000);
    const results = await Promise.all(
      [1, 2].map(() => guard.getOrCompute('k', async () => Promise.reject(new Error('down')), { strategy: 'swr' })),
    );
    expect(results.map((r) => r.source)).toEqual(['stale', 'stale']);
    expect(events(capture.lines.filter((l) => l.coalesced || l.event === 'flight.joined'))).toEqual([
      { event: 'cache.hit', tier: 'redis', coalesced: true },
      { event: 'stale.served', coalesced: true },
      { event: 'flight.joined' },
    ]);
    await waitUntil('the refresh failed and the back-off started', () => capture.count('backoff.start') === 1);
    capture.lines.length = 0;
    expect(await guard.getOrCompute('k', async () => 'never', { strategy: 'swr' })).toEqual({ value: 'old', source: 'stale' });
    const line = capture.lines.find((l) => l.event === 'stale.served');
    expect(line).toMatchObject({ reason: 'backoff', backoffUntil: expect.any(Number) });
    expect(events(capture.lines)).toEqual([
      { event: 'cache.hit', stale: true },
      { event: 'stale.served', reason: 'backoff', computedAt: 'number' },
    ]);
  });

  it('none: an unfenced computation and write', async () => {
    const { guard, capture } = processGuard({ keyPrefix: uniquePrefix('ev-none') });
    await guard.getOrCompute('warm', async () => 'loads the scripts', { strategy: 'none' });
    capture.lines.length = 0;
    await guard.getOrCompute('k', async () => 'v', { strategy: 'none' });
    expect(events(capture.lines)).toEqual([
      { event: 'cache.miss' },
      { event: 'recompute.start', fence: 'number' },
      { event: 'recompute.end', durationMs: 'number', fence: 'number' },
      { event: 'cache.write', fence: 'number' },
    ]);
    expect(capture.lines.find((l) => l.event === 'cache.write')?.fence).toBe(0);
  });

  it('swr: a stale read is served and refreshed in the background', async () => {
    const prefix = uniquePrefix('ev-swr');
    await writeEnvelope(toPort(admin), cacheKeys(prefix, 'k'), staleEnvelope('old'), null, 60_000);
    const { guard, capture } = processGuard({ keyPrefix: prefix });
    await guard.getOrCompute('k', async () => 'new', { strategy: 'swr' });
    await waitUntil('the refresh ended', () => capture.count('refresh.end') === 1);
    expect(events(capture.lines)).toEqual([
      { event: 'cache.hit', stale: true },
      { event: 'stale.served', reason: 'refreshing', computedAt: 'number' },
      { event: 'lock.acquired', fence: 'number' },
      { event: 'refresh.start', reason: 'stale', fence: 'number' },
      { event: 'recompute.start', fence: 'number' },
      { event: 'recompute.end', durationMs: 'number', fence: 'number' },
      { event: 'cache.write', fence: 'number' },
      { event: 'lock.released', fence: 'number' },
      { event: 'refresh.end', reason: 'stale', fence: 'number', ok: true, durationMs: 'number' },
    ]);
  });

  it('redis-lock, stale policy: a failed recomputation serves the stale value and starts the back-off', async () => {
    const prefix = uniquePrefix('ev-backoff');
    await writeEnvelope(toPort(admin), cacheKeys(prefix, 'k'), staleEnvelope('old'), null, 60_000);
    const { guard, capture } = processGuard({ keyPrefix: prefix, failureBackoffMs: 1000 });
    await guard.getOrCompute('k', async () => Promise.reject(new Error('down')));
    await guard.getOrCompute('k', async () => 'not yet');
    expect(events(capture.lines)).toEqual([
      { event: 'cache.miss', stale: true },
      { event: 'lock.acquired', fence: 'number' },
      { event: 'recompute.start', fence: 'number' },
      { event: 'recompute.failed', durationMs: 'number', fence: 'number', err: 'down' },
      { event: 'lock.released', fence: 'number' },
      { event: 'stale.served', reason: 'compute-failed', computedAt: 'number' },
      { event: 'backoff.start', backoffMs: 'number', computedAt: 'number' },
      { event: 'cache.miss', stale: true },
      { event: 'stale.served', reason: 'backoff', computedAt: 'number' },
    ]);
  });

  it('set and delete', async () => {
    const { guard, capture } = processGuard({ keyPrefix: uniquePrefix('ev-set') });
    await guard.set('k', 'v');
    await guard.delete('k');
    await guard.delete('k');
    expect(events(capture.lines)).toEqual([
      { event: 'cache.write', fence: 'number', set: true },
      { event: 'cache.delete', existed: true },
      { event: 'cache.delete', existed: false },
    ]);
  });

  it('a holder whose lock was taken from it: lock.lost while computing, and its late write rejected', async () => {
    const prefix = uniquePrefix('ev-lost');
    const keys = cacheKeys(prefix, 'k');
    const { guard, capture } = processGuard({ keyPrefix: prefix, lockTtlMs: 300 });
    const computing = deferred();
    const gate = deferred<string>();
    const call = guard.getOrCompute('k', () => {
      computing.resolve();
      return gate.promise; // ignores its signal
    });
    await computing.promise;
    await admin.del(keys.lock);
    const other = (await acquireLock(toPort(admin), keys, 30_000))!;
    await writeEnvelope(
      toPort(admin),
      keys,
      { ...staleEnvelope('newer'), fence: other.fence, freshUntil: Date.now() + 60_000 },
      other,
      60_000,
    );
    await waitUntil('the watchdog noticed', () => capture.count('lock.lost') === 1);
    gate.resolve('late');
    await call;
    const tail = events(capture.lines).slice(-2);
    expect(tail).toEqual([
      { event: 'recompute.end', durationMs: 'number', fence: 'number' },
      { event: 'cache.write.rejected', fence: 'number', storedFence: 'number' },
    ]);
    expect(capture.lines.find((l) => l.event === 'lock.lost')).toMatchObject({ during: 'compute' });
  });
});
