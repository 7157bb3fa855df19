import { isReplyError, type SubscriberPort } from './port.js';
import { onAbort, unrefTimeout } from '../timers.js';

/**
 * One pub/sub connection per process, shared by every key its waiters wait on.
 *
 * A waiter `listen`s on a key's channel; the returned subscription is live once the SUBSCRIBE is
 * confirmed, so a waiter that re-reads the cache after `listen` resolves cannot miss a
 * notification sent in between (no lost wake-up). Channels are reference counted: the last
 * waiter to leave unsubscribes.
 *
 * Redis does not keep messages for a subscriber that is away: whatever was published while the
 * connection was down (a network blip, CLIENT KILL, a Redis restart) is lost. So when the
 * connection comes back, once the client has subscribed again, every waiter gets a `recheck`
 * wake-up and looks at the lock and the value at once, instead of sitting out the lock TTL;
 * and a waiter that starts listening while the connection is down is live only after that.
 *
 * On a Redis Cluster the same holds for one shard: when a master fails over, the subscriptions
 * on it are gone (shard-events.ts says how that shows) while the client as a whole stays ready.
 * The notifier then counts as down, refreshes the subscriber's slot map, subscribes every
 * channel again (each on the master that owns its slot now: a map that still names the former
 * master does not count, see confirmMasters), and tells every waiter to recheck.
 *
 * Every registration (`listen`, `watch`, `onConnection`) may take an AbortSignal that undoes it:
 * that is how one guard's lease on a notifier shared by several (shared-notifier.ts) takes back
 * what it registered, and only that.
 */

/** From the scripts: `written`, `released`, or `failed:<reason>`. */
export type Notification = string;

export type Wakeup = { kind: 'message'; message: Notification } | { kind: 'recheck' };

export interface Subscription {
  /** The next wake-up, or 'timeout' after `timeoutMs`. Buffered if it already came. */
  next(timeoutMs: number): Promise<Wakeup | 'timeout'>;
  close(): void;
}

type Listener = (wakeup: Wakeup) => void;

interface Channel {
  listeners: Set<Listener>;
  /** Settles once the first SUBSCRIBE was answered; rejects only when Redis refused it. */
  subscribed: Promise<void>;
}

/** One listener on one channel, until `stop()` (idempotent) or its signal. */
interface Registration {
  entry: Channel;
  /** Resolves at `stop()`: a wait for the subscription to be live ends then. */
  stopped: Promise<void>;
  stop: () => void;
}

/** Between attempts to subscribe again while a failover is still under way. */
const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 2000;
/**
 * The longest one attempt to subscribe again may take before it is given up and tried anew: a
 * slot-map refresh that tries a dead node first, or an SSUBSCRIBE that ioredis never settles (it
 * drops the MOVED answer to one), must not hold the recovery, and every waiter's recheck, forever.
 */
export const RECOVERY_ATTEMPT_MS = 5000;

export class Notifier {
  private readonly channels = new Map<string, Channel>();

  /** Sharded pub/sub on a cluster, classic on one node: see redis/pubsub.ts. */
  private readonly sharded: boolean;

  /** Resolves when the connection is up and subscribed again; replaced at each drop. */
  private live: Promise<void> = Promise.resolve();
  private markLive: (() => void) | null = null;
  /** Counts drops, so a recovery overtaken by another drop does not declare the connection live. */
  private drops = 0;
  /** A recovery is running: it goes on until the connection is live again (or the notifier closed). */
  private recovering = false;
  private closed = false;
  /**
   * Cluster nodes that lost our subscriptions since the connection was last live: a slot map
   * that still names one of them as a master must be confirmed by that node (see confirmMasters).
   */
  private readonly lostNodes = new Set<string>();
  /** Told when the connection drops (false) and when it is subscribed again after one (true). */
  private readonly stateListeners = new Set<(live: boolean) => void>();
  /** Detaches what this notifier added to the subscriber (close()): the subscriber may be the caller's. */
  private readonly detach: () => void;

  constructor(private readonly subscriber: SubscriberPort) {
    this.sharded = subscriber.sharded;
    this.detach = subscriber.attach({
      message: (channel, message) => this.deliver(channel, { kind: 'message', message }),
      down: () => this.wentDown(),
      ready: () => void this.recover(),
      // A cluster's subscriber stays ready while one of its masters fails over.
      lost: (node) => this.lostSubscriptions(node),
    });
  }

  /**
   * A lasting subscription (the L1 tier's bus): `onMessage` gets every message on `channel` until
   * the returned function (or `signal`) stops it. Resolves once it is live, or once stopped.
   * Drops and recoveries are reported to `onConnection`.
   */
  async watch(channel: string, onMessage: (message: Notification) => void, signal?: AbortSignal): Promise<() => void> {
    if (this.closed || signal?.aborted) return () => {};
    const listener: Listener = (wakeup) => {
      if (wakeup.kind === 'message') onMessage(wakeup.message);
    };
    const registration = this.register(channel, listener, signal);
    try {
      await this.untilLive(registration);
    } catch (err) {
      registration.stop();
      throw err;
    }
    return registration.stop;
  }

