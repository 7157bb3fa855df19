import { OptionsError } from '../errors.js';
import type { EventSource } from '../events.js';
import { hashTag } from '../keys.js';
import type { RedisPort } from '../redis/port.js';
import { keySlot } from '../redis/key-slot.js';
import { LuaScript } from '../redis/script.js';
import type { Envelope } from './envelope.js';

/**
 * Invalidation by group: tags and namespaces, lazily. `invalidateTags` writes one small record per
 * tag, the Redis server's clock in microseconds at that moment (as a fence is); nothing scans the
 * keyspace or touches a value. Every value that carries a tag (or lives in a namespace) is stamped
 * `bornAt`: the server's clock when its computation began (a lock holder's fence; `none` and
 * `local-lock` ask the server's TIME before computing; a `set` asks it before writing). A value
 * counts as missing once one of its marks has a record at or after its `bornAt`: a value computed
 * before the invalidation never survives it, whoever writes it and whenever.
 *
 * A mark is `tag:<name>` (a tag) or `ns:<path>` (a namespace, `users` or `users/eu` nested): one
 * namespace's record and a tag of the same name never meet.
 */

/** The most tags one value carries, and the longest tag or namespace name. */
export const MAX_TAGS = 64;
export const MAX_TAG_LENGTH = 256;
/** Namespace names: plain, so that a namespace's keys read well in redis-cli. */
const NAMESPACE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

export type Mark = `tag:${string}` | `ns:${string}`;

/** The tags of a call or a computation, checked: strings of 1 to MAX_TAG_LENGTH characters, at most MAX_TAGS. */
export function checkTags(tags: unknown, option = 'tags'): string[] {
  if (!Array.isArray(tags)) throw new OptionsError(option, `${option} must be an array of strings, got ${String(tags)}`);
  if (tags.length > MAX_TAGS) throw new OptionsError(option, `${option}: at most ${MAX_TAGS} tags, got ${tags.length}`);
  for (const tag of tags) {
    if (typeof tag !== 'string' || tag.length === 0 || tag.length > MAX_TAG_LENGTH)
      throw new OptionsError(
        option,
        `${option}: a tag is a string of 1 to ${MAX_TAG_LENGTH} characters, got ${JSON.stringify(tag) ?? String(tag)}`,
      );
  }
  return [...new Set(tags as string[])];
}

export function checkNamespaceName(name: unknown): string {
  if (typeof name !== 'string' || !NAMESPACE_NAME.test(name))
    throw new OptionsError('namespace', `a namespace name is 1 to 64 of A-Z a-z 0-9 _ . -, got ${JSON.stringify(name) ?? String(name)}`);
  return name;
}

/** The marks a value carries: its tags and its namespaces. */
export function marksOf(envelope: Pick<Envelope, 'tags' | 'ns'>): Mark[] {
  return [...(envelope.tags ?? []).map((t) => `tag:${t}` as const), ...(envelope.ns ?? []).map((n) => `ns:${n}` as const)];
}

/** The Redis name of a mark's record: its own slot (hash tag), beside no cache key. */
export function recordKey(prefix: string, mark: Mark): string {
  const [kind, ...rest] = mark.split(':');
  return `${prefix}:${kind}:{${hashTag(rest.join(':'))}}:invalidated`;
}

/**
 * How much longer than `tagRetentionMs` a record lives: a covered value lives at most
 * `tagRetentionMs` from when its computation began on this process's clock (recompute.ts,
 * markEnvelope), which is later than its `bornAt` (the claim's reply, the write's round trip): the
 * record must outlast it by that much.
 */
export const RECORD_SLACK_MS = 1000;

// KEYS: the records of the marks invalidated (one slot on a cluster), ARGV[1] how long a record
// lives, ms. Each record becomes the server's clock in microseconds, raised above what it held, so
// two invalidations of one mark are ordered. Returns the stamp.
const INVALIDATE = new LuaScript<string>(
  'cache.invalidate',
  `
local now = redis.call('TIME')
local stamp = tonumber(now[1]) * 1000000 + tonumber(now[2])
for _, key in ipairs(KEYS) do
  local last = tonumber(redis.call('GET', key))
  if last and last >= stamp then stamp = last + 1 end
end
stamp = string.format('%.0f', stamp)
for _, key in ipairs(KEYS) do
  redis.call('SET', key, stamp, 'PX', ARGV[1])
end
return stamp
`,
  'any',
);

