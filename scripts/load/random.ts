/**
 * Seeded pseudo-random numbers for the load lab's traffic: the same seed must give the same
 * traffic on every machine and every run, so strategies can be compared on identical load and a
 * run can be repeated. Math.random cannot be seeded, hence this.
 */

/** A source of uniform numbers in [0, 1). */
export type Random = () => number;

/**
 * mulberry32 (Tommy Ettinger, public domain): 32 bits of state, a period of 2^32, fast and good
 * enough for simulation (not for cryptography).
 */
export function mulberry32(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The seed of one independent stream of a run (arrival gaps, keys, computation times...), derived
 * from the run's seed by the splitmix32 finaliser. Separate streams keep one part of the traffic
 * fixed when another changes: adding a burst or changing the computation times leaves the Poisson
 * arrivals and their keys as they were.
 */
export function streamSeed(seed: number, stream: number): number {
  let z = (seed + Math.imul(stream + 1, 0x9e3779b9)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** An exponential draw with this rate (mean 1/rate), by inversion; 1 - u is in (0, 1], so the log is finite. */
export function exponential(rand: Random, rate: number): number {
  return -Math.log(1 - rand()) / rate;
}

/** A standard normal draw (Box-Muller; the second value of the pair is dropped to keep no state). */
export function standardNormal(rand: Random): number {
  const u = 1 - rand(); // (0, 1]: log(u) is finite
  const v = rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}
