import { randomUUID } from 'node:crypto';
import { OptionsError } from '../errors.js';
import type { CacheKeys } from '../keys.js';
import type { RedisPort } from '../redis/port.js';
import type { RedisGate } from '../redis/gate.js';
import type { NotifierLease } from '../redis/shared-notifier.js';
import { LuaScript } from '../redis/script.js';
import { MAX_TIMER_MS } from '../timers.js';
import { Line, Waiter, type WaitEnds } from './lock-line.js';
import { acquireLock, checkTtl, extendLock, nextFenceLua, releaseLock, type LockLease } from './redis-lock.js';
import { startWatchdog } from './watchdog.js';

/**
 * A waiting lock for code that needs one (`guard.lock(name)`), fair inside a process and without
 * a herd across processes:
 *
 * - inside a process, contenders for one name queue in arrival order, and only the head talks to
 *   Redis; a release hands the lock to the next in line in one round trip (a new token and a new
 *   fence, the lock never free in between), so 50 contenders cost one command per hand-off, not
 *   50 attempts per release;
 * - across processes, each process's head waits for the release notification (pub/sub, no
 *   polling), so a release wakes one contender per process. After MAX_LOCAL_HANDOFFS hand-offs
 *   in a row a process gives the lock back to Redis, so other processes' heads get their turn;
 * - a holder of this process that lets its lease run out (it never releases, or was paused) holds
 *   up its line no longer than that: the head then contends in Redis as well, and takes the lock
 *   once it is free, as another process would;
 * - a lease always has an owner: a contender that gives up (its deadline, its signal) while the
 *   lock is on its way to it (a hand-off, its own attempt) leaves it with whoever sent it, who
 *   passes it on to the next in line or gives it back to Redis. lock-line.ts keeps that state.
 */

/** Hand-offs inside a process before the lock goes back to Redis for the other processes. */
export const MAX_LOCAL_HANDOFFS = 16;

export interface LockOptions {
  /** Lifetime of the lock unless extended, ms. @default the guard's lockTtlMs */
  ttlMs?: number;
  /** Longest to wait for the lock, a whole number of ms up to MAX_TIMER_MS; then WaitTimeoutError. @default the guard's maxWaitMs */
  waitMs?: number;
  /** Stop waiting when this aborts (rejects with its reason). */
  signal?: AbortSignal;
  /** Extend the lock every third of its TTL until it is released. @default false */
  watchdog?: boolean;
}

/** A held lock. Its fence orders the writes of successive holders (see redis-lock.ts). */
export interface HeldLock extends LockLease {
  readonly name: string;
  /**
   * Aborted when the lock is released, or lost: found by the watchdog or by `extend`, or taken
   * from Redis by a contender of this process once this holder's lease ran out.
   */
  readonly signal: AbortSignal;
  /** Reset the TTL (compare-and-PEXPIRE); false when the lock is no longer ours. */
  extend(ttlMs?: number): Promise<boolean>;
  /**
   * Give the lock to the next contender; false when it was no longer ours. A second call sends
   * nothing and resolves false once the first has settled (its error, if it failed).
   */
  release(): Promise<boolean>;
}

// KEYS[1] lock, KEYS[2] lease, KEYS[3] value (none for a named lock)
// ARGV[1] the holder's token, ARGV[2] the next holder's token, ARGV[3] ttl ms
// Returns the next holder's fence, or false when the lock was no longer the holder's. The lock
// changes hands without ever being free. Resent (its reply lost), it returns the same fence.
const HAND_OFF = new LuaScript<string | null>(
  'lock.hand-off',
  `
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[2] then return redis.call('GET', KEYS[2]) end
if holder ~= ARGV[1] then return false end
${nextFenceLua()}
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('SET', KEYS[2], fence, 'PX', ARGV[3])
return fence
`,
  3,
);

export interface FairLockDeps {
  redis: RedisPort;
  /** The guard's deadline and circuit breaker: every Redis step of a lock goes through it. */
  gate: RedisGate;
  notifier: () => NotifierLease;
  keys(name: string): CacheKeys;
  defaultTtlMs: number;
  defaultWaitMs: number;
  /** Aborted when the guard closes: waits end. */
  closed: AbortSignal;
}

export class FairLocks {
  /** Names with a holder or a contender in this process; removed when the last leaves. */
  private readonly lines = new Map<string, Line>();

  constructor(private readonly deps: FairLockDeps) {}

  /** Names this process holds or waits for (for tests and diagnostics). */
  get activeNames(): number {
    return this.lines.size;
  }

