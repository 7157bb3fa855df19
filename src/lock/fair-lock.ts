import { randomUUID } from 'node:crypto';
import { GuardClosedError, WaitTimeoutError } from '../errors.js';
import type { CacheKeys } from '../keys.js';
import type { RedisClient } from '../redis/client.js';
import type { Notifier } from '../redis/notifier.js';
import { LuaScript } from '../redis/script.js';
import { onAbort, unrefTimeout } from '../timers.js';
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
 *   in a row a process gives the lock back to Redis, so other processes' heads get their turn.
 */

/** Hand-offs inside a process before the lock goes back to Redis for the other processes. */
export const MAX_LOCAL_HANDOFFS = 16;

export interface LockOptions {
  /** Lifetime of the lock unless extended, ms. @default the guard's lockTtlMs */
  ttlMs?: number;
  /** Longest to wait for the lock, ms; then WaitTimeoutError. @default the guard's maxWaitMs */
  waitMs?: number;
  /** Stop waiting when this aborts (rejects with its reason). */
  signal?: AbortSignal;
  /** Extend the lock every third of its TTL until it is released. @default false */
  watchdog?: boolean;
}

/** A held lock. Its fence orders the writes of successive holders (see redis-lock.ts). */
export interface HeldLock extends LockLease {
  readonly name: string;
  /** Aborted when the lock is released, or lost (found by the watchdog, or by `extend`). */
  readonly signal: AbortSignal;
  /** Reset the TTL (compare-and-PEXPIRE); false when the lock is no longer ours. */
  extend(ttlMs?: number): Promise<boolean>;
  /** Give the lock to the next contender; false when it was no longer ours. Idempotent. */
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

interface Waiter {
  ttlMs: number;
  handOff(lease: LockLease): void;
  /** Become the one that talks to Redis (the lock went back to Redis with contenders queued). */
  lead(): void;
}

interface Line {
  waiters: Waiter[];
  handOffs: number;
}

export interface FairLockDeps {
  redis: RedisClient;
  notifier: () => Notifier;
  keys(name: string): CacheKeys;
  defaultTtlMs: number;
  defaultWaitMs: number;
  /** Aborted when the guard closes: waits end. */
  closed: AbortSignal;
}

export class FairLocks {
  /** Names with a holder in this process, and who queues behind it; removed when the last leaves. */
  private readonly lines = new Map<string, Line>();

  constructor(private readonly deps: FairLockDeps) {}

  /** Names this process holds or waits for (for tests and diagnostics). */
  get activeNames(): number {
    return this.lines.size;
  }

  async lock(name: string, options: LockOptions = {}): Promise<HeldLock> {
    const ttlMs = options.ttlMs ?? this.deps.defaultTtlMs;
    checkTtl(ttlMs);
    const watchdog = options.watchdog ?? false;
    options.signal?.throwIfAborted();
    const line = this.lines.get(name);
    if (!line) {
      // Nobody of this process has it: the line starts with us, and the lock is often free.
      this.lines.set(name, { waiters: [], handOffs: 0 });
      const lease = await acquireLock(this.deps.redis, this.deps.keys(name), ttlMs).catch((err: unknown) => {
        this.next(name);
        throw err;
      });
      if (lease) return this.held(name, lease, watchdog);
    }
    // Waiting: from here on the deadline, the caller's signal and the guard's close end it.
    const stop = this.stopSignals(name, Date.now() + (options.waitMs ?? this.deps.defaultWaitMs), options.signal);
    try {
      const lease = line ? await this.queue(line, ttlMs, stop) : await this.lead(name, ttlMs, stop);
      return this.held(name, lease, watchdog);
    } finally {
      stop.dispose();
    }
  }

  /** First in this process, the lock held elsewhere: wait for Redis to give it to us. */
  private async lead(name: string, ttlMs: number, stop: Stop): Promise<LockLease> {
    try {
      return await this.acquire(name, ttlMs, stop);
    } catch (err) {
      this.next(name);
      throw err;
    }
  }

  /** Behind another contender of this process: wait for the hand-off, or to lead. */
  private queue(line: Line, ttlMs: number, stop: Stop): Promise<LockLease> {
    return new Promise<LockLease>((resolve, reject) => {
      const waiter: Waiter = {
        ttlMs,
        handOff: (lease) => {
          off();
          resolve(lease);
        },
        lead: () => {
          off();
          this.acquire(stop.name, ttlMs, stop).then(resolve, (err: unknown) => {
            this.next(stop.name);
            reject(err);
          });
        },
      };
      const off = stop.onStop((reason) => {
        const at = line.waiters.indexOf(waiter);
        if (at >= 0) line.waiters.splice(at, 1);
        reject(reason);
      });
      line.waiters.push(waiter);
    });
  }

