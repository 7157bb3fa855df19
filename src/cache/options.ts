import { OptionsError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Tracing } from '../telemetry/tracing.js';
import { ACCEPTED_CLIENTS, clientLibrary } from '../redis/adapt.js';
import type { SupportedRedisClient } from '../redis/client.js';
import { MAX_TIMER_MS } from '../timers.js';
import type { L1Options } from './l1.js';
import { FAILURE_POLICIES, REDIS_DOWN_POLICIES, STRATEGIES, type FailurePolicy, type RedisDownPolicy, type Strategy } from './strategy.js';

export interface GuardOptions {
  /**
   * The cache's Redis: an ioredis or iovalkey `Redis`/`Cluster`, or a node-redis client or cluster
   * (`createClient`/`createCluster`, connected). The guard uses it but does not close it:
   * whoever created it does.
   */
  redis: SupportedRedisClient;
  /**
   * The pub/sub connection waiters share, to the same Redis as `redis` and of the same library
   * (for an ioredis cluster, a `Cluster` with `shardedSubscribers: true`; for node-redis, a
   * connected client of its own). @default a duplicate of `redis`, created on first wait and
   * closed by `close()`.
   */
  subscriber?: SupportedRedisClient;
  /** Prefix of every key and channel the guard uses. @default 'cs' */
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
  /**
   * After a failed recomputation was answered with a stale value, serve that stale value without
   * recomputing for this long, in the whole fleet (stale-if-error without hammering a failing
   * backend). Never past the value's grace. 0 turns it off. @default 5000
   */
  failureBackoffMs?: number;
  /** XFetch's beta: above 1 refreshes earlier, below 1 later. @default 1 */
  xfetchBeta?: number;
  /** Source of randomness for XFetch and jitter, uniform in [0, 1). @default Math.random */
  random?: () => number;
  /** Lifetime of a Redis lock, ms; also how long a waiter waits before checking on the holder. @default 10000 */
  lockTtlMs?: number;
  /** Longest a caller waits for other holders in total, ms. @default 6 x lockTtlMs */
  maxWaitMs?: number;
  /**
   * The longest any one Redis step of a call may take, ms, whatever the client's own retries: a
   * step without an answer by then (or a failed connection) means Redis is unavailable, and the
   * guard's circuit breaker stops sending calls' commands there until a probe is answered.
   * @default 1000: far above what a healthy Redis takes under load (well under 10 ms), and the
   * most an outage costs a call once.
   */
  redisTimeoutMs?: number;
  /** What a call does while Redis is unavailable: `compute` (in this process) or `error`. @default 'compute' */
  onRedisDown?: RedisDownPolicy;
  /**
   * `redis-lock`: a call with a stale value in reach (within its grace) waits for the fresh one at
   * most this long, then gets the stale one (`source: 'stale'`) while the computation goes on and
   * writes when it is done. Without a stale value nothing changes. 0: off. @default 0
   */
  softTimeoutMs?: number;
  /**
   * How long an invalidation (`invalidateTags`, a namespace's `clear()`) is remembered in Redis,
   * and so the longest a value with tags or a namespace lives (fresh time plus grace): a value must
   * never outlive the record of an invalidation that covers it. @default 86400000 (24 h)
   */
  tagRetentionMs?: number;
  /** Logger for calls that do not bring their own. @default silent */
  logger?: Logger;
  /**
   * An in-process tier in front of Redis, kept coherent across processes by a pub/sub bus: a hit
   * there sends no command. Off unless given: values a process may never read again cost memory.
   */
  l1?: L1Options;
  /**
   * Spans for every call (getOrCompute, set, delete, lock), its computation and its waits:
   * `openTelemetry()` from `cache-stampede/otel`, or your own implementation of `Tracing`. A
   * waiter's span links to the computation it waited for, in whatever process that ran.
   * @default none: no span is built
   */
  tracing?: Tracing;
}

/** The options that are plain values, with the defaults every caller (library, environment) shares. */
export interface ResolvedGuardOptions {
  readonly keyPrefix: string;
  readonly strategy: Strategy;
  readonly valueTtlMs: number;
  readonly graceMs: number;
  readonly ttlJitter: number;
  readonly computeTimeoutMs: number;
  readonly failurePolicy: FailurePolicy;
  readonly failureBackoffMs: number;
  readonly xfetchBeta: number;
  readonly lockTtlMs: number;
  readonly maxWaitMs: number;
  readonly redisTimeoutMs: number;
  readonly onRedisDown: RedisDownPolicy;
  readonly softTimeoutMs: number;
  readonly tagRetentionMs: number;
  readonly random: () => number;
  /** The L1 tier's bounds; null: no L1 tier. */
  readonly l1Options: L1Options | null;
}

