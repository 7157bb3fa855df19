/**
 * A holder that fails between a waiter's failed lock attempt and the waiter's SUBSCRIBE: its
 * `failed:` notification went out before the waiter listened, and no value was written. The
 * waiter's re-read after subscribing must see that (no value, and no lock any more) and contend
 * again at once, not wait out the lock TTL for a notification that already went.
 */
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { createGuard } from '../src/cache/guard.js';
import { cacheKeys } from '../src/keys.js';
import { closeGuards, processGuard } from './support/guards.js';
import { captureLogger } from './support/log-capture.js';
import { closeAll, connect, uniquePrefix } from './support/redis.js';
import { deferred } from './support/wait.js';

afterEach(closeGuards);

const lockTtlMs = 30_000;

/** A subscriber connection that runs `before` ahead of its first SUBSCRIBE. */
function subscriberWithHook(before: () => Promise<void>): Redis {
  const subscriber = connect();
  const subscribe = subscriber.subscribe.bind(subscriber) as (...channels: string[]) => Promise<unknown>;
  let first = true;
  (subscriber as unknown as { subscribe: (...channels: string[]) => Promise<unknown> }).subscribe = async (...channels) => {
    if (first) {
      first = false;
      await before();
    }
    return subscribe(...channels);
  };
  return subscriber;
}

describe('a waiter that subscribes just after the holder failed', () => {
  it.each(['error', 'retry', 'stale'] as const)(
    '%s policy: contends again at once instead of waiting out the lock TTL',
    async (failurePolicy) => {
      const prefix = uniquePrefix(`missed-${failurePolicy}`);
      const keys = cacheKeys(prefix, 'k');
      const a = processGuard({ keyPrefix: prefix, lockTtlMs, failurePolicy });
      const observer = connect();
      const computing = deferred();
      const failure = deferred<string>();
      const holder = a.guard
        .getOrCompute('k', async () => {
          computing.resolve();
          return failure.promise;
        })
        .then(
          (v) => v,
          (err: unknown) => err,
        );
      await computing.promise;

      // B's lock attempt fails (A holds it); then, before B's SUBSCRIBE reaches Redis, A fails,
      // releases its lock and publishes `failed:` to nobody.
      const subscriber = subscriberWithHook(async () => {
        failure.reject(new Error('database is down'));
        await holder;
        expect(await observer.exists(keys.lock)).toBe(0);
      });
      const redisB = connect();
      const logB = captureLogger();
      const b = createGuard({ redis: redisB, subscriber, keyPrefix: prefix, lockTtlMs, failurePolicy, logger: logB.logger });
      try {
        const started = performance.now();
        const result = await b.getOrCompute('k', async () => 'computed by B');
        expect(await holder).toMatchObject({ message: 'database is down' });
        // B arrived after the failure, as far as it can tell: it became the new holder.
        expect(result).toEqual({ value: 'computed by B', source: 'computed' });
        expect(performance.now() - started).toBeLessThan(10_000);
        expect(logB.lines.find((l) => l.event === 'wait.end')).toMatchObject({ outcome: 'released' });
      } finally {
        await b.close();
        await closeAll(observer, redisB, subscriber);
      }
    },
    60_000,
  );
});
