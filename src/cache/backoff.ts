import type { CacheKeys } from '../keys.js';
import { emitEvent } from '../events.js';
import type { Call, StrategyDeps } from './context.js';
import type { Envelope } from './envelope.js';
import { recordBackoff } from './store.js';

/**
 * Failure back-off (stale-if-error without hammering): after a recomputation failed and a stale
 * value was served instead, every process serves that stale value for `failureBackoffMs` without
 * recomputing, as FusionCache's FailSafeThrottleDuration and bentocache's graceBackoff do. The
 * back-off is a field of the value's hash, so it ends with the value (never past its grace), and
 * a new value ends it; the claim script (claim.ts) honours it.
 */
/** Start the back-off on `served`, the stale value the failure was answered with. */
export async function startBackoff(call: Call<unknown>, deps: StrategyDeps, keys: CacheKeys, served: Envelope): Promise<void> {
  if (deps.failureBackoffMs === 0) return;
  const until = Date.now() + deps.failureBackoffMs;
  // Best effort: without it the next call simply tries the computation again.
  if (await deps.gate.run(keys.value, () => recordBackoff(deps.redis, keys, served, until, call)).catch(() => false)) {
    emitEvent(call, 'warn', 'backoff.start', { backoffMs: deps.failureBackoffMs, computedAt: served.computedAt });
  }
}