  /**
   * `listener(false)` when the connection drops, `listener(true)` when it is subscribed again,
   * until the returned function (or `signal`) detaches it.
   */
  onConnection(listener: (live: boolean) => void, signal?: AbortSignal): () => void {
    if (signal?.aborted) return () => {};
    // A registration of its own: the same function registered twice is detached twice.
    const own = (live: boolean) => listener(live);
    this.stateListeners.add(own);
    let detach = () => {};
    const off = () => {
      detach();
      this.stateListeners.delete(own);
    };
    if (signal) detach = onAbort(signal, off);
    return off;
  }

  /** True unless the connection dropped and is not subscribed again yet. */
  get isLive(): boolean {
    return this.markLive === null;
  }

  /** Stop: unsubscribe every channel, detach from the subscriber (which its owner closes). */
  close(): void {
    this.closed = true;
    this.detach();
    const channels = [...this.channels.keys()];
    this.channels.clear();
    this.stateListeners.clear();
    this.lostNodes.clear();
    if (channels.length > 0) this.subscriber.unsubscribe(channels).catch(() => {});
  }

  /**
   * Subscribe to `channel` and resolve once the subscription is live, or with 'timeout' when
   * that takes longer than `timeoutMs` (a subscriber that cannot reach Redis must not hold a
   * waiter past its deadline) or `signal` aborts. Aborting `signal` later closes the subscription:
   * a `next()` under way then resolves with 'timeout'.
   */
  async listen(channel: string, timeoutMs: number, signal?: AbortSignal): Promise<Subscription | 'timeout'> {
    if (this.closed || signal?.aborted) return 'timeout';
    const inbox = new Inbox();
    const registration = this.register(channel, inbox.deliver, signal);
    void registration.stopped.then(() => inbox.end());
    let ready: 'live' | 'timeout';
    try {
      ready = await this.untilLive(registration, timeoutMs);
    } catch (err) {
      registration.stop();
      throw err;
    }
    if (ready === 'timeout') {
      registration.stop();
      return 'timeout';
    }
    return { next: (ms) => inbox.next(ms), close: registration.stop };
  }

  /** Channels with at least one waiter (for tests and diagnostics). */
  get activeChannels(): number {
    return this.channels.size;
  }

  /** The channel's entry, subscribing when it is new. */
  private entryFor(channel: string): Channel {
    const existing = this.channels.get(channel);
    if (existing) return existing;
    const created: Channel = { listeners: new Set(), subscribed: Promise.resolve() };
    created.subscribed = this.subscribe([channel]).then(
      () => {},
      (err: unknown) => {
        // Redis refused it (an ACL, say): fail this channel's listeners, and do not keep the
        // failure for the next waiter. Otherwise it did not get through (a failover outlasted
        // the client's retries): the connection is in trouble, and the recovery subscribes it.
        if (isReplyError(err)) {
          if (this.channels.get(channel) === created) this.channels.delete(channel);
          throw err;
        }
        this.lostSubscriptions();
      },
    );
    this.channels.set(channel, created);
    return created;
  }

  /** Add `listener` to `channel` (subscribing when it is new) until stop() or `signal`. */
  private register(channel: string, listener: Listener, signal?: AbortSignal): Registration {
    const entry = this.entryFor(channel);
    entry.listeners.add(listener);
    let markStopped = () => {};
    const stopped = new Promise<void>((resolve) => (markStopped = resolve));
    let detach = () => {};
    const stop = () => {
      detach();
      this.remove(channel, listener);
      markStopped();
    };
    if (signal) detach = onAbort(signal, stop);
    return { entry, stopped, stop };
  }

