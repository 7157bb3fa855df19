import { emitEvent, type EventSource } from '../events.js';
import type { RedisPort } from '../redis/port.js';
import type { NotifierLease } from '../redis/shared-notifier.js';
import { encodeEnvelope, type Envelope } from './envelope.js';
import { L1Store, type L1Options } from './l1.js';
import { type Mark, marksOf } from './tags.js';

/**
 * The in-process tier in front of Redis (opt-in: `l1: { maxEntries }`), kept coherent by a bus:
 * every write in any process (a recomputation, `set`, `delete`) is announced on one pub/sub
 * channel of the guard's prefix, and every other process drops its copy at once. A hit here sends
 * no command.
 *
 * What keeps it honest:
 * - it never answers with a value past its fresh time;
 * - it answers only while the bus is live: until the subscription is confirmed, and from a drop
 *   of the connection until it is subscribed again, reads go to Redis. What it holds at a drop is
 *   kept only for calls whose Redis is unavailable (`copy`, which says what it is), and is
 *   cleared when the bus comes back or the guard's Redis answers again (the announcements
 *   published meanwhile are lost);
 * - a read keeps what it found only if nothing could have replaced it meanwhile: each read holds a
 *   ticket, and a ticket is spoiled when its key is announced by another process, written or
 *   deleted by this one (a `set` resolving while a computation of this process runs), or when the
 *   bus drops or comes back (what was announced in between is unknown). A spoiled read keeps
 *   nothing, so a late reply can never bring back a value that was replaced;
 * - an invalidation (`invalidateTags`, a namespace's `clear()`) is announced the same way: every
 *   process drops the values carrying its marks and spoils every read under way;
 * - only a value that was stored in Redis is kept (a holder whose fenced write was rejected
 *   computed from older data).
 */
export class L1Tier {
  private readonly store: L1Store;
  private live = false;
  /** The tickets of reads under way, per key: empty when nothing runs. */
  private readonly reading = new Map<string, Set<L1Ticket>>();

  constructor(
    options: L1Options,
    graceMs: number,
    private readonly redis: RedisPort,
    private readonly bus: string,
    /** This guard's id, so it ignores its own announcements. */
    private readonly origin: string,
    /** The guard's own events (a failed announcement). */
    private readonly events: EventSource,
  ) {
    this.store = new L1Store(options, graceMs);
  }

  /** Subscribe to the bus; the tier answers once the subscription is live. */
  async start(notifier: NotifierLease): Promise<void> {
    notifier.onConnection((live) => {
      // Down or back, either way announcements may have been missed: no read under way keeps
      // what it finds. Back, what was kept through the drop is forgotten.
      this.live = live;
      if (live) this.store.clear();
      this.spoilAll();
    });
    await notifier.watch(this.bus, (message) => this.onAnnouncement(message));
    this.live = notifier.isLive;
  }

  /** A fresh value of this process's tier, or null (then ask Redis, between begin and end). */
  read(key: string): Envelope | null {
    return this.live ? this.store.get(key) : null;
  }

  /**
   * What this process still holds of `key`, fresh or within its grace, whether or not the bus is
   * live: only for a call whose Redis is unavailable, which has nothing better.
   */
  copy(key: string): Envelope | null {
    return this.store.peek(key);
  }

  /** Redis answers again after an outage: what is held may have missed announcements. */
  clear(): void {
    this.store.clear();
    this.spoilAll();
  }

  /** A read of `key` from Redis starts; what it finds is kept only if its ticket stays unspoiled. */
  begin(key: string): L1Ticket {
    const ticket: L1Ticket = { key, spoiled: !this.live };
    const tickets = this.reading.get(key);
    if (tickets) tickets.add(ticket);
    else this.reading.set(key, new Set([ticket]));
    return ticket;
  }

