/**
 * What a request does on a cache miss.
 * - `none`: recompute directly; every concurrent miss recomputes (the stampede).
 * - `local-lock`: a per-key mutex inside this process; coalesces within a process only.
 * - `redis-lock`: one holder in the whole fleet recomputes; the others wait for its value.
 * - `swr`: stale-while-revalidate. Past its fresh time a value is still served, at once, while
 *   one holder in the fleet refreshes it in the background; past its grace, as `redis-lock`.
 * - `xfetch`: probabilistic early refresh (Vattani et al., VLDB 2015): while still fresh, a read
 *   refreshes in the background with a probability that rises as expiry nears and with the
 *   computation's cost; at most one refresh in the fleet at a time. Readers do not block.
 */
export const STRATEGIES = ['none', 'local-lock', 'redis-lock', 'swr', 'xfetch'] as const;
export type Strategy = (typeof STRATEGIES)[number];

export function isStrategy(value: unknown): value is Strategy {
  return typeof value === 'string' && (STRATEGIES as readonly string[]).includes(value);
}

/** Where a caller's value came from. */
export type ValueSource =
  /** Found in the cache. */
  | 'cache'
  /** This caller ran the computation. */
  | 'computed'
  /** Another caller (in this process or elsewhere in the fleet) computed it while this one waited. */
  | 'waited'
  /** A value past its fresh time, served while it is refreshed (or because the refresh failed). */
  | 'stale';

/** What waiters get when the holder's computation throws or times out. */
export const FAILURE_POLICIES = ['error', 'stale', 'retry'] as const;
/**
 * - `error`: every waiter gets the error at once.
 * - `stale`: a stale value still within its grace, when there is one; else the error.
 * - `retry`: one more attempt by a new holder; the error if that fails too.
 */
export type FailurePolicy = (typeof FAILURE_POLICIES)[number];

/** What a call does when the cache's Redis is unavailable (a step timed out or failed, or the breaker is open). */
export const REDIS_DOWN_POLICIES = ['compute', 'error'] as const;
/**
 * - `compute`: answer without Redis: a copy this process still has (the L1 tier's, or one it
 *   computed during the outage), else the computation, run once per key in this process, and
 *   nothing written to Redis.
 * - `error`: reject at once with RedisUnavailableError (E_REDIS_UNAVAILABLE).
 */
export type RedisDownPolicy = (typeof REDIS_DOWN_POLICIES)[number];
