/**
 * Zipf popularity over K keys: the key of rank r (1 = the hottest) is drawn with probability
 * r^-s / H(K, s), where H(K, s) is the sum of i^-s for i = 1..K. With s = 1 and K = 1000 the hottest
 * key gets about 13% of the traffic and the coldest about 0.013%: a few hot keys and a long tail, as
 * real caches see. s = 0 is uniform.
 */
export interface Zipf {
  readonly keys: number;
  readonly s: number;
  /** The theoretical share of traffic of the key of this rank (1..keys). */
  probability(rank: number): number;
  /** The rank (1..keys) a uniform draw u in [0, 1) falls on: O(log K), a binary search of the CDF. */
  rank(u: number): number;
}

export function zipf(keys: number, s: number): Zipf {
  // The CDF once, in K doubles (8 KB for 1000 keys), so each draw is a binary search rather than
  // a walk over K weights; rejection samplers avoid the table but are harder to get exactly right.
  const cdf = new Float64Array(keys);
  let total = 0;
  for (let i = 0; i < keys; i++) {
    total += (i + 1) ** -s;
    cdf[i] = total;
  }
  for (let i = 0; i < keys; i++) cdf[i] = cdf[i]! / total;
  return {
    keys,
    s,
    probability: (rank) => rank ** -s / total,
    rank(u) {
      // The first index whose cumulative share exceeds u; the search never goes past the last key,
      // so a CDF that rounding leaves just short of 1 cannot leave a draw without a key.
      let lo = 0;
      let hi = keys - 1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (u < cdf[mid]!) hi = mid;
        else lo = mid + 1;
      }
      return lo + 1;
    },
  };
}
