/**
 * guard.lock at its edges: a contender that gives up while the lock is being handed to it, a
 * holder that never releases, the arguments of lock(), and what a wait leaves behind. Each case
 * failed before its fix: the name deadlocked in its process, the process's contenders timed out
 * with the lock free in Redis, `waitMs: '200'` waited about 24.8 days, a timer outlived the wait.
 */
import { createHook } from 'node:async_hooks';
import { getEventListeners } from 'node:events';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createGuard } from '../src/cache/guard.js';
import { lockKeys } from '../src/keys.js';
import { acquireLock, releaseLock } from '../src/lock/redis-lock.js';
import { MAX_TIMER_MS } from '../src/timers.js';
import { captureLogger } from './support/log-capture.js';
import { closeGuards, processGuard } from './support/guards.js';
import { closeAll, connect, redisUrl, uniquePrefix } from './support/redis.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';
import { sleep, waitUntil } from './support/wait.js';
import { toPort } from '../src/redis/adapt.js';

const admin = connect();
afterEach(closeGuards);
afterAll(() => closeAll(admin));

/**
 * A guard whose Redis connection goes through a proxy, so a test can hold one of its requests.
 * Its Redis deadline is longer than any hold here: a request held past `redisTimeoutMs` is an
 * outage (redis-outage.test.ts), and these tests are about the hand-off, not the outage.
 */
async function proxiedGuard(keyPrefix: string) {
  const target = new URL(redisUrl());
  const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
  const redis = new Redis(proxy.url, { maxRetriesPerRequest: 2 });
  const guard = createGuard({ redis, keyPrefix, logger: captureLogger().logger, redisTimeoutMs: 30_000 });
  const close = async () => {
    await guard.close();
    redis.disconnect();
    await proxy.close();
  };
  return { guard, proxy, close };
}

/** Whether a promise has settled yet, without waiting for it. */
function tracked<T>(promise: Promise<T>): { promise: Promise<T>; readonly settled: boolean } {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  return {
    promise,
    get settled() {
      return settled;
    },
  };
}

/** The holder's release is on its way to Redis (its hand-off script carries the holder's token), held in the proxy. */
function holdHandOff(proxy: TcpProxy, token: string) {
  return proxy.holdRequest(token);
}

describe('a contender that gives up while the lock is being handed to it', () => {
  for (const by of ['its signal', 'its waitMs'] as const) {
    it(`gives up by ${by} during the hand-off: the next in line gets the lock, and the name stays usable`, async () => {
      const prefix = uniquePrefix('fair-edge-handoff');
      const lockKey = lockKeys(prefix, 'job').lock;
      const a = await proxiedGuard(prefix);
      try {
        const holder = await a.guard.lock('job', { ttlMs: 30_000 });
        const controller = new AbortController();
        const leaving = tracked(a.guard.lock('job', by === 'its signal' ? { signal: controller.signal } : { waitMs: 2000 }));
        const next = a.guard.lock('job', { waitMs: 8000 });
        const hold = holdHandOff(a.proxy, holder.token);
        const releasing = holder.release();
        await hold.arrived; // the hand-off to `leaving` is on its way...
        expect(leaving.settled).toBe(false);
        if (by === 'its signal') controller.abort(new Error('not needed any more'));
        await expect(leaving.promise).rejects.toMatchObject(
          by === 'its signal' ? { message: 'not needed any more' } : { code: 'E_WAIT_TIMEOUT' },
        );
        hold.release(); // ...and arrives after its receiver left
        expect(await releasing).toBe(true);

        const held = await next; // before the fix: nobody passed the lock on, and this timed out
        expect(held.fence).toBeGreaterThan(holder.fence);
        expect(await admin.get(lockKey)).toBe(held.token);
        await held.release();
        const again = await a.guard.lock('job', { waitMs: 8000 });
        await again.release();
        expect(await admin.exists(lockKey)).toBe(0);
      } finally {
        await a.close();
      }
    });
  }

  it('with nobody behind it, the lock goes back to Redis: another process takes it at once, and this one can again', async () => {
    const prefix = uniquePrefix('fair-edge-handoff-last');
    const lockKey = lockKeys(prefix, 'job').lock;
    const a = await proxiedGuard(prefix);
    const { guard: b } = processGuard({ keyPrefix: prefix });
    try {
      const holder = await a.guard.lock('job', { ttlMs: 30_000 });
      const controller = new AbortController();
      const leaving = a.guard.lock('job', { signal: controller.signal });
      const hold = holdHandOff(a.proxy, holder.token);
      const releasing = holder.release();
      await hold.arrived;
      controller.abort(new Error('not needed any more'));
      await expect(leaving).rejects.toThrow('not needed any more');
      hold.release();
      expect(await releasing).toBe(true);

      // Before the fix the lock stayed with a token nobody owned for its whole TTL (30 s).
      const other = await b.lock('job', { waitMs: 8000 });
      expect(await admin.get(lockKey)).toBe(other.token);
      await other.release();
      // Before the fix the name stayed blocked in a's process even with the lock free in Redis.
      const mine = await a.guard.lock('job', { waitMs: 8000 });
      await mine.release();
      expect(await admin.exists(lockKey)).toBe(0);
    } finally {
      await a.close();
    }
  });
});

