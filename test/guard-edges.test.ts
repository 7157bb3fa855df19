/**
 * Behaviours the other files do not pin down, each with a test that fails when the code is
 * wrong: the wait's deadline, close(), jitter, a corrupt value, a failed background refresh, a
 * throwing computation under local-lock, an unfenced write.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { encodeEnvelope, type Envelope } from '../src/cache/envelope.js';
import { readEnvelope, writeEnvelope } from '../src/cache/store.js';
import { cacheKeys } from '../src/keys.js';
import { acquireLock } from '../src/lock/redis-lock.js';
import { closeGuards, processGuard } from './support/guards.js';
import { afterScripts } from './support/parked.js';
import { closeAll, connect, redisUrl, uniquePrefix } from './support/redis.js';
import { startTcpProxy } from './support/tcp-proxy.js';
import { createGuard } from '../src/cache/guard.js';
import { captureLogger } from './support/log-capture.js';
import { Redis } from 'ioredis';
import { deferred, sleep, waitUntil } from './support/wait.js';
import { toPort } from '../src/redis/adapt.js';

let admin: Redis;
beforeAll(() => {
  admin = connect();
});
afterEach(closeGuards);
afterAll(async () => {
  await closeAll(admin);
});

function envelope(value: string, fence: number, freshForMs = 60_000): Envelope<string> {
  const now = Date.now();
  return { value, fence, computedAt: now - 1, computeMs: 5, ttlMs: freshForMs, freshUntil: now + freshForMs };
}

/** Store a value as a holder's write would, but with no notification (one lost, say). */
async function storeQuietly(prefix: string, value: Envelope<string>): Promise<void> {
  const keys = cacheKeys(prefix, 'k');
  await admin
    .multi()
    .hset(keys.value, { fence: value.fence, envelope: encodeEnvelope(value), freshUntil: value.freshUntil, computedAt: value.computedAt })
    .pexpire(keys.value, 120_000)
    .exec();
}

