/**
 * The L1 tier never serves what Redis no longer has (issue 22, finding 1): after a `set` or
 * `delete` resolves, the same process reads it (or something newer) at once, and a copy is never
 * kept past an announcement its bus missed. Each case failed before the tier kept tickets of the
 * reads under way and stored only values Redis took.
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createGuard, type StampedeGuard } from '../src/cache/guard.js';
import { readEnvelope } from '../src/cache/store.js';
import type { Strategy } from '../src/cache/strategy.js';
import { cacheKeys } from '../src/keys.js';
import { closeAll, connect, redisUrl, uniquePrefix } from './support/redis.js';
import { gated, waitUntil } from './support/wait.js';
import { toPort } from '../src/redis/adapt.js';

const admin = connect();
const opened: { guard: StampedeGuard; clients: Redis[] }[] = [];
afterEach(async () => {
  const all = opened.splice(0);
  await Promise.all(all.map(({ guard }) => guard.close()));
  await closeAll(...all.flatMap(({ clients }) => clients));
});
afterAll(() => closeAll(admin));

/**
 * A process with an L1 tier and a bus subscriber of its own (so a test can kill it), which stays
 * away `reconnectMs` after a drop: the window in which announcements are lost.
 */
async function l1Process(prefix: string, reconnectMs = 300) {
  const redis = connect();
  const subscriber = new Redis(redisUrl(), { enableReadyCheck: false, maxRetriesPerRequest: null, retryStrategy: () => reconnectMs });
  subscriber.on('error', () => {});
  const subscriberId = Number(await subscriber.client('ID'));
  const guard = createGuard({ redis, subscriber, keyPrefix: prefix, l1: { maxEntries: 100 }, lockTtlMs: 30_000 });
  opened.push({ guard, clients: [redis, subscriber] });
  await waitUntil('the bus is subscribed', async () => (await busSubscribers(prefix)) >= 1 && subscriber.status === 'ready');
  return { guard, subscriber, subscriberId };
}

async function busSubscribers(prefix: string): Promise<number> {
  return (await admin.pubsub('NUMSUB', `${prefix}:{!l1}:db0:written`))[1] as number;
}

const never = async (): Promise<string> => {
  throw new Error('should not compute');
};

describe('L1: a set or delete of this process while one of its reads computes', () => {
  for (const strategy of ['redis-lock', 'none', 'local-lock', 'swr', 'xfetch'] as const satisfies Strategy[]) {
    it(`${strategy}: a set during the computation is what every later read gets, from Redis and the tier alike`, async () => {
      const prefix = uniquePrefix(`l1-set-${strategy}`);
      const { guard } = await l1Process(prefix);
      const computing = gated();
      const call = guard.getOrCompute('k', computing.compute, { strategy });
      await computing.started;
      await guard.set('k', 'new');
      computing.finish('old');
      expect(await call).toEqual({ value: 'old', source: 'computed' });
      expect((await readEnvelope(toPort(admin), cacheKeys(prefix, 'k')))?.value).toBe('new');
      expect(await guard.getOrCompute('k', never, { strategy })).toEqual({ value: 'new', source: 'cache' });
      expect(await guard.getOrCompute('k', never, { strategy })).toEqual({ value: 'new', source: 'cache' });
    });

    it(`${strategy}: a delete during the computation leaves nothing for later reads, which compute`, async () => {
      const prefix = uniquePrefix(`l1-del-${strategy}`);
      const { guard } = await l1Process(prefix);
      const computing = gated();
      const call = guard.getOrCompute('k', computing.compute, { strategy });
      await computing.started;
      await guard.delete('k');
      computing.finish('old');
      expect(await call).toEqual({ value: 'old', source: 'computed' });
      expect(await readEnvelope(toPort(admin), cacheKeys(prefix, 'k'))).toBeNull();
      expect(await guard.getOrCompute('k', async () => 'after', { strategy })).toEqual({ value: 'after', source: 'computed' });
    });
  }

  it('a getOrCompute and a set started in the same tick: the next read gets the set value, round after round', async () => {
    const prefix = uniquePrefix('l1-same-tick');
    const { guard } = await l1Process(prefix);
    for (let round = 0; round < 20; round++) {
      const key = `k${round}`;
      await Promise.all([guard.getOrCompute(key, async () => 'v1'), guard.set(key, 'v2')]);
      expect((await readEnvelope(toPort(admin), cacheKeys(prefix, key)))?.value).toBe('v2');
      expect(await guard.getOrCompute(key, never)).toEqual({ value: 'v2', source: 'cache' });
    }
  });
});

describe('L1: announcements missed while the bus was away', () => {
  it("a value this process wrote while its bus was away is not kept over another process's later set", async () => {
    const prefix = uniquePrefix('l1-missed');
    const a = await l1Process(prefix, 2000);
    const b = await l1Process(prefix);
    const computing = gated();
    const call = a.guard.getOrCompute('k', computing.compute);
    await computing.started;

    await admin.client('KILL', 'ID', String(a.subscriberId));
    await waitUntil("a's bus dropped", () => a.subscriber.status !== 'ready');
    computing.finish('from-a');
    expect(await call).toEqual({ value: 'from-a', source: 'computed' });
    await b.guard.set('k', 'from-b'); // announced while a's bus is away: lost
    expect(a.subscriber.status).not.toBe('ready'); // the window the test is about

    await waitUntil("a's bus is back", async () => a.subscriber.status === 'ready' && (await busSubscribers(prefix)) === 2);
    await a.subscriber.ping(); // the recovery's own SUBSCRIBE was answered before this
    expect(await a.guard.getOrCompute('k', never)).toEqual({ value: 'from-b', source: 'cache' });
    expect(await a.guard.getOrCompute('k', never)).toEqual({ value: 'from-b', source: 'cache' });
  });
});