  async lock(name: string, options: LockOptions = {}): Promise<HeldLock> {
    const ttlMs = options.ttlMs ?? this.deps.defaultTtlMs;
    checkTtl(ttlMs);
    const waitMs = checkWaitMs(options.waitMs ?? this.deps.defaultWaitMs);
    const signal = checkSignal(options.signal);
    signal?.throwIfAborted();
    const line = this.lineFor(name);
    const waiter = new Waiter(ttlMs);
    line.waiters.push(waiter);
    // First of its process: the lock is often free, so one attempt before any timer or listener.
    const first = line.waiters.length === 1 && line.holding === null;
    if (first) await this.tryAtOnce(line, waiter);
    if (waiter.waiting) this.startWaiting(line, waiter, { name, waitMs, signal, closed: this.deps.closed }, first);
    return this.held(line, await waiter.lease, options.watchdog ?? false);
  }

  /** From here on its deadline, its signal and the guard's close end the waiter's wait. */
  private startWaiting(line: Line, waiter: Waiter, ends: WaitEnds, justTried: boolean): void {
    waiter.arm(ends, (reason) => this.leave(line, waiter, reason));
    // The first goes on contending from its attempt; any other waits its turn, or contends now.
    if (justTried && waiter.waiting) this.contend(line, waiter, true);
    else this.advance(line);
  }

  private lineFor(name: string): Line {
    let line = this.lines.get(name);
    if (!line) {
      const created = new Line(name, () => this.advance(created));
      this.lines.set(name, created);
      line = created;
    }
    return line;
  }

  /**
   * One attempt to take the lock in Redis, within the gate's deadline (RedisUnavailableError when
   * Redis is unavailable: the waiter leaves with it). A lease that comes after the deadline is
   * given back at once.
   */
  private acquire(keys: CacheKeys, ttlMs: number): Promise<LockLease | null> {
    return this.deps.gate.run(
      keys.value,
      () => acquireLock(this.deps.redis, keys, ttlMs),
      (late) => {
        if (late) releaseLock(this.deps.redis, keys, late).catch(() => {});
      },
    );
  }

  /** One attempt, still contending after it when the lock is busy. */
  private async tryAtOnce(line: Line, waiter: Waiter): Promise<void> {
    waiter.contending = true;
    let lease: LockLease | null;
    try {
      lease = await this.acquire(this.deps.keys(line.name), waiter.ttlMs);
    } catch (err) {
      this.leave(line, waiter, err);
      return;
    }
    if (lease) this.won(line, waiter, lease);
  }

  /**
   * After any change to a line: its head takes the lock from Redis when nobody of this process
   * will hand it over (see Line.open); a line with nobody in it ends.
   */
  private advance(line: Line): void {
    if (this.lines.get(line.name) !== line) return;
    if (line.empty) {
      this.lines.delete(line.name);
      return;
    }
    const head = line.head;
    if (head && !head.contending && line.open && !this.deps.closed.aborted) this.contend(line, head);
  }

  /** The waiter's wait ended (its deadline, its signal, the guard's close, a Redis error). */
  private leave(line: Line, waiter: Waiter, reason: unknown): void {
    if (!waiter.leave(reason)) return;
    line.remove(waiter);
    this.advance(line);
  }

  /** The waiter takes the lock from Redis, while it stays in line for a hand-off too. */
  private contend(line: Line, waiter: Waiter, justTried = false): void {
    waiter.contending = true;
    this.takeFromRedis(line.name, waiter, justTried).then(
      (lease) => {
        waiter.contending = false;
        if (lease) this.won(line, waiter, lease);
      },
      (err: unknown) => {
        waiter.contending = false;
        this.leave(line, waiter, err);
      },
    );
  }

  /**
   * Try, and while the lock is held (elsewhere, or by this process's overdue holder), wait for
   * its release; until the waiter is no longer waiting. Returns a lease it got even when the
   * waiter left meanwhile: that lease must be passed on, not dropped.
   */
  private async takeFromRedis(name: string, waiter: Waiter, justTried: boolean): Promise<LockLease | null> {
    const keys = this.deps.keys(name);
    for (let tried = justTried; waiter.waiting; tried = false) {
      if (!tried) {
        const lease = await this.acquire(keys, waiter.ttlMs);
        if (lease || !waiter.waiting) return lease;
      }
      const subscription = await this.deps.notifier().listen(keys.channel, waiter.remaining());
      if (subscription === 'timeout') continue;
      try {
        if (!waiter.waiting) return null;
        // Try again after subscribing: a release in between would otherwise be missed.
        const now = await this.acquire(keys, waiter.ttlMs);
        if (now || !waiter.waiting) return now;
        // Any wake-up (a release, a reconnect) or the lock's TTL: try again. Never longer than the
        // lock lives: a holder that vanished leaves its lock to expire.
        await Promise.race([subscription.next(Math.min(waiter.ttlMs, waiter.remaining())), waiter.settled]);
      } finally {
        subscription.close();
      }
    }
    return null;
  }

  /** A contender took the lock from Redis: it was free, so a holder of this process before it had lost it. */
  private won(line: Line, waiter: Waiter, lease: LockLease): void {
    line.hold(lease)?.lost();
    line.handOffs = 0;
    if (waiter.take(lease)) {
      line.remove(waiter);
      this.advance(line);
      return;
    }
    // Gone while its attempt was on its way: the lock must not be lost with it.
    this.release(line, lease).catch(() => {});
  }

