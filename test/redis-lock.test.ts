import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createGuard } from '../src/cache/guard.js';
import type { Envelope } from '../src/cache/envelope.js';
import { NOTIFY_VALUE_MAX_BYTES, readEnvelope, writeEnvelope } from '../src/cache/store.js';
import { cacheKeys, type CacheKeys } from '../src/keys.js';
import { acquireLock, extendLock, releaseLock, type LockLease } from '../src/lock/redis-lock.js';
import { captureLogger } from './support/log-capture.js';
import { closeAll, connect, uniquePrefix } from './support/redis.js';
import { deferred, waitUntil } from './support/wait.js';
import { toPort } from '../src/redis/adapt.js';

const prefix = uniquePrefix('redis-lock');
let redis: Redis;
let other: Redis; // a second connection: another process of the fleet
const opened: Redis[] = [];

beforeAll(() => {
  redis = connect();
  other = connect();
  opened.push(redis, other);
});
afterAll(async () => {
  await closeAll(...opened);
});

let counter = 0;
function freshKeys(label: string): CacheKeys {
  counter += 1;
  return cacheKeys(prefix, `${label}-${counter}`);
}

function envelope<T>(value: T, fence: number, ttlMs = 60_000): Envelope<T> {
  const now = Date.now();
  return { value, fence, computedAt: now, computeMs: 1, ttlMs, freshUntil: now + ttlMs };
}

/** The lock's key disappears by its own expiry (the test polls; the code under test never does). */
async function lockExpired(client: Redis, keys: CacheKeys): Promise<void> {
  await waitUntil('the lock expires', async () => (await client.pttl(keys.lock)) === -2);
}

/** Subscribe on a separate connection and resolve with the first message on the key's channel. */
async function nextMessage(keys: CacheKeys): Promise<{ message: Promise<string>; close(): Promise<void> }> {
  const subscriber = connect();
  opened.push(subscriber);
  const message = new Promise<string>((resolve) => {
    subscriber.on('message', (channel: string, text: string) => {
      if (channel === keys.channel) resolve(text);
    });
  });
  await subscriber.subscribe(keys.channel);
  return { message, close: () => closeAll(subscriber) };
}