// KEYS[1] the value hash a computation is for (routes the script to its node on a cluster).
// Returns the server's clock in microseconds: the `bornAt` of a value computed without a lock.
const SERVER_TIME = new LuaScript<string>(
  'cache.server-time',
  `
local now = redis.call('TIME')
return string.format('%.0f', tonumber(now[1]) * 1000000 + tonumber(now[2]))
`,
  1,
);

/**
 * How a read of records is sent: through the guard's gate (its deadline, and the breaker of the
 * node that holds `routeKey`, on a cluster another node than the value's), or directly.
 */
export type Step = <R>(routeKey: string, send: () => Promise<R>) => Promise<R>;
const direct: Step = (_routeKey, send) => send();

/** Group record names by slot: one command per slot on a cluster, one in all on a single Redis. */
function bySlot(redis: RedisPort, names: string[]): string[][] {
  if (!redis.isCluster) return [names];
  const groups = new Map<number, string[]>();
  for (const name of names) {
    const slot = keySlot(name);
    groups.set(slot, [...(groups.get(slot) ?? []), name]);
  }
  return [...groups.values()];
}

/** Record an invalidation of `marks` now; every record lives `retentionMs`. */
export async function invalidateMarks(
  redis: RedisPort,
  prefix: string,
  marks: readonly Mark[],
  retentionMs: number,
  source?: EventSource,
  step: Step = direct,
): Promise<void> {
  const names = [...new Set(marks.map((m) => recordKey(prefix, m)))];
  const recordMs = retentionMs + RECORD_SLACK_MS;
  await Promise.all(bySlot(redis, names).map((group) => step(group[0]!, () => INVALIDATE.run(redis, group, [recordMs], source))));
}

/** The server's clock on the node of `valueKey`, in microseconds. */
export async function serverTime(redis: RedisPort, valueKey: string, source?: EventSource): Promise<number> {
  return Number(await SERVER_TIME.run(redis, [valueKey], [], source));
}

/**
 * The latest invalidation of any of `marks`, microseconds on the server's clock (0: none within
 * the records' retention). One MGET on a single Redis, one per slot on a cluster, sent at once.
 */
export async function latestInvalidation(redis: RedisPort, prefix: string, marks: readonly Mark[], step: Step = direct): Promise<number> {
  if (marks.length === 0) return 0;
  const names = [...new Set(marks.map((m) => recordKey(prefix, m)))];
  const read = await Promise.all(bySlot(redis, names).map((group) => step(group[0]!, () => redis.mget(group))));
  let latest = 0;
  for (const stamp of read.flat()) if (stamp !== null && Number(stamp) > latest) latest = Number(stamp);
  return latest;
}

/**
 * Whether `envelope` still counts, given what a call requires (the namespaces of its view) and
 * the records of its marks: null when it counts, else the floor below which (at or before which)
 * a stored value is missing, for the claim to take the lock over it. A value without marks, read
 * by a call that requires none, costs nothing.
 */
export async function invalidationFloor(
  redis: RedisPort,
  prefix: string,
  envelope: Envelope,
  requiredNs: readonly string[],
  step: Step = direct,
): Promise<number | null> {
  const bornAt = envelope.bornAt ?? 0;
  // A value at a namespace's key that the namespace did not write (the guard's own `set` of the
  // same key, say) is not the namespace's: its clear() would not have reached it.
  if (requiredNs.some((ns) => !envelope.ns?.includes(ns))) return bornAt;
  const marks = marksOf(envelope);
  if (marks.length === 0) return null;
  const latest = await latestInvalidation(redis, prefix, marks, step);
  return latest >= bornAt ? latest : null;
}
