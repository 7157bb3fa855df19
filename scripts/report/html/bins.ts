/**
 * Binning instants into counts per time bucket: thousands of cache hits in one lane are
 * drawn as a small histogram (one bar per bucket) instead of thousands of overlapping ticks,
 * which keeps the SVG small and the picture readable.
 */

/** The smallest "round" size (1, 2 or 5 times a power of ten) that cuts `span` into at most `maxBuckets`. */
export function niceBucketSize(span: number, maxBuckets: number): number {
  const raw = Math.max(span, 1) / Math.max(1, maxBuckets);
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const step of [1, 2, 5, 10]) if (step * power >= raw) return step * power;
  return 10 * power;
}

export interface Bin {
  /** Bucket start, a multiple of the bucket size. */
  start: number;
  end: number;
  count: number;
}

/** Count `times` per bucket of `size`; only non-empty buckets, in time order. */
export function binTimes(times: Iterable<number>, size: number): Bin[] {
  const counts = new Map<number, number>();
  for (const t of times) {
    const bucket = Math.floor(t / size);
    counts.set(bucket, (counts.get(bucket) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => a[0] - b[0]).map(([bucket, count]) => ({ start: bucket * size, end: (bucket + 1) * size, count }));
}
