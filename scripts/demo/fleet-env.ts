import type { Config } from '../common/config.js';
import type { RedisClientKind } from '../redis/client-kind.js';

/**
 * The config names every Redis by URL (a cluster as `redis+cluster://`); blank the
 * `*_CLUSTER_NODES` variables the workers would inherit, which may not be set beside a URL.
 */
export const REDIS_NAMED_BY_URL = { REDIS_CLUSTER_NODES: '', QUEUE_REDIS_CLUSTER_NODES: '', CACHE_REDIS_CLUSTER_NODES: '' } as const;

/**
 * The environment that makes a fleet's workers use the same Redis, queue and settings as `config`,
 * and the client library `clientKind` when given (else they inherit REDIS_CLIENT).
 */
export function fleetEnv(config: Config, logDir: string, clientKind?: RedisClientKind): Record<string, string> {
  return {
    ...REDIS_NAMED_BY_URL,
    ...(clientKind !== undefined && { REDIS_CLIENT: clientKind }),
    LOG_DIR: logDir,
    REDIS_URL: config.redisUrl,
    QUEUE_REDIS_URL: config.queueRedisUrl,
    CACHE_REDIS_URL: config.cacheRedisUrl,
    REDIS_TLS_CA_FILE: config.tls.caFile ?? '',
    REDIS_TLS_SERVERNAME: config.tls.servername ?? '',
    QUEUE_NAME: config.queueName,
    KEY_PREFIX: config.keyPrefix,
    LOG_LEVEL: config.logLevel,
    VALUE_TTL_MS: String(config.valueTtlMs),
    GRACE_MS: String(config.graceMs),
    LOCK_TTL_MS: String(config.lockTtlMs),
    COMPUTE_TIMEOUT_MS: String(config.computeTimeoutMs),
    FAILURE_POLICY: config.failurePolicy,
    FAILURE_BACKOFF_MS: String(config.failureBackoffMs),
    REDIS_TIMEOUT_MS: String(config.redisTimeoutMs),
    ON_REDIS_DOWN: config.onRedisDown,
    SOFT_TIMEOUT_MS: String(config.softTimeoutMs),
    XFETCH_BETA: String(config.xfetchBeta),
    TTL_JITTER: String(config.ttlJitter),
  };
}
