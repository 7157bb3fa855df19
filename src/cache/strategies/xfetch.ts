import type { Call, Answer, StrategyDeps } from '../context.js';
import type { Envelope } from '../envelope.js';
import { refreshInBackground } from '../refresh.js';
import { shareFlight } from './shared-flight.js';
import { gatedClaim, hit, serveStaleOrFill } from './steps.js';

/**
 * XFetch, after Vattani, Chierichetti and Lowenstein, "Optimal Probabilistic Cache Stampede
 * Prevention" (VLDB 2015): a read of a fresh value refreshes it early when
 *   now - delta * beta * ln(random()) >= expiry
 * where delta is how long the value took to compute. -ln(random()) is exponentially
 * distributed, so the chance rises smoothly as expiry nears, sooner for values that are
 * expensive to compute. The refresh runs in the background behind a zero-wait Redis lock, so at
 * most one early refresh runs in the fleet at a time and readers never block before expiry.
 * A stale value within its grace is served like `swr`; no value is filled like `redis-lock`.
 */
export function getWithXfetch<T>(call: Call<T>, deps: StrategyDeps): Promise<Answer<T>> {
  return shareFlight('xfetch', call, deps, async () => {
    const keys = deps.keys(call.key);
    const claimed = await gatedClaim<T>(call, deps, keys, { serveStale: true, honourBackoff: true });
    if (claimed.kind !== 'value') return serveStaleOrFill(call, deps, keys, claimed);
    if (shouldRefreshEarly(claimed.envelope, Date.now(), deps.xfetchBeta, deps.random())) {
      refreshInBackground(call as Call<unknown>, deps, keys, claimed.envelope);
    }
    return hit(call, claimed.envelope);
  });
}

/** The XFetch test. `random` is uniform in [0, 1); 0 would mean "infinitely early", so it never refreshes then. */
export function shouldRefreshEarly(envelope: Envelope, now: number, beta: number, random: number): boolean {
  if (random <= 0) return false;
  return now - envelope.computeMs * beta * Math.log(random) >= envelope.freshUntil;
}
