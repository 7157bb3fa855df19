import { MAX_COMPUTE_MS } from '../../src/bullmq/job-data.js';
import { standardNormal, type Random } from './random.js';

/**
 * How long each job's computation takes: fixed, or log-normal, the usual shape of service
 * latencies (most calls near the median, a long tail of slow ones). A log-normal is given by its
 * median (e^mu) and its spread sigma (of the log): with sigma = 0.5 the 90th percentile is about
 * 1.9 times the median, with sigma = 1 about 3.6 times.
 */
export type ComputeTime =
  | { readonly kind: 'fixed'; readonly ms: number }
  | { readonly kind: 'lognormal'; readonly medianMs: number; readonly sigma: number };

/**
 * A sampler of computation times in whole ms, clamped to what a get-value job accepts
 * (0..MAX_COMPUTE_MS). Rounding and clamping are monotone, so they keep the median.
 */
export function computeTimeSampler(time: ComputeTime, rand: Random): () => number {
  if (time.kind === 'fixed') return () => time.ms;
  const { medianMs, sigma } = time;
  return () => Math.min(MAX_COMPUTE_MS, Math.max(0, Math.round(medianMs * Math.exp(sigma * standardNormal(rand)))));
}
