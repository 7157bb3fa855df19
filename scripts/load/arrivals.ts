import { exponential, type Random } from './random.js';

/**
 * Open-loop Poisson arrivals at `rate` jobs/s over [0, durationMs): the times, in ms from the
 * start, at which jobs are due. Gaps are exponential with mean 1000/rate ms, so arrivals are
 * independent of each other and, above all, of the answers: the schedule is fixed before any job
 * runs, and a runner that measures latency from these times cannot hide a slow fleet (no
 * coordinated omission). A generator, so a long run at a high rate holds one arrival at a time.
 */
export function* poissonArrivals(rate: number, durationMs: number, rand: Random): Generator<number, void, undefined> {
  const perMs = rate / 1000;
  let at = exponential(rand, perMs);
  while (at < durationMs) {
    yield at;
    at += exponential(rand, perMs);
  }
}