  /** 'live' once the registration's channel is live; 'timeout' after `timeoutMs` or once it is stopped. */
  private async untilLive({ entry, stopped }: Registration, timeoutMs?: number): Promise<'live' | 'timeout'> {
    const outcomes: Promise<'live' | 'timeout'>[] = [
      this.whenLive(entry).then(() => 'live' as const),
      stopped.then(() => 'timeout' as const),
    ];
    let timer: NodeJS.Timeout | undefined;
    if (timeoutMs !== undefined) outcomes.push(new Promise((resolve) => (timer = unrefTimeout(() => resolve('timeout'), timeoutMs))));
    try {
      return await Promise.race(outcomes);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Resolves once `entry`'s channel is subscribed and the connection is live (again, if it dropped meanwhile). */
  private async whenLive(entry: Channel): Promise<void> {
    await entry.subscribed;
    while (this.markLive) await this.live;
  }

  private subscribe(channels: string[]): Promise<unknown> {
    return this.subscriber.subscribe(channels);
  }

  /**
   * Every channel again, within RECOVERY_ATTEMPT_MS; false when that failed or took longer (the
   * recovery tries again; whatever the given-up attempt still has under way settles unread).
   */
  private async resubscribe(channels: string[]): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.subscribeAll(channels).then(
          () => true,
          () => false,
        ),
        new Promise<false>((resolve) => (timer = unrefTimeout(() => resolve(false), RECOVERY_ATTEMPT_MS))),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Every channel again: one SUBSCRIBE on one node; on a cluster one SSUBSCRIBE per channel, each to its slot's owner. */
  private async subscribeAll(channels: string[]): Promise<void> {
    if (channels.length === 0) return;
    if (!this.sharded) {
      await this.subscribe(channels);
      return;
    }
    // A fresh slot map that names the real masters (the former one may still be named: shard-events.ts).
    await this.subscriber.beforeResubscribe(this.lostNodes);
    // Not a channel whose last waiter left meanwhile: its SUNSUBSCRIBE is already on its way.
    await Promise.all(channels.filter((channel) => this.channels.has(channel)).map((channel) => this.subscribe([channel])));
  }

  private deliver(channel: string, wakeup: Wakeup): void {
    const entry = this.channels.get(channel);
    if (!entry) return;
    for (const listener of entry.listeners) listener(wakeup);
  }

  private wentDown(): void {
    this.drops += 1;
    if (this.markLive) return; // already down
    this.live = new Promise((resolve) => (this.markLive = resolve));
    for (const listener of this.stateListeners) listener(false);
  }

  /** Some subscriptions are gone while the client stays up (a cluster's shard failed over), on `node` if known. */
  private lostSubscriptions(node: string | null = null): void {
    if (this.closed) return;
    if (node) this.lostNodes.add(node);
    this.wentDown();
    void this.recover();
  }

  /**
   * Back after a drop. On one node the client re-sends the SUBSCRIBEs itself (ioredis when it is
   * ready: ours comes after them on the same connection, so its reply means every channel is
   * subscribed again; node-redis before it says ready, and ours then sends nothing). On a cluster
   * the client may never do it (a planned failover), so ours are what count (port.ts).
   * Then every waiter re-checks: what was published meanwhile is gone. A drop during the
   * recovery (any SHARD_LOST event counts: it may mean our SSUBSCRIBEs just went to a node that
   * lost the slot), or SUBSCRIBEs that do not get through yet (a failover still under way), start
   * it over, a little later each time. A client that is not ready (reconnecting) sends nothing:
   * its 'ready' starts the recovery again, rather than commands piling up in its offline queue.
   */
  private async recover(): Promise<void> {
    if (this.recovering || this.isLive) return;
    this.recovering = true;
    try {
      for (let attempt = 0; !this.isLive && !this.closed && this.subscriber.ready; ) {
        const drops = this.drops;
        const channels = [...this.channels.keys()];
        if (!(await this.resubscribe(channels))) {
          await new Promise((resolve) => unrefTimeout(resolve as () => void, Math.min(RETRY_FIRST_MS * 2 ** attempt++, RETRY_MAX_MS)));
          continue;
        }
        if (drops !== this.drops || this.isLive || this.closed) continue;
        this.backLive(channels);
      }
    } finally {
      this.recovering = false;
    }
  }

  /** Subscribed again: the connection is live, and the waiters on `channels` look again. */
  private backLive(channels: string[]): void {
    this.markLive?.();
    this.markLive = null;
    this.lostNodes.clear();
    for (const listener of this.stateListeners) listener(true);
    for (const channel of channels) this.deliver(channel, { kind: 'recheck' });
  }

  private remove(channel: string, listener: Listener): void {
    const entry = this.channels.get(channel);
    if (!entry?.listeners.delete(listener)) return;
    if (entry.listeners.size === 0) {
      this.channels.delete(channel);
      // Commands on one connection run in order, so a SUBSCRIBE sent later for the same
      // channel lands after this UNSUBSCRIBE and wins.
      this.subscriber.unsubscribe([channel]).catch(() => {});
    }
  }
}

/** One listen()'s wake-ups, kept until it asks for them with next(). */
class Inbox {
  private readonly queue: Wakeup[] = [];
  private wake: ((wakeup: Wakeup | 'timeout') => void) | null = null;
  private ended = false;

  readonly deliver: Listener = (wakeup) => {
    if (this.wake) this.wake(wakeup);
    else this.queue.push(wakeup);
  };

  next(timeoutMs: number): Promise<Wakeup | 'timeout'> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.ended) return Promise.resolve('timeout');
    return new Promise((resolve) => {
      const wake = (wakeup: Wakeup | 'timeout') => {
        clearTimeout(timer);
        if (this.wake === wake) this.wake = null;
        resolve(wakeup);
      };
      const timer = unrefTimeout(() => wake('timeout'), timeoutMs);
      this.wake = wake;
    });
  }

  /** Closed (by its waiter or a released lease): a next() under way ends now, as a timeout. */
  end(): void {
    this.ended = true;
    this.wake?.('timeout');
  }
}
