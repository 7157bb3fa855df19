// Public API: re-exports only.
export { createGuard, type GuardOptions, type CallOptions, type StampedeGuard } from './cache/guard.js';
export type { Compute, ComputeContext, GuardResult } from './cache/context.js';
export { STRATEGIES, isStrategy, type Strategy, type ValueSource } from './cache/strategy.js';
export type { Envelope } from './cache/envelope.js';
export { loadConfig, type Config, type ConfigOverrides } from '../scripts/common/config.js';
export * from './errors.js';
export { cacheKeys, hashTag, type CacheKeys } from './keys.js';
export { createLogger, jobLogger, logEvent, redactUrl, EVENTS, type EventName, type Logger } from './logger.js';
export { acquireLock, releaseLock, extendLock, type LockLease } from './lock/redis-lock.js';
export { SingleFlight, type FlightResult } from './lock/single-flight.js';
export { KeyedMutex } from './lock/keyed-mutex.js';
export { createRedis, createRedisClient, assertRedisReachable, isCluster, type RedisClient, type RedisRole } from '../scripts/redis/connection.js';
