import { ConfigError } from './errors.js';
import { MAX_COMPUTE_MS } from '../../src/bullmq/job-data.js';
import type { L1Options } from '../../src/cache/l1.js';
import { GUARD_DEFAULTS, checkGuardOption, checkL1, type ResolvedGuardOptions, type TunableOption } from '../../src/cache/options.js';
import type { FailurePolicy, RedisDownPolicy, Strategy } from '../../src/cache/strategy.js';
import { clusterUrlFromNodes, isClusterUrl, parseClusterUrl } from '../redis/cluster-url.js';
import { urlDatabase } from '../redis/database.js';
import { loadTlsSettings, type TlsSettings } from '../redis/tls.js';

/**
 * One validated, frozen configuration from the environment and explicit overrides
 * (command-line flags). Flags win over the environment; both are checked here, once,
 * so the rest of the code can trust what it reads.
 */
export interface Config {
  /**
   * Redis for the queue and the cache: one node, or a cluster as `redis+cluster://host:port,...`
   * (see redis/cluster-url.ts). @default 'redis://127.0.0.1:6379' (env REDIS_URL or REDIS_CLUSTER_NODES)
   */
  readonly redisUrl: string;
  /**
   * True when the user named a Redis (REDIS_URL, QUEUE_REDIS_URL, CACHE_REDIS_URL, their
   * _CLUSTER_NODES forms, or a flag); false means "the default" (the demo then starts its own).
   */
  readonly redisUrlGiven: boolean;
  /** Redis for the BullMQ queue. @default redisUrl (env QUEUE_REDIS_URL or QUEUE_REDIS_CLUSTER_NODES) */
  readonly queueRedisUrl: string;
  /** Redis for the cache and locks. @default redisUrl (env CACHE_REDIS_URL or CACHE_REDIS_CLUSTER_NODES) */
  readonly cacheRedisUrl: string;
  /**
   * TLS for the `rediss://` and `rediss+cluster://` URLs above: a CA file, a server name (see
   * redis/tls.ts). @default {} (env REDIS_TLS_CA_FILE, REDIS_TLS_SERVERNAME)
   */
  readonly tls: TlsSettings;
  /** @default 'cache-stampede' (env QUEUE_NAME) */
  readonly queueName: string;
  /** Directory for NDJSON logs. @default 'logs' (env LOG_DIR) */
  readonly logDir: string;
  /** @default 'info' (env LOG_LEVEL) */
  readonly logLevel: LogLevel;
  /** Prefix of every key and channel of the guard. @default 'cs' (env KEY_PREFIX) */
  readonly keyPrefix: string;
  /** Jobs one worker process runs at once. @default 50 (env WORKER_CONCURRENCY) */
  readonly concurrency: number;
  /** Simulated computation time when a job does not say. @default 1000 (env COMPUTE_MS) */
  readonly computeMs: number;
  /**
   * The user's compute module (a path, relative to the directory the command was run from);
   * absent: the simulated computation. (env COMPUTE_MODULE)
   */
  readonly computeModule: string | undefined;
  /** How long a cached value is fresh. @default 60000 (env VALUE_TTL_MS) */
  readonly valueTtlMs: number;
  /** How long a stale value stays usable (swr, xfetch, stale-if-error). @default 60000 (env GRACE_MS) */
  readonly graceMs: number;
  /** Random shortening of fresh time, a fraction 0..1. @default 0 (env TTL_JITTER) */
  readonly ttlJitter: number;
  /** Abort a computation after this long; 0 = never. @default 30000 (env COMPUTE_TIMEOUT_MS) */
  readonly computeTimeoutMs: number;
  /** What waiters get when the holder's computation fails. @default 'stale' (env FAILURE_POLICY) */
  readonly failurePolicy: FailurePolicy;
  /** After a failure answered with a stale value, serve it without recomputing this long; 0 = off. @default 5000 (env FAILURE_BACKOFF_MS) */
  readonly failureBackoffMs: number;
  /** The guard's in-process L1 tier; null: none. @default null (env L1_MAX_ENTRIES, L1_MAX_BYTES) */
  readonly l1: L1Options | null;
  /** XFetch's beta. @default 1 (env XFETCH_BETA) */
  readonly xfetchBeta: number;
  /** How long a Redis lock lives unless extended. @default 10000 (env LOCK_TTL_MS) */
  readonly lockTtlMs: number;
  /**
   * The longest one Redis step of a call may take before the cache's Redis counts as unavailable
   * (the guard's circuit breaker opens). @default 1000 (env REDIS_TIMEOUT_MS)
   */
  readonly redisTimeoutMs: number;
  /** What a job's call does while the cache's Redis is unavailable: `compute` or `error`. @default 'compute' (env ON_REDIS_DOWN) */
  readonly onRedisDown: RedisDownPolicy;
  /** redis-lock: how long a job with a stale value in reach waits for the fresh one (0: as long as it takes). @default 0 (env SOFT_TIMEOUT_MS) */
  readonly softTimeoutMs: number;
  /** Strategy when a command does not say. @default 'redis-lock' (env STRATEGY) */
  readonly strategy: Strategy;
  /**
   * Serve Prometheus metrics on this port (a fleet: its first worker's; 0: a free port each);
   * absent: no endpoint. (env METRICS_PORT)
   */
  readonly metricsPort: number | undefined;
  /** The address the metrics endpoint listens on. @default '127.0.0.1' (env METRICS_HOST) */
  readonly metricsHost: string;
}

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export type ConfigOverrides = { -readonly [K in keyof Config]?: Config[K] | undefined };
type Env = Record<string, string | undefined>;

