import { randomUUID } from 'node:crypto';
import type { RedisClient } from '../redis/connection.js';
import { shardedPublishArg } from '../redis/pubsub.js';
import { LuaScript } from '../redis/script.js';
import type { Logger } from '../logger.js';
import type { CacheKeys } from '../keys.js';

/**
 * The fleet-wide lock of one cache key: `SET lock token NX PX ttl`, a fence per acquisition,
 * compare-and-delete release, compare-and-PEXPIRE extend. Each operation is one Lua script,
 * so no other client's command can run between its check and its change.
 */

// KEYS[1] lock, KEYS[2] fence counter, KEYS[3] value hash
// ARGV[1] token, ARGV[2] ttl in ms
// Returns the new fence (integer) when the lock was taken, nil when another holder has it.
// The fence is normally INCR of the counter; if the counter was lost (evicted, flushed)
// while a value with a higher fence is still stored, it jumps past that value's fence, so
// the new holder's write is never wrongly rejected and fences stay monotonic.
const ACQUIRE = new LuaScript<number | null>(
  'lock.acquire',
  `
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return false
end
local fence = redis.call('INCR', KEYS[2])
local stored = tonumber(redis.call('HGET', KEYS[3], 'fence'))
if stored and stored >= fence then
  fence = stored + 1
  redis.call('SET', KEYS[2], fence)
end
return fence
`,
  3,
);

// KEYS[1] lock
// ARGV[1] token, ARGV[2] channel to notify waiters on, ARGV[3] the notification,
// ARGV[4] '1' to SPUBLISH (a cluster: sharded pub/sub, see redis/pubsub.ts), else PUBLISH
// Returns 1 when this token held the lock and it was deleted (waiters are told), else 0.
const RELEASE = new LuaScript<number>(
  'lock.release',
  `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call(ARGV[4] == '1' and 'SPUBLISH' or 'PUBLISH', ARGV[2], ARGV[3])
return 1
`,
  1,
);

// KEYS[1] lock
// ARGV[1] token, ARGV[2] new ttl in ms
// Returns 1 when this token holds the lock and its TTL was reset, else 0.
const EXTEND = new LuaScript<number>(
  'lock.extend',
  `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`,
  1,
);

/** Proof of holding a lock: the token to prove ownership, the fence to order writes. */
export interface LockLease {
  readonly token: string;
  readonly fence: number;
  readonly ttlMs: number;
}

export async function acquireLock(
  redis: RedisClient,
  keys: CacheKeys,
  ttlMs: number,
  logger?: Logger,
): Promise<LockLease | null> {
  const token = randomUUID();
  const fence = await ACQUIRE.run(redis, [keys.lock, keys.fence, keys.value], [token, ttlMs], logger);
  return fence === null ? null : { token, fence: Number(fence), ttlMs };
}

/**
 * Compare-and-delete: true when the lease still held the lock. Waiters are notified with
 * `released` (contend again), or with `failed:<reason>` when the holder's computation failed.
 */
export async function releaseLock(
  redis: RedisClient,
  keys: CacheKeys,
  lease: LockLease,
  logger?: Logger,
  notification = 'released',
): Promise<boolean> {
  return (await RELEASE.run(redis, [keys.lock], [lease.token, keys.channel, notification, shardedPublishArg(redis)], logger)) === 1;
}

/** Compare-and-PEXPIRE: true when the lease still held the lock and now has `ttlMs` again. */
export async function extendLock(
  redis: RedisClient,
  keys: CacheKeys,
  lease: LockLease,
  ttlMs = lease.ttlMs,
  logger?: Logger,
): Promise<boolean> {
  return (await EXTEND.run(redis, [keys.lock], [lease.token, ttlMs], logger)) === 1;
}