describe('a holder that never releases', () => {
  it("its own process's contenders take the lock from Redis once its TTL is over; its release then changes nothing", async () => {
    const prefix = uniquePrefix('fair-edge-abandoned');
    const lockKey = lockKeys(prefix, 'job').lock;
    const { guard } = processGuard({ keyPrefix: prefix });
    const abandoned = await guard.lock('job', { ttlMs: 300 });
    const first = guard.lock('job', { waitMs: 8000 });
    const second = guard.lock('job', { waitMs: 8000 });

    const held = await first; // before the fix: WaitTimeoutError after 8 s, with the lock free in Redis since 300 ms
    expect(held.fence).toBeGreaterThan(abandoned.fence);
    expect(await admin.get(lockKey)).toBe(held.token);
    expect(abandoned.signal.aborted).toBe(true);
    expect(abandoned.signal.reason).toMatchObject({ message: 'lost the lock "job"' });
    expect(await abandoned.release()).toBe(false);
    expect(await admin.get(lockKey)).toBe(held.token);

    // The line goes on as before: the next in line gets it by hand-off.
    await held.release();
    const then = await second;
    expect(then.fence).toBeGreaterThan(held.fence);
    expect(await admin.get(lockKey)).toBe(then.token);
    await then.release();
    expect(await admin.exists(lockKey)).toBe(0);
  });

  it('a holder that keeps its lock alive (the watchdog) past its TTL keeps it: its contenders wait for the hand-off', async () => {
    const prefix = uniquePrefix('fair-edge-kept');
    const lockKey = lockKeys(prefix, 'job').lock;
    const { guard } = processGuard({ keyPrefix: prefix });
    const kept = await guard.lock('job', { ttlMs: 2000, watchdog: true });
    const next = tracked(guard.lock('job', { waitMs: 30_000 }));
    await sleep(4500); // more than two TTLs
    expect(next.settled).toBe(false);
    expect(await admin.get(lockKey)).toBe(kept.token);
    expect(kept.signal.aborted).toBe(false);
    expect(await kept.release()).toBe(true);
    const held = await next.promise;
    expect(held.fence).toBeGreaterThan(kept.fence);
    await held.release();
  });
});

describe("a hand-off that finds the lock no longer the holder's", () => {
  it('sends the next in line to Redis: it waits for the one who has the lock now, and gets it on its release', async () => {
    const prefix = uniquePrefix('fair-edge-taken');
    const keys = lockKeys(prefix, 'job');
    const { guard } = processGuard({ keyPrefix: prefix });
    const holder = await guard.lock('job', { ttlMs: 30_000 });
    const next = tracked(guard.lock('job', { waitMs: 20_000 }));
    // Taken away (an operator, an expiry during a pause), and taken by another process.
    await admin.del(keys.lock);
    const other = (await acquireLock(toPort(admin), keys, 30_000))!;
    expect(await holder.release()).toBe(false);
    await sleep(100);
    expect(next.settled).toBe(false);
    expect(await releaseLock(toPort(admin), keys, other)).toBe(true);
    const held = await next.promise;
    expect(held.fence).toBeGreaterThan(other.fence);
    expect(await admin.get(keys.lock)).toBe(held.token);
    await held.release();
    expect(await admin.exists(keys.lock)).toBe(0);
  });
});

