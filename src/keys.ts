import { createHash } from 'node:crypto';

/**
 * The only place Redis key names are built.
 *
 * All keys of one cache key share a hash tag `{<tag>}`, so on a Redis Cluster they live in
 * one slot and a single Lua script may touch all of them. The tag is derived from the user's
 * key: short keys of plain characters are used as they are (readable in `redis-cli`), and
 * everything else becomes `#` + SHA-256 (`%` + SHA-256 of the UTF-16 code units for strings
 * with a lone surrogate, which UTF-8 cannot encode). The forms cannot collide (plain tags never
 * start with `#` or `%`), so the mapping is injective up to SHA-256 collisions, and the tag
 * never exceeds 65 characters whatever the key.
 */
export const MAX_KEY_LENGTH = 1024;
const PLAIN_TAG = /^[A-Za-z0-9_.:-]{1,64}$/;
/** With the `u` flag a surrogate pair is one code point: this matches only unpaired halves. */
const LONE_SURROGATE = /\p{Surrogate}/u;

export interface CacheKeys {
  /** Hash holding the value envelope, its fence and what the scripts compare (fresh time, back-off). */
  readonly value: string;
  /** String holding the current holder's token, with a TTL. Exactly the token: tools read it. */
  readonly lock: string;
  /** The current lock's fence; set, extended and deleted with the lock, so a resent acquire gets its lease back. */
  readonly lease: string;
  /**
   * Pub/sub channel on which waiters learn that the holder wrote or gave up. Pub/sub ignores the
   * database number, so the channel names it: deployments on different databases of one Redis
   * never wake or fail each other. It starts with the prefix, like every name the guard uses, so
   * an ACL limited to `<prefix>:*` keys and channels covers it.
   */
  readonly channel: string;
}

export function hashTag(key: string): string {
  if (PLAIN_TAG.test(key)) return key;
  // UTF-8 cannot encode a lone surrogate (Node writes U+FFFD for it), so '\ud800', '\udbff' and
  // '\ufffd' would all hash alike and share one value. Strings that are not well-formed Unicode
  // are hashed from their UTF-16 code units instead, under a marker of their own ('%'), so they
  // collide neither with each other nor with any well-formed key.
  if (LONE_SURROGATE.test(key)) return `%${createHash('sha256').update(Buffer.from(key, 'utf16le')).digest('hex')}`;
  return `#${createHash('sha256').update(key, 'utf8').digest('hex')}`;
}

/** The names of one cache key's state; `db` is the Redis database the client selected (0 on a cluster). */
export function cacheKeys(prefix: string, key: string, db = 0): CacheKeys {
  const base = `${prefix}:{${hashTag(key)}}`;
  return {
    value: `${base}:value`,
    lock: `${base}:lock`,
    lease: `${base}:lease`,
    channel: `${base}:db${db}:ready`,
  };
}

/**
 * The names of one named lock of `guard.lock`: beside the cache keys of the same tag (one slot),
 * with suffixes of their own, so a lock named "k" and the cache key "k" never share a lock.
 * `value` is a name nothing writes: the fence script finds no stored fence there.
 */
export function lockKeys(prefix: string, name: string, db = 0): CacheKeys {
  const base = `${prefix}:{${hashTag(name)}}`;
  return {
    value: `${base}:mutex-value`,
    lock: `${base}:mutex`,
    lease: `${base}:mutex-lease`,
    channel: `${base}:db${db}:mutex`,
  };
}

/**
 * The channel of the L1 tier's bus: every write of any process is announced here. One channel
 * per prefix and database; its tag (`!l1`) is one no cache key can have (tags of keys are plain
 * names or start with `#` or `%`).
 */
export function l1BusChannel(prefix: string, db = 0): string {
  return `${prefix}:{!l1}:db${db}:written`;
}

/** SCAN pattern covering every key this project writes under `prefix` (for clearing a run). */
export function allKeysPattern(prefix: string): string {
  return `${prefix}:*`;
}
