import { emitEvent } from '../../events.js';
import type { Answer, Call, StrategyDeps } from '../context.js';
import type { Envelope } from '../envelope.js';
import { invalidated } from './steps.js';

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
  const fly = () => deps.flight.do(flightKey(strategy, call.key, call.ns), lookup as () => Promise<Answer<unknown>>);
  let { value: result, shared } = await fly();
  // Once: the flight that replaces an outdated one began after what outdated it.
  if (shared && (await outdated(call as Call<unknown>, deps, result))) ({ value: result, shared } = await fly());
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

/** Per answer of a flight: whether it is outdated for its joiners, asked once for all of them. */
const judged = new WeakMap<Answer<unknown>, Promise<boolean>>();

/**
 * Whether a flight's answer is outdated for a caller that joined it: its holder's write was
 * refused (a set, a delete or a newer holder came while it computed), or an invalidation covers
 * it. The flight may have begun long before the joiner did, and a change in another process
 * does not reach this process's flights (its own `set`, `delete` and invalidations forget them):
 * the answer says so. The check of marks reads their records, once per answer, only for a value
 * with tags or namespaces.
 */
function outdated(call: Call<unknown>, deps: StrategyDeps, answer: Answer<unknown>): Promise<boolean> {
  if (answer.superseded) return Promise.resolve(true);
  const envelope = answer.envelope ?? answer.unstored;
  if (!envelope || (!envelope.tags && !envelope.ns)) return Promise.resolve(false);
  let verdict = judged.get(answer);
  if (!verdict) {
    verdict = invalidated(call, deps, envelope).then((floor) => floor !== null);
    judged.set(answer, verdict);
  }
  return verdict;
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
