/**
 * The notifier: one subscription per channel however many waiters share it, released (UNSUBSCRIBE)
 * when the last waiter leaves, so a process's subscriptions do not grow with the keys it ever
 * waited on.
 */
import { EventEmitter } from 'node:events';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Redis } from 'ioredis';
import type { Cluster } from 'ioredis';
import { IoRedisSubscriber } from '../src/redis/ioredis-port.js';
import { Notifier, RECOVERY_ATTEMPT_MS, type Subscription } from '../src/redis/notifier.js';
import { closeAll, connect, redisUrl, uniquePrefix } from './support/redis.js';
import { waitUntil } from './support/wait.js';
import { asSubscriber } from './support/subscriber-port.js';

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
    const notifier = new Notifier(asSubscriber(subscriber));
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
    const notifier = new Notifier(asSubscriber(subscriber));
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
      const notifier = new Notifier(asSubscriber(limited));
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

/**
 * A stand-in for ioredis's cluster client with sharded subscribers, reduced to what the notifier
 * uses, so a test can order the events of a failover as a loaded machine may: which master the
 * client's slot map names (`owner`, changed by each refresh as `refreshes` says), what each node
 * says of itself, and on which node each SSUBSCRIBE landed.
 */
class ShardedSubscriberStandIn extends EventEmitter {
  readonly isCluster = true;
  readonly options = { shardedSubscribers: true };
  status = 'ready';
  /** The master the client's slot map names for every slot. */
  owner: string;
  /** What the next refreshes of the slot map find (one each), the last one repeating. */
  refreshes: string[] = [];
  /** What each node says it is. */
  readonly roles = new Map<string, 'master' | 'slave'>();
  /** The node each SSUBSCRIBE went to, as routed by the client's map at that moment. */
  readonly routed: string[] = [];
  /** SSUBSCRIBEs to leave unanswered (ioredis drops the MOVED answer to one). */
  unanswered = 0;
  /** The nodes refuse CLUSTER NODES (an ACL without it). */
  refusesClusterNodes = false;

  constructor(owner: string) {
    super();
    this.owner = owner;
    this.roles.set(owner, 'master');
  }

  refreshSlotsCache(callback: () => void): void {
    this.owner = this.refreshes.shift() ?? this.owner;
    queueMicrotask(callback);
  }

  ssubscribe(...channels: string[]): Promise<number> {
    this.routed.push(this.owner);
    if (this.unanswered > 0) {
      this.unanswered -= 1;
      return new Promise(() => {});
    }
    return Promise.resolve(channels.length);
  }

  sunsubscribe(): Promise<number> {
    return Promise.resolve(0);
  }

  nodes(): unknown[] {
    const [host, port] = this.owner.split(':');
    const role = this.roles.get(this.owner);
    const clusterNodes = `0123 ${this.owner}@17000 myself,${role} - 0 0 1 connected 0-16383\n`;
    const refusal = Object.assign(new Error("NOPERM User has no permissions to run the 'cluster|nodes' command"), { name: 'ReplyError' });
    return [
      { options: { host, port: Number(port) }, cluster: async () => (this.refusesClusterNodes ? Promise.reject(refusal) : clusterNodes) },
    ];
  }

  /** A planned failover: `from` is a replica of `to` now. */
  failOver(from: string, to: string): void {
    this.roles.set(from, 'slave');
    this.roles.set(to, 'master');
  }
}

describe('Notifier on a cluster: the recovery after a shard failed over (finding 12)', () => {
  const FORMER = '10.0.0.1:7000';
  const NEW = '10.0.0.2:7000';
  const channel = '{k}:db0:ready';
  const started: Notifier[] = [];
  const start = (standIn: ShardedSubscriberStandIn) => {
    const notifier = new Notifier(new IoRedisSubscriber(standIn as unknown as Cluster, false));
    started.push(notifier);
    return notifier;
  };
  afterEach(() => {
    for (const notifier of started.splice(0)) notifier.close();
    vi.useRealTimers();
  });

  it('does not count an SSUBSCRIBE routed by a slot map that still names the former master: the recheck comes once it went to the new one', async () => {
    const standIn = new ShardedSubscriberStandIn(FORMER);
    const waiter = (await start(standIn).listen(channel, 1000)) as Subscription;
    standIn.failOver(FORMER, NEW);
    // The former master unsubscribed us; the first node asked for the slot map has not heard yet.
    standIn.refreshes = [FORMER, NEW];
    standIn.emit('nodeError', new Error('Command queue state error. Last reply: sunsubscribe,{k}:db0:ready,0'), FORMER);

    expect(await waiter.next(5000)).toEqual({ kind: 'recheck' });
    expect(standIn.routed.at(-1)).toBe(NEW);
    expect(await waiter.next(300)).toBe('timeout'); // one recheck, after the right SSUBSCRIBE
    waiter.close();
  });

  it('a node that refuses CLUSTER NODES (an ACL) cannot be asked: the map counts as it did before, and the recovery ends', async () => {
    const standIn = new ShardedSubscriberStandIn(FORMER);
    const notifier = start(standIn);
    const waiter = (await notifier.listen(channel, 1000)) as Subscription;
    standIn.refusesClusterNodes = true;
    standIn.emit('nodeError', new Error('read ECONNRESET'), FORMER); // a blip: FORMER is still the master
    expect(await waiter.next(1000)).toEqual({ kind: 'recheck' });
    expect(standIn.routed.at(-1)).toBe(FORMER);
    expect(notifier.isLive).toBe(true);
    waiter.close();
  });

  it("a slot's subscriber connection that ioredis dropped itself (-subscriber) means a recovery and a recheck", async () => {
    const standIn = new ShardedSubscriberStandIn(NEW);
    const notifier = start(standIn);
    const waiter = (await notifier.listen(channel, 1000)) as Subscription;
    standIn.emit('-subscriber');
    expect(notifier.isLive).toBe(false);
    expect(await waiter.next(1000)).toEqual({ kind: 'recheck' });
    expect(notifier.isLive).toBe(true);
    waiter.close();
  });

  it('a resubscription that never gets an answer is given up after a while and tried again, instead of holding the recovery forever', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const standIn = new ShardedSubscriberStandIn(NEW);
    const notifier = start(standIn);
    const waiter = (await notifier.listen(channel, 60_000)) as Subscription;
    standIn.unanswered = 1;
    standIn.emit('-node', null, FORMER);
    const wakeup = waiter.next(60_000);
    await vi.advanceTimersByTimeAsync(RECOVERY_ATTEMPT_MS - 1);
    expect(notifier.isLive).toBe(false);
    await vi.advanceTimersByTimeAsync(RETRY_SLACK_MS);
    expect(notifier.isLive).toBe(true);
    expect(await wakeup).toEqual({ kind: 'recheck' });
    expect(standIn.routed).toHaveLength(3); // the first listen, the unanswered one, the one that counted
    waiter.close();
  });
});

/** More than the recovery's first back-off after a failed attempt. */
const RETRY_SLACK_MS = 500;
