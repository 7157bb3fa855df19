import type { Cluster } from 'ioredis';
import { StampedeError } from '../errors.js';
import type { RedisClient } from '../redis/connection.js';
import { usesShardedPubSub } from '../redis/pubsub.js';

/**
 * One pub/sub connection per process, shared by every key its waiters wait on.
 *
 * A waiter `listen`s on a key's channel; the returned subscription is live once the
 * SUBSCRIBE is confirmed, so a waiter that re-reads the cache after `listen` resolves
 * cannot miss a notification sent in between (no lost wake-up). Channels are reference
 * counted: the last waiter to leave unsubscribes.
 */
/** `written`, `released`, or `failed:<reason>` (see the lock and store scripts). */
export type Notification = string;

export interface Subscription {
  /** The next notification, or 'timeout' after `timeoutMs`. Buffered if it already came. */
  next(timeoutMs: number): Promise<Notification | 'timeout'>;
  close(): void;
}

interface Channel {
  listeners: Set<(message: Notification) => void>;
  subscribed: Promise<unknown>;
}

export class Notifier {
  private readonly channels = new Map<string, Channel>();

  /** Sharded pub/sub on a cluster, classic on one node: see redis/pubsub.ts. */
  private readonly sharded: boolean;

  constructor(private readonly subscriber: RedisClient) {
    this.sharded = usesShardedPubSub(subscriber);
    if (this.sharded && !(subscriber as Cluster).options.shardedSubscribers) {
      throw new StampedeError('E_OPTIONS', "a cluster subscriber needs ioredis's shardedSubscribers: true (or let the guard create it)");
    }
    subscriber.on(this.sharded ? 'smessage' : 'message', (channel: string, message: string) => {
      const entry = this.channels.get(channel);
      if (!entry) return;
      for (const listener of entry.listeners) listener(message as Notification);
    });
  }

  async listen(channel: string): Promise<Subscription> {
    let entry = this.channels.get(channel);
    if (!entry) {
      entry = { listeners: new Set(), subscribed: this.sharded ? this.subscriber.ssubscribe(channel) : this.subscriber.subscribe(channel) };
      this.channels.set(channel, entry);
    }
    const queue: Notification[] = [];
    let wake: ((message: Notification) => void) | null = null;
    const listener = (message: Notification) => {
      if (wake) wake(message);
      else queue.push(message);
    };
    entry.listeners.add(listener);
    try {
      await entry.subscribed;
    } catch (err) {
      this.remove(channel, listener);
      throw err;
    }

    return {
      next: (timeoutMs) => {
        const queued = queue.shift();
        if (queued) return Promise.resolve(queued);
        return new Promise((resolve) => {
          const timer = setTimeout(() => {
            wake = null;
            resolve('timeout');
          }, timeoutMs);
          timer.unref();
          wake = (message) => {
            clearTimeout(timer);
            wake = null;
            resolve(message);
          };
        });
      },
      close: () => this.remove(channel, listener),
    };
  }

  /** Channels with at least one waiter (for tests and diagnostics). */
  get activeChannels(): number {
    return this.channels.size;
  }

  private remove(channel: string, listener: (message: Notification) => void): void {
    const entry = this.channels.get(channel);
    if (!entry) return;
    entry.listeners.delete(listener);
    if (entry.listeners.size === 0) {
      this.channels.delete(channel);
      // Commands on one connection run in order, so a SUBSCRIBE sent later for the same
      // channel lands after this UNSUBSCRIBE and wins.
      (this.sharded ? this.subscriber.sunsubscribe(channel) : this.subscriber.unsubscribe(channel)).catch(() => {});
    }
  }
}
