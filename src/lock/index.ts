// 'cache-stampede/lock': the fenced Redis lock the guard is built on, for code that needs a lock
// of its own. Re-exports only; see docs/library.md#lock-primitives.
export { acquireLock, extendLock, releaseLock } from './client-lock.js';
export type { LockLease } from './redis-lock.js';
export type { IoRedisClient, NodeRedisClient, SupportedRedisClient } from '../redis/client.js';
export { cacheKeys, type CacheKeys } from '../keys.js';
