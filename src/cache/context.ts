import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import type { KeyedMutex } from '../lock/keyed-mutex.js';
import type { SingleFlight } from '../lock/single-flight.js';
import type { Notifier } from './notifier.js';
import type { ValueSource } from './strategy.js';

/** What the caller's computation receives. `signal` aborts when the guard gives the work up. */
export interface ComputeContext {
  key: string;
  signal: AbortSignal;
}

export type Compute<T> = (ctx: ComputeContext) => Promise<T>;

export interface GuardResult<T> {
  value: T;
  source: ValueSource;
}

/** Everything a strategy needs, built once per guard. */
export interface StrategyDeps {
  redis: Redis;
  keyPrefix: string;
  valueTtlMs: number;
  lockTtlMs: number;
  /** Longest a caller waits for other holders, in total, before giving up. */
  maxWaitMs: number;
  mutex: KeyedMutex;
  flight: SingleFlight<GuardResult<unknown>>;
  notifier: () => Notifier;
  signal: AbortSignal;
}

/** One call: the key, its computation, the logger bound to the caller's correlation fields. */
export interface Call<T> {
  key: string;
  compute: Compute<T>;
  log: Logger;
  ttlMs: number;
}
