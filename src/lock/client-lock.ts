import type { CacheKeys } from '../keys.js';
import type { Logger } from '../logger.js';
import { toPort } from '../redis/adapt.js';
import type { SupportedRedisClient } from '../redis/client.js';
import * as lock from './redis-lock.js';
import type { LockLease } from './redis-lock.js';

/**
 * The lock primitives as `cache-stampede/lock` offers them: on any supported client (ioredis,
 * iovalkey, node-redis), each call going through the client's seam (redis/port.ts), as the guard's do.
 */

export function acquireLock(redis: SupportedRedisClient, keys: CacheKeys, ttlMs: number, logger?: Logger): Promise<LockLease | null> {
  return lock.acquireLock(toPort(redis), keys, ttlMs, logger);
}

/**
 * Compare-and-delete: true when the lease still held the lock. Waiters are notified with
 * `released` (contend again), or with `failed:<reason>` when the holder's computation failed.
 */
export function releaseLock(
  redis: SupportedRedisClient,
  keys: CacheKeys,
  lease: LockLease,
  logger?: Logger,
  notification?: string,
): Promise<boolean> {
  return lock.releaseLock(toPort(redis), keys, lease, logger, notification);
}

/** Compare-and-PEXPIRE: true when the lease still held the lock and now has `ttlMs` again. */
export function extendLock(
  redis: SupportedRedisClient,
  keys: CacheKeys,
  lease: LockLease,
  ttlMs?: number,
  logger?: Logger,
): Promise<boolean> {
  return lock.extendLock(toPort(redis), keys, lease, ttlMs, logger);
}
