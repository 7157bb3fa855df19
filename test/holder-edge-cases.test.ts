/**
 * The holder's edge cases: a lost lock sends its caller back to wait for the new holder; closing
 * a guard lets the fleet contend again instead of failing it; a value that appeared between a
 * miss and the acquire is taken without the lock (and wakes nobody); unknown strategy names,
 * including Object.prototype's, are refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createGuard, type StampedeGuard } from '../src/cache/guard.js';
import type { Envelope } from '../src/cache/envelope.js';
import { writeEnvelope } from '../src/cache/store.js';
import { cacheKeys } from '../src/keys.js';
import { acquireLock } from '../src/lock/redis-lock.js';
import { createRedis } from '../scripts/redis/connection.js';
import { captureLogger } from './support/log-capture.js';
import { closeAll, connect, redisUrl, uniquePrefix } from './support/redis.js';
import { afterScripts } from './support/parked.js';
import { startTcpProxy } from './support/tcp-proxy.js';
import { deferred, waitUntil } from './support/wait.js';
import { toPort } from '../src/redis/adapt.js';

let admin: Redis;
const clients: Redis[] = [];
const guards: StampedeGuard[] = [];
beforeAll(() => {
  admin = connect();
  clients.push(admin);
});
afterAll(async () => {
  await Promise.all(guards.map((g) => g.close()));
  await closeAll(...clients);
});

function guard(options: Partial<Parameters<typeof createGuard>[0]> & { keyPrefix: string }, redis: Redis = connect()) {
  clients.push(redis);
  const log = captureLogger();
  const g = createGuard({ redis, logger: log.logger, ...options });
  guards.push(g);
  return { guard: g, log };
}

function envelope(value: string, fence: number): Envelope<string> {
  const now = Date.now();
  return { value, fence, computedAt: now, computeMs: 1, ttlMs: 60_000, freshUntil: now + 60_000 };
}

async function channelMessages(channel: string): Promise<{ messages: string[] }> {
  const subscriber = connect();
  clients.push(subscriber);
  const messages: string[] = [];
  subscriber.on('message', (ch: string, message: string) => {
    if (ch === channel) messages.push(message);
  });
  await subscriber.subscribe(channel);
  return { messages };
}

/** A computation that stops when its signal says so, as a well-behaved one does. */
function honouringSignal(started: () => void) {
  return ({ signal }: { signal: AbortSignal }) =>
    new Promise<string>((_resolve, reject) => {
      started();
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
}

describe('holder edge cases', () => {
  it("a holder that lost its lock mid-computation goes back to wait, and gets the new holder's value", async () => {
    const prefix = uniquePrefix('lost-then-wait');
    const keys = cacheKeys(prefix, 'k');
    const a = guard({ keyPrefix: prefix, lockTtlMs: 600 });
    const computing = deferred();
    const call = a.guard.getOrCompute(
      'k',
      honouringSignal(() => computing.resolve()),
    );
    await computing.promise;

    // The lock is taken from under it (expired during a pause, say): someone else holds it now.
    await admin.del(keys.lock);
    const other = (await acquireLock(toPort(admin), keys, 30_000))!;
    await waitUntil('the holder noticed', () => a.log.count('lock.lost') === 1);
    await waitUntil('it waits for the new holder', () => a.log.count('wait.start') === 1);
    await writeEnvelope(toPort(admin), keys, envelope('from-the-new-holder', other.fence), other, 60_000);

    expect(await call).toEqual({ value: 'from-the-new-holder', source: 'waited' });
  });

  it('a holder whose computation fails after its lock was taken away says so at release, and leaves the new lock alone', async () => {
    const prefix = uniquePrefix('lost-at-release');
    const keys = cacheKeys(prefix, 'k');
    // A long TTL: the watchdog does not look before the computation ends.
    const a = guard({ keyPrefix: prefix, lockTtlMs: 30_000, failurePolicy: 'error' });
    const err = await a.guard
      .getOrCompute('k', async () => {
        await admin.del(keys.lock); // expired during a pause, say
        await acquireLock(toPort(admin), keys, 30_000); // someone else holds it now
        throw new Error('backend down');
      })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ message: 'backend down' });
    expect(a.log.lines.filter((l) => l.event === 'lock.lost').map((l) => l.during)).toEqual(['release']);
    expect(a.log.count('lock.released')).toBe(0);
    expect(await admin.exists(keys.lock)).toBe(1);
  });

  it("a long failure reaches waiters cut to 200 characters; the holder's caller gets it whole", async () => {
    const prefix = uniquePrefix('long-reason');
    const bRedis = connect();
    const a = guard({ keyPrefix: prefix, lockTtlMs: 30_000, failurePolicy: 'error' });
    const b = guard({ keyPrefix: prefix, lockTtlMs: 30_000, failurePolicy: 'error' }, bRedis);
    const computing = deferred();
    const fail = deferred();
    const reason = `${'r'.repeat(199)}XY${'z'.repeat(300)}`;
    const held = a.guard
      .getOrCompute('k', async () => {
        computing.resolve();
        await fail.promise;
        throw new Error(reason);
      })
      .catch((e: unknown) => e);
    await computing.promise;
    const parked = await afterScripts(bRedis, 2);
    const waited = b.guard.getOrCompute('k', async () => 'never').catch((e: unknown) => e);
    await parked();
    fail.resolve();
    expect(await held).toMatchObject({ message: reason });
    const heard = (await waited) as Error;
    expect(heard.message).toContain(`${'r'.repeat(199)}X`);
    expect(heard.message).not.toContain('XY');
  });

  it("closing a holder's guard lets the fleet's waiters contend again instead of failing them", async () => {
    const prefix = uniquePrefix('close-holder');
    const a = guard({ keyPrefix: prefix, lockTtlMs: 30_000 });
    const bRedis = connect();
    const b = guard({ keyPrefix: prefix, lockTtlMs: 30_000, failurePolicy: 'error' }, bRedis);
    const computing = deferred();
    const held = a.guard.getOrCompute(
      'k',
      honouringSignal(() => computing.resolve()),
    );
    await computing.promise;
    const parked = await afterScripts(bRedis, 2);
    const waited = b.guard.getOrCompute('k', async () => 'computed-by-b');
    await parked(); // b hears what a's close says, rather than finding the lock free

    await a.guard.close();
    await expect(held).rejects.toMatchObject({ code: 'E_CLOSED' });
    expect(await waited).toEqual({ value: 'computed-by-b', source: 'computed' });
  });

  it('a value written between a miss and the acquire is taken without the lock, and tells waiters nothing', async () => {
    const target = new URL(redisUrl());
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
    try {
      const prefix = uniquePrefix('double-check');
      const keys = cacheKeys(prefix, 'k');
      const a = guard({ keyPrefix: prefix, lockTtlMs: 30_000 }, createRedis(proxy.url, 'cache'));
      await a.guard.getOrCompute('warm', async () => 'loads the scripts');
      const channel = await channelMessages(keys.channel);

      const hold = proxy.holdRequest(keys.lock);
      let computations = 0;
      const call = a.guard.getOrCompute('k', async () => `computed-${++computations}`);
      await hold.arrived; // a missed and is on its way to take the lock...
      const other = (await acquireLock(toPort(admin), keys, 30_000))!; // ...when another process fills the key
      await writeEnvelope(toPort(admin), keys, envelope('from-the-other', other.fence), other, 60_000);
      hold.release();

      expect(await call).toEqual({ value: 'from-the-other', source: 'cache' });
      expect(computations).toBe(0);
      await waitUntil('the write was announced', () => channel.messages.length >= 1);
      await new Promise((resolve) => setTimeout(resolve, 100));
      // Only the other process's write was announced (with its value); nothing from a's claim.
      expect(channel.messages).toHaveLength(1);
      expect(channel.messages[0]).toMatch(/^written:.*from-the-other/);
    } finally {
      await proxy.close();
    }
  });

  for (const name of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) {
    it(`refuses the strategy name "${name}" with E_STRATEGY`, async () => {
      const { guard: g } = guard({ keyPrefix: uniquePrefix('strategy-name') });
      await expect(g.getOrCompute('k', async () => 'v', { strategy: name as never })).rejects.toMatchObject({ code: 'E_STRATEGY' });
    });
  }
});
