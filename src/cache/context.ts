import type { RedisPort } from '../redis/port.js';
import type { EventContext, EventSource } from '../events.js';
import type { Logger } from '../logger.js';
import type { KeyedMutex } from '../lock/keyed-mutex.js';
import type { SingleFlight } from '../lock/single-flight.js';
import type { RedisGate } from '../redis/gate.js';
import type { NotifierLease } from '../redis/shared-notifier.js';
import type { CacheKeys } from '../keys.js';
import type { Envelope } from './envelope.js';
import type { L1Tier } from './l1-tier.js';
import type { OutageAnswers } from './outage.js';
import type { ResolvedGuardOptions } from './options.js';
import type { Strategy, ValueSource } from './strategy.js';

/** What the caller's computation receives. `signal` aborts when the guard gives the work up. */
export interface ComputeContext {
  key: string;
  /**
   * Aborted when the computation should stop: it timed out, its holder lost the Redis lock,
   * or the guard was closed. A computation that ignores it still finishes, but its result
   * is then only stored if no newer one is (fencing).
   */
  signal: AbortSignal;
  /**
   * Decide this value's lifetime, for this value only: `ttlMs` its fresh time, `graceMs` how long
   * it stays after that (for swr, xfetch and the `stale` failure policy). The computation often
   * knows best: a token valid for 10 minutes, an HTTP response's `max-age`, a "not found" worth
   * remembering for 5 seconds. Each in whole ms from 0 to 2^31 - 1 (a fresh time of 0 gives 1 ms);
   * anything else throws OptionsError, and the computation fails with it.
   */
  setTtl(ttl: ValueTtl): void;
  /**
   * Answer this call, and the calls waiting for this computation, with the value, but store it
   * nowhere: neither in Redis nor in any process's L1 tier; the next call computes again.
   */
  skipCache(): void;
  /**
   * Tag this value, beside the call's `tags`: `invalidateTags` of any of them makes it count as
   * missing in every process. For tags the computation learns (the ids of what it read, say).
   */
  addTags(tags: readonly string[]): void;
}

/** A value's lifetime as its computation decides it (`ComputeContext.setTtl`). */
export interface ValueTtl {
  ttlMs?: number;
  graceMs?: number;
}

/** What a batch computation (`getManyOrCompute`) receives beside its keys. */
export interface BatchContext {
  /** Aborted when the computation should stop: it timed out (`computeTimeoutMs`), or the guard was closed. */
  signal: AbortSignal;
  /** `setTtl` of one key's value (see ComputeContext). */
  setTtl(key: string, ttl: ValueTtl): void;
  /** `skipCache` of one key's value (see ComputeContext). */
  skipCache(key: string): void;
  /** `addTags` of one key's value (see ComputeContext). */
  addTags(key: string, tags: readonly string[]): void;
}

/** A batch computation: a value for each of `keys` (a Map, or an object keyed by them); a key left out fails alone. */
export type ComputeMany<T> = (keys: string[], ctx: BatchContext) => Promise<ReadonlyMap<string, T> | Readonly<Record<string, T>>>;

/** `getManyOrCompute`'s answer: per key, in the order asked, its result or its own failure. */
export type BatchResult<T> = Map<string, GuardResult<T> | { error: Error }>;

export type Compute<T> = (ctx: ComputeContext) => Promise<T>;

export interface GuardResult<T> {
  value: T;
  source: ValueSource;
}

/**
 * A strategy's answer: the result, and the fresh value behind it when there is one (for the L1
 * tier). `computedBy`: the traceparent of the computation a `waited` answer waited for, when no
 * envelope carries it (a computation shared in-process during an outage, kept out of the L1 tier).
 */
export type Answer<T> = GuardResult<T> & {
  envelope?: Envelope<T>;
  computedBy?: string;
  /** A value computed here but not stored (refused, or skipCache): its caller's, and its flight's joiners' to judge. */
  unstored?: Envelope<T>;
  /** Refused by a newer value (a set, a delete, a newer holder): a joiner of its flight looks again. */
  superseded?: true;
};

/** Everything a strategy needs, resolved once per guard: the options, and the guard's state. */
export interface StrategyDeps extends ResolvedGuardOptions {
  redis: RedisPort;
  /** Every Redis step of a call goes through it: its deadline, and the circuit breaker. */
  gate: RedisGate;
  /** How calls are answered while Redis is unavailable (`onRedisDown`). */
  outage: OutageAnswers;
  /** The Redis names of one cache key (its channel names the client's database). */
  keys(key: string): CacheKeys;
  mutex: KeyedMutex;
  flight: SingleFlight<Answer<unknown>>;
  /** The in-process tier, when the guard has one. */
  l1: L1Tier | null;
  notifier: () => NotifierLease;
  /** Aborted when the guard closes. */
  signal: AbortSignal;
  /** Background refreshes in this process: keys being refreshed, and their promises for close(). */
  refreshing: Map<string, Promise<void>>;
  /** Computations (and waits) that went on after their call was answered stale at its soft timeout, for close(). */
  continuing: Set<Promise<unknown>>;
}

/**
 * One call: the key, its computation, its strategy, and what its events carry (the caller's
 * context, and the logger bound to the caller's correlation fields). A call is the source of
 * every event it reports (events.ts).
 */
export interface Call<T> extends EventSource {
  readonly key: string;
  readonly strategy: Strategy;
  readonly compute: Compute<T>;
  readonly log: Logger;
  readonly context: EventContext | undefined;
  readonly ttlMs: number;
  /** `redis-lock`: how long a call with a stale value in reach waits for the fresh one; 0: as long as it takes. */
  readonly softTimeoutMs: number;
  /** The tags its value is written with (the computation may add more). */
  readonly tags: readonly string[];
  /** The namespaces of the view it was made through (outermost first): a value must carry them all to count. */
  readonly ns: readonly string[];
}
