import { logEvent } from '../../logger.js';
import type { Call, GuardResult, StrategyDeps } from '../context.js';
import { isFresh, type Envelope } from '../envelope.js';
import { fill } from '../fill.js';
import { refreshInBackground } from '../refresh.js';
import { readEnvelope } from '../store.js';
import { shareFlight } from './shared-flight.js';
import { serveStaleWhileRefreshing } from './steps.js';

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
export function getWithXfetch<T>(call: Call<T>, deps: StrategyDeps): Promise<GuardResult<T>> {
  return shareFlight('xfetch', call, deps, async () => {
    const keys = deps.keys(call.key);
    const cached = await readEnvelope<T>(deps.redis, keys);
    if (cached && isFresh(cached)) {
      logEvent(call.log, 'info', 'cache.hit');
      if (shouldRefreshEarly(cached, Date.now(), deps.xfetchBeta, deps.random())) {
        refreshInBackground(call as Call<unknown>, deps, keys, 'early', cached);
      }
      return { value: cached.value, source: 'cache' };
    }
    if (cached) return serveStaleWhileRefreshing(call, deps, keys, cached);
    logEvent(call.log, 'info', 'cache.miss');
    return fill(call, deps, keys, null);
  });
}

/** The XFetch test. `random` is uniform in [0, 1); 0 would mean "infinitely early", so it never refreshes then. */
export function shouldRefreshEarly(envelope: Envelope, now: number, beta: number, random: number): boolean {
  if (random <= 0) return false;
  return now - envelope.computeMs * beta * Math.log(random) >= envelope.freshUntil;
}