export type TunableOption = Exclude<keyof ResolvedGuardOptions, 'random' | 'l1Options'>;

export const GUARD_DEFAULTS: Readonly<Omit<ResolvedGuardOptions, 'maxWaitMs' | 'random' | 'l1Options'>> = Object.freeze({
  keyPrefix: 'cs',
  strategy: 'redis-lock',
  valueTtlMs: 60_000,
  graceMs: 60_000,
  ttlJitter: 0,
  computeTimeoutMs: 30_000,
  failurePolicy: 'stale',
  failureBackoffMs: 5_000,
  xfetchBeta: 1,
  lockTtlMs: 10_000,
  redisTimeoutMs: 1_000,
  onRedisDown: 'compute',
  softTimeoutMs: 0,
  tagRetentionMs: 86_400_000,
});

/** Braces in the prefix would change the hash tag Redis Cluster uses, so only plain names. */
const PREFIX = /^[A-Za-z0-9_.:-]{1,64}$/;

/** Each rule returns what the value must be, or null when it is fine. */
const RULES: Record<TunableOption, (value: unknown) => string | null> = {
  keyPrefix: (v) => (typeof v === 'string' && PREFIX.test(v) ? null : "1-64 letters, digits, '_', '.', ':' or '-'"),
  strategy: oneOf(STRATEGIES),
  valueTtlMs: wholeMs(1),
  graceMs: wholeMs(0),
  ttlJitter: between(0, 1),
  computeTimeoutMs: wholeMs(0),
  failurePolicy: oneOf(FAILURE_POLICIES),
  failureBackoffMs: wholeMs(0),
  xfetchBeta: between(0.01, 100),
  // Below 100 ms a lock would expire between the watchdog's extensions on a busy machine.
  lockTtlMs: wholeMs(100),
  maxWaitMs: wholeMs(0),
  // Below 10 ms a loaded machine's own scheduling would count as an outage.
  redisTimeoutMs: wholeMs(10),
  onRedisDown: oneOf(REDIS_DOWN_POLICIES),
  softTimeoutMs: wholeMs(0),
  // A marked value lives at least 1 ms fresh: its life cannot be shorter.
  tagRetentionMs: wholeMs(1),
};

const OTHER_OPTIONS = new Set(['redis', 'subscriber', 'random', 'logger', 'l1', 'tracing']);

/**
 * Check one tunable option; `label` is how the caller names it (an environment variable, say).
 * The one validator: the library and the environment loader both use it.
 */
export function checkGuardOption<K extends TunableOption>(name: K, value: unknown, label: string = name): ResolvedGuardOptions[K] {
  const expected = RULES[name](value);
  if (expected !== null) throw new OptionsError(name, `${label} must be ${expected}, got ${describe(value)}`);
  return value as ResolvedGuardOptions[K];
}

