/**
 * The notifier: one subscription per channel however many waiters share it, released (UNSUBSCRIBE)
 * when the last waiter leaves, so a process's subscriptions do not grow with the keys it ever
 * waited on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { Notifier, type Subscription } from '../src/redis/notifier.js';
import { closeAll, connect, redisUrl, uniquePrefix } from './support/redis.js';
import { waitUntil } from './support/wait.js';

let subscriber: Redis;
let admin: Redis;
beforeAll(() => {
  subscriber = connect();
  admin = connect();
});
afterAll(async () => {
  await closeAll(subscriber, admin);
});

const numsub = async (channel: string) => Number((await admin.pubsub('NUMSUB', channel))[1]);

describe('Notifier', () => {
  it('shares one subscription among the waiters of a channel and unsubscribes when the last one leaves', async () => {
    const notifier = new Notifier(subscriber);
    const channel = `${uniquePrefix('notifier')}:{k}:db0:ready`;
    const waiters = (await Promise.all([1, 2, 3].map(() => notifier.listen(channel, 5000)))) as Subscription[];
    expect(await numsub(channel)).toBe(1);
    expect(notifier.activeChannels).toBe(1);

    await admin.publish(channel, 'written');
    for (const waiter of waiters) expect(await waiter.next(5000)).toEqual({ kind: 'message', message: 'written' });

    waiters[0]!.close();
    waiters[1]!.close();
    expect(await numsub(channel)).toBe(1); // one waiter is still there
    waiters[2]!.close();
    expect(notifier.activeChannels).toBe(0);
    await waitUntil('unsubscribed', async () => (await numsub(channel)) === 0);
    notifier.close();
  });

  it('close() detaches from a subscriber it does not own and unsubscribes what is left', async () => {
    const before = subscriber.listenerCount('message');
    const notifier = new Notifier(subscriber);
    const channel = `${uniquePrefix('notifier-close')}:{k}:db0:ready`;
    await notifier.watch(channel, () => {});
    expect(subscriber.listenerCount('message')).toBe(before + 1);
    notifier.close();
    expect(subscriber.listenerCount('message')).toBe(before);
    await waitUntil('unsubscribed', async () => (await numsub(channel)) === 0);
  });

  it('a SUBSCRIBE that Redis refuses (an ACL) fails its waiters, and is not remembered: once permitted, the next waiter subscribes', async () => {
    const prefix = uniquePrefix('notifier-acl');
    const user = `${prefix}-user`;
    const channel = `${prefix}:{k}:db0:ready`;
    await admin.acl('SETUSER', user, 'on', '>pw', '~*', 'resetchannels', '+@all');
    const url = new URL(redisUrl());
    const limited = new Redis({ host: url.hostname, port: Number(url.port), username: user, password: 'pw' });
    try {
      const notifier = new Notifier(limited);
      await expect(notifier.listen(channel, 5000)).rejects.toThrow(/NOPERM/);
      expect(notifier.activeChannels).toBe(0);
      await admin.acl('SETUSER', user, `&${prefix}:*`);
      const waiter = (await notifier.listen(channel, 5000)) as Subscription;
      await admin.publish(channel, 'written');
      expect(await waiter.next(5000)).toEqual({ kind: 'message', message: 'written' });
      waiter.close();
      notifier.close();
    } finally {
      limited.disconnect();
      await admin.acl('DELUSER', user);
    }
  });
});
