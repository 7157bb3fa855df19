/**
 * One pub/sub connection shared by several guards (the guard option `subscriber`): Redis counts a
 * subscription per connection, so the channels must be counted across every guard on it. One
 * guard's waiter leaving a channel, or the guard closing, must not unsubscribe what another guard
 * still waits on; once every guard let go, nothing is left subscribed and no listener is left on
 * the connection, which belongs to the caller.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createGuard } from '../src/cache/guard.js';
import { cacheKeys, l1BusChannel } from '../src/keys.js';
import type { Subscription } from '../src/redis/notifier.js';
import { leaseNotifier } from '../src/redis/shared-notifier.js';
import { captureLogger } from './support/log-capture.js';
import { closeAll, connect, uniquePrefix } from './support/redis.js';
import { deferred, waitUntil } from './support/wait.js';
import { asSubscriber } from './support/subscriber-port.js';

let admin: Redis;
beforeAll(() => {
  admin = connect();
});
afterAll(async () => {
  await closeAll(admin);
});

const numsub = async (channel: string) => Number((await admin.pubsub('NUMSUB', channel))[1]);

/** What the notifier attaches to a single-node subscriber. */
const HANDLED_EVENTS = ['message', 'close', 'ready'] as const;
const listenerCounts = (subscriber: Redis) => HANDLED_EVENTS.map((event) => subscriber.listenerCount(event));

/**
 * Every command sent on `subscriber` so far has been answered (commands on one connection run in
 * order): an UNSUBSCRIBE sent before this is done, so NUMSUB can be trusted.
 */
const settled = (subscriber: Redis) => subscriber.ping();

/** A subscriber connection of the test's own, closed at the end. */
async function withSubscriber(test: (subscriber: Redis) => Promise<void>): Promise<void> {
  const subscriber = connect();
  try {
    await test(subscriber);
  } finally {
    await closeAll(subscriber);
  }
}

describe('leaseNotifier: one notifier per subscriber connection, leased by each guard', () => {
  it("one lease's waiter leaving does not unsubscribe the channel another lease still listens on", () =>
    withSubscriber(async (subscriber) => {
      const channel = `${uniquePrefix('shared')}:{k}:db0:ready`;
      const first = leaseNotifier(asSubscriber(subscriber));
      const second = leaseNotifier(asSubscriber(subscriber));
      const leaving = (await first.listen(channel, 5000)) as Subscription;
      const staying = (await second.listen(channel, 5000)) as Subscription;
      expect(await numsub(channel)).toBe(1);

      leaving.close();
      await settled(subscriber);
      expect(await numsub(channel)).toBe(1);
      await admin.publish(channel, 'written');
      expect(await staying.next(1000)).toEqual({ kind: 'message', message: 'written' });

      staying.close();
      await waitUntil('unsubscribed', async () => (await numsub(channel)) === 0);
      first.release();
      second.release();
    }));

  it('a released lease takes back only what it registered: the other keeps its waiters, its bus and its connection listener', () =>
    withSubscriber(async (subscriber) => {
      const prefix = uniquePrefix('shared-release');
      const channel = `${prefix}:{k}:db0:ready`;
      const bus = l1BusChannel(prefix);
      const released = leaseNotifier(asSubscriber(subscriber));
      const kept = leaseNotifier(asSubscriber(subscriber));
      const busMessages: string[] = [];
      await released.watch(bus, () => {});
      await kept.watch(bus, (message) => busMessages.push(message));
      const releasedWaiter = (await released.listen(channel, 5000)) as Subscription;
      const keptWaiter = (await kept.listen(channel, 5000)) as Subscription;
      const pending = releasedWaiter.next(5000);

      const started = Date.now();
      released.release();
      // Its waiter's next() ends at once (as a timeout), not after its 5 s.
      expect(await pending).toBe('timeout');
      expect(Date.now() - started).toBeLessThan(1000);
      expect(await released.listen(channel, 5000)).toBe('timeout');
      await settled(subscriber);
      expect(await numsub(channel)).toBe(1);
      expect(await numsub(bus)).toBe(1);

      await admin.publish(channel, 'written');
      expect(await keptWaiter.next(1000)).toEqual({ kind: 'message', message: 'written' });
      await admin.publish(bus, 'announced');
      await waitUntil('the bus message arrived', () => busMessages.length === 1, { timeoutMs: 1000 });
      expect(busMessages).toEqual(['announced']);

      released.release(); // idempotent: the kept lease still has its notifier
      await admin.publish(channel, 'again');
      expect(await keptWaiter.next(1000)).toEqual({ kind: 'message', message: 'again' });
      keptWaiter.close();
      kept.release();
    }));

  it('after the last release nothing is subscribed and no listener is left on the subscriber; a new lease starts afresh', () =>
    withSubscriber(async (subscriber) => {
      const prefix = uniquePrefix('shared-last');
      const channel = `${prefix}:{k}:db0:ready`;
      const bus = l1BusChannel(prefix);
      const before = listenerCounts(subscriber);
      const leases = [leaseNotifier(asSubscriber(subscriber)), leaseNotifier(asSubscriber(subscriber))];
      const connectionEvents: boolean[] = [];
      for (const lease of leases) {
        lease.onConnection((live) => connectionEvents.push(live));
        await lease.watch(bus, () => {});
        await lease.listen(channel, 5000); // never closed: the release takes it back
      }
      expect(listenerCounts(subscriber)).toEqual(before.map((count) => count + 1)); // one notifier for both

      for (const lease of leases) lease.release();
      expect(listenerCounts(subscriber)).toEqual(before);
      await settled(subscriber);
      expect(await numsub(channel)).toBe(0);
      expect(await numsub(bus)).toBe(0);

      const again = leaseNotifier(asSubscriber(subscriber));
      const waiter = (await again.listen(channel, 5000)) as Subscription;
      await admin.publish(channel, 'written');
      expect(await waiter.next(1000)).toEqual({ kind: 'message', message: 'written' });
      again.release();
      expect(listenerCounts(subscriber)).toEqual(before);
      expect(connectionEvents).toEqual([]);
    }));

  it('a watch stopped by its own function unsubscribes only when no other lease watches the channel', () =>
    withSubscriber(async (subscriber) => {
      const bus = l1BusChannel(uniquePrefix('shared-watch'));
      const first = leaseNotifier(asSubscriber(subscriber));
      const second = leaseNotifier(asSubscriber(subscriber));
      const stopFirst = await first.watch(bus, () => {});
      const stopSecond = await second.watch(bus, () => {});
      stopFirst();
      stopFirst();
      await settled(subscriber);
      expect(await numsub(bus)).toBe(1);
      stopSecond();
      await settled(subscriber);
      expect(await numsub(bus)).toBe(0);
      first.release();
      second.release();
    }));
});