/** Defaults filled in and every value checked, once, when the guard is created. */
export function resolveGuardOptions(options: GuardOptions): ResolvedGuardOptions {
  if (typeof options !== 'object' || options === null)
    throw new OptionsError('options', 'createGuard needs an options object with `redis`');
  for (const name of Object.keys(options)) {
    if (!(name in RULES) && !OTHER_OPTIONS.has(name)) throw new OptionsError(name, `unknown option "${name}"`);
  }
  if (clientLibrary(options.redis) === null) throw new OptionsError('redis', `redis must be ${ACCEPTED_CLIENTS}`);
  if (options.subscriber !== undefined && clientLibrary(options.subscriber) === null) {
    throw new OptionsError('subscriber', `subscriber must be ${ACCEPTED_CLIENTS}`);
  }
  // A connection in subscriber mode refuses every other command: the guard's own would all fail.
  if (options.subscriber !== undefined && options.subscriber === options.redis) {
    throw new OptionsError(
      'subscriber',
      'subscriber must be a connection of its own, not `redis` itself (it would be put in subscriber mode)',
    );
  }
  if (options.random !== undefined && typeof options.random !== 'function')
    throw new OptionsError('random', `random must be a function, got ${describe(options.random)}`);
  if (options.logger !== undefined) checkLogger(options.logger);
  if (options.tracing !== undefined && typeof (options.tracing as Partial<Tracing> | null)?.startSpan !== 'function')
    throw new OptionsError('tracing', "tracing must have a startSpan function (openTelemetry() from 'cache-stampede/otel')");

  // Only a missing option (undefined) takes its default: null is a value, and a bad one.
  const given = options as unknown as Record<string, unknown>;
  const pick = <K extends keyof typeof GUARD_DEFAULTS>(name: K) =>
    checkGuardOption(name, given[name] === undefined ? GUARD_DEFAULTS[name] : given[name]);
  const lockTtlMs = pick('lockTtlMs');
  return Object.freeze({
    keyPrefix: pick('keyPrefix'),
    strategy: pick('strategy'),
    valueTtlMs: pick('valueTtlMs'),
    graceMs: pick('graceMs'),
    ttlJitter: pick('ttlJitter'),
    computeTimeoutMs: pick('computeTimeoutMs'),
    failurePolicy: pick('failurePolicy'),
    failureBackoffMs: pick('failureBackoffMs'),
    xfetchBeta: pick('xfetchBeta'),
    lockTtlMs,
    maxWaitMs: options.maxWaitMs === undefined ? lockTtlMs * 6 : checkGuardOption('maxWaitMs', options.maxWaitMs),
    redisTimeoutMs: pick('redisTimeoutMs'),
    onRedisDown: pick('onRedisDown'),
    softTimeoutMs: pick('softTimeoutMs'),
    tagRetentionMs: pick('tagRetentionMs'),
    random: options.random ?? Math.random,
    l1Options: options.l1 === undefined ? null : checkL1(options.l1),
  });
}

/** The L1 tier's bounds: a count, and optionally bytes. */
export function checkL1(l1: unknown, label = 'l1'): L1Options {
  const { maxEntries, maxBytes, ...rest } = (typeof l1 === 'object' && l1 !== null ? l1 : { maxEntries: undefined }) as Partial<L1Options>;
  const whole = (v: unknown, max: number) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= max;
  if (!whole(maxEntries, 10_000_000))
    throw new OptionsError('l1', `${label}.maxEntries must be a whole number from 1 to 10000000, got ${describe(maxEntries)}`);
  if (maxBytes !== undefined && !whole(maxBytes, Number.MAX_SAFE_INTEGER))
    throw new OptionsError('l1', `${label}.maxBytes must be a whole number of bytes, got ${describe(maxBytes)}`);
  const unknown = Object.keys(rest);
  if (unknown.length > 0) throw new OptionsError('l1', `unknown option ${label}.${unknown[0]}`);
  return { maxEntries: maxEntries as number, ...(maxBytes !== undefined && { maxBytes }) };
}

function wholeMs(min: number): (value: unknown) => string | null {
  return (v) =>
    Number.isInteger(v) && (v as number) >= min && (v as number) <= MAX_TIMER_MS
      ? null
      : `a whole number of ms from ${min} to ${MAX_TIMER_MS}`;
}

function between(min: number, max: number): (value: unknown) => string | null {
  return (v) => (typeof v === 'number' && v >= min && v <= max ? null : `a number from ${min} to ${max}`);
}

function oneOf(allowed: readonly string[]): (value: unknown) => string | null {
  return (v) => (typeof v === 'string' && allowed.includes(v) ? null : `one of ${allowed.join(', ')}`);
}

/** What a logger must have: the guard writes at four levels; `createProcessor` also binds each job's fields with `child`. */
const LOGGER_METHODS = ['debug', 'info', 'warn', 'error'] as const;

/**
 * A logger of pino's shape, checked where it is given (the guard's `logger` option, and
 * `createProcessor`'s, which also needs `child`), so a missing method fails at creation with
 * OptionsError, never at a job's time.
 */
export function checkLogger(value: unknown, needs: { child?: boolean; label?: string } = {}): Logger {
  const label = needs.label ?? 'logger';
  const methods = needs.child ? [...LOGGER_METHODS, 'child'] : LOGGER_METHODS;
  const logger = value as Record<string, unknown>;
  if (typeof value !== 'object' || value === null) throw new OptionsError('logger', `${label} must be a pino logger (or have its shape)`);
  const missing = methods.filter((method) => typeof logger[method] !== 'function');
  if (missing.length > 0) {
    const what = missing.map((method) => `${method}()`).join(', ');
    throw new OptionsError('logger', `${label} must be a pino logger (or have its shape): it has no ${what}`);
  }
  return value as Logger;
}

/** A short description of a bad value for a message (never a whole object). */
function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === undefined || value === null) return String(value);
  return `a ${typeof value}`;
}