describe('the wait and its deadline', () => {
  it('a wait that ends without news reads again, and a value that appeared meanwhile is one it waited for', async () => {
    const prefix = uniquePrefix('wait-quiet');
    expect(await acquireLock(toPort(admin), cacheKeys(prefix, 'k'), 30_000)).not.toBeNull(); // a holder that never notifies
    const { guard, redis, capture } = processGuard({ keyPrefix: prefix, lockTtlMs: 500, maxWaitMs: 10_000 });
    const parked = await afterScripts(redis, 2);
    const call = guard.getOrCompute('k', async () => 'never');
    await parked();
    await storeQuietly(prefix, envelope('quiet', 0));
    expect(await call).toEqual({ value: 'quiet', source: 'waited' });
    expect(capture.lines.filter((l) => l.event === 'wait.end').map((l) => l.outcome)).toEqual(['timeout']);
  });

  it("a holder that lost its lock and finds the new holder's value already stored takes it as a read, without waiting", async () => {
    const prefix = uniquePrefix('lost-value-there');
    const keys = cacheKeys(prefix, 'k');
    // The watchdog first looks after a third of the TTL (1 s): long after the test's two steps.
    const { guard, capture } = processGuard({ keyPrefix: prefix, lockTtlMs: 3000 });
    const computing = deferred();
    const call = guard.getOrCompute(
      'k',
      ({ signal }) =>
        new Promise<string>((_resolve, reject) => {
          computing.resolve();
          signal.addEventListener('abort', () => reject(signal.reason), { once: true });
        }),
    );
    await computing.promise;
    await admin.del(keys.lock);
    await storeQuietly(prefix, envelope('theirs', Date.now() * 1000));
    expect(await call).toEqual({ value: 'theirs', source: 'cache' });
    expect(capture.lines.filter((l) => l.event === 'lock.lost').map((l) => l.during)).toEqual(['compute']);
    expect(capture.count('wait.start')).toBe(0);
  });

  it('maxWaitMs: a caller whose holder never finishes gives up with WaitTimeoutError, naming the key', async () => {
    const prefix = uniquePrefix('max-wait');
    expect(await acquireLock(toPort(admin), cacheKeys(prefix, 'k'), 30_000)).not.toBeNull(); // a holder that never writes
    const { guard } = processGuard({ keyPrefix: prefix, lockTtlMs: 200, maxWaitMs: 600 });
    const started = Date.now();
    await expect(guard.getOrCompute('k', async () => 'never')).rejects.toMatchObject({
      code: 'E_WAIT_TIMEOUT',
      key: 'k',
      message: 'gave up waiting for key "k" after 600 ms',
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(590);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe('close()', () => {
  it('refuses guard.lock after close, taking no lock', async () => {
    const prefix = uniquePrefix('close-lock');
    const { guard } = processGuard({ keyPrefix: prefix });
    await guard.close();
    await expect(guard.lock('job')).rejects.toMatchObject({ code: 'E_CLOSED' });
    expect(await admin.keys(`${prefix}*`)).toEqual([]);
  });

  it('aborts the signal of a computation in flight, and its caller gets E_CLOSED', async () => {
    const { guard } = processGuard({ keyPrefix: uniquePrefix('close-abort') });
    let signal: AbortSignal | undefined;
    const call = guard.getOrCompute('k', ({ signal: s }) => {
      signal = s;
      return new Promise<string>(() => {});
    });
    await waitUntil('computing', () => signal !== undefined);
    await guard.close();
    await expect(call).rejects.toMatchObject({ code: 'E_CLOSED' });
    expect(signal!.aborted).toBe(true);
    await expect(guard.getOrCompute('k', async () => 'after')).rejects.toMatchObject({ code: 'E_CLOSED' });
  });

  it('waits for a background refresh to finish, and starts none after', async () => {
    const prefix = uniquePrefix('close-refresh');
    await writeEnvelope(toPort(admin), cacheKeys(prefix, 'k'), envelope('stale', 0, -1000), null, 60_000);
    const { guard } = processGuard({ keyPrefix: prefix });
    const gate = deferred<string>();
    let closedYet = false;
    expect(await guard.getOrCompute('k', () => gate.promise, { strategy: 'swr' })).toEqual({ value: 'stale', source: 'stale' });
    const closed = guard.close().then(() => (closedYet = true));
    await sleep(50);
    expect(closedYet).toBe(false); // close() is waiting for the refresh
    gate.resolve('fresh');
    await closed;
    expect((await readEnvelope(toPort(admin), cacheKeys(prefix, 'k')))?.value).toBe('fresh');
  });
});

describe('values', () => {
  it('ttlJitter shortens the fresh time by the random fraction', async () => {
    const prefix = uniquePrefix('jitter');
    const { guard } = processGuard({ keyPrefix: prefix, valueTtlMs: 1000, ttlJitter: 0.5, random: () => 0.5 });
    await guard.getOrCompute('k', async () => 'v');
    const stored = (await readEnvelope(toPort(admin), cacheKeys(prefix, 'k')))!;
    expect(stored.ttlMs).toBe(750);
    expect(stored.freshUntil - stored.computedAt).toBe(750);
  });

  for (const strategy of ['redis-lock', 'none', 'swr'] as const) {
    it(`${strategy}: a corrupt stored value reads as a miss, and is replaced`, async () => {
      const prefix = uniquePrefix(`corrupt-${strategy}`);
      const keys = cacheKeys(prefix, 'k');
      await admin.hset(keys.value, 'envelope', '{not json', 'freshUntil', String(Date.now() + 60_000), 'fence', '1');
      await admin.pexpire(keys.value, 60_000);
      const { guard } = processGuard({ keyPrefix: prefix });
      expect(await guard.getOrCompute('k', async () => 'recomputed', { strategy })).toEqual({ value: 'recomputed', source: 'computed' });
      expect((await readEnvelope(toPort(admin), keys))?.value).toBe('recomputed');
    });
  }

  it('a failed background refresh keeps the stale value as it was', async () => {
    const prefix = uniquePrefix('failed-refresh');
    const keys = cacheKeys(prefix, 'k');
    const stale = envelope('stale', 0, -1000);
    await writeEnvelope(toPort(admin), keys, stale, null, 60_000);
    const { guard, capture } = processGuard({ keyPrefix: prefix, failureBackoffMs: 0 });
    expect(await guard.getOrCompute('k', async () => Promise.reject(new Error('boom')), { strategy: 'swr' })).toEqual({
      value: 'stale',
      source: 'stale',
    });
    await waitUntil('the refresh ended', () => capture.count('refresh.end') === 1);
    expect(capture.lines.find((l) => l.event === 'refresh.end')).toMatchObject({ ok: false });
    expect(await readEnvelope(toPort(admin), keys)).toMatchObject({ value: 'stale', computedAt: stale.computedAt });
    expect(await admin.exists(keys.lock)).toBe(0); // released at once
  });

  it('local-lock: a computation that throws does not keep the key locked for the next caller', async () => {
    const { guard } = processGuard({ keyPrefix: uniquePrefix('local-throw') });
    await expect(guard.getOrCompute('k', async () => Promise.reject(new Error('first')), { strategy: 'local-lock' })).rejects.toThrow(
      'first',
    );
    const started = Date.now();
    expect(await guard.getOrCompute('k', async () => 'second', { strategy: 'local-lock' })).toEqual({
      value: 'second',
      source: 'computed',
    });
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe('hits and the unlocked strategies', () => {
  for (const strategy of ['none', 'local-lock'] as const) {
    it(`${strategy}: a hit is one read, logged as a hit and nothing else`, async () => {
      const { guard, capture } = processGuard({ keyPrefix: uniquePrefix(`hit-${strategy}`) });
      await guard.getOrCompute('k', async () => 'v', { strategy });
      const before = capture.lines.length;
      expect(await guard.getOrCompute('k', async () => 'never', { strategy })).toEqual({ value: 'v', source: 'cache' });
      expect(capture.lines.slice(before).map((l) => l.event)).toEqual(['cache.hit']);
    });
  }

  it('local-lock: callers that queued behind the computation get its value as waited', async () => {
    const { guard } = processGuard({ keyPrefix: uniquePrefix('local-waited') });
    const compute = async () => {
      await sleep(50);
      return 'v';
    };
    const results = await Promise.all([1, 2, 3].map(() => guard.getOrCompute('k', compute, { strategy: 'local-lock' })));
    expect(results.map((r) => r.source).sort()).toEqual(['computed', 'waited', 'waited']);
  });

  it('computeTimeoutMs 0 means no time limit', async () => {
    const { guard } = processGuard({ keyPrefix: uniquePrefix('no-timeout'), computeTimeoutMs: 0 });
    const slow = async () => {
      await sleep(50);
      return 'v';
    };
    expect(await guard.getOrCompute('k', slow)).toEqual({ value: 'v', source: 'computed' });
  });
});

describe('the fenced write, unfenced', () => {
  it('a write without a lock (fence 0) stores its value and keeps the stored fence', async () => {
    const keys = cacheKeys(uniquePrefix('unfenced'), 'k');
    const lease = (await acquireLock(toPort(admin), keys, 30_000))!;
    await writeEnvelope(toPort(admin), keys, envelope('locked', lease.fence), lease, 60_000);
    const outcome = await writeEnvelope(toPort(admin), keys, envelope('unlocked', 0), null, 60_000);
    expect(outcome).toEqual({ written: true, released: false, storedFence: lease.fence });
    expect(await readEnvelope(toPort(admin), keys)).toMatchObject({ value: 'unlocked', fence: lease.fence });
    // A holder older than the stored fence is still refused after the unfenced write.
    expect((await writeEnvelope(toPort(admin), keys, envelope('older', lease.fence - 1), null, 60_000)).written).toBe(false);
  });
});

describe('the subscriber', () => {
  it('is one connection for every wait of a guard, and its errors are reported as redis.error', async () => {
    const target = new URL(redisUrl());
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
    const prefix = uniquePrefix('one-subscriber');
    const redis = new Redis(proxy.url, { maxRetriesPerRequest: 1 });
    redis.on('error', () => {});
    const log = captureLogger();
    const guard = createGuard({ redis, keyPrefix: prefix, lockTtlMs: 200, maxWaitMs: 200, logger: log.logger });
    await redis.ping();
    for (const key of ['a', 'b', 'c']) {
      expect(await acquireLock(toPort(admin), cacheKeys(prefix, key), 30_000)).not.toBeNull(); // held elsewhere
      await expect(guard.getOrCompute(key, async () => 'never')).rejects.toMatchObject({ code: 'E_WAIT_TIMEOUT' });
    }
    expect(proxy.accepted).toBe(2); // the guard's client and its subscriber

    await proxy.close(); // the subscriber's reconnects are refused now
    await waitUntil('the subscriber reported an error', () => log.lines.some((l) => l.event === 'redis.error'));
    expect(log.lines.find((l) => l.event === 'redis.error')).toMatchObject({ role: 'subscriber' });
    await guard.close();
    redis.disconnect();
  });
});
