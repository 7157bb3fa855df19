import { GuardClosedError, RedisUnavailableError } from '../errors.js';
import { emitEvent } from '../events.js';
import { SingleFlight } from '../lock/single-flight.js';
import type { Answer, Call, StrategyDeps } from './context.js';
import { isFresh, type Envelope } from './envelope.js';
import { L1Store } from './l1.js';
import { recompute } from './recompute.js';
import { track } from './refresh.js';

/** Values computed during an outage that a process keeps when the guard has no L1 tier to size it. */
const KEPT_ENTRIES = 1000;

/**
 * `onRedisDown`: how a call is answered when its Redis is unavailable (gate.ts decides that).
 *
 * `error` rejects with the RedisUnavailableError. `compute` answers without Redis, and without
 * letting the origin take a stampede from this process:
 * - a copy this process holds: the L1 tier's (kept through the bus's drop), or a value it
 *   computed earlier in this outage. Fresh, it is served; within its grace, it is served to `swr`
 *   and `xfetch` (refreshed in the background) and to the `stale` failure policy when the
 *   computation fails;
 * - else the computation, once per key in this process at a time (the callers of a key share it),
 *   kept here for the next callers, written nowhere.
 *
 * Everything kept is forgotten when Redis answers again (`recovered`): from then on the next miss
 * is the fleet's one computation again, and no value computed apart from the fleet outlives the
 * outage. What is kept is bounded (the L1 tier's `maxEntries`, else KEPT_ENTRIES).
 */
export class OutageAnswers {
  private readonly kept: L1Store;
  private readonly flight = new SingleFlight<Envelope>();
  private readonly nsFlight = new SingleFlight<Envelope>();
  /** Raised on each recovery: a computation that began before it keeps nothing after it. */
  private generation = 0;
  /**
   * Work for when Redis answers again: holders' writes that met the outage (holder.ts). Bounded:
   * only a holder that took its lock before the outage has one, and no lock is taken during it.
   */
  private readonly pending = new Set<() => Promise<void>>();

  constructor(graceMs: number, maxEntries = KEPT_ENTRIES) {
    this.kept = new L1Store({ maxEntries }, graceMs);
  }

  async answer<T>(call: Call<T>, deps: StrategyDeps, down: RedisUnavailableError): Promise<Answer<T>> {
    if (deps.signal.aborted) throw new GuardClosedError();
    emitEvent(call, 'warn', 'cache.degraded', { policy: deps.onRedisDown, cause: down.reason });
    if (deps.onRedisDown === 'error') throw down;

    const held = this.copyOf(call, deps);
    if (held && isFresh(held.envelope)) {
      emitEvent(call, 'info', 'cache.hit', { tier: held.tier, degraded: true });
      return { value: held.envelope.value as T, source: 'cache' };
    }
    const stale = held?.envelope as Envelope<T> | undefined;
    if (stale && (call.strategy === 'swr' || call.strategy === 'xfetch')) {
      emitEvent(call, 'info', 'stale.served', { reason: 'redis-down', computedAt: stale.computedAt });
      this.refreshInBackground(call, deps);
      return { value: stale.value, source: 'stale' };
    }
    try {
      const { value: envelope, shared } = await this.compute(call, deps);
      if (!shared) return { value: envelope.value as T, source: 'computed' };
      // A caller that joined the process's computation links its span to it, as any waiter does.
      return { value: envelope.value as T, source: 'waited', ...(envelope.trace !== undefined && { computedBy: envelope.trace }) };
    } catch (err) {
      if (deps.failurePolicy !== 'stale' || !stale || deps.signal.aborted) throw err;
      emitEvent(call, 'warn', 'stale.served', { reason: 'compute-failed', computedAt: stale.computedAt });
      return { value: stale.value, source: 'stale' };
    }
  }

  /** A value computed by a call whose write found Redis unavailable: the next callers here get it. */
  keep(key: string, envelope: Envelope): void {
    this.kept.set(key, envelope, 0);
  }

  /** `set` or `delete` of `key`: what was kept of it is out of date. */
  forget(key: string): void {
    this.kept.delete(key);
  }

  /** Run `work` when Redis answers again (best effort: if it fails, what it would give back expires). */
  afterOutage(work: () => Promise<void>): void {
    this.pending.add(work);
  }

  /**
   * A Redis node answers again: forget everything computed apart from the fleet; finish what waited
   * for it. Work whose own node is still down (on a cluster, another master) waits for the next
   * recovery; any other failure drops it (what it would give back expires).
   */
  recovered(): void {
    this.generation += 1;
    this.kept.clear();
    const pending = [...this.pending];
    this.pending.clear();
    for (const work of pending) {
      work().catch((err: unknown) => {
        if (err instanceof RedisUnavailableError) this.pending.add(work);
      });
    }
  }

  /** A copy for `call`: one its namespaces wrote, if it has any (namespace.ts), as every read path asks. */
  private copyOf(call: Call<unknown>, deps: StrategyDeps): { envelope: Envelope; tier: 'l1' | 'outage' } | null {
    const ours = (envelope: Envelope | null | undefined) =>
      envelope && call.ns.every((ns) => envelope.ns?.includes(ns)) ? envelope : null;
    const fromL1 = ours(deps.l1?.copy(call.key));
    const fromOutage = ours(this.kept.peek(call.key));
    // The newer of the two: a value computed in the outage is newer than what the tier held before it.
    if (fromOutage && (!fromL1 || fromOutage.computedAt >= fromL1.computedAt)) return { envelope: fromOutage, tier: 'outage' };
    return fromL1 ? { envelope: fromL1, tier: 'l1' } : null;
  }

  private compute(call: Call<unknown>, deps: StrategyDeps) {
    const computing = async () => {
      const generation = this.generation;
      const envelope = await recompute(call, deps, 0, { degraded: true });
      if (generation === this.generation && !envelope.uncached) this.keep(call.key, envelope);
      return envelope;
    };
    // Per namespace too, as the flights of strategies/shared-flight.ts: a namespace's call takes
    // no value computed for the guard's own call of the same key (NUL: no namespace name has one).
    if (call.ns.length === 0) return this.flight.do(call.key, computing);
    return this.nsFlight.do(`${call.ns.at(-1)}\u0000${call.key}`, computing);
  }

  /** swr/xfetch served a stale copy: one computation in the background, known to close() like any refresh. */
  private refreshInBackground(call: Call<unknown>, deps: StrategyDeps): void {
    if (deps.refreshing.has(call.key)) return;
    // Like any refresh: traced as a trace of its own (the caller has its answer), its failure in its events.
    track(call, deps, 'stale', async (refreshing) => {
      await this.compute(refreshing, deps);
    });
  }
}
