import { ConfigError } from './errors.js';
import { STRATEGIES, type Strategy } from './cache/strategy.js';

/**
 * One validated, frozen configuration from the environment and explicit overrides
 * (command-line flags). Flags win over the environment; both are checked here, once,
 * so the rest of the code can trust what it reads.
 */
export interface Config {
  /** Redis for the queue and the cache. @default 'redis://127.0.0.1:6379' (env REDIS_URL) */
  readonly redisUrl: string;
  /** True when the user named a Redis (REDIS_URL or a flag); false means "the default". */
  readonly redisUrlGiven: boolean;
  /** Redis for the BullMQ queue. @default redisUrl (env QUEUE_REDIS_URL) */
  readonly queueRedisUrl: string;
  /** Redis for the cache and locks. @default redisUrl (env CACHE_REDIS_URL) */
  readonly cacheRedisUrl: string;
  /** @default 'cache-stampede' (env QUEUE_NAME) */
  readonly queueName: string;
  /** Directory for NDJSON logs. @default 'logs' (env LOG_DIR) */
  readonly logDir: string;
  /** @default 'info' (env LOG_LEVEL) */
  readonly logLevel: LogLevel;
  /** Prefix of every cache, lock and fence key. @default 'cs' (env KEY_PREFIX) */
  readonly keyPrefix: string;
  /** Jobs one worker process runs at once. @default 50 (env WORKER_CONCURRENCY) */
  readonly concurrency: number;
  /** Simulated computation time when a job does not say. @default 1000 (env COMPUTE_MS) */
  readonly computeMs: number;
  /** How long a cached value lives. @default 60000 (env VALUE_TTL_MS) */
  readonly valueTtlMs: number;
  /** How long a Redis lock lives unless extended. @default 10000 (env LOCK_TTL_MS) */
  readonly lockTtlMs: number;
  /** Strategy when a command does not say. @default 'redis-lock' (env STRATEGY) */
  readonly strategy: Strategy;
}

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
export const MAX_COMPUTE_MS = 600_000;

export type ConfigOverrides = { -readonly [K in keyof Config]?: Config[K] | undefined };
type Env = Record<string, string | undefined>;

export function loadConfig(overrides: ConfigOverrides = {}, env: Env = process.env): Config {
  const given = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const redisUrl = overrides.redisUrl ?? given('REDIS_URL');
  const resolvedRedisUrl = checkRedisUrl('REDIS_URL', redisUrl ?? DEFAULT_REDIS_URL);
  const config: Config = {
    redisUrl: resolvedRedisUrl,
    redisUrlGiven: redisUrl !== undefined,
    queueRedisUrl: checkRedisUrl(
      'QUEUE_REDIS_URL',
      overrides.queueRedisUrl ?? given('QUEUE_REDIS_URL') ?? resolvedRedisUrl,
    ),
    cacheRedisUrl: checkRedisUrl(
      'CACHE_REDIS_URL',
      overrides.cacheRedisUrl ?? given('CACHE_REDIS_URL') ?? resolvedRedisUrl,
    ),
    queueName: checkName('QUEUE_NAME', overrides.queueName ?? given('QUEUE_NAME') ?? 'cache-stampede'),
    logDir: overrides.logDir ?? given('LOG_DIR') ?? 'logs',
    logLevel: checkOneOf('LOG_LEVEL', overrides.logLevel ?? given('LOG_LEVEL') ?? 'info', LOG_LEVELS),
    keyPrefix: checkName('KEY_PREFIX', overrides.keyPrefix ?? given('KEY_PREFIX') ?? 'cs'),
    concurrency: overrides.concurrency ?? checkInt('WORKER_CONCURRENCY', given('WORKER_CONCURRENCY'), 50, 1, 10_000),
    computeMs: overrides.computeMs ?? checkInt('COMPUTE_MS', given('COMPUTE_MS'), 1000, 0, MAX_COMPUTE_MS),
    valueTtlMs: overrides.valueTtlMs ?? checkInt('VALUE_TTL_MS', given('VALUE_TTL_MS'), 60_000, 1, 2 ** 31),
    lockTtlMs: overrides.lockTtlMs ?? checkInt('LOCK_TTL_MS', given('LOCK_TTL_MS'), 10_000, 100, 2 ** 31),
    strategy: checkOneOf('STRATEGY', overrides.strategy ?? given('STRATEGY') ?? 'redis-lock', STRATEGIES),
  };
  return Object.freeze(config);
}

/** Parse an integer flag or variable, naming it in the error. */
export function checkInt(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(`${name} must be a whole number, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

export function checkOneOf<T extends string>(name: string, raw: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(raw)) return raw as T;
  throw new ConfigError(`${name} must be one of ${allowed.join(', ')}; got "${raw}"`);
}

function checkName(name: string, raw: string): string {
  if (/^[A-Za-z0-9_.-]{1,64}$/.test(raw)) return raw;
  throw new ConfigError(`${name} must be 1-64 letters, digits, '_', '.' or '-'; got "${raw}"`);
}

/** A Redis URL must parse and use redis:// or rediss://; the message never repeats a password. */
export function checkRedisUrl(name: string, raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name} is not a valid URL (expected redis://[user:password@]host:port[/db])`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new ConfigError(`${name} must start with redis:// or rediss://, got ${url.protocol}//`);
  }
  if (!url.hostname) throw new ConfigError(`${name} has no host`);
  return raw;
}
