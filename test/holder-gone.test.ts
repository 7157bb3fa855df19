import type { FailurePolicy } from '../src/cache/strategy.js';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createGuard, type StampedeGuard } from '../src/cache/guard.js';
import { readEnvelope } from '../src/cache/store.js';
import { cacheKeys } from '../src/keys.js';
import { acquireLock } from '../src/lock/redis-lock.js';
import { captureLogger } from './support/log-capture.js';
import { closeAll, connect, uniquePrefix } from './support/redis.js';
import { deferred, sleep, waitUntil } from './support/wait.js';
import { toPort } from '../src/redis/adapt.js';

const clients: Redis[] = [];
const guards: StampedeGuard[] = [];

afterEach(async () => {
  await Promise.all(guards.splice(0).map((g) => g.close()));
  await closeAll(...clients.splice(0));
});

/** A guard on its own connection (and its own subscriber): one "process" of the fleet. */
function processGuard(options: { prefix: string; lockTtlMs: number; maxWaitMs?: number; failurePolicy?: FailurePolicy }) {
  const redis = connect();
  clients.push(redis);
  const capture = captureLogger();
  const guard = createGuard({
    redis,
    keyPrefix: options.prefix,
    lockTtlMs: options.lockTtlMs,
    ...(options.maxWaitMs !== undefined && { maxWaitMs: options.maxWaitMs }),
    ...(options.failurePolicy !== undefined && { failurePolicy: options.failurePolicy }),
    logger: capture.logger,
  });
  guards.push(guard);
  return { redis, guard, capture };
}

describe('a holder that vanished without writing', () => {
  it('3 processes x 20 callers: one of them takes over, one computation, one value for all 60', async () => {
    const prefix = uniquePrefix('holder-gone');
    const key = 'orphaned';
    const keys = cacheKeys(prefix, key);
    const observer = connect();
    clients.push(observer);

    // The holder takes the lock and is never heard of again (crashed, partitioned away).
    const vanished = await acquireLock(toPort(observer), keys, 30_000);
    expect(vanished).not.toBeNull();

    // A short lock TTL (a waiter checks on the holder after that long), but with room for a
    // slow machine: the one who takes over must write before its own lock runs out. maxWaitMs
    // is generous: this test is about who computes, not about how fast.
    const fleet = [0, 1, 2].map(() => processGuard({ prefix, lockTtlMs: 1000, maxWaitMs: 60_000 }));
    let computations = 0;
    const calls = fleet.flatMap(({ guard }, i) =>
      Array.from({ length: 20 }, () =>
        guard.getOrCompute(key, async () => {
          computations += 1;
          await sleep(20);
          return `process-${i}:${randomUUID()}`;
        }),
      ),
    );
    // Every process is waiting on the vanished holder; now its lock runs out, by TTL alone:
    // no release, no notification. (Shortening it here, rather than acquiring with a short TTL,
    // makes sure the callers met the lock however slowly they started.)
    await waitUntil('every process waits', () => fleet.every((p) => p.capture.count('wait.start') >= 1));
    expect(await observer.pexpire(keys.lock, 300)).toBe(1);
    const results = await Promise.all(calls);

    expect(computations).toBe(1);
    expect(results).toHaveLength(60);
    const values = new Set(results.map((r) => r.value));
    expect(values.size).toBe(1);
    expect(results.filter((r) => r.source === 'computed')).toHaveLength(1);

    const starts = fleet.reduce((sum, p) => sum + p.capture.count('recompute.start'), 0);
    expect(starts).toBe(1);
    // The one who took over noticed the vanished holder by its wait running out (nobody notified).
    const timeouts = fleet.flatMap((p) => p.capture.lines).filter((l) => l.event === 'wait.end' && l.outcome === 'timeout');
    expect(timeouts.length).toBeGreaterThanOrEqual(1);

    const stored = await readEnvelope<string>(toPort(observer), keys);
    expect(stored?.value).toBe([...values][0]);
    expect(stored!.fence).toBeGreaterThan(vanished!.fence);
  });
});

describe('a holder whose computation throws', () => {
  it('gives the lock back at once: with the retry policy a waiter in another process takes over long before the lock TTL', async () => {
    const prefix = uniquePrefix('holder-throws');
    const key = 'fails-once';
    const keys = cacheKeys(prefix, key);
    const observer = connect();
    clients.push(observer);
    const lockTtlMs = 30_000;
    const thrower = processGuard({ prefix, lockTtlMs, failurePolicy: 'retry' });
    const waiter = processGuard({ prefix, lockTtlMs, failurePolicy: 'retry' });

    const started = performance.now();
    const computing = deferred();
    const failure = deferred<string>();
    const boom = new Error('the computation failed');
    const settle = (p: Promise<unknown>) =>
      p.then(
        () => 'resolved' as const,
        (err: unknown) => err,
      );

    const thrown = settle(
      thrower.guard.getOrCompute(key, async () => {
        computing.resolve();
        return failure.promise;
      }),
    );
    await computing.promise;
    // A second caller in the thrower's process joins its flight, and shares its fate.
    const joined = settle(thrower.guard.getOrCompute(key, async () => 'never runs'));

    let waiterComputed = 0;
    const waited = waiter.guard.getOrCompute(key, async () => {
      waiterComputed += 1;
      return 'from-the-waiter';
    });
    // The waiter is subscribed to the key's channel: it is waiting for a notification.
    await waitUntil('the waiter subscribes', async () => {
      const [, subscribers] = (await observer.pubsub('NUMSUB', keys.channel)) as [string, number];
      return Number(subscribers) >= 1;
    });
    expect(await observer.pttl(keys.lock)).toBeGreaterThan(10_000);

    failure.reject(boom);
    expect(await thrown).toBe(boom);
    expect(await joined).toBe(boom);

    const result = await waited;
    expect(result).toEqual({ value: 'from-the-waiter', source: 'computed' });
    expect(waiterComputed).toBe(1);
    // The lock TTL is 30 s; the waiter did not wait it out.
    expect(performance.now() - started).toBeLessThan(10_000);

    expect(thrower.capture.count('recompute.failed')).toBe(1);
    expect(thrower.capture.count('lock.released')).toBe(1);
    expect(thrower.capture.count('cache.write')).toBe(0);
    const waitEnd = waiter.capture.lines.find((l) => l.event === 'wait.end');
    expect(waitEnd?.outcome).toBe('failed');
    expect(waiter.capture.count('lock.acquired')).toBe(1);
    expect((await readEnvelope<string>(toPort(observer), keys))?.value).toBe('from-the-waiter');
    expect(await observer.exists(keys.lock)).toBe(0);
  }, 45_000);
});