describe('the arguments of lock()', () => {
  for (const waitMs of ['200', -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, MAX_TIMER_MS + 1, 10n]) {
    it(`refuses waitMs ${typeof waitMs === 'string' ? `'${waitMs}'` : typeof waitMs === 'bigint' ? `${waitMs}n` : String(waitMs)} before it sends anything`, async () => {
      const prefix = uniquePrefix('fair-edge-waitms');
      const { guard } = processGuard({ keyPrefix: prefix });
      const error = await guard.lock('job', { waitMs: waitMs as never }).then(
        () => null,
        (err: unknown) => err,
      );
      expect(error).toMatchObject({ name: 'OptionsError', code: 'E_OPTIONS', option: 'waitMs' });
      const message = (error as Error).message;
      expect(message).toMatch(new RegExp(`^waitMs must be a whole number of ms from 0 to ${MAX_TIMER_MS}, got `));
      expect(message).toContain(typeof waitMs === 'string' ? `"${waitMs}"` : String(waitMs));
      expect(message).not.toContain('\n');
      expect(await admin.exists(lockKeys(prefix, 'job').lock)).toBe(0);
    });
  }

  it('takes waitMs 0 (no wait: WaitTimeoutError when the lock is held) and waitMs MAX_TIMER_MS', async () => {
    const prefix = uniquePrefix('fair-edge-waitms-ok');
    const { guard } = processGuard({ keyPrefix: prefix });
    const { guard: other } = processGuard({ keyPrefix: prefix });
    const held = await guard.lock('job', { waitMs: 0 });
    await expect(other.lock('job', { waitMs: 0 })).rejects.toMatchObject({ code: 'E_WAIT_TIMEOUT' });
    await held.release();
    const longest = await other.lock('job', { waitMs: MAX_TIMER_MS });
    await longest.release();
  });

  for (const signal of [{}, 'abort', { aborted: false }]) {
    it(`refuses a signal that is not an AbortSignal (${JSON.stringify(signal)})`, async () => {
      const prefix = uniquePrefix('fair-edge-signal');
      const { guard } = processGuard({ keyPrefix: prefix });
      await expect(guard.lock('job', { signal: signal as never })).rejects.toMatchObject({ code: 'E_OPTIONS', option: 'signal' });
      expect(await admin.exists(lockKeys(prefix, 'job').lock)).toBe(0);
    });
  }
});

/**
 * The library's timers armed from now on and still armed, with their delay. Unref'd timers count:
 * they do not keep a process alive, but each holds what its callback holds until it fires (up to
 * a lock TTL later). ioredis's own timers are its business, not the wait's.
 */
function watchTimers() {
  const armed = new Map<number, { ms: number; stack: string }>();
  const hook = createHook({
    init(id, type, _trigger, resource) {
      const stack = new Error('armed here').stack ?? '';
      if (type === 'Timeout' && stack.includes('/src/')) armed.set(id, { ms: (resource as { _idleTimeout: number })._idleTimeout, stack });
    },
    destroy(id) {
      armed.delete(id);
    },
  });
  hook.enable();
  return {
    armed: () => [...armed.values()],
    stop: () => hook.disable(),
  };
}

/**
 * A guard waits for a lock another process holds, parked on the release notification; then the
 * wait ends by `end`. Returns the library's timers still armed afterwards, and the caller's
 * signal's listeners.
 */
async function endParkedWait(end: 'its signal' | 'the guard closing') {
  const prefix = uniquePrefix('fair-edge-leftovers');
  const { guard: holderGuard } = processGuard({ keyPrefix: prefix });
  const { guard } = processGuard({ keyPrefix: prefix });
  const holder = await holderGuard.lock('job', { ttlMs: 30_000 });
  const controller = new AbortController();
  const timers = watchTimers();
  try {
    const waiting = guard.lock('job', { signal: controller.signal, ttlMs: 20_000, waitMs: 60_000 });
    const outcome = waiting.then(
      () => 'got the lock',
      (err: unknown) => err,
    );
    // Parked: waiting for the release notification, at most the lock's TTL (20 s) at a time...
    await waitUntil('the waiter is parked', () => timers.armed().some((timer) => timer.ms === 20_000));
    // ...when the wait ends.
    if (end === 'its signal') controller.abort(new Error('not needed any more'));
    else await guard.close();
    expect(await outcome).toMatchObject(end === 'its signal' ? { message: 'not needed any more' } : { code: 'E_CLOSED' });
    await sleep(50);
    return {
      timers: timers.armed().map((timer) => `${timer.ms} ms, ${timer.stack}`),
      listeners: getEventListeners(controller.signal, 'abort').length,
    };
  } finally {
    timers.stop();
    await holder.release();
  }
}

describe('nothing outlives a wait', () => {
  for (const end of ['its signal', 'the guard closing'] as const) {
    // Before, the wait for the release notification stayed armed for up to the lock's TTL.
    it(`a wait ended by ${end} leaves none of its timers and listeners armed`, async () => {
      const left = await endParkedWait(end);
      expect(left.timers).toEqual([]);
      expect(left.listeners).toBe(0);
    });
  }
});
