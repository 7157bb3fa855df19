/**
 * What a request does on a cache miss.
 * - `none`: recompute directly; every concurrent miss recomputes (the stampede).
 * - `local-lock`: a per-key mutex inside this process; coalesces within a process only.
 * - `redis-lock`: one holder in the whole fleet recomputes; the others wait for its value.
 */
export const STRATEGIES = ['none', 'local-lock', 'redis-lock'] as const;
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
  | 'waited';
