/**
 * close() with calls in flight (issue 22, findings 6 to 8): every call still running ends
 * promptly with GuardClosedError, nothing more is written for it, and nothing of the guard is left
 * open. Each case failed before: a call in its first claim opened a subscriber after close(), a
 * waiter sat out the lock TTL and then computed, a closing holder started a fleet-wide back-off.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { encodeEnvelope } from '../src/cache/envelope.js';
import { createGuard } from '../src/cache/guard.js';
import { cacheKeys } from '../src/keys.js';
import { acquireLock } from '../src/lock/redis-lock.js';
import { closeGuards, processGuard } from './support/guards.js';
import { afterScripts } from './support/parked.js';
import { closeAll, connect, redisUrl, uniquePrefix } from './support/redis.js';
import { startTcpProxy } from './support/tcp-proxy.js';
import { startEmbeddedRedis } from '../scripts/redis/redis-server.js';
import { deferred, waitUntil } from './support/wait.js';
import { Redis } from 'ioredis';
import { toPort } from '../src/redis/adapt.js';

const admin = connect();
afterEach(closeGuards);
afterAll(() => closeAll(admin));

/** How long a promise takes to settle, and how it settled. */
async function settled<T>(promise: Promise<T>): Promise<{ ms: number; result?: T; error?: { code?: string } }> {
  const started = Date.now();
  try {
    return { ms: Date.now() - started, result: await promise };
  } catch (error) {
    return { ms: Date.now() - started, error: error as { code?: string } };
  }
}

describe('close() with calls in flight', () => {
  it('a call in its first claim when close() runs opens no subscriber afterwards', async () => {
    const prefix = uniquePrefix('close-first-claim');
    expect(await acquireLock(toPort(admin), cacheKeys(prefix, 'k'), 30_000)).not.toBeNull(); // the call will find it busy
    const target = new URL(redisUrl());
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
    const redis = new Redis(proxy.url, { maxRetriesPerRequest: null });
    try {
      const guard = createGuard({ redis, keyPrefix: prefix });
      await redis.ping();
      const held = proxy.holdRequest('evalsha');
      const call = guard.getOrCompute('k', async () => 'never');
      await held.arrived;
      await guard.close();
      const connectionsAtClose = proxy.accepted;
      held.release();
      expect((await settled(call)).error?.code).toBe('E_CLOSED');
      await redis.ping(); // anything the call sent after the claim has been sent by now
      expect(proxy.accepted).toBe(connectionsAtClose); // no subscriber connection was opened
    } finally {
      redis.disconnect();
      await proxy.close();
    }
  });

  it('a waiter ends at once with E_CLOSED, and never computes after', async () => {
    const prefix = uniquePrefix('close-waiter');
    const keys = cacheKeys(prefix, 'k');
    const lease = await acquireLock(toPort(admin), keys, 2_000); // a holder that never finishes
    expect(lease).not.toBeNull();
    const { guard, redis } = processGuard({ keyPrefix: prefix, lockTtlMs: 10_000 });
    let computed = 0;
    const parked = await afterScripts(redis, 2);
    const call = settled(
      guard.getOrCompute('k', async () => {
        computed += 1;
        return 'after-close';
      }),
    );
    await parked();
    await guard.close();
    const outcome = await call;
    expect(outcome.error?.code).toBe('E_CLOSED');
    expect(outcome.ms).toBeLessThan(2_000); // before: the lock TTL (10 s)
    // The holder's lock expires; a call of a closed guard must not take it and compute.
    await new Promise((resolve) => setTimeout(resolve, 2_200));
    expect(computed).toBe(0);
    expect(await admin.exists(keys.value, keys.lock)).toBe(0);
  });

  it('a holder recomputing over a stale value: E_CLOSED, no stale value served, no fleet-wide back-off', async () => {
    const prefix = uniquePrefix('close-backoff');
    const keys = cacheKeys(prefix, 'k');
    const now = Date.now();
    const stale = { value: 'stale', fence: 1, computedAt: now - 2_000, computeMs: 1, ttlMs: 1_000, freshUntil: now - 1_000 };
    await admin.hset(keys.value, { fence: 1, envelope: encodeEnvelope(stale), freshUntil: stale.freshUntil, computedAt: stale.computedAt });
    await admin.pexpire(keys.value, 60_000);
    const { guard } = processGuard({ keyPrefix: prefix, failurePolicy: 'stale', failureBackoffMs: 30_000 });
    const computing = deferred();
    const call = settled(
      guard.getOrCompute('k', () => {
        computing.resolve();
        return new Promise<string>(() => {});
      }),
    );
    await computing.promise;
    await guard.close();
    expect((await call).error?.code).toBe('E_CLOSED');
    expect(await admin.hget(keys.value, 'backoffUntil')).toBeNull();
    expect(await admin.exists(keys.lock)).toBe(0); // given back for the fleet at once
  });

  it('close() while its subscriber reconnects to a paused Redis leaves no unhandled rejection (found by the model checker)', async () => {
    const server = await startEmbeddedRedis({ log: () => {} });
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    const redis = new Redis(server.url, { maxRetriesPerRequest: null });
    const killer = new Redis(server.url);
    try {
      const prefix = uniquePrefix('close-reconnecting');
      const guard = createGuard({ redis, keyPrefix: prefix, l1: { maxEntries: 10 } });
      const bus = `${prefix}:{!l1}:db0:written`;
      await waitUntil('the bus is subscribed', async () => ((await killer.pubsub('NUMSUB', bus))[1] as number) === 1);
      await killer.client('KILL', 'TYPE', 'pubsub');
      // Paused while the subscriber reconnects: its own SUBSCRIBEs wait for a reply.
      process.kill(server.pid, 'SIGSTOP');
      await new Promise((resolve) => setTimeout(resolve, 300));
      const closed = guard.close();
      await new Promise((resolve) => setTimeout(resolve, 200));
      process.kill(server.pid, 'SIGCONT');
      await closed;
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(unhandled.map(String)).toEqual([]);
    } finally {
      process.kill(server.pid, 'SIGCONT');
      process.off('unhandledRejection', onUnhandled);
      redis.disconnect();
      killer.disconnect();
      await server.stop();
    }
  });
});
