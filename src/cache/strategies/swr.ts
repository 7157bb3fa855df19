import type { Call, Answer, StrategyDeps } from '../context.js';
import { shareFlight } from './shared-flight.js';
import { gatedClaim, hit, serveStaleOrFill } from './steps.js';

/**
 * Stale-while-revalidate. A fresh value is a hit. A stale value (past its fresh time, within its
 * grace) is served at once, and one holder in the fleet refreshes it in the background: the claim
 * that found it stale took the lock if it was free. No value at all (cold, or past its grace) is
 * filled as `redis-lock` does: one computes, the others wait.
 */
export function getWithSwr<T>(call: Call<T>, deps: StrategyDeps): Promise<Answer<T>> {
  return shareFlight('swr', call, deps, async () => {
    const keys = deps.keys(call.key);
    const claimed = await gatedClaim<T>(call, deps, keys, { serveStale: true, honourBackoff: true });
    return claimed.kind === 'value' ? hit(call, claimed.envelope) : serveStaleOrFill(call, deps, keys, claimed);
  });
}
