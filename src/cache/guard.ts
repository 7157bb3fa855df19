import { setMaxListeners } from 'node:events';
import type { RedisClient } from '../redis/client.js';
import { GuardClosedError, InvalidKeyError, OptionsError, UnknownStrategyError } from '../errors.js';
import { MAX_KEY_LENGTH, cacheKeys } from '../keys.js';
import { logEvent, silentLogger, type Logger } from '../logger.js';
import { KeyedMutex } from '../lock/keyed-mutex.js';
import { SingleFlight } from '../lock/single-flight.js';
import { isCluster } from '../redis/client.js';
import { duplicateAsSubscriber } from '../redis/subscriber.js';
import type { Call, Compute, GuardResult, StrategyDeps } from './context.js';
import { Notifier } from './notifier.js';
import { resolveGuardOptions, type GuardOptions } from './options.js';
import type { Strategy } from './strategy.js';

export type { GuardOptions };
import { getWithLocalLock } from './strategies/local-lock.js';
import { getWithoutProtection } from './strategies/none.js';
import { getWithRedisLock } from './strategies/redis-lock.js';
import { getWithSwr } from './strategies/swr.js';
import { getWithXfetch } from './strategies/xfetch.js';

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

type Runner = (call: Call<unknown>, deps: StrategyDeps) => Promise<GuardResult<unknown>>;

/** A Map, not an object: a strategy named "toString" or "__proto__" must find nothing. */
const RUNNERS = new Map<string, Runner>([
  ['none', getWithoutProtection],
  ['local-lock', getWithLocalLock],
  ['redis-lock', getWithRedisLock],
  ['swr', getWithSwr],
  ['xfetch', getWithXfetch],
]);

export function createGuard(options: GuardOptions): StampedeGuard {
  const resolved = resolveGuardOptions(options);
  const defaultLogger = options.logger ?? silentLogger;
  const aborter = new AbortController();
  // Every running computation listens on this one signal (and stops listening when it ends);
  // hundreds at once is normal, not a leak.
  setMaxListeners(0, aborter.signal);
  let notifier: Notifier | null = null;
  let ownSubscriber: RedisClient | null = null;
  const db = databaseOf(options.redis);

  const deps: StrategyDeps = {
    ...resolved,
    redis: options.redis,
    keys: (key) => cacheKeys(resolved.keyPrefix, key, db),
    mutex: new KeyedMutex(),
    flight: new SingleFlight(),
    signal: aborter.signal,
    refreshing: new Map(),
    // Created on first wait: processes that never wait never open a pub/sub connection.
    notifier: () => {
      if (!notifier) {
        let subscriber = options.subscriber;
        if (!subscriber) {
          ownSubscriber = duplicateAsSubscriber(options.redis);
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

  return {
    async getOrCompute<T>(key: string, compute: Compute<T>, call: CallOptions = {}): Promise<GuardResult<T>> {
      checkKey(key);
      const strategy = call.strategy ?? resolved.strategy;
      const run = RUNNERS.get(strategy);
      if (!run) throw new UnknownStrategyError(strategy);
      if (aborter.signal.aborted) throw new GuardClosedError();
      const ttlMs = call.ttlMs ?? resolved.valueTtlMs;
      if (typeof ttlMs !== 'number' || Number.isNaN(ttlMs)) throw new OptionsError('ttlMs', `ttlMs must be a number of ms, got ${String(ttlMs)}`);
      const log = call.logger ?? defaultLogger;
      return run({ key, compute, log, ttlMs } as Call<unknown>, deps) as Promise<GuardResult<T>>;
    },
    async close() {
      await Promise.all(deps.refreshing.values());
      aborter.abort(new GuardClosedError());
      const subscriber = ownSubscriber as RedisClient | null;
      if (subscriber) await subscriber.quit().catch(() => subscriber.disconnect());
    },
  };
}

/** The database the client selected (pub/sub ignores it, so the channels name it); a cluster has only 0. */
function databaseOf(redis: RedisClient): number {
  return isCluster(redis) ? 0 : (redis.options.db ?? 0);
}

function checkKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH) {
    throw new InvalidKeyError(`a cache key must be a string of 1 to ${MAX_KEY_LENGTH} characters`);
  }
}
