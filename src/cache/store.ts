import type { RedisClient } from '../redis/connection.js';
import { shardedPublishArg } from '../redis/pubsub.js';
import { LuaScript } from '../redis/script.js';
import type { Logger } from '../logger.js';
import type { CacheKeys } from '../keys.js';
import type { LockLease } from '../lock/redis-lock.js';
import { decodeEnvelope, encodeEnvelope, type Envelope } from './envelope.js';

// KEYS[1] value hash, KEYS[2] lock
// ARGV[1] envelope JSON, ARGV[2] fence, ARGV[3] key ttl ms, ARGV[4] lock token ('' = no lock), ARGV[5] channel,
// ARGV[6] '1' to SPUBLISH (a cluster: sharded pub/sub, see redis/pubsub.ts), else PUBLISH
// Returns { written (1|0), released (1|0), fence stored after the call }.
// A lock holder's write (fence > 0) is stored only when no stored value carries a higher fence:
// a holder that was paused past its lock TTL while a newer holder wrote can never overwrite the
// newer value. Writes without a lock (fence 0: strategies none and local-lock) do not take part
// in that order; they are always stored and keep the stored fence, so the order of later lock
// holders' writes is unchanged. Releases the lock when the token still matches, and tells
// waiters either way, in the same atomic step.
const FENCED_WRITE = new LuaScript<[number, number, number]>(
  'cache.fenced-write',
  `
local stored = tonumber(redis.call('HGET', KEYS[1], 'fence'))
local fence = tonumber(ARGV[2])
local written = 0
if fence == 0 or not stored or stored <= fence then
  if fence == 0 and stored then fence = stored end
  redis.call('HSET', KEYS[1], 'fence', fence, 'envelope', ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  written = 1
  stored = fence
end
local released = 0
if ARGV[4] ~= '' and redis.call('GET', KEYS[2]) == ARGV[4] then
  redis.call('DEL', KEYS[2])
  released = 1
end
local publish = ARGV[6] == '1' and 'SPUBLISH' or 'PUBLISH'
if written == 1 then
  redis.call(publish, ARGV[5], 'written')
elseif released == 1 then
  redis.call(publish, ARGV[5], 'released')
end
return { written, released, stored }
`,
  2,
);

export interface WriteOutcome {
  written: boolean;
  released: boolean;
  /** The fence of the value now stored (ours when written, the newer one when rejected). */
  storedFence: number;
}

export async function readEnvelope<T>(redis: RedisClient, keys: CacheKeys): Promise<Envelope<T> | null> {
  return decodeEnvelope<T>(await redis.hget(keys.value, 'envelope'));
}

/**
 * Store `envelope` through the fence; with a lease, also release that lease's lock. The Redis
 * key outlives the value's fresh time by `graceMs`, so a stale value can still be served.
 */
export async function writeEnvelope(
  redis: RedisClient,
  keys: CacheKeys,
  envelope: Envelope,
  lease: LockLease | null,
  graceMs: number,
  logger?: Logger,
): Promise<WriteOutcome> {
  const keyTtlMs = Math.max(1, envelope.freshUntil - Date.now() + graceMs);
  const [written, released, storedFence] = await FENCED_WRITE.run(
    redis,
    [keys.value, keys.lock],
    [encodeEnvelope(envelope), envelope.fence, keyTtlMs, lease?.token ?? '', keys.channel, shardedPublishArg(redis)],
    logger,
  );
  return { written: written === 1, released: released === 1, storedFence: Number(storedFence) };
}
