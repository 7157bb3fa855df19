import type { RedisPort } from '../redis/port.js';
import { shardedPublishArg } from '../redis/pubsub.js';
import { LuaScript } from '../redis/script.js';
import { MAX_TIMER_MS } from '../timers.js';
import type { EventSource } from '../events.js';
import type { CacheKeys } from '../keys.js';
import type { LockLease } from '../lock/redis-lock.js';
import { decodeEnvelope, encodeEnvelope, type Envelope } from './envelope.js';

/** The longest a key may live: a value's longest fresh time plus its longest grace (options.ts). */
const MAX_KEY_TTL_MS = 2 * MAX_TIMER_MS;

// KEYS[1] value hash, KEYS[2] lock
// ARGV[1] envelope JSON, ARGV[2] fence, ARGV[3] key ttl ms, ARGV[4] lock token ('' = no lock), ARGV[5] channel,
// ARGV[6] '1' to SPUBLISH (a cluster: sharded pub/sub, see redis/pubsub.ts), else PUBLISH,
// ARGV[7] freshUntil, ARGV[8] computedAt (epoch ms; copies of the envelope's, for the claim script),
// ARGV[9] the largest envelope carried in the notification, bytes,
// ARGV[10] for a write without a lock: the fence the key had when its computation started
// ('' = store whatever is there), ARGV[11] keepUntil: when the value's own life (fresh + grace)
// ends, epoch ms, the caller's clock as freshUntil is, ARGV[12] bornAt of a value with tags or
// namespaces ('' = none; the claim script compares it with an invalidation, tags.ts)
// Returns { written (1|0), released (1|0), fence stored after the call }, or an error before
// anything is written when the key TTL is not a whole number of ms that PEXPIRE takes.
// A lock holder's write (fence > 0) is stored only when no stored value carries a higher fence:
// a holder that was paused past its lock TTL while a newer holder wrote can never overwrite the
// newer value. Writes without a lock (fence 0: strategies none and local-lock) keep the stored
// fence, so the order of later lock holders' writes is unchanged; they are stored unless the
// fence rose since their computation started (a set, a delete or a lock holder wrote meanwhile:
// what they computed is older than that). A new value ends any failure back-off. Releases the lock when the
// token still matches (the lease key expires by itself, see redis-lock.ts), and tells waiters
// either way, in the same atomic step: `written:<envelope>` when the value is small enough, so
// they need no read, else `written`.
const FENCED_WRITE = new LuaScript<[number, number, string]>(
  'cache.fenced-write',
  `
${checkKeyTtlLua('ARGV[3]')}
local before = redis.call('HMGET', KEYS[1], 'fence', 'backoffUntil')
local stored = tonumber(before[1])
local fence = ARGV[2]
local written = 0
local unlockedOk = fence == '0' and (ARGV[10] == '' or not stored or stored <= tonumber(ARGV[10]))
if unlockedOk or (fence ~= '0' and (not stored or stored <= tonumber(fence))) then
  if fence == '0' and stored then fence = before[1] end
  ${keepFenceLua('KEYS[1]')}
  redis.call('HSET', KEYS[1], 'fence', fence, 'envelope', ARGV[1], 'freshUntil', ARGV[7], 'computedAt', ARGV[8], 'keepUntil', ARGV[11])
  if ARGV[12] ~= '' then redis.call('HSET', KEYS[1], 'bornAt', ARGV[12]) else redis.call('HDEL', KEYS[1], 'bornAt') end
  if before[2] then redis.call('HDEL', KEYS[1], 'backoffUntil') end
  redis.call('PEXPIRE', KEYS[1], keyTtl)
  written = 1
end
local released = 0
if ARGV[4] ~= '' and redis.call('GET', KEYS[2]) == ARGV[4] then
  redis.call('DEL', KEYS[2])
  released = 1
end
local publish = ARGV[6] == '1' and 'SPUBLISH' or 'PUBLISH'
if written == 1 then
  redis.call(publish, ARGV[5], #ARGV[1] <= tonumber(ARGV[9]) and ('written:' .. ARGV[1]) or 'written')
elseif released == 1 then
  redis.call(publish, ARGV[5], 'released')
end
return { written, released, written == 1 and fence or (before[1] or '0') }
`,
  2,
);

/**
 * Values up to this size (their JSON envelope) travel in the `written` notification, so waiters
 * need no read; larger ones are announced and read. Every waiting process receives the message,
 * so this bounds what one write costs the network.
 */
export const NOTIFY_VALUE_MAX_BYTES = 16 * 1024;

// KEYS[1] value hash
// ARGV[1] back-off end (epoch ms), ARGV[2] computedAt of the stale value that was served
// Returns 1 when the back-off was recorded, 0 when that value is gone or was replaced.
// Only on the value that was served: never creates the key and never changes its TTL, so a
// back-off cannot keep a value past its grace.
const RECORD_BACKOFF = new LuaScript<number>(
  'cache.backoff',
  `
if redis.call('HGET', KEYS[1], 'computedAt') ~= ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[1], 'backoffUntil', ARGV[1])
return 1
`,
  1,
);

