import { randomUUID } from 'node:crypto';
import type { CacheKeys } from '../keys.js';
import type { Logger } from '../logger.js';
import { TAKE_LOCK_LUA, type LockLease } from '../lock/redis-lock.js';
import type { RedisClient } from '../redis/client.js';
import { LuaScript } from '../redis/script.js';
import { decodeEnvelope, type Envelope } from './envelope.js';

// KEYS[1] lock, KEYS[2] lease, KEYS[3] value hash
// ARGV[1] token, ARGV[2] lock ttl ms, ARGV[3] now (the caller's clock, epoch ms, as freshUntil is),
// ARGV[4] computedAt of the value the caller already has ('' for none); ARGV[3] '' skips the value check
// Returns {'value', envelope} when a fresh value other than the caller's is stored; else takes the
// lock as acquireLock does: {'lock', fence} or {'busy'}.
// Double-checked locking in one step: a value written between the caller's miss and this call
// is found here, so the caller neither takes the lock (and wakes nobody) nor reads again after.
const CLAIM = new LuaScript<['value' | 'lock' | 'busy', string?]>(
  'cache.claim',
  `
if ARGV[3] ~= '' then
  local stored = redis.call('HMGET', KEYS[3], 'freshUntil', 'computedAt', 'envelope')
  local freshUntil = tonumber(stored[1])
  if stored[3] and freshUntil and freshUntil > tonumber(ARGV[3]) and stored[2] ~= ARGV[4] then
    return {'value', stored[3]}
  end
end
${TAKE_LOCK_LUA}`,
  3,
);

export type Claim<T> = { kind: 'value'; envelope: Envelope<T> } | { kind: 'lock'; lease: LockLease } | { kind: 'busy' };

/**
 * Take the key's lock, unless a fresh value is there that the caller has not seen (`seen`: the
 * value a background refresh was started for; null for a miss).
 */
export async function claim<T>(
  redis: RedisClient,
  keys: CacheKeys,
  ttlMs: number,
  seen: Envelope | null,
  logger?: Logger,
  checkValue = true,
): Promise<Claim<T>> {
  const token = randomUUID();
  const [kind, payload] = await CLAIM.run(
    redis,
    [keys.lock, keys.lease, keys.value],
    [token, ttlMs, checkValue ? Date.now() : '', seen ? String(seen.computedAt) : ''],
    logger,
  );
  if (kind === 'lock') return { kind, lease: { token, fence: Number(payload), ttlMs } };
  if (kind === 'busy') return { kind };
  const envelope = decodeEnvelope<T>(payload ?? null);
  // An unreadable value (not written by the guard) counts as a miss, as on every read: contend.
  return envelope ? { kind, envelope } : claim(redis, keys, ttlMs, seen, logger, false);
}