/**
 * The same through the guards. These need guard.ts to take its notifier from leaseNotifier (one
 * per subscriber) and give it back at close().
 */
describe('two guards created with the same subscriber', () => {
  /** A holder in another process computing `key` until `finish`, and `count` guards sharing `subscriber`, each waiting for it. */
  async function waitersOnOneSubscriber(subscriber: Redis, guardOptions: Array<{ maxWaitMs?: number; l1?: { maxEntries: number } }>) {
    const prefix = uniquePrefix('shared-guards');
    const holderRedis = connect();
    const redis = connect();
    const holder = createGuard({ redis: holderRedis, keyPrefix: prefix, lockTtlMs: 10_000 });
    const logs = guardOptions.map(() => captureLogger('info'));
    const guards = guardOptions.map((options, i) =>
      createGuard({ redis, subscriber, keyPrefix: prefix, lockTtlMs: 10_000, logger: logs[i]!.logger, ...options }),
    );
    const computing = deferred();
    const finish = deferred<string>();
    const held = holder.getOrCompute('k', async () => {
      computing.resolve();
      return finish.promise;
    });
    await computing.promise;
    const waited = guards.map((guard) => guard.getOrCompute('k', async () => 'computed by a waiter').catch((err: unknown) => err));
    await waitUntil('every guard waits', () => logs.every((log) => log.count('wait.start') === 1));
    /** Let the holder finish (whatever the test got to), then close everything. */
    const close = async () => {
      finish.resolve('the value');
      await Promise.allSettled([held, ...waited]);
      await Promise.all([holder, ...guards].map((guard) => guard.close()));
      await closeAll(holderRedis, redis);
    };
    return { prefix, channel: cacheKeys(prefix, 'k').channel, guards, held, waited, finish, close };
  }

  it("one guard's waiter giving up does not unsubscribe the channel the other guard waits on: it gets the value at once", () =>
    withSubscriber(async (subscriber) => {
      const { channel, held, waited, finish, close } = await waitersOnOneSubscriber(subscriber, [{ maxWaitMs: 200 }, {}]);
      try {
        expect(await waited[0]).toMatchObject({ code: 'E_WAIT_TIMEOUT' });
        await settled(subscriber);
        expect(await numsub(channel)).toBe(1);
        const wrote = Date.now();
        finish.resolve('the value');
        await held;
        expect(await waited[1]).toEqual({ value: 'the value', source: 'waited' });
        expect(Date.now() - wrote).toBeLessThan(2000); // not the 10 s lock TTL
      } finally {
        await close();
      }
    }));

  it("one guard's close() leaves the other's waiter and L1 bus subscribed; closing both leaves nothing on the subscriber", () =>
    withSubscriber(async (subscriber) => {
      const before = listenerCounts(subscriber);
      const l1 = { maxEntries: 10 };
      const { prefix, channel, guards, held, waited, finish, close } = await waitersOnOneSubscriber(subscriber, [{ l1 }, { l1 }]);
      const bus = l1BusChannel(prefix);
      try {
        await guards[0]!.close();
        await settled(subscriber);
        expect(await numsub(channel)).toBe(1);
        expect(await numsub(bus)).toBe(1);
        const wrote = Date.now();
        finish.resolve('the value');
        await held;
        expect(await waited[1]).toEqual({ value: 'the value', source: 'waited' });
        expect(Date.now() - wrote).toBeLessThan(2000);
      } finally {
        await close();
      }
      await settled(subscriber);
      expect(await numsub(channel)).toBe(0);
      expect(await numsub(bus)).toBe(0);
      expect(listenerCounts(subscriber)).toEqual(before);
    }));
});
