import { emitEvent } from '../../events.js';
import type { Answer, Call, StrategyDeps } from '../context.js';
import type { Envelope } from '../envelope.js';

/**
 * Run `lookup` once per key per process for all concurrent callers of one strategy, so a burst
 * in one process sends one read and at most one lock attempt to Redis. Callers that joined
 * another's flight log their own hit or miss (marked `coalesced`) and `flight.joined`, so every
 * job still logs exactly one of `cache.hit` / `cache.miss`.
 */
export async function shareFlight<T>(
  strategy: string,
  call: Call<T>,
  deps: StrategyDeps,
  lookup: () => Promise<Answer<T>>,
): Promise<Answer<T>> {
  const { value: result, shared } = await deps.flight.do(flightKey(strategy, call.key, call.ns), lookup as () => Promise<Answer<unknown>>);
  if (!shared) return result as Answer<T>;

  // A computation this caller did not run is one it waited for; hits and stale stay as they were.
  const source = result.source === 'computed' ? 'waited' : result.source;
  const hit = source === 'cache' || source === 'stale';
  emitEvent(call, 'info', hit ? 'cache.hit' : 'cache.miss', hit ? { coalesced: true, tier: 'redis' } : { coalesced: true });
  if (source === 'stale') emitEvent(call, 'info', 'stale.served', { coalesced: true });
  emitEvent(call, 'info', 'flight.joined');
  return {
    value: result.value as T,
    source,
    ...(result.envelope && { envelope: result.envelope as Envelope<T> }),
    ...(result.computedBy !== undefined && { computedBy: result.computedBy }),
  };
}

/**
 * After a `set` or `delete` of `key` resolved: a call starting now must not join a flight that
 * began before it, whose answer (computed from older data, its write fenced out) predates the
 * change. Calls already in such a flight overlapped the change and may keep its answer.
 */
export function forgetFlights(deps: StrategyDeps, key: string, strategies: Iterable<string>, ns: readonly string[]): void {
  for (const strategy of strategies) deps.flight.forget(flightKey(strategy, key, ns));
}

/** After an invalidation resolved: no call starting now joins a flight that began before it (which values it covers is not known here). */
export function forgetAllFlights(deps: StrategyDeps): void {
  deps.flight.forgetAll();
}

/**
 * A flight per strategy and key, and per namespace: a namespace's call must not take the answer of
 * a call of the guard itself on the same key, whose value the namespace's clear() does not cover.
 */
function flightKey(strategy: string, key: string, ns: readonly string[]): string {
  // NUL separates: no strategy or namespace name holds one, so the two forms never meet.
  return ns.length === 0 ? `${strategy}:${key}` : `${strategy}\u0000${ns.at(-1)}\u0000${key}`;
}