export function loadConfig(overrides: ConfigOverrides = {}, env: Env = process.env): Config {
  const given = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  /** A guard option from a flag or the environment, checked by the guard's own validator. */
  const guardOption = <K extends TunableOption>(name: string, field: K): ResolvedGuardOptions[K] => {
    const override = overrides[field as keyof ConfigOverrides];
    const raw = override !== undefined ? override : fromEnv(name, given(name), typeof GUARD_DEFAULTS[field as keyof typeof GUARD_DEFAULTS]);
    try {
      return checkGuardOption(field, raw ?? GUARD_DEFAULTS[field as keyof typeof GUARD_DEFAULTS], name);
    } catch (err) {
      throw new ConfigError((err as Error).message);
    }
  };
  const redisUrl = overrides.redisUrl ?? namedRedis(given, 'REDIS');
  const resolvedRedisUrl = checkRedisUrl('REDIS_URL', redisUrl ?? DEFAULT_REDIS_URL);
  const queueNamed = overrides.queueRedisUrl ?? namedRedis(given, 'QUEUE_REDIS');
  const cacheNamed = overrides.cacheRedisUrl ?? namedRedis(given, 'CACHE_REDIS');
  const queueRedisUrl = checkRedisUrl('QUEUE_REDIS_URL', queueNamed ?? resolvedRedisUrl);
  const cacheRedisUrl = checkRedisUrl('CACHE_REDIS_URL', cacheNamed ?? resolvedRedisUrl);
  const tls = loadTlsSettings(
    overrides.tls?.caFile ?? given('REDIS_TLS_CA_FILE'),
    overrides.tls?.servername ?? given('REDIS_TLS_SERVERNAME'),
    [queueRedisUrl, cacheRedisUrl],
  );
  const config: Config = {
    redisUrl: resolvedRedisUrl,
    redisUrlGiven: [redisUrl, queueNamed, cacheNamed].some((named) => named !== undefined),
    queueRedisUrl,
    cacheRedisUrl,
    tls,
    queueName: checkName('QUEUE_NAME', overrides.queueName ?? given('QUEUE_NAME') ?? 'cache-stampede'),
    logDir: overrides.logDir ?? given('LOG_DIR') ?? 'logs',
    logLevel: checkOneOf('LOG_LEVEL', overrides.logLevel ?? given('LOG_LEVEL') ?? 'info', LOG_LEVELS),
    keyPrefix: guardOption('KEY_PREFIX', 'keyPrefix'),
    concurrency: int('WORKER_CONCURRENCY', overrides.concurrency, given('WORKER_CONCURRENCY'), 50, 1, 10_000),
    computeMs: int('COMPUTE_MS', overrides.computeMs, given('COMPUTE_MS'), 1000, 0, MAX_COMPUTE_MS),
    computeModule: overrides.computeModule ?? given('COMPUTE_MODULE'),
    valueTtlMs: guardOption('VALUE_TTL_MS', 'valueTtlMs'),
    graceMs: guardOption('GRACE_MS', 'graceMs'),
    ttlJitter: guardOption('TTL_JITTER', 'ttlJitter'),
    lockTtlMs: guardOption('LOCK_TTL_MS', 'lockTtlMs'),
    redisTimeoutMs: guardOption('REDIS_TIMEOUT_MS', 'redisTimeoutMs'),
    onRedisDown: guardOption('ON_REDIS_DOWN', 'onRedisDown'),
    softTimeoutMs: guardOption('SOFT_TIMEOUT_MS', 'softTimeoutMs'),
    computeTimeoutMs: guardOption('COMPUTE_TIMEOUT_MS', 'computeTimeoutMs'),
    failurePolicy: guardOption('FAILURE_POLICY', 'failurePolicy'),
    failureBackoffMs: guardOption('FAILURE_BACKOFF_MS', 'failureBackoffMs'),
    xfetchBeta: guardOption('XFETCH_BETA', 'xfetchBeta'),
    l1: l1FromEnv(overrides.l1, given('L1_MAX_ENTRIES'), given('L1_MAX_BYTES')),
    strategy: guardOption('STRATEGY', 'strategy'),
    metricsPort: optionalInt('METRICS_PORT', overrides.metricsPort, given('METRICS_PORT'), 0, 65_535),
    metricsHost: checkHost('METRICS_HOST', overrides.metricsHost ?? given('METRICS_HOST') ?? '127.0.0.1'),
  };
  return Object.freeze(config);
}

