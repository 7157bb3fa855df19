import { randomUUID } from 'node:crypto';
import type { CacheKeys } from '../keys.js';
import type { EventSource } from '../events.js';
import { takeLockLua, type LockLease } from '../lock/redis-lock.js';
import type { RedisPort } from '../redis/port.js';
import { LuaScript } from '../redis/script.js';
import { decodeEnvelope, type Envelope } from './envelope.js';
import type { Cached } from './store.js';

// KEYS[1] lock, KEYS[2] lease, KEYS[3] value hash
// ARGV[1] token, ARGV[2] lock ttl ms, ARGV[3] now (the caller's clock, epoch ms, as freshUntil is;
// '' reads nothing and only takes the lock), ARGV[4] computedAt of the value the caller has seen
// ('' for none), ARGV[5] 'serve' when a stale value is served rather than waited for (swr,
// xfetch), ARGV[6] '1' when a running failure back-off is honoured, ARGV[7] an invalidation
// floor ('' = none): a stored value born (bornAt) at or before it counts as missing (tags.ts).
// Returns, `envelope` being the stored value (fresh or stale) or false:
//   {'value', envelope}         a fresh value, other than the one seen
//   {'stale', envelope, until}  serve the stale value and take no lock: a back-off runs until
//                               `until`, or (serve mode) another holder is refreshing it
//   {'lock', fence, envelope}   the lock was taken; `envelope` is the stale value, if any
//   {'busy', envelope}          another holder has the lock
// The whole read-or-acquire is one step: a value written since the caller last looked is found
// here (no double-check read after the lock), and a caller that takes the lock has its stale
// value in the same reply, to fall back on.
export const CLAIM_LUA = `
local envelope = false
local storedFence = nil
if ARGV[3] ~= '' then
  local stored = redis.call('HMGET', KEYS[3], 'freshUntil', 'computedAt', 'envelope', 'backoffUntil', 'fence', 'keepUntil', 'bornAt')
  local now = tonumber(ARGV[3])
  envelope = stored[3]
  -- Past its own life (fresh + grace) a value is gone, though the key lives on for its fence.
  if envelope and stored[6] and tonumber(stored[6]) <= now then envelope = false end
  -- Invalidated (by a tag or a namespace's clear) is gone too, stale or not.
  if envelope and ARGV[7] ~= '' and (tonumber(stored[7]) or 0) <= tonumber(ARGV[7]) then envelope = false end
  storedFence = tonumber(stored[5])
  if envelope and (tonumber(stored[1]) or 0) > now and stored[2] ~= ARGV[4] then return {'value', envelope} end
  if envelope and ARGV[6] == '1' and tonumber(stored[4] or '0') > now then return {'stale', envelope, stored[4]} end
else
  storedFence = tonumber(redis.call('HGET', KEYS[3], 'fence'))
end
${takeLockLua(
  {
    busy: "(ARGV[5] == 'serve' and envelope) and {'stale', envelope, false} or {'busy', envelope}",
    taken: "{'lock', fence, envelope}",
  },
  'storedFence',
)}`;
const CLAIM = new LuaScript<ClaimReply>('cache.claim', CLAIM_LUA, 3);

type ClaimKind = 'value' | 'stale' | 'lock' | 'busy';
/** What the claim script answers for one key. */
export type ClaimReply = [ClaimKind, string | null, (string | null)?];

export type Claim<T> =
  | { kind: 'value'; envelope: Envelope<T> }
  | { kind: 'stale'; envelope: Cached<T> }
  | { kind: 'lock'; lease: LockLease; stale: Envelope<T> | null }
  | { kind: 'busy'; stale: Envelope<T> | null };

export interface ClaimOptions {
  /** The value a background refresh was started for: a fresh value is news only if it is another. */
  seen?: Envelope | null;
  /** swr and xfetch: a stale value is served (by `stale`) rather than waited for. */
  serveStale?: boolean;
  /** Serve the stale value without taking the lock while a failure back-off runs. */
  honourBackoff?: boolean;
  /** A stored value born at or before this (server µs) counts as missing: it was invalidated (tags.ts). */
  floor?: number;
}

/** Read the key and take its lock when there is no fresh value: one round trip. */
export async function claim<T>(
  redis: RedisPort,
  keys: CacheKeys,
  ttlMs: number,
  options: ClaimOptions,
  source?: EventSource,
): Promise<Claim<T>> {
  return claimOnce<T>(redis, keys, ttlMs, options, true, source);
}

async function claimOnce<T>(
  redis: RedisPort,
  keys: CacheKeys,
  ttlMs: number,
  options: ClaimOptions,
  readValue: boolean,
  source?: EventSource,
): Promise<Claim<T>> {
  const token = randomUUID();
  const reply = await CLAIM.run(redis, claimKeys(keys), claimArgs(token, ttlMs, options, readValue), source);
  return decodeClaim<T>(reply, token, ttlMs, () => claimOnce<T>(redis, keys, ttlMs, options, false, source));
}

/** The claim script's KEYS for one cache key. */
export function claimKeys(keys: CacheKeys): string[] {
  return [keys.lock, keys.lease, keys.value];
}

/** The claim script's ARGV for one cache key. */
export function claimArgs(token: string, ttlMs: number, options: ClaimOptions, readValue = true): Array<string | number> {
  return [
    token,
    ttlMs,
    readValue ? Date.now() : '',
    options.seen ? String(options.seen.computedAt) : '',
    options.serveStale ? 'serve' : 'wait',
    options.honourBackoff ? '1' : '0',
    options.floor === undefined ? '' : options.floor,
  ];
}

/**
 * One key's claim reply as a Claim. `claimWithoutReading`: the claim again, not reading the value
 * (for an unreadable stored value, below).
 */
export function decodeClaim<T>(
  [kind, first, second]: ClaimReply,
  token: string,
  ttlMs: number,
  claimWithoutReading: () => Promise<Claim<T>>,
): Claim<T> | Promise<Claim<T>> {
  const stored = kind === 'lock' ? second : first;
  const envelope = decodeEnvelope<T>(stored ?? null);
  // An unreadable value (another writer's, an older format, a corrupt write) counts as a miss, as
  // on every read. Only a claim that answered with it instead of trying the lock ('value', or
  // 'stale' in a back-off) claims again, without reading. One that took the lock or found it busy
  // has done what a miss does: claiming again would find its own lock busy and orphan it.
  if (stored && !envelope) {
    if (kind === 'value' || kind === 'stale') return claimWithoutReading();
    return kind === 'lock' ? { kind, lease: { token, fence: Number(first), ttlMs }, stale: null } : { kind: 'busy', stale: null };
  }
  switch (kind) {
    case 'value':
      return { kind, envelope: envelope! };
    case 'stale':
      return { kind, envelope: second ? { ...envelope!, backoffUntil: Number(second) } : envelope! };
    case 'lock':
      return { kind, lease: { token, fence: Number(first), ttlMs }, stale: envelope };
    default:
      return { kind: 'busy', stale: envelope };
  }
}
