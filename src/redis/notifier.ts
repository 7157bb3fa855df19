import type { Cluster } from 'ioredis';
import { OptionsError } from '../errors.js';
import type { RedisClient } from './client.js';
import { usesShardedPubSub } from './pubsub.js';
import { unrefTimeout } from '../timers.js';

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
 * connection comes back, once ioredis has subscribed again, every waiter gets a `recheck`
 * wake-up and looks at the lock and the value at once, instead of sitting out the lock TTL;
 * and a waiter that starts listening while the connection is down is live only after that.
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
  subscribed: Promise<unknown>;
}

export class Notifier {
  private readonly channels = new Map<string, Channel>();

  /** Sharded pub/sub on a cluster, classic on one node: see redis/pubsub.ts. */
  private readonly sharded: boolean;

  /** Resolves when the connection is up and subscribed again; replaced at each drop. */
  private live: Promise<void> = Promise.resolve();
  private markLive: (() => void) | null = null;
  /** Counts drops, so a recovery overtaken by another drop does not declare the connection live. */
  private drops = 0;
  /** Told when the connection drops (false) and when it is subscribed again after one (true). */
  private readonly stateListeners = new Set<(live: boolean) => void>();
  /** What this notifier added to the subscriber, removed by close(): the subscriber may be the caller's. */
  // biome-ignore lint/suspicious/noExplicitAny: ioredis event handlers take what each event passes
  private readonly handlers: Array<[string, (...args: any[]) => void]>;

  constructor(private readonly subscriber: RedisClient) {
    this.sharded = usesShardedPubSub(subscriber);
    if (this.sharded && !(subscriber as Cluster).options.shardedSubscribers) {
      throw new OptionsError('subscriber', "a cluster subscriber needs ioredis's shardedSubscribers: true (or let the guard create it)");
    }
    this.handlers = [
      [this.sharded ? 'smessage' : 'message', (channel: string, message: string) => this.deliver(channel, { kind: 'message', message })],
      ['close', () => this.wentDown()],
      [
        'ready',
        () => {
          if (this.markLive) void this.recover();
        },
      ],
    ];
    for (const [event, handler] of this.handlers) subscriber.on(event, handler);
  }

  /**
   * A subscription for the notifier's life (the L1 tier's bus): `onMessage` gets every message on
   * `channel`. Resolves once it is live. Drops and recoveries are reported to `onConnection`.
   */
  async watch(channel: string, onMessage: (message: Notification) => void): Promise<void> {
    const entry = this.entryFor(channel);
    entry.listeners.add((wakeup) => {
      if (wakeup.kind === 'message') onMessage(wakeup.message);
    });
    await Promise.all([entry.subscribed, this.live]);
  }

  /** `listener(false)` when the connection drops, `listener(true)` when it is subscribed again. */
  onConnection(listener: (live: boolean) => void): void {
    this.stateListeners.add(listener);
  }

  /** True unless the connection dropped and is not subscribed again yet. */
  get isLive(): boolean {
    return this.markLive === null;
  }

  /** Stop: unsubscribe every channel, detach from the subscriber (which its owner closes). */
  close(): void {
    for (const [event, handler] of this.handlers) this.subscriber.off(event, handler);
    const channels = [...this.channels.keys()];
    this.channels.clear();
    this.stateListeners.clear();
    if (channels.length > 0)
      (this.sharded ? this.subscriber.sunsubscribe(...channels) : this.subscriber.unsubscribe(...channels)).catch(() => {});
  }

  /**
   * Subscribe to `channel` and resolve once the subscription is live, or with 'timeout' when
   * that takes longer than `timeoutMs` (a subscriber that cannot reach Redis must not hold a
   * waiter past its deadline).
   */
  async listen(channel: string, timeoutMs: number): Promise<Subscription | 'timeout'> {
    const entry = this.entryFor(channel);
    const queue: Wakeup[] = [];
    let wake: Listener | null = null;
    const listener: Listener = (wakeup) => {
      if (wake) wake(wakeup);
      else queue.push(wakeup);
    };
    entry.listeners.add(listener);
    const close = () => this.remove(channel, listener);

    let timer: NodeJS.Timeout | undefined;
    try {
      const ready = await Promise.race([
        Promise.all([entry.subscribed, this.live]).then(() => 'live' as const),
        new Promise<'timeout'>((resolve) => (timer = unrefTimeout(() => resolve('timeout'), timeoutMs))),
      ]);
      if (ready === 'timeout') {
        close();
        return 'timeout';
      }
    } catch (err) {
      close();
      throw err;
    } finally {
      clearTimeout(timer);
    }

    return {
      next: (ms) => {
        const queued = queue.shift();
        if (queued) return Promise.resolve(queued);
        return new Promise((resolve) => {
          const timer = unrefTimeout(() => {
            wake = null;
            resolve('timeout');
          }, ms);
          wake = (wakeup) => {
            clearTimeout(timer);
            wake = null;
            resolve(wakeup);
          };
        });
      },
      close,
    };
  }

  /** Channels with at least one waiter (for tests and diagnostics). */
  get activeChannels(): number {
    return this.channels.size;
  }

  /** The channel's entry, subscribing when it is new. */
  private entryFor(channel: string): Channel {
    const existing = this.channels.get(channel);
    if (existing) return existing;
    const created: Channel = { listeners: new Set(), subscribed: this.subscribe([channel]) };
    // A failed SUBSCRIBE must not stay cached for the next waiter of this channel.
    created.subscribed.catch(() => {
      if (this.channels.get(channel) === created) this.channels.delete(channel);
    });
    this.channels.set(channel, created);
    return created;
  }

  private subscribe(channels: string[]): Promise<unknown> {
    return this.sharded ? this.subscriber.ssubscribe(...channels) : this.subscriber.subscribe(...channels);
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

  /**
   * Back after a drop. ioredis re-sends the SUBSCRIBEs itself when it is ready; ours comes after
   * them on the same connection, so its reply means every channel is subscribed again. Then
   * every waiter re-checks: what was published meanwhile is gone.
   */
  private async recover(): Promise<void> {
    const drops = this.drops;
    const channels = [...this.channels.keys()];
    try {
      if (channels.length > 0) await this.subscribe(channels);
    } catch {
      return; // dropped again: the next 'ready' recovers
    }
    if (drops !== this.drops || !this.markLive) return;
    this.markLive();
    this.markLive = null;
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
      (this.sharded ? this.subscriber.sunsubscribe(channel) : this.subscriber.unsubscribe(channel)).catch(() => {});
    }
  }
}