describe('acquire, release, extend', () => {
  it('a second acquire while the lock is held gets nothing', async () => {
    const keys = freshKeys('busy');
    const first = await acquireLock(toPort(redis), keys, 30_000);
    expect(first).not.toBeNull();
    expect(await acquireLock(toPort(other), keys, 30_000)).toBeNull();
    expect(await redis.get(keys.lock)).toBe(first!.token);
  });

  it('refuses release and extend by a lease with the right key but another token', async () => {
    const keys = freshKeys('intruder');
    const owner = (await acquireLock(toPort(redis), keys, 30_000))!;
    expect(owner).not.toBeNull();
    const intruder: LockLease = { token: 'not-the-owner', fence: owner.fence, ttlMs: 30_000 };

    expect(await releaseLock(toPort(other), keys, intruder)).toBe(false);
    expect(await redis.get(keys.lock)).toBe(owner.token);

    expect(await extendLock(toPort(other), keys, intruder, 600_000)).toBe(false);
    const pttl = await redis.pttl(keys.lock);
    // Still the owner's 30 s (minus the time this test took), not the intruder's 10 minutes.
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(30_000);
    expect(await redis.get(keys.lock)).toBe(owner.token);

    // A fenced write with the intruder's lease must not release the owner's lock either.
    const outcome = await writeEnvelope(toPort(other), keys, envelope('intruder', 0), intruder, 0);
    expect(outcome.released).toBe(false);
    expect(await redis.get(keys.lock)).toBe(owner.token);

    // And nobody else can take it meanwhile.
    expect(await acquireLock(toPort(other), keys, 30_000)).toBeNull();
  });

  it('lets the owner extend, then release (once), and tells waiters on release', async () => {
    const keys = freshKeys('owner');
    const owner = (await acquireLock(toPort(redis), keys, 30_000))!;

    expect(await extendLock(toPort(redis), keys, owner, 600_000)).toBe(true);
    expect(await redis.pttl(keys.lock)).toBeGreaterThan(30_000);

    const listener = await nextMessage(keys);
    expect(await releaseLock(toPort(redis), keys, owner)).toBe(true);
    expect(await listener.message).toBe('released');
    await listener.close();
    expect(await redis.exists(keys.lock)).toBe(0);

    // A second release, or an extend after release, is refused: the lease no longer holds.
    expect(await releaseLock(toPort(redis), keys, owner)).toBe(false);
    expect(await extendLock(toPort(redis), keys, owner)).toBe(false);
    expect(await redis.exists(keys.lock)).toBe(0);
  });

  it('expires by itself, after which another holder can acquire', async () => {
    const keys = freshKeys('expiry');
    const vanished = (await acquireLock(toPort(redis), keys, 200))!;
    expect(vanished).not.toBeNull();
    // It has a TTL (-1 would mean none: a crashed holder would block the key forever); -2 if it
    // is already gone on a slow machine.
    const pttl = await redis.pttl(keys.lock);
    expect(pttl).not.toBe(-1);
    expect(pttl).toBeLessThanOrEqual(200);

    await lockExpired(redis, keys);
    const next = await acquireLock(toPort(other), keys, 30_000);
    expect(next).not.toBeNull();
    expect(next!.fence).toBeGreaterThan(vanished.fence);
    // The vanished holder's late release cannot free the new holder's lock.
    expect(await releaseLock(toPort(redis), keys, vanished)).toBe(false);
    expect(await redis.get(keys.lock)).toBe(next!.token);
  });

  it('hands out strictly increasing fences across acquisitions, from any connection', async () => {
    const keys = freshKeys('fences');
    const fences: number[] = [];
    for (let i = 0; i < 20; i++) {
      const client = i % 2 === 0 ? redis : other;
      const lease = (await acquireLock(toPort(client), keys, 30_000))!;
      fences.push(lease.fence);
      expect(await releaseLock(toPort(client), keys, lease)).toBe(true);
    }
    for (let i = 1; i < fences.length; i++) expect(fences[i]).toBeGreaterThan(fences[i - 1]!);
    // From the server's clock, in microseconds: no counter key to keep (or lose).
    const [seconds] = await redis.time();
    expect(Math.abs(fences.at(-1)! / 1e6 - Number(seconds))).toBeLessThan(5);
  });

  it("a fence is above the stored value's fence, even one from the future", async () => {
    const keys = freshKeys('fence-above-stored');
    const ahead = Date.now() * 1000 + 3_600_000_000; // an hour ahead of the server's clock
    expect((await writeEnvelope(toPort(redis), keys, envelope('ahead', ahead), null, 0)).written).toBe(true);
    const lease = (await acquireLock(toPort(redis), keys, 30_000))!;
    expect(lease.fence).toBe(ahead + 1);
    // And the new holder's write is accepted over it.
    expect((await writeEnvelope(toPort(other), keys, envelope('next', lease.fence), lease, 0)).written).toBe(true);
    expect((await readEnvelope<string>(toPort(redis), keys))?.value).toBe('next');
  });

  it("a fence is above the last lock's, also when both were taken within one microsecond", async () => {
    const keys = freshKeys('fence-above-last');
    const first = (await acquireLock(toPort(redis), keys, 30_000))!;
    await releaseLock(toPort(redis), keys, first);
    // The lease outlives the release until its TTL; pretend the clock stood still meanwhile.
    await redis.set(keys.lease, String(first.fence + 10_000_000), 'PX', 30_000);
    const second = (await acquireLock(toPort(redis), keys, 30_000))!;
    expect(second.fence).toBe(first.fence + 10_000_001);
  });
});

