import { randomUUID } from 'node:crypto';
import type { RedisPort } from '../redis/port.js';
import { shardedPublishArg } from '../redis/pubsub.js';
import { LuaScript } from '../redis/script.js';
import type { EventSource } from '../events.js';
import type { Logger } from '../logger.js';
import type { CacheKeys } from '../keys.js';
import { OptionsError } from '../errors.js';
import { MAX_TIMER_MS } from '../timers.js';

/**
 * The fleet-wide lock of one cache key: `SET lock token NX PX ttl`, a fence per acquisition,
 * compare-and-delete release, compare-and-PEXPIRE extend. Each operation is one Lua script,
 * so no other client's command can run between its check and its change.
 */

/**
 * Lua that sets the local `fence` to the key's next fence; KEYS[2] is the lease (the last lock's
 * fence), `storedFence` a Lua expression for the stored value's fence (number or nil). Shared by
 * the acquire and by a set or delete, which fence out every holder that started before them.
 *
 * The fence needs no key that lives forever. It is the Redis server's clock in microseconds,
 * raised above the fence of the last lock (the lease key outlives a release until its own TTL)
 * and above the fence of the stored value. Why that is safe: a later acquisition of the same key
 * happens at a later server time, so its fence is larger than every earlier one; within one
 * microsecond the lease's +1 keeps fences apart; and when the stored value and the lease were
 * both lost (eviction, a restart without persistence) the clock still moves forward, so a holder
 * paused since before the loss carries a smaller fence than any holder after it and its late
 * write is rejected. The one case this cannot cover is a server clock set backwards while the
 * key's value was lost as well. A Lua number holds microseconds exactly until the year 2255;
 * string.format keeps Lua from printing it as 1.7e+15.
 */
export function nextFenceLua(storedFence = "tonumber(redis.call('HGET', KEYS[3], 'fence'))"): string {
  return `
local now = redis.call('TIME')
local fence = tonumber(now[1]) * 1000000 + tonumber(now[2])
local last = tonumber(redis.call('GET', KEYS[2]))
if last and last >= fence then fence = last + 1 end
local stored = ${storedFence}
if stored and stored >= fence then fence = stored + 1 end
fence = string.format('%.0f', fence)
`;
}

/**
 * Lua that takes the lock, shared with the guard's read-or-acquire (cache/claim.ts). KEYS[1] lock,
 * KEYS[2] lease, KEYS[3] value hash; ARGV[1] token, ARGV[2] ttl ms. Returns `busy` when another
 * holder has the lock, else `taken` with the local `fence` set (both Lua expressions).
 *
 * Idempotent: ioredis resends a command whose reply was lost in a reconnect, and a resend that
 * finds the lock already held by its own token gets the same lease back, instead of "busy"
 * (which would make the whole fleet, the caller included, wait out the TTL).
 */
export function takeLockLua(returns: { busy: string; taken: string }, storedFence?: string): string {
  return `
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  local fence = redis.call('GET', KEYS[2])
  if fence then return ${returns.taken} end
elseif holder then
  return ${returns.busy}
end
${nextFenceLua(storedFence)}
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], fence, 'PX', ARGV[2])
return ${returns.taken}
`;
}

// Returns {'lock', fence} or {'busy'}.
const ACQUIRE = new LuaScript<[string, string?]>('lock.acquire', takeLockLua({ busy: "{'busy'}", taken: "{'lock', fence}" }), 3);

// KEYS[1] lock
// ARGV[1] token, ARGV[2] channel to notify waiters on, ARGV[3] the notification,
// ARGV[4] '1' to SPUBLISH (a cluster: sharded pub/sub, see redis/pubsub.ts), else PUBLISH
// Returns 1 when this token held the lock and it was deleted (waiters are told), else 0.
// The lease key is left to expire: until then the next acquire still sees the last fence.
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

// KEYS[1] lock, KEYS[2] lease
// ARGV[1] token, ARGV[2] new ttl in ms
// Returns 1 when this token holds the lock and its TTL (and its lease's) was reset, else 0.
const EXTEND = new LuaScript<number>(
  'lock.extend',
  `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1
`,
  2,
);

/** Proof of holding a lock: the token to prove ownership, the fence to order writes. */
export interface LockLease {
  readonly token: string;
  readonly fence: number;
  readonly ttlMs: number;
}

export async function acquireLock(redis: RedisPort, keys: CacheKeys, ttlMs: number, logger?: Logger): Promise<LockLease | null> {
  checkTtl(ttlMs);
  const token = randomUUID();
  const [outcome, fence] = await ACQUIRE.run(redis, [keys.lock, keys.lease, keys.value], [token, ttlMs], asSource(logger));
  return outcome === 'lock' ? { token, fence: Number(fence), ttlMs } : null;
}

/**
 * Compare-and-delete: true when the lease still held the lock. Waiters are notified with
 * `released` (contend again), or with `failed:<reason>` when the holder's computation failed.
 */
export async function releaseLock(
  redis: RedisPort,
  keys: CacheKeys,
  lease: LockLease,
  logger?: Logger,
  notification = 'released',
): Promise<boolean> {
  return releaseLockFor(asSource(logger), redis, keys, lease, notification);
}

/** releaseLock for the guard's holder: a script sent again is reported as an event of its call. */
export async function releaseLockFor(
  source: EventSource | undefined,
  redis: RedisPort,
  keys: CacheKeys,
  lease: LockLease,
  notification: string,
): Promise<boolean> {
  return (await RELEASE.run(redis, [keys.lock], [lease.token, keys.channel, notification, shardedPublishArg(redis)], source)) === 1;
}

/** Compare-and-PEXPIRE: true when the lease still held the lock and now has `ttlMs` again. */
export async function extendLock(
  redis: RedisPort,
  keys: CacheKeys,
  lease: LockLease,
  ttlMs = lease.ttlMs,
  logger?: Logger,
): Promise<boolean> {
  checkTtl(ttlMs);
  return (await EXTEND.run(redis, [keys.lock, keys.lease], [lease.token, ttlMs], asSource(logger))) === 1;
}

/**
 * Redis turns PX/PEXPIRE of 0 or less into a deletion (and refuses fractions after the lock was
 * half taken), so only whole, positive TTLs that a timer can also wait for are accepted.
 */
export function checkTtl(ttlMs: number): void {
  if (!Number.isInteger(ttlMs) || ttlMs < 1 || ttlMs > MAX_TIMER_MS) {
    throw new OptionsError('ttlMs', `ttlMs must be a whole number of ms from 1 to ${MAX_TIMER_MS}, got ${ttlMs}`);
  }
}

/** A primitive's optional logger as the source of its `script.not-cached` event. */
function asSource(logger: Logger | undefined): EventSource | undefined {
  return logger && { log: logger };
}