  /** Take the lock from Redis: try, and while another process holds it, wait for its release. */
  private async acquire(name: string, ttlMs: number, stop: Stop): Promise<LockLease> {
    const keys = this.deps.keys(name);
    for (;;) {
      stop.throwIfStopped();
      const lease = await acquireLock(this.deps.redis, keys, ttlMs);
      if (lease) return lease;
      const subscription = await this.deps.notifier().listen(keys.channel, stop.remaining());
      if (subscription === 'timeout') continue;
      try {
        // Try again after subscribing: a release in between would otherwise be missed.
        const now = await acquireLock(this.deps.redis, keys, ttlMs);
        if (now) return now;
        // Any wake-up (a release, a reconnect) or the lock's TTL: try again. Never longer than the
        // lock lives: a holder that vanished leaves its lock to expire.
        await Promise.race([subscription.next(Math.min(ttlMs, stop.remaining())), stop.stopped]);
      } finally {
        subscription.close();
      }
    }
  }

  /** The lock is free of us: the next in line leads, or the line ends. */
  private next(name: string): void {
    const line = this.lines.get(name);
    if (!line) return;
    const waiter = line.waiters.shift();
    if (!waiter) {
      this.lines.delete(name);
      return;
    }
    line.handOffs = 0;
    waiter.lead();
  }

  private held(name: string, lease: LockLease, watchdog: boolean): HeldLock {
    const keys = this.deps.keys(name);
    // The signal is made on first use: most holders never look at it.
    let ended: AbortController | null = null;
    let endReason: string | null = null;
    const end = (reason: string) => {
      endReason ??= reason;
      ended?.abort(new Error(endReason));
    };
    const stopWatchdog = watchdog
      ? startWatchdog(this.deps.redis, keys, lease, { onExtended: () => {}, onLost: () => end(`lost the lock "${name}"`) })
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
        const ok = await extendLock(redis, keys, lease, ttlMs);
        if (!ok) end(`lost the lock "${name}"`);
        return ok;
      },
      release: () => {
        released ??= (async () => {
          stopWatchdog();
          try {
            return await this.release(name, keys, lease);
          } finally {
            end(`released the lock "${name}"`);
          }
        })();
        return released;
      },
    };
  }

  /** Hand the lock to the next contender of this process, or give it back to Redis. */
  private async release(name: string, keys: CacheKeys, lease: LockLease): Promise<boolean> {
    const line = this.lines.get(name);
    const waiter = line && line.handOffs < MAX_LOCAL_HANDOFFS ? line.waiters.shift() : undefined;
    if (line && waiter) {
      line.handOffs += 1;
      const token = randomUUID();
      const fence = await HAND_OFF.run(this.deps.redis, [keys.lock, keys.lease, keys.value], [lease.token, token, waiter.ttlMs]).catch(
        () => null,
      );
      if (fence !== null) {
        waiter.handOff({ token, fence: Number(fence), ttlMs: waiter.ttlMs });
        return true;
      }
      // Ours no longer (it expired): the next in line takes it from Redis like anyone else.
      line.handOffs = 0;
      waiter.lead();
      return false;
    }
    try {
      return await releaseLock(this.deps.redis, keys, lease);
    } finally {
      this.next(name);
    }
  }

  /** What ends a wait: the deadline, the caller's signal, the guard's close. */
  private stopSignals(name: string, deadline: number, signal?: AbortSignal): Stop {
    let stopReason: unknown = null;
    const listeners = new Set<(reason: unknown) => void>();
    let markStopped!: () => void;
    const stopped = new Promise<void>((resolve) => (markStopped = resolve));
    const stopWith = (reason: unknown) => {
      if (stopReason !== null) return;
      stopReason = reason;
      markStopped();
      for (const listener of listeners) listener(reason);
    };
    const timer = unrefTimeout(() => stopWith(new WaitTimeoutError(name, `gave up waiting for the lock "${name}"`)), deadline - Date.now());
    const detach = [onAbort(this.deps.closed, () => stopWith(new GuardClosedError()))];
    if (signal) detach.push(onAbort(signal, () => stopWith(signal.reason)));
    return {
      name,
      stopped,
      remaining: () => Math.max(0, deadline - Date.now()),
      throwIfStopped: () => {
        if (stopReason !== null) throw stopReason;
      },
      onStop: (listener) => {
        if (stopReason !== null) {
          listener(stopReason);
          return () => {};
        }
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
      dispose: () => {
        clearTimeout(timer);
        for (const off of detach) off();
        listeners.clear();
      },
    };
  }
}

interface Stop {
  name: string;
  /** Resolves when the wait must end. */
  stopped: Promise<void>;
  remaining(): number;
  throwIfStopped(): void;
  /** Call `listener` with the reason when the wait ends; returns the function that detaches it. */
  onStop(listener: (reason: unknown) => void): () => void;
  dispose(): void;
}