  private held(line: Line, lease: LockLease, watchdog: boolean): HeldLock {
    const { name } = line;
    const keys = this.deps.keys(name);
    // The signal is made on first use: most holders never look at it.
    let ended: AbortController | null = null;
    let endReason: string | null = null;
    const end = (reason: string) => {
      endReason ??= reason;
      ended?.abort(new Error(endReason));
    };
    line.onLost(lease, () => end(`lost the lock "${name}"`));
    const stopWatchdog = watchdog
      ? startWatchdog(this.deps.redis, keys, lease, {
          onExtended: () => line.renew(lease, lease.ttlMs),
          onLost: () => end(`lost the lock "${name}"`),
        })
      : () => {};
    let released: Promise<boolean> | null = null;
    const { redis } = this.deps;
    return {
      name,
      token: lease.token,
      fence: lease.fence,
      ttlMs: lease.ttlMs,
      get signal() {
        if (!ended) {
          ended = new AbortController();
          if (endReason !== null) ended.abort(new Error(endReason));
        }
        return ended.signal;
      },
      extend: async (ttlMs = lease.ttlMs) => {
        const ok = await this.deps.gate.run(keys.value, () => extendLock(redis, keys, lease, ttlMs));
        if (ok) line.renew(lease, ttlMs);
        else end(`lost the lock "${name}"`);
        return ok;
      },
      release: () => {
        // Once given away the lock is no longer ours: a second call says so, after the first.
        if (released) return released.then(() => false);
        released = (async () => {
          stopWatchdog();
          try {
            return await this.release(line, lease);
          } finally {
            end(`released the lock "${name}"`);
          }
        })();
        return released;
      },
    };
  }

  /**
   * Hand the lock to the next contender of this process, or give it back to Redis. A receiver
   * gone during its hand-off leaves the lock with us: it goes on to the next one, or to Redis.
   */
  private async release(line: Line, lease: LockLease): Promise<boolean> {
    const keys = this.deps.keys(line.name);
    // No longer this process's lock to pass on: it expired and a contender of ours took it.
    if (!line.holds(lease)) return this.deps.gate.run(keys.value, () => releaseLock(this.deps.redis, keys, lease));
    for (let current = lease; ; ) {
      const waiter = line.handOffs < MAX_LOCAL_HANDOFFS ? line.waiters.shift() : undefined;
      if (!waiter) {
        const released = await this.giveBack(line, current);
        return current === lease ? released : true;
      }
      line.handOffs += 1;
      const next = await this.handOff(keys, current, waiter.ttlMs);
      if (next) {
        line.hold(next);
        if (waiter.take(next)) {
          this.advance(line);
          return true;
        }
        current = next;
        continue;
      }
      // Ours no longer (it expired): a contender of ours took it from Redis meanwhile, or the
      // line takes it from Redis like anyone else.
      if (line.holds(current)) line.drop();
      line.requeue(waiter);
      this.advance(line);
      return current !== lease;
    }
  }

  /** One round trip: the lock goes from `current` to a new token for a `ttlMs` lease; null when it was not `current`'s. */
  private async handOff(keys: CacheKeys, current: LockLease, ttlMs: number): Promise<LockLease | null> {
    const token = randomUUID();
    const fence = await this.deps.gate
      .run(keys.value, () => HAND_OFF.run(this.deps.redis, [keys.lock, keys.lease, keys.value], [current.token, token, ttlMs]))
      .catch(() => null);
    return fence === null ? null : { token, fence: Number(fence), ttlMs };
  }

  /** Back to Redis (waking other processes); this process's head, if any, contends for it there. */
  private async giveBack(line: Line, lease: LockLease): Promise<boolean> {
    try {
      const keys = this.deps.keys(line.name);
      return await this.deps.gate.run(keys.value, () => releaseLock(this.deps.redis, keys, lease));
    } finally {
      if (line.holds(lease)) {
        line.drop();
        line.handOffs = 0;
        this.advance(line);
      }
    }
  }
}

/** A whole number of ms a timer can wait for; 0 does not wait (one attempt). */
function checkWaitMs(waitMs: unknown): number {
  if (typeof waitMs !== 'number' || !Number.isInteger(waitMs) || waitMs < 0 || waitMs > MAX_TIMER_MS) {
    throw new OptionsError('waitMs', `waitMs must be a whole number of ms from 0 to ${MAX_TIMER_MS}, got ${describe(waitMs)}`);
  }
  return waitMs;
}

function checkSignal(signal: unknown): AbortSignal | undefined {
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new OptionsError('signal', `signal must be an AbortSignal, got ${describe(signal)}`);
  }
  return signal;
}

/** A bad value for a one-line message (never a whole object). */
function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'number' || typeof value === 'boolean' || value === undefined || value === null) return String(value);
  return `a ${typeof value}`;
}
