import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { LockLostError } from '../src/errors.js';
import { cacheKeys } from '../src/keys.js';
import { readEnvelope } from '../src/cache/store.js';
import { acquireLock } from '../src/lock/redis-lock.js';
import { startWatchdog } from '../src/lock/watchdog.js';
import { closeGuards, processGuard } from './support/guards.js';
import { closeAll, connect, redisUrl, uniquePrefix } from './support/redis.js';
import { startTcpProxy } from './support/tcp-proxy.js';
import { deferred, sleep, waitUntil } from './support/wait.js';
import { toPort } from '../src/redis/adapt.js';

afterEach(closeGuards);

describe('the lock watchdog', () => {
  it('a computation three times longer than the lock TTL keeps its lock: one recomputation, lock extended', async () => {
    const prefix = uniquePrefix('watchdog-long');
    // Long enough that a stall of the event loop on a loaded machine (up to about 2/3 of it) does not
    // lose the lock between two extensions; the computation still lasts three TTLs.
    const lockTtlMs = 1200;
    const fleet = [0, 1, 2].map(() => processGuard({ keyPrefix: prefix, lockTtlMs, maxWaitMs: 60_000 }));
    let computations = 0;
    const results = await Promise.all(
      fleet.flatMap(({ guard }) =>
        Array.from({ length: 10 }, () =>
          guard.getOrCompute('slow', async () => {
            computations += 1;
            await sleep(lockTtlMs * 3);
            return `computed-${computations}`;
          }),
        ),
      ),
    );
    expect(computations).toBe(1);
    expect(new Set(results.map((r) => r.value))).toEqual(new Set(['computed-1']));
    const extended = fleet.reduce((n, { capture }) => n + capture.count('lock.extended'), 0);
    expect(extended).toBeGreaterThanOrEqual(2);
    expect(fleet.reduce((n, { capture }) => n + capture.count('lock.lost'), 0)).toBe(0);
  });

  it('a lock deleted mid-computation: lock.lost, the signal aborts, and the late write is rejected by the fence', async () => {
    const prefix = uniquePrefix('watchdog-lost');
    const keys = cacheKeys(prefix, 'k');
    const a = processGuard({ keyPrefix: prefix, lockTtlMs: 600 });
    const b = processGuard({ keyPrefix: prefix, lockTtlMs: 30_000 });

    const started = deferred<AbortSignal>();
    const finish = deferred<string>();
    const callA = a.guard.getOrCompute('k', async ({ signal }) => {
      started.resolve(signal);
      return finish.promise; // ignores its signal, as some computations will
    });
    const signalA = await started.promise;
    await b.redis.del(keys.lock);
    await waitUntil('A notices', () => signalA.aborted);
    expect(signalA.reason).toBeInstanceOf(LockLostError);
    expect(a.capture.count('lock.lost')).toBe(1);

    expect(await b.guard.getOrCompute('k', async () => 'from-B')).toEqual({ value: 'from-B', source: 'computed' });
    finish.resolve('from-A');
    await callA;
    expect(a.capture.count('cache.write.rejected')).toBe(1);
    expect((await readEnvelope<string>(toPort(b.redis), keys))?.value).toBe('from-B');
  });
});

describe('the watchdog on a flaky connection', () => {
  it('a failed extension is "try again", not a lost lock: the next one keeps the lock', async () => {
    const target = new URL(redisUrl());
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
    // No retries: a command under way when the connection drops fails at once.
    const redis = new Redis(proxy.url, { maxRetriesPerRequest: 0, retryStrategy: () => 20 });
    redis.on('error', () => {});
    const admin = connect();
    try {
      const keys = cacheKeys(uniquePrefix('watchdog-flaky'), 'k');
      const lease = (await acquireLock(toPort(redis), keys, 600))!;
      let lost = 0;
      let extended = 0;
      const dropped = proxy.dropReplyTo(keys.lock); // the first extension's reply is lost
      const stop = startWatchdog(toPort(redis), keys, lease, { onExtended: () => extended++, onLost: () => lost++ });
      await dropped;
      await waitUntil('a later extension succeeded (or the lock was reported lost)', () => extended >= 2 || lost > 0);
      stop();
      expect(lost).toBe(0);
      expect(await admin.get(keys.lock)).toBe(lease.token);
    } finally {
      redis.disconnect();
      await closeAll(admin);
      await proxy.close();
    }
  });
});