/** A stored envelope as read, with the fleet-wide failure back-off when one is running. */
export type Cached<T = unknown> = Envelope<T> & {
  /** Epoch ms until which a stale value is served without recomputing; absent when none. */
  readonly backoffUntil?: number;
};

export interface WriteOutcome {
  written: boolean;
  released: boolean;
  /** The fence of the value now stored (ours when written, the newer one when rejected). */
  storedFence: number;
}

export async function readEnvelope<T>(redis: RedisPort, keys: CacheKeys): Promise<Cached<T> | null> {
  return (await readWithFence<T>(redis, keys)).cached;
}

/**
 * The stored value (null when there is none or it cannot be decoded) and the key's fence, which a
 * delete's tombstone keeps too: a write without a lock passes it back (`seenFence`), so a set or
 * delete that lands while it computes is not overwritten.
 */
export async function readWithFence<T>(redis: RedisPort, keys: CacheKeys): Promise<{ cached: Cached<T> | null; fence: number }> {
  const [raw, storedFence, backoffUntil, kept] = await redis.hmget(keys.value, ['envelope', 'fence', 'backoffUntil', 'keepUntil']);
  const fence = Number(storedFence ?? 0);
  // A value past its own life is gone, though its key lives on for the fence it carries.
  const envelope = kept && Number(kept) <= Date.now() ? null : decodeEnvelope<T>(raw ?? null);
  if (!envelope) return { cached: null, fence };
  // The hash's fence is the one the scripts compare (a set's JSON cannot know its fence).
  const cached = { ...envelope, fence: storedFence ? fence : envelope.fence, ...(backoffUntil && { backoffUntil: Number(backoffUntil) }) };
  return { cached, fence };
}

/** How long the Redis key lives: the value's fresh time left, plus its grace (its own, when its computation decided one). */
export function keyTtl(envelope: Envelope, graceMs: number): number {
  return Math.max(1, Math.round(envelope.freshUntil - Date.now() + (envelope.graceMs ?? graceMs)));
}

/** When a value written now with this key TTL ends its life (fresh time plus grace), epoch ms. */
export function keepUntil(keyTtlMs: number): number {
  return Date.now() + keyTtlMs;
}

/**
 * Lua, before a write: the key's TTL (the local `keyTtl` of checkKeyTtlLua) is never shortened.
 * The key carries the fence that keeps older holders out (a delete's tombstone lives until no
 * holder that began before it can still write): a value whose own life is shorter (a short
 * `ttlMs`, a computation's `setTtl`) must not take that fence away with it when it expires. Its
 * own end is in the hash (`keepUntil`): every read treats it as gone after that.
 */
export function keepFenceLua(key: string): string {
  return `local left = redis.call('PTTL', ${key})
  if left > keyTtl then keyTtl = left end`;
}

/**
 * Lua that refuses a key TTL PEXPIRE would refuse, before the script writes anything: a hash
 * written and then left without a TTL (PEXPIRE failing after HSET) would never expire. Scripts
 * are not transactions: what ran before an error stays.
 */
export function checkKeyTtlLua(arg: string): string {
  return `local keyTtl = tonumber(${arg})
if not keyTtl or keyTtl < 1 or keyTtl ~= math.floor(keyTtl) or keyTtl > ${MAX_KEY_TTL_MS} then
  return redis.error_reply('ERR cache-stampede: key ttl must be a whole number of ms from 1 to ${MAX_KEY_TTL_MS}, got ' .. tostring(${arg}))
end`;
}

/** Record a failure back-off on the stale value `served`; false when it is no longer stored. */
export async function recordBackoff(
  redis: RedisPort,
  keys: CacheKeys,
  served: Envelope,
  until: number,
  source?: EventSource,
): Promise<boolean> {
  return (await RECORD_BACKOFF.run(redis, [keys.value], [until, served.computedAt], source)) === 1;
}

/**
 * Store `envelope` through the fence; with a lease, also release that lease's lock. The Redis
 * key outlives the value's fresh time by `graceMs`, so a stale value can still be served.
 */
export async function writeEnvelope(
  redis: RedisPort,
  keys: CacheKeys,
  envelope: Envelope,
  lease: LockLease | null,
  graceMs: number,
  source?: EventSource,
  /** Without a lease: the key's fence when the computation started; the write is dropped if it rose since. */
  seenFence?: number,
): Promise<WriteOutcome> {
  const keyTtlMs = keyTtl(envelope, graceMs);
  const [written, released, storedFence] = await FENCED_WRITE.run(
    redis,
    [keys.value, keys.lock],
    [
      encodeEnvelope(envelope),
      envelope.fence,
      keyTtlMs,
      lease?.token ?? '',
      keys.channel,
      shardedPublishArg(redis),
      envelope.freshUntil,
      envelope.computedAt,
      NOTIFY_VALUE_MAX_BYTES,
      seenFence === undefined ? '' : seenFence,
      keepUntil(keyTtlMs),
      envelope.bornAt ?? '',
    ],
    source,
  );
  return { written: written === 1, released: released === 1, storedFence: Number(storedFence) };
}