  /** The read ended with `envelope` (a fresh value stored in Redis) or nothing to keep. */
  end(ticket: L1Ticket, envelope: Envelope | undefined): void {
    const tickets = this.reading.get(ticket.key);
    if (tickets?.delete(ticket) && tickets.size === 0) this.reading.delete(ticket.key);
    if (envelope && this.live && !ticket.spoiled) this.store.set(ticket.key, envelope, this.sizeOf(envelope));
  }

  /** This process wrote `key`: keep the new value here (while the bus is live, and it has no marks), tell the others to drop theirs. */
  written(key: string, envelope: Envelope): void {
    this.spoil(key);
    // A value with marks is kept only from a read (its ticket spoiled by any invalidation on the
    // way): a holder's own write may be of a value an invalidation announced meanwhile covers.
    if (this.live && marksOf(envelope).length === 0) this.store.set(key, envelope, this.sizeOf(envelope));
    else this.store.delete(key);
    this.announce(key);
  }

  deleted(key: string): void {
    this.spoil(key);
    this.store.delete(key);
    this.announce(key);
  }

  /**
   * An invalidation of `marks` resolved (tags, a namespace's clear): drop the values that carry
   * one, here and, through the bus, in every other process. Reads under way keep nothing: which
   * marks what they find carries is not known yet.
   */
  invalidated(marks: readonly Mark[]): void {
    this.dropMarked(marks);
    this.announceMessage(invalidationMessage(this.origin, marks));
  }

  private dropMarked(marks: readonly unknown[]): void {
    const covered = new Set(marks);
    this.store.deleteWhere((envelope) => marksOf(envelope).some((m) => covered.has(m)));
    this.spoilAll();
  }

  /** Reads of `key` under way may have found what was just replaced: they keep nothing. */
  private spoil(key: string): void {
    for (const ticket of this.reading.get(key) ?? []) ticket.spoiled = true;
  }

  private spoilAll(): void {
    for (const tickets of this.reading.values()) for (const ticket of tickets) ticket.spoiled = true;
  }

  private announce(key: string): void {
    this.announceMessage(JSON.stringify([this.origin, key]));
  }

  /** `[origin, key]` for a key written or deleted, `[origin, null, marks]` for an invalidation. */
  private announceMessage(message: string): void {
    announce(this.redis, this.bus, message, this.events);
  }

  private onAnnouncement(message: string): void {
    let origin: unknown;
    let key: unknown;
    let marks: unknown;
    try {
      [origin, key, marks] = JSON.parse(message) as unknown[];
    } catch {
      return;
    }
    if (origin === this.origin) return;
    if (key === null && Array.isArray(marks)) {
      this.dropMarked(marks);
      return;
    }
    if (typeof key !== 'string') return;
    this.store.delete(key);
    this.spoil(key);
  }

  private sizeOf(envelope: Envelope): number {
    return this.store.countsBytes ? encodeEnvelope(envelope).length : 0;
  }

  get size(): number {
    return this.store.size;
  }
}

/** One read of the tier's key from Redis; `spoiled` once what it may find can be out of date. */
export interface L1Ticket {
  readonly key: string;
  spoiled: boolean;
}

/** An invalidation of `marks` as the bus carries it. */
function invalidationMessage(origin: string, marks: readonly Mark[]): string {
  return JSON.stringify([origin, null, marks]);
}

function announce(redis: RedisPort, bus: string, message: string, events: EventSource): void {
  const sent = redis.publish(bus, message);
  // Best effort, like any pub/sub: the others' copies still end at their fresh time.
  sent.catch((err: unknown) => emitEvent(events, 'warn', 'redis.error', { role: 'l1-bus', err }));
}

/**
 * An invalidation by a guard without an L1 tier: it has nothing to drop, but the processes that
 * have one must hear of it (an invalidation is rare, so its one PUBLISH is always sent; a write's
 * announcement is sent only by a guard with a tier, see docs/library.md).
 */
export function announceInvalidation(redis: RedisPort, bus: string, origin: string, marks: readonly Mark[], events: EventSource): void {
  announce(redis, bus, invalidationMessage(origin, marks), events);
}
