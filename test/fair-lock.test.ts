/**
 * guard.lock: a waiting lock, first come first served inside a process (one hand-off per
 * release, no attempt by the others), one contender per process woken by a release across
 * processes, mutual exclusion across the fleet, and nothing left behind.
 */
import { RedisGate } from '../src/redis/gate.js';
import { silentLogger } from '../src/logger.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createGuard } from '../src/cache/guard.js';
import { lockKeys } from '../src/keys.js';
import { FairLocks } from '../src/lock/fair-lock.js';
import { leaseNotifier } from '../src/redis/shared-notifier.js';
import { closeGuards, processGuard } from './support/guards.js';
import { closeAll, connect, redisUrl, uniquePrefix } from './support/redis.js';
import { sleep, waitUntil } from './support/wait.js';
import { toPort } from '../src/redis/adapt.js';
import { asSubscriber } from './support/subscriber-port.js';

let admin: Redis;
beforeAll(() => {
  admin = connect();
});
afterAll(async () => {
  await closeGuards();
  await closeAll(admin);
});

async function messagesOn(channel: string): Promise<string[]> {
  const subscriber = connect();
  const messages: string[] = [];
  subscriber.on('message', (_channel: string, message: string) => messages.push(message));
  await subscriber.subscribe(channel);
  afterAll(() => closeAll(subscriber));
  return messages;
}

describe('guard.lock inside one process', () => {
  it('hands the lock over in arrival order, with increasing fences, and announces only the last release', async () => {
    const prefix = uniquePrefix('fair');
    const { guard } = processGuard({ keyPrefix: prefix });
    const released = await messagesOn(lockKeys(prefix, 'job').channel);
    const order: number[] = [];
    const fences: number[] = [];
    const first = await guard.lock('job');
    const contenders = Array.from({ length: 10 }, (_, i) =>
      guard.lock('job').then(async (held) => {
        order.push(i);
        fences.push(held.fence);
        await held.release();
      }),
    );
    // lock() queues a contender before its first await: all ten are in line, in call order.
    fences.unshift(first.fence);
    await first.release();
    await Promise.all(contenders);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (let i = 1; i < fences.length; i++) expect(fences[i]).toBeGreaterThan(fences[i - 1]!);
    await waitUntil('the last release was announced', () => released.length === 1);
    expect(released).toEqual(['released']);
    expect(await admin.exists(lockKeys(prefix, 'job').lock)).toBe(0);
  });

  it('a contender that gives up (waitMs, or its signal) leaves the line, and the next one still gets the lock', async () => {
    const prefix = uniquePrefix('fair-giveup');
    const { guard } = processGuard({ keyPrefix: prefix });
    const holder = await guard.lock('job');
    const impatient = guard.lock('job', { waitMs: 100 });
    const controller = new AbortController();
    const aborted = guard.lock('job', { signal: controller.signal });
    const patient = guard.lock('job');
    await expect(impatient).rejects.toMatchObject({ code: 'E_WAIT_TIMEOUT' });
    controller.abort(new Error('not needed any more'));
    await expect(aborted).rejects.toThrow('not needed any more');
    await holder.release();
    const next = await patient;
    expect(next.fence).toBeGreaterThan(holder.fence);
    await next.release();
  });

  it('a hand-off of a lock that was taken away meanwhile sends the next contender to Redis', async () => {
    const prefix = uniquePrefix('fair-expired');
    const { guard } = processGuard({ keyPrefix: prefix });
    const holder = await guard.lock('job', { ttlMs: 30_000 });
    const next = guard.lock('job');
    // Taken away (an operator, an expiry during a pause). An expiry itself now lets the next in
    // line contend in Redis at once (fair-lock-edges.test.ts), so it would not test the hand-off.
    await admin.del(lockKeys(prefix, 'job').lock);
    expect(await holder.release()).toBe(false);
    const held = await next;
    expect(await admin.get(lockKeys(prefix, 'job').lock)).toBe(held.token);
    await held.release();
  });

  it('the watchdog keeps a lock past its TTL until release; its signal aborts on loss and on release', async () => {
    const prefix = uniquePrefix('fair-watchdog');
    const { guard } = processGuard({ keyPrefix: prefix });
    const kept = await guard.lock('job', { ttlMs: 300, watchdog: true });
    await sleep(700);
    expect(await admin.get(lockKeys(prefix, 'job').lock)).toBe(kept.token);
    expect(kept.signal.aborted).toBe(false);
    await kept.release();
    expect(kept.signal.aborted).toBe(true);

    const lost = await guard.lock('job', { ttlMs: 300, watchdog: true });
    await admin.del(lockKeys(prefix, 'job').lock); // taken away (an operator, an expiry during a pause)
    await waitUntil('the watchdog noticed', () => lost.signal.aborted);
    expect(await lost.release()).toBe(false);
  });
});

