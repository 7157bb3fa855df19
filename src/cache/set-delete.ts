import type { CacheKeys } from '../keys.js';
import type { EventSource } from '../events.js';
import { nextFenceLua } from '../lock/redis-lock.js';
import type { RedisPort } from '../redis/port.js';
import { shardedPublishArg } from '../redis/pubsub.js';
import { LuaScript } from '../redis/script.js';
import { encodeEnvelope, type Envelope } from './envelope.js';
import { checkKeyTtlLua, keepFenceLua, keepUntil, keyTtl, NOTIFY_VALUE_MAX_BYTES } from './store.js';

/**
 * Writes from outside a computation: `guard.set` and `guard.delete`. Both take the key's next
 * fence (from the server's clock) and delete the lock, because whatever a holder is computing
 * at that moment started from older data: its watchdog finds the lock gone and aborts it, and if
 * it writes anyway its smaller fence is rejected. Waiters are told in the same step.
 */

// KEYS[1] lock, KEYS[2] lease, KEYS[3] value hash
// ARGV[1] envelope JSON, ARGV[2] freshUntil, ARGV[3] computedAt, ARGV[4] key ttl ms,
// ARGV[5] channel, ARGV[6] '1' to SPUBLISH (a cluster), else PUBLISH, ARGV[7] the largest
// envelope carried in the notification, bytes, ARGV[8] keepUntil (the value's own end, epoch ms),
// ARGV[9] the least the key lives, ms: as a delete's tombstone, the key keeps its fence until no
// holder that began before the set can still write, however short the value's own life.
// ARGV[10] bornAt of a value with tags or namespaces ('' = none; see tags.ts).
// Returns the fence the value was stored with (an error, before any write, for a bad key ttl). Waiters get `written:<envelope>` (or `written`,
// then read it, for a large value).
const SET_VALUE = new LuaScript<string>(
  'cache.set',
  `${checkKeyTtlLua('ARGV[4]')}
${nextFenceLua()}
redis.call('DEL', KEYS[1])
${keepFenceLua('KEYS[3]')}
local fenceKeep = tonumber(ARGV[9])
if fenceKeep > keyTtl then keyTtl = fenceKeep end
redis.call('HSET', KEYS[3], 'fence', fence, 'envelope', ARGV[1], 'freshUntil', ARGV[2], 'computedAt', ARGV[3], 'keepUntil', ARGV[8])
redis.call('HDEL', KEYS[3], 'backoffUntil')
if ARGV[10] ~= '' then redis.call('HSET', KEYS[3], 'bornAt', ARGV[10]) else redis.call('HDEL', KEYS[3], 'bornAt') end
redis.call('PEXPIRE', KEYS[3], keyTtl)
redis.call(ARGV[6] == '1' and 'SPUBLISH' or 'PUBLISH', ARGV[5], #ARGV[1] <= tonumber(ARGV[7]) and ('written:' .. ARGV[1]) or 'written')
return fence
`,
  3,
);

// KEYS[1] lock, KEYS[2] lease, KEYS[3] value hash
// ARGV[1] how long the tombstone lives, ms; ARGV[2] channel, ARGV[3] '1' to SPUBLISH, else PUBLISH
// Returns 1 when a value was stored, else 0. The value is replaced by a tombstone, a hash with
// only the fence: every read sees a miss, and a holder that started before the delete cannot
// store its value over it. Waiters get `released`: they contend again, and one recomputes.
const DELETE_VALUE = new LuaScript<number>(
  'cache.delete',
  `${checkKeyTtlLua('ARGV[1]')}
${nextFenceLua()}
local existed = redis.call('HEXISTS', KEYS[3], 'envelope')
redis.call('DEL', KEYS[1], KEYS[3])
redis.call('HSET', KEYS[3], 'fence', fence)
redis.call('PEXPIRE', KEYS[3], ARGV[1])
redis.call(ARGV[3] == '1' and 'SPUBLISH' or 'PUBLISH', ARGV[2], 'released')
return existed
`,
  3,
);

/**
 * Store `envelope` above every fence so far; returns its fence. The value lives its fresh time
 * plus `graceMs`; its key at least `fenceKeepMs` (as a delete's tombstone), so that a holder that
 * began before the set cannot write its older value once a short-lived one has expired.
 */
export async function setValue(
  redis: RedisPort,
  keys: CacheKeys,
  envelope: Envelope,
  graceMs: number,
  fenceKeepMs: number,
  source?: EventSource,
): Promise<number> {
  const keyTtlMs = keyTtl(envelope, graceMs);
  const fence = await SET_VALUE.run(
    redis,
    [keys.lock, keys.lease, keys.value],
    [
      encodeEnvelope(envelope),
      envelope.freshUntil,
      envelope.computedAt,
      keyTtlMs,
      keys.channel,
      shardedPublishArg(redis),
      NOTIFY_VALUE_MAX_BYTES,
      keepUntil(keyTtlMs),
      fenceKeepMs,
      envelope.bornAt ?? '',
    ],
    source,
  );
  return Number(fence);
}

/**
 * Delete the value; the tombstone lives `tombstoneMs`, which should cover the longest a holder
 * that started before may still write (its compute timeout, plus a lock TTL). True when there
 * was a value.
 */
export async function deleteValue(redis: RedisPort, keys: CacheKeys, tombstoneMs: number, source?: EventSource): Promise<boolean> {
  const existed = await DELETE_VALUE.run(
    redis,
    [keys.lock, keys.lease, keys.value],
    [tombstoneMs, keys.channel, shardedPublishArg(redis)],
    source,
  );
  return existed === 1;
}
