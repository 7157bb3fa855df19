import { emitEvent, type EventSource } from '../events.js';
import { isCluster, type RedisClient } from '../redis/client.js';
import type { Notifier } from '../redis/notifier.js';
import { encodeEnvelope, type Envelope } from './envelope.js';
import { L1Store, type L1Options } from './l1.js';

/**
 * The in-process tier in front of Redis (opt-in: `l1: { maxEntries }`), kept coherent by a bus:
 * every write in any process (a recomputation, `set`, `delete`) is announced on one pub/sub
 * channel of the guard's prefix, and every other process drops its copy at once. A hit here sends
 * no command.
 *
 * What keeps it honest:
 * - it never answers with a value past its fresh time;
 * - it answers only while the bus is live: until the subscription is confirmed, and from a drop
 *   of the connection until it is subscribed again, reads go to Redis, and a drop clears it (the
 *   announcements published meanwhile are lost);
 * - a read that was under way when its key was announced does not store what it read (it may
 *   predate the write), so a late reply cannot bring back a value another process replaced.
 */
export class L1Tier {
  private readonly store: L1Store;
  private live = false;
  /** Reads under way per key, and the keys announced meanwhile: both empty when nothing runs. */
  private readonly reading = new Map<string, number>();
  private readonly announced = new Set<string>();

  constructor(
    options: L1Options,
    private readonly redis: RedisClient,
    private readonly bus: string,
    /** This guard's id, so it ignores its own announcements. */
    private readonly origin: string,
    /** The guard's own events (a failed announcement). */
    private readonly events: EventSource,
  ) {
    this.store = new L1Store(options);
  }

  /** Subscribe to the bus; the tier answers once the subscription is live. */
  async start(notifier: Notifier): Promise<void> {
    notifier.onConnection((live) => {
      this.live = live;
      if (!live) this.store.clear();
    });
    await notifier.watch(this.bus, (message) => this.onAnnouncement(message));
    this.live = notifier.isLive;
  }

  /** A fresh value of this process's tier, or null (then ask Redis, between begin and end). */
  read(key: string): Envelope | null {
    return this.live ? this.store.get(key) : null;
  }

  begin(key: string): void {
    this.reading.set(key, (this.reading.get(key) ?? 0) + 1);
  }

  /** The read of `key` ended with `envelope` (a fresh value) or nothing to keep. */
  end(key: string, envelope: Envelope | undefined): void {
    const count = (this.reading.get(key) ?? 1) - 1;
    const stale = this.announced.has(key);
    if (count > 0) this.reading.set(key, count);
    else {
      this.reading.delete(key);
      this.announced.delete(key);
    }
    if (envelope && this.live && !stale) this.store.set(key, envelope, this.sizeOf(envelope));
  }

  /** This process wrote `key`: keep the new value here, tell the others to drop theirs. */
  written(key: string, envelope: Envelope): void {
    this.store.set(key, envelope, this.sizeOf(envelope));
    this.announce(key);
  }

  deleted(key: string): void {
    this.store.delete(key);
    this.announce(key);
  }

  private announce(key: string): void {
    const message = JSON.stringify([this.origin, key]);
    const sent = isCluster(this.redis) ? this.redis.spublish(this.bus, message) : this.redis.publish(this.bus, message);
    // Best effort, like any pub/sub: the others' copies still end at their fresh time.
    sent.catch((err: unknown) => emitEvent(this.events, 'warn', 'redis.error', { role: 'l1-bus', err }));
  }

  private onAnnouncement(message: string): void {
    let origin: unknown;
    let key: unknown;
    try {
      [origin, key] = JSON.parse(message) as unknown[];
    } catch {
      return;
    }
    if (origin === this.origin || typeof key !== 'string') return;
    this.store.delete(key);
    if (this.reading.has(key)) this.announced.add(key);
  }

  private sizeOf(envelope: Envelope): number {
    return this.store.countsBytes ? encodeEnvelope(envelope).length : 0;
  }

  get size(): number {
    return this.store.size;
  }
}
