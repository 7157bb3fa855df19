import { LockLostError } from '../errors.js';
import type { CacheKeys } from '../keys.js';
import type { LockLease } from '../lock/redis-lock.js';
import { emitEvent } from '../events.js';
import { startBackoff } from './backoff.js';
import type { Call, StrategyDeps } from './context.js';
import type { Envelope } from './envelope.js';
import { computeAsHolder } from './holder.js';
import { elapsed } from './recompute.js';
import { gatedClaim } from './strategies/steps.js';

export type RefreshReason = 'stale' | 'early';

/**
 * XFetch's early refresh, in the background, if nobody in the fleet is refreshing already: one
 * zero-wait claim that takes the lock only if `seen` is still the stored value (a process that
 * read it just before another process's refresh finished finds the new value and computes
 * nothing). Inside a process, one refresh per key at a time.
 */
export function refreshInBackground(call: Call<unknown>, deps: StrategyDeps, keys: CacheKeys, seen: Envelope): void {
  if (deps.refreshing.has(call.key) || deps.signal.aborted) return;
  // Decided just now (by the read that called this, in the same turn): the fresh time it had left.
  const remainingMs = seen.freshUntil - Date.now();
  track(call, deps, 'early', async (refreshing) => {
    const claimed = await gatedClaim(refreshing, deps, keys, { seen });
    if (claimed.kind === 'lock') await refresh(refreshing, deps, keys, claimed.lease, 'early', seen, remainingMs);
    else if (claimed.kind !== 'value') emitEvent(refreshing, 'debug', 'lock.busy', { refresh: 'early' });
  });
}

/**
 * A refresh whose lock the caller's claim already took (swr and xfetch past the fresh time: the
 * claim that found the stale value took the lock in the same step). Its caller has been served.
 */
export function refreshWithLease(call: Call<unknown>, deps: StrategyDeps, keys: CacheKeys, lease: LockLease, stale: Envelope): void {
  track(call, deps, 'stale', (refreshing) => refresh(refreshing, deps, keys, lease, 'stale', stale));
}

/**
 * Run a background refresh, known to close() (which waits for it); its failure is in the log.
 * Traced, it is a span of its own (a trace of its own, linked to the call that started it),
 * and its steps are that span's, not the call's, which has its answer and has ended.
 */
export function track(
  call: Call<unknown>,
  deps: StrategyDeps,
  reason: RefreshReason,
  work: (refreshing: Call<unknown>) => Promise<void>,
): void {
  const trace = call.trace?.startRefresh(reason);
  const refreshing = trace ? { ...call, trace } : call;
  let failure: unknown;
  const run: Promise<void> = (trace ? trace.run(() => work(refreshing)) : work(refreshing))
    .catch((err: unknown) => {
      failure = err; // the caller was served already; recompute.failed and refresh.end say why
    })
    .finally(() => {
      trace?.finish(undefined, failure);
      if (deps.refreshing.get(call.key) === run) deps.refreshing.delete(call.key);
    });
  deps.refreshing.set(call.key, run);
}

/** A refresh is a recomputation: it logs `recompute.start` like any other. */
async function refresh(
  call: Call<unknown>,
  deps: StrategyDeps,
  keys: CacheKeys,
  lease: LockLease,
  reason: RefreshReason,
  seen: Envelope,
  remainingMs?: number,
): Promise<void> {
  const started = performance.now();
  emitEvent(call, 'info', 'lock.acquired', { fence: lease.fence });
  emitEvent(
    call,
    'info',
    'refresh.start',
    remainingMs === undefined ? { reason, fence: lease.fence } : { reason, fence: lease.fence, remainingMs },
  );
  let ok = false;
  try {
    await computeAsHolder(call, deps, keys, lease);
    ok = true;
  } catch (err) {
    // The stale value was served for this failure: the fleet backs off before trying again.
    if (reason === 'stale' && !deps.signal.aborted && !(err instanceof LockLostError)) await startBackoff(call, deps, keys, seen);
    throw err;
  } finally {
    emitEvent(call, 'info', 'refresh.end', { reason, fence: lease.fence, ok, durationMs: elapsed(started) });
  }
}