/** L1_MAX_ENTRIES turns the tier on; L1_MAX_BYTES bounds it further. Checked by the guard's validator. */
function l1FromEnv(override: L1Options | null | undefined, entries: string | undefined, bytes: string | undefined): L1Options | null {
  if (override !== undefined) return override;
  if (entries === undefined) {
    if (bytes !== undefined) throw new ConfigError('L1_MAX_BYTES needs L1_MAX_ENTRIES (which turns the L1 tier on)');
    return null;
  }
  const l1 = {
    maxEntries: fromEnv('L1_MAX_ENTRIES', entries, 'number'),
    ...(bytes !== undefined && { maxBytes: fromEnv('L1_MAX_BYTES', bytes, 'number') }),
  };
  try {
    return checkL1(l1, 'L1_MAX_*');
  } catch (err) {
    throw new ConfigError(
      (err as Error).message.replace('L1_MAX_*.maxEntries', 'L1_MAX_ENTRIES').replace('L1_MAX_*.maxBytes', 'L1_MAX_BYTES'),
    );
  }
}

/** An environment variable as the type of its option: numbers must look like numbers. */
function fromEnv(name: string, raw: string | undefined, type: string): unknown {
  if (raw === undefined || type !== 'number') return raw;
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new ConfigError(`${name} must be a number, got "${raw}"`);
  return n;
}

/** An integer setting from a flag (already a number) or the environment, range-checked either way. */
function int(name: string, override: number | undefined, raw: string | undefined, fallback: number, min: number, max: number): number {
  return checkInt(name, override !== undefined ? String(override) : raw, fallback, min, max);
}

/** An integer setting that may be absent. */
function optionalInt(name: string, override: number | undefined, raw: string | undefined, min: number, max: number): number | undefined {
  if (override === undefined && raw === undefined) return undefined;
  return int(name, override, raw, 0, min, max);
}

/** A host name or an IP address to listen on (an IPv6 one with or without brackets); undefined when it is neither. */
export function listenHost(raw: string): string | undefined {
  const host = raw.startsWith('[') && raw.endsWith(']') ? raw.slice(1, -1) : raw;
  return /^[A-Za-z0-9.:%_-]{1,253}$/.test(host) ? host : undefined;
}

function checkHost(name: string, raw: string): string {
  const host = listenHost(raw);
  if (host !== undefined) return host;
  throw new ConfigError(`${name} must be a host name or an IP address, e.g. 127.0.0.1 or 0.0.0.0; got "${raw}"`);
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

/** `<base>_URL`, or `<base>_CLUSTER_NODES` as the equivalent cluster URL; not both. */
function namedRedis(given: (name: string) => string | undefined, base: 'REDIS' | 'QUEUE_REDIS' | 'CACHE_REDIS'): string | undefined {
  const url = given(`${base}_URL`);
  const nodes = given(`${base}_CLUSTER_NODES`);
  if (url !== undefined && nodes !== undefined) {
    throw new ConfigError(`set ${base}_URL or ${base}_CLUSTER_NODES, not both`);
  }
  return nodes === undefined ? url : clusterUrlFromNodes(`${base}_CLUSTER_NODES`, nodes);
}

/**
 * A Redis URL must parse and use redis:// or rediss:// (one node) or redis+cluster:// or
 * rediss+cluster:// (a cluster); the message never repeats a password.
 */
export function checkRedisUrl(name: string, raw: string): string {
  if (isClusterUrl(raw)) {
    parseClusterUrl(name, raw);
    return raw.trim();
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name} is not a valid URL (expected redis://[user:password@]host:port[/db])`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new ConfigError(
      `${name} must start with redis:// or rediss://, got ${url.protocol}// (a cluster is redis+cluster://host:port,...)`,
    );
  }
  if (!url.hostname) throw new ConfigError(`${name} has no host`);
  urlDatabase(name, url);
  return raw;
}
