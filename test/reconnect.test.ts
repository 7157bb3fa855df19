/**
 * The waiters' pub/sub connection drops (a network blip, a proxy restart, CLIENT KILL): a
 * notification published meanwhile is lost by Redis's design, so every waiter re-checks the lock
 * and the value as soon as the subscriber is back, instead of sitting out the lock TTL. And no
 * waiter waits longer than its maxWaitMs, even when its SUBSCRIBE is never confirmed.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Redis, type RedisOptions } from 'ioredis';
import { createGuard, type StampedeGuard } from '../src/cache/guard.js';
import { cacheKeys } from '../src/keys.js';
import { acquireLock } from '../src/lock/redis-lock.js';
import { captureLogger } from './support/log-capture.js';
import { connect, redisUrl, uniquePrefix } from './support/redis.js';
import { deferred, waitUntil } from './support/wait.js';
import { closedPort } from './support/ports.js';
import { toPort } from '../src/redis/adapt.js';

const clients: Redis[] = [];
const guards: StampedeGuard[] = [];
afterAll(async () => {
  await Promise.all(guards.map((g) => g.close()));
  // disconnect, not quit: a QUIT to a server that never answers would wait for ever.
  for (const redis of clients) redis.disconnect();
});

function client(url = redisUrl(), options: RedisOptions = {}): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: null, ...options });
  redis.on('error', () => {});
  clients.push(redis);
  return redis;
}

describe('the subscriber reconnects', () => {
  it('waiters from before and during the outage get the value written while it was down, long before the lock TTL', async () => {
    const prefix = uniquePrefix('reconnect');
    const key = 'hot';
    const holder = createGuard({ redis: client(), keyPrefix: prefix, lockTtlMs: 30_000 });
    // The waiters' subscriber comes back 1.5 s after it dropped: the holder writes in that gap.
    const subscriber = client(redisUrl(), { retryStrategy: () => 1500, enableReadyCheck: false });
    const subscriberId = Number(await subscriber.client('ID'));
    const log = captureLogger();
    const waiter = createGuard({ redis: client(), subscriber, keyPrefix: prefix, lockTtlMs: 30_000, logger: log.logger });
    guards.push(holder, waiter);

    const computing = deferred();
    const gate = deferred();
    const held = holder.getOrCompute(key, async () => {
      computing.resolve();
      await gate.promise;
      return 'from-the-holder';
    });
    await computing.promise;

    const before = waiter.getOrCompute(key, async () => 'waiter-computed', { strategy: 'redis-lock' });
    const admin = connect();
    clients.push(admin);
    const channel = cacheKeys(prefix, key).channel;
    const numsub = async () => (await admin.pubsub('NUMSUB', channel))[1] as number;
    await waitUntil('the first waiter subscribed', async () => (await numsub()) === 1);

    await admin.client('KILL', 'ID', String(subscriberId));
    await waitUntil('the subscriber saw the drop', () => subscriber.status !== 'ready');
    // Another caller starts waiting while the subscriber is down (swr: its own flight).
    const during = waiter.getOrCompute(key, async () => 'waiter-computed', { strategy: 'swr' });
    await waitUntil('the second waiter started waiting', () => log.count('wait.start') === 2);

    const wrote = Date.now();
    gate.resolve();
    expect(await held).toEqual({ value: 'from-the-holder', source: 'computed' });
    const results = await Promise.all([before, during]);
    expect(results).toEqual([
      { value: 'from-the-holder', source: 'waited' },
      { value: 'from-the-holder', source: 'waited' },
    ]);
    // Reconnecting takes 1.5 s; the lock TTL is 30 s.
    expect(Date.now() - wrote).toBeLessThan(10_000);
  });

  it('a waiter whose SUBSCRIBE is never confirmed gives up after maxWaitMs', async () => {
    const prefix = uniquePrefix('no-subscribe');
    const deadPort = await closedPort();
    const subscriber = client(`redis://127.0.0.1:${deadPort}`, { enableReadyCheck: false, retryStrategy: () => 200 });
    const redis = client();
    const guard = createGuard({ redis, subscriber, keyPrefix: prefix, lockTtlMs: 30_000, maxWaitMs: 500 });
    guards.push(guard);
    expect(await acquireLock(toPort(redis), cacheKeys(prefix, 'k'), 30_000)).not.toBeNull(); // a holder elsewhere

    const started = Date.now();
    const outcome = await Promise.race([
      guard
        .getOrCompute('k', async () => 'never')
        .then(
          () => 'resolved',
          (err: { code?: string }) => err.code,
        ),
      new Promise((resolve) => setTimeout(() => resolve('still waiting after 10 s'), 10_000).unref()),
    ]);
    expect(outcome).toBe('E_WAIT_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
