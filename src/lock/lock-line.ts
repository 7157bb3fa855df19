import { GuardClosedError, WaitTimeoutError } from '../errors.js';
import { onAbort, unrefTimeout } from '../timers.js';
import type { LockLease } from './redis-lock.js';

/**
 * A process's line for one lock name (see fair-lock.ts): who of this process holds the lock, and
 * who waits behind, in arrival order. Every contender's state is explicit and changes once, so a
 * lease always has exactly one owner: a contender that is gone can no longer be given one, and
 * whoever finds it gone still has the lease and passes it on.
 */

/** waiting: in line; handed: the lock is its (handed over, or taken from Redis); gone: its wait ended. */
export type WaiterState = 'waiting' | 'handed' | 'gone';

/** What ends a wait besides getting the lock. */
export interface WaitEnds {
  name: string;
  waitMs: number;
  signal?: AbortSignal;
  /** The guard's close. */
  closed: AbortSignal;
}

export class Waiter {
  private state: WaiterState = 'waiting';
  /** Set while it takes the lock from Redis itself, besides being in line for a hand-off. */
  contending = false;
  /** Resolves with its lease once handed, rejects with why once gone. */
  readonly lease: Promise<LockLease>;
  /** Resolves once it is no longer waiting, whichever way: its attempts in Redis stop then. */
  readonly settled: Promise<void>;
  private resolveLease!: (lease: LockLease) => void;
  private rejectLease!: (reason: unknown) => void;
  private markSettled!: () => void;
  private deadline = Number.POSITIVE_INFINITY;
  private readonly disarms: Array<() => void> = [];

  constructor(readonly ttlMs: number) {
    this.lease = new Promise((resolve, reject) => {
      this.resolveLease = resolve;
      this.rejectLease = reject;
    });
    this.settled = new Promise((resolve) => (this.markSettled = resolve));
  }

  get waiting(): boolean {
    return this.state === 'waiting';
  }

  /** Until its deadline, ms (unbounded before `arm`). */
  remaining(): number {
    return Math.max(0, this.deadline - Date.now());
  }

  /**
   * From now on its deadline, the caller's signal and the guard's close end the wait: `onEnd` is
   * told why. Each timer and listener set here goes when the state changes, whichever way.
   */
  arm(ends: WaitEnds, onEnd: (reason: unknown) => void): void {
    this.deadline = Date.now() + ends.waitMs;
    const timer = unrefTimeout(() => onEnd(new WaitTimeoutError(ends.name, `gave up waiting for the lock "${ends.name}"`)), ends.waitMs);
    this.disarms.push(() => clearTimeout(timer));
    this.disarms.push(onAbort(ends.closed, () => onEnd(new GuardClosedError())));
    const { signal } = ends;
    if (signal) this.disarms.push(onAbort(signal, () => onEnd(signal.reason)));
    // An end that came at once (a signal aborted meanwhile) found some of these not set yet.
    if (!this.waiting) this.disarm();
  }

  /** The lock is its. False when it is gone: the lease is still the giver's to pass on. */
  take(lease: LockLease): boolean {
    if (!this.settle('handed')) return false;
    this.resolveLease(lease);
    return true;
  }

  /** Its wait ends with `reason`. False when the lock is its already: its holder releases it. */
  leave(reason: unknown): boolean {
    if (!this.settle('gone')) return false;
    this.rejectLease(reason);
    return true;
  }

  private settle(to: WaiterState): boolean {
    if (this.state !== 'waiting') return false;
    this.state = to;
    this.disarm();
    this.markSettled();
    return true;
  }

  private disarm(): void {
    for (const off of this.disarms.splice(0)) off();
  }
}

/** The lock as held by a contender of this process. */
export interface Holding {
  readonly lease: LockLease;
  /** Its lease outlived its TTL without an extension: its holder may be gone, its lock free. */
  overdue: boolean;
  timer: NodeJS.Timeout;
  /** Tells its holder the lock is gone (another contender of this process took it from Redis). */
  lost(): void;
}

export class Line {
  /** In arrival order; the head is the next to hold the lock. */
  readonly waiters: Waiter[] = [];
  /** This process's holder; null while the head takes the lock from Redis. */
  holding: Holding | null = null;
  /** Hand-offs in a row inside this process since the lock last came from Redis. */
  handOffs = 0;

  /** `onOverdue`: the holder's lease outlived its TTL (the head may have to contend in Redis). */
  constructor(
    readonly name: string,
    private readonly onOverdue: () => void,
  ) {}

  get head(): Waiter | undefined {
    return this.waiters[0];
  }

  /**
   * The head must take the lock from Redis itself: nobody of this process holds it, or its holder
   * let it expire. Waiting only for a hand-off would then wait for a holder that may never come.
   */
  get open(): boolean {
    return this.holding === null || this.holding.overdue;
  }

  get empty(): boolean {
    return this.holding === null && this.waiters.length === 0;
  }

  holds(lease: LockLease): boolean {
    return this.holding?.lease.token === lease.token;
  }

  /** `lease` is this process's lock now. Returns the holding it replaced, if any. */
  hold(lease: LockLease): Holding | null {
    const before = this.drop();
    this.holding = { lease, overdue: false, timer: this.overdueTimer(lease.ttlMs), lost: () => {} };
    return before;
  }

  /** Nobody of this process holds the lock any more. Returns the holding that ended, if any. */
  drop(): Holding | null {
    const before = this.holding;
    if (before) clearTimeout(before.timer);
    this.holding = null;
    return before;
  }

  /** The holder's lock lives `ttlMs` from now (it was extended). */
  renew(lease: LockLease, ttlMs: number): void {
    if (!this.holding || !this.holds(lease)) return;
    clearTimeout(this.holding.timer);
    this.holding.overdue = false;
    this.holding.timer = this.overdueTimer(ttlMs);
  }

  /** Call `lost` when `lease`'s holder loses the lock to a contender of this process. */
  onLost(lease: LockLease, lost: () => void): void {
    if (this.holding && this.holds(lease)) this.holding.lost = lost;
  }

  remove(waiter: Waiter): void {
    const at = this.waiters.indexOf(waiter);
    if (at >= 0) this.waiters.splice(at, 1);
  }

  /** Back to the front of the line, when a hand-off to it did not happen and it still waits. */
  requeue(waiter: Waiter): void {
    if (waiter.waiting && !this.waiters.includes(waiter)) this.waiters.unshift(waiter);
  }

  private overdueTimer(ttlMs: number): NodeJS.Timeout {
    return unrefTimeout(() => {
      if (!this.holding) return;
      this.holding.overdue = true;
      this.onOverdue();
    }, ttlMs);
  }
}
