/**
 * Nearest-rank percentiles: the answer is always one of the observed values (never an
 * interpolation), so "p99 = 812 ms" means some job really took 812 ms. With n values the
 * p-th percentile is the value at rank ceil(p/100 * n), counting from 1; p = 0 gives the
 * smallest value, p = 100 the largest.
 */

/** The p-th percentile (0 to 100) of `values`, in any order; `undefined` when there are none. */
export function percentile(values: readonly number[], p: number): number | undefined {
  return percentileOfSorted([...values].sort(ascending), p);
}

/**
 * Like `percentile`, for values already sorted ascending: sort once, ask for p50, p99, ...
 * without sorting again. The caller keeps the promise that the input is sorted.
 */
export function percentileOfSorted(sorted: readonly number[], p: number): number | undefined {
  if (!Number.isFinite(p) || p < 0 || p > 100) {
    throw new RangeError(`percentile must be between 0 and 100, got ${p}`);
  }
  if (sorted.length === 0) return undefined;
  // Multiply before dividing: (7 / 100) * 100 is 7.000000000000001 in floating point and
  // would round up to rank 8. Math.max(1, ...) so p = 0 picks the first value, not rank 0.
  const rank = Math.max(1, Math.ceil((p * sorted.length) / 100));
  return sorted[rank - 1];
}

/** Numeric comparator: the default sort compares numbers as strings (10 < 9). */
export function ascending(a: number, b: number): number {
  return a - b;
}