describe('guard.lock: extending, and Redis errors', () => {
  it('extend() gives the lock its TTL again while it is ours; once taken away it says false and the signal aborts', async () => {
    const prefix = uniquePrefix('fair-extend');
    const { guard } = processGuard({ keyPrefix: prefix });
    const held = await guard.lock('job', { ttlMs: 1000 });
    const key = lockKeys(prefix, 'job').lock;
    expect(await held.extend(20_000)).toBe(true);
    expect(await admin.pttl(key)).toBeGreaterThan(10_000);
    expect(held.signal.aborted).toBe(false);
    await admin.del(key);
    expect(await held.extend()).toBe(false);
    expect(held.signal.aborted).toBe(true);
    expect(held.signal.reason).toMatchObject({ message: 'lost the lock "job"' });
  });

  it("a second release() resolves false, as library.md says once the lock is no longer ours, and touches nobody else's lock", async () => {
    const prefix = uniquePrefix('fair-twice');
    const { guard } = processGuard({ keyPrefix: prefix });
    const alone = await guard.lock('job');
    expect(await alone.release()).toBe(true);
    expect(await alone.release()).toBe(false);

    // Called twice at once while a contender waits: one hand-off, the second call says false.
    const holder = await guard.lock('job');
    const next = guard.lock('job');
    const [first, second] = await Promise.all([holder.release(), holder.release()]);
    expect([first, second]).toEqual([true, false]);
    const held = await next;
    expect(await admin.get(lockKeys(prefix, 'job').lock)).toBe(held.token);
    expect(await holder.release()).toBe(false);
    expect(await admin.get(lockKeys(prefix, 'job').lock)).toBe(held.token);
    expect(await held.release()).toBe(true);
  });

  it('a Redis error while taking the lock reaches each contender in turn and frees the line: nobody is left waiting', async () => {
    const offline = new Redis(redisUrl(), { lazyConnect: true, enableOfflineQueue: false });
    const guard = createGuard({ redis: offline, keyPrefix: uniquePrefix('fair-error') });
    // The second waits in line behind the first, leads when the first fails, and fails alike;
    // a line left behind would keep the third waiting until its waitMs.
    const contenders = await Promise.allSettled([guard.lock('job', { waitMs: 5000 }), guard.lock('job', { waitMs: 5000 })]);
    expect(contenders.map((c) => c.status === 'rejected' && String(c.reason))).toEqual([
      expect.stringMatching(/writeable/),
      expect.stringMatching(/writeable/),
    ]);
    await expect(guard.lock('job', { waitMs: 5000 })).rejects.toThrow(/writeable/);
    await guard.close();
    offline.disconnect();
  });
});

describe('nothing stays behind', () => {
  it('2000 contended locks leave no line, no subscription and no Redis key but the expiring lease', async () => {
    const prefix = uniquePrefix('fair-leftovers');
    const redis = connect();
    const subscriber = connect();
    const notifier = leaseNotifier(asSubscriber(subscriber));
    const locks = new FairLocks({
      redis: toPort(redis),
      gate: new RedisGate(toPort(redis), 1000, { log: silentLogger }, () => {}),
      notifier: () => notifier,
      keys: (name) => lockKeys(prefix, name),
      defaultTtlMs: 5000,
      defaultWaitMs: 30_000,
      closed: new AbortController().signal,
    });
    await Promise.all(
      Array.from({ length: 20 }, async (_, lane) => {
        for (let i = 0; i < 100; i++) {
          const held = await locks.lock(`name-${(lane + i) % 5}`);
          await held.release();
        }
      }),
    );
    expect(locks.activeNames).toBe(0);
    await subscriber.ping(); // after every UNSUBSCRIBE the lines sent
    expect(await admin.pubsub('CHANNELS', `${prefix}:*`)).toEqual([]);
    notifier.release();
    const left = await admin.keys(`${prefix}:*`);
    expect(left.every((k) => k.endsWith(':mutex-lease'))).toBe(true);
    for (const key of left) expect(await admin.pttl(key)).toBeGreaterThan(0);
    await closeAll(redis, subscriber);
  });
});

describe('guard.lock across processes', () => {
  it('3 processes x 8 contenders: never two holders at once, every contender served', async () => {
    const prefix = uniquePrefix('fair-fleet');
    const fleet = [0, 1, 2].map(() => processGuard({ keyPrefix: prefix, lockTtlMs: 5000 }));
    let inside = 0;
    let most = 0;
    let served = 0;
    await Promise.all(
      fleet.flatMap(({ guard }) =>
        Array.from({ length: 8 }, async () => {
          const held = await guard.lock('shared');
          inside += 1;
          most = Math.max(most, inside);
          await sleep(2);
          inside -= 1;
          served += 1;
          await held.release();
        }),
      ),
    );
    expect(served).toBe(24);
    expect(most).toBe(1);
    expect(await admin.exists(lockKeys(prefix, 'shared').lock)).toBe(0);
  });
});
