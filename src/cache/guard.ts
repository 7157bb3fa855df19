import { setMaxListeners } from 'node:events';
import type { RedisClient } from '../redis/connection.js';
import { StampedeError } from '../errors.js';
import { MAX_KEY_LENGTH } from '../keys.js';
import { logEvent, silentLogger, type Logger } from '../logger.js';
import { KeyedMutex } from '../lock/keyed-mutex.js';
import { SingleFlight } from '../lock/single-flight.js';
import { duplicateFor } from '../redis/connection.js';
import type { Compute, GuardResult, StrategyDeps } from './context.js';
import { Notifier } from './notifier.js';
import type { FailurePolicy, Strategy } from './strategy.js';
import { getWithLocalLock } from './strategies/local-lock.js';
import { getWithoutProtection } from './strategies/none.js';
import { getWithRedisLock } from './strategies/redis-lock.js';
import { getWithSwr } from './strategies/swr.js';
import { getWithXfetch } from './strategies/xfetch.js';

export interface GuardOptions {
  /** The cache's Redis. The guard uses it but does not close it: whoever created it does. */
  redis: RedisClient;
  /**
   * The pub/sub connection waiters share, to the same Redis as `redis` (for a cluster, a
   * `Cluster` with `shardedSubscribers: true`). @default a duplicate of `redis`, created on
   * first wait and closed by `close()`.
   */
  subscriber?: RedisClient;
  /** Prefix of every key the guard writes. @default 'cs' */
  keyPrefix?: string;
  /** Strategy when a call does not name one. @default 'redis-lock' */
  strategy?: Strategy;
  /** How long a cached value is fresh, ms. @default 60000 */
  valueTtlMs?: number;
  /**
   * How long a value stays in Redis after it went stale: `swr` and `xfetch` serve it while they
   * refresh, and the `stale` failure policy falls back on it. @default 60000
   */
  graceMs?: number;
  /** Shorten each value's fresh time by a random fraction up to this (0..1), so keys written together do not expire together. @default 0 */
  ttlJitter?: number;
  /** Abort a computation running longer than this, ms; 0 = never. @default 30000 */
  computeTimeoutMs?: number;
  /** What waiters get when the holder's computation fails. @default 'stale' */
  failurePolicy?: FailurePolicy;
  /** XFetch's beta: above 1 refreshes earlier, below 1 later. @default 1 */
  xfetchBeta?: number;
  /** Source of randomness for XFetch and jitter. @default Math.random */
  random?: () => number;
  /** Lifetime of a Redis lock, ms; also how long a waiter waits before checking on the holder. @default 10000 */
  lockTtlMs?: number;
  /** Longest a caller waits for other holders in total. @default 6 x lockTtlMs */
  maxWaitMs?: number;
  /** Logger for calls that do not bring their own. @default silent */
  logger?: Logger;
}

export interface CallOptions {
  strategy?: Strategy;
  /** Lifetime of this value, ms. @default the guard's valueTtlMs */
  ttlMs?: number;
  /** Logger bound to the caller's correlation fields (e.g. a job's child logger). */
  logger?: Logger;
}

export interface StampedeGuard {
  /**
   * The value of `key` from the cache, or computed by `compute` on a miss according to the
   * strategy. `source` says where it came from. `compute`'s result must survive JSON.
   */
  getOrCompute<T>(key: string, compute: Compute<T>, options?: CallOptions): Promise<GuardResult<T>>;
  /**
   * Stop: waits for background refreshes still running, then aborts computations' signals and
   * closes the subscriber the guard created.
   */
  close(): Promise<void>;
}

const RUNNERS = {
  none: getWithoutProtection,
  'local-lock': getWithLocalLock,
  'redis-lock': getWithRedisLock,
  swr: getWithSwr,
  xfetch: getWithXfetch,
} as const;

export function createGuard(options: GuardOptions): StampedeGuard {
  const lockTtlMs = options.lockTtlMs ?? 10_000;
  const defaultLogger = options.logger ?? silentLogger;
  const aborter = new AbortController();
  // Every running computation listens on this one signal; hundreds at once is normal, not a leak.
  setMaxListeners(0, aborter.signal);
  let notifier: Notifier | null = null;
  let ownSubscriber: RedisClient | null = null;

  const deps: StrategyDeps = {
    redis: options.redis,
    keyPrefix: checkPrefix(options.keyPrefix ?? 'cs'),
    valueTtlMs: options.valueTtlMs ?? 60_000,
    graceMs: options.graceMs ?? 60_000,
    ttlJitter: checkFraction('ttlJitter', options.ttlJitter ?? 0),
    lockTtlMs,
    maxWaitMs: options.maxWaitMs ?? lockTtlMs * 6,
    computeTimeoutMs: options.computeTimeoutMs ?? 30_000,
    failurePolicy: options.failurePolicy ?? 'stale',
    xfetchBeta: options.xfetchBeta ?? 1,
    random: options.random ?? Math.random,
    refreshing: new Map(),
    mutex: new KeyedMutex(),
    flight: new SingleFlight(),
    signal: aborter.signal,
    // Created on first wait: processes that never wait never open a pub/sub connection.
    notifier: () => {
      if (!notifier) {
        let subscriber = options.subscriber;
        if (!subscriber) {
          ownSubscriber = duplicateFor(options.redis, 'subscriber');
          // It reconnects by itself; without a listener an error event (a cluster's sharded
          // subscriber that failed to connect, say) would crash the process.
          ownSubscriber.on('error', (err: unknown) => logEvent(defaultLogger, 'warn', 'redis.error', { role: 'subscriber', err }));
          subscriber = ownSubscriber;
        }
        notifier = new Notifier(subscriber);
      }
      return notifier;
    },
  };
  const defaultStrategy = options.strategy ?? 'redis-lock';

  return {
    async getOrCompute<T>(key: string, compute: Compute<T>, call: CallOptions = {}): Promise<GuardResult<T>> {
      checkKey(key);
      const strategy = call.strategy ?? defaultStrategy;
      const run = RUNNERS[strategy];
      if (!run) throw new StampedeError('E_STRATEGY', `unknown strategy "${strategy}"`);
      return run({ key, compute, log: call.logger ?? defaultLogger, ttlMs: call.ttlMs ?? deps.valueTtlMs }, deps);
    },
    async close() {
      await Promise.all(deps.refreshing.values());
      aborter.abort(new StampedeError('E_CLOSED', 'the guard was closed'));
      const subscriber = ownSubscriber as RedisClient | null;
      if (subscriber) await subscriber.quit().catch(() => subscriber.disconnect());
    },
  };
}

/** Braces in the prefix would change the hash tag Redis Cluster uses, so only plain names. */
function checkPrefix(prefix: string): string {
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(prefix)) {
    throw new StampedeError('E_OPTIONS', `keyPrefix must be 1-64 letters, digits, '_', '.', ':' or '-', got "${prefix}"`);
  }
  return prefix;
}

function checkFraction(name: string, value: number): number {
  if (!(value >= 0 && value <= 1)) throw new StampedeError('E_OPTIONS', `${name} must be between 0 and 1, got ${value}`);
  return value;
}

function checkKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH) {
    throw new StampedeError('E_KEY', `a cache key must be a string of 1 to ${MAX_KEY_LENGTH} characters`);
  }
}
