import { setMaxListeners } from 'node:events';
import type { SubscriberPort } from './port.js';
import { Notifier, type Notification, type Subscription } from './notifier.js';

/**
 * One Notifier per subscriber connection, however many guards share that connection (the guard
 * option `subscriber`). Redis counts a subscription per connection, not per guard: with a notifier
 * each, one guard's last waiter leaving a channel, or its close(), unsubscribed a channel another
 * guard still waited on (or its L1 bus). Here the channels are counted across every guard, and
 * each guard holds a lease that takes back only what it registered.
 */
export interface NotifierLease {
  /** As Notifier.listen; the subscription closes (a next() under way ends as 'timeout') when the lease is released. */
  listen(channel: string, timeoutMs: number): Promise<Subscription | 'timeout'>;
  /** Every message on `channel`, until the returned function or the release stops it. Resolves once live (or stopped). */
  watch(channel: string, onMessage: (message: Notification) => void): Promise<() => void>;
  /** Told of drops (false) and recoveries (true), until the returned function or the release detaches it. */
  onConnection(listener: (live: boolean) => void): () => void;
  /** True unless the connection dropped and is not subscribed again yet. */
  readonly isLive: boolean;
  /**
   * Take back everything this lease registered; the last lease closes the shared Notifier
   * (unsubscribes what is left, detaches its handlers from the subscriber). Idempotent.
   */
  release(): void;
}

interface Shared {
  notifier: Notifier;
  leases: number;
}

/** The entry goes with the last lease: nothing stays behind for a connection no guard uses any more. */
const bySubscriber = new WeakMap<SubscriberPort, Shared>();

/** The one Notifier of this subscriber connection (created on first use), leased by one guard. */
export function leaseNotifier(subscriber: SubscriberPort): NotifierLease {
  let shared = bySubscriber.get(subscriber);
  if (!shared) {
    shared = { notifier: new Notifier(subscriber), leases: 0 };
    bySubscriber.set(subscriber, shared);
  }
  shared.leases += 1;
  return new Lease(subscriber, shared);
}

class Lease implements NotifierLease {
  /** Aborted at release: every registration made through this lease undoes itself. */
  private readonly released = new AbortController();

  constructor(
    private readonly subscriber: SubscriberPort,
    private readonly shared: Shared,
  ) {
    // One abort listener per waiter of this guard: hundreds at once is normal, not a leak.
    setMaxListeners(0, this.released.signal);
  }

  listen(channel: string, timeoutMs: number): Promise<Subscription | 'timeout'> {
    return this.shared.notifier.listen(channel, timeoutMs, this.released.signal);
  }

  watch(channel: string, onMessage: (message: Notification) => void): Promise<() => void> {
    return this.shared.notifier.watch(channel, onMessage, this.released.signal);
  }

  onConnection(listener: (live: boolean) => void): () => void {
    return this.shared.notifier.onConnection(listener, this.released.signal);
  }

  get isLive(): boolean {
    return this.shared.notifier.isLive;
  }

  release(): void {
    if (this.released.signal.aborted) return;
    this.released.abort();
    this.shared.leases -= 1;
    if (this.shared.leases > 0) return;
    this.shared.notifier.close();
    bySubscriber.delete(this.subscriber);
  }
}