describe('the fenced write, store level', () => {
  it('writes, releases and notifies in one step for the current holder', async () => {
    const keys = freshKeys('write');
    const lease = (await acquireLock(toPort(redis), keys, 30_000))!;
    const listener = await nextMessage(keys);
    const outcome = await writeEnvelope(toPort(redis), keys, envelope({ n: 1 }, lease.fence), lease, 0);
    expect(outcome).toEqual({ written: true, released: true, storedFence: lease.fence });
    // A small value travels in the notification: waiters need no read.
    const message = await listener.message;
    expect(message.startsWith('written:')).toBe(true);
    expect(JSON.parse(message.slice('written:'.length))).toMatchObject({ value: { n: 1 }, fence: lease.fence });
    await listener.close();
    expect(await redis.exists(keys.lock)).toBe(0);
    expect(await readEnvelope(toPort(redis), keys)).toMatchObject({ value: { n: 1 }, fence: lease.fence });
    const ttl = await redis.pttl(keys.value);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  it('announces a value larger than the notification limit without carrying it', async () => {
    const keys = freshKeys('write-large');
    const lease = (await acquireLock(toPort(redis), keys, 30_000))!;
    const listener = await nextMessage(keys);
    const large = 'x'.repeat(NOTIFY_VALUE_MAX_BYTES + 1);
    expect((await writeEnvelope(toPort(redis), keys, envelope(large, lease.fence), lease, 0)).written).toBe(true);
    expect(await listener.message).toBe('written');
    await listener.close();
  });

  it("a holder paused past its TTL cannot overwrite the newer holder's value", async () => {
    const keys = freshKeys('paused-store');
    const a = (await acquireLock(toPort(redis), keys, 300))!;
    await lockExpired(redis, keys);

    const b = (await acquireLock(toPort(other), keys, 30_000))!;
    expect(b.fence).toBeGreaterThan(a.fence);
    expect(await writeEnvelope(toPort(other), keys, envelope('from-B', b.fence), b, 0)).toEqual({
      written: true,
      released: true,
      storedFence: b.fence,
    });

    // A wakes up and writes its stale result.
    expect(await writeEnvelope(toPort(redis), keys, envelope('from-A', a.fence), a, 0)).toEqual({
      written: false,
      released: false,
      storedFence: b.fence,
    });
    expect(await readEnvelope(toPort(redis), keys)).toMatchObject({ value: 'from-B', fence: b.fence });
  });

  it("a paused holder that writes before the new holder does not take the new holder's lock", async () => {
    const keys = freshKeys('paused-early');
    const a = (await acquireLock(toPort(redis), keys, 300))!;
    await lockExpired(redis, keys);
    const b = (await acquireLock(toPort(other), keys, 30_000))!;

    // Nothing newer is stored yet, so A's value lands; but B's lock stays B's.
    const early = await writeEnvelope(toPort(redis), keys, envelope('from-A', a.fence), a, 0);
    expect(early).toEqual({ written: true, released: false, storedFence: a.fence });
    expect(await redis.get(keys.lock)).toBe(b.token);

    // B's write, with the higher fence, replaces it.
    expect((await writeEnvelope(toPort(other), keys, envelope('from-B', b.fence), b, 0)).written).toBe(true);
    expect(await readEnvelope(toPort(redis), keys)).toMatchObject({ value: 'from-B', fence: b.fence });
  });
});

describe('the fenced write, two guards (two "processes")', () => {
  it("rejects the paused holder's write and keeps the newer value", async () => {
    const key = 'paused-guard';
    const keys = cacheKeys(prefix, key);
    const redisA = connect();
    const redisB = connect();
    opened.push(redisA, redisB);
    const logA = captureLogger();
    const logB = captureLogger();
    const guardA = createGuard({ redis: redisA, keyPrefix: prefix, lockTtlMs: 3000, logger: logA.logger });
    // Only A's lock is short: B must not lose its own lock on a slow machine.
    const guardB = createGuard({ redis: redisB, keyPrefix: prefix, lockTtlMs: 30_000, logger: logB.logger });
    try {
      const computing = deferred();
      const finish = deferred<string>();
      let signalA: AbortSignal | undefined;
      const callA = guardA.getOrCompute(key, async ({ signal }) => {
        signalA = signal;
        computing.resolve();
        return finish.promise; // A ignores its signal and goes on until the test says so
      });
      await computing.promise;
      // What a pause past the TTL looks like from Redis: A's lock is gone. (A's watchdog would
      // keep an expiring lock alive, so the test deletes it.) The watchdog notices and aborts.
      await redisB.del(keys.lock);
      await waitUntil('A notices the loss', async () => signalA?.aborted === true);

      // B finds no value and no lock: it takes over and writes a newer value.
      const resultB = await guardB.getOrCompute(key, async () => 'from-B');
      expect(resultB).toEqual({ value: 'from-B', source: 'computed' });

      finish.resolve('from-A');
      const resultA = await callA;
      // A's own caller still gets the value A computed...
      expect(resultA).toEqual({ value: 'from-A', source: 'computed' });
      // ...but it was not stored over B's.
      const stored = await readEnvelope<string>(toPort(redisA), keys);
      expect(stored?.value).toBe('from-B');

      const fenceA = logA.lines.find((l) => l.event === 'lock.acquired')?.fence as number;
      const fenceB = logB.lines.find((l) => l.event === 'lock.acquired')?.fence as number;
      expect(fenceB).toBeGreaterThan(fenceA);
      expect(stored?.fence).toBe(fenceB);

      expect(logA.count('cache.write.rejected')).toBe(1);
      expect(logA.lines.find((l) => l.event === 'cache.write.rejected')).toMatchObject({
        fence: fenceA,
        storedFence: fenceB,
        level: 40,
      });
      expect(logA.count('lock.lost')).toBe(1);
      expect(logA.count('cache.write')).toBe(0);
      expect(logA.count('lock.released')).toBe(0);

      expect(logB.count('cache.write')).toBe(1);
      expect(logB.count('lock.released')).toBe(1);
      expect(logB.count('cache.write.rejected')).toBe(0);
      expect(logA.count('recompute.start') + logB.count('recompute.start')).toBe(2);
    } finally {
      await Promise.all([guardA.close(), guardB.close()]);
    }
  });
});
