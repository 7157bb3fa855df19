import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { SubscriberPort } from '../redis/port.js';
import { GuardClosedError, InvalidKeyError, OptionsError, RedisUnavailableError, UnknownStrategyError } from '../errors.js';
import { MAX_KEY_LENGTH, cacheKeys, l1BusChannel, lockKeys } from '../keys.js';
import { FairLocks, type HeldLock, type LockOptions } from '../lock/fair-lock.js';
import { emitEvent, type EventContext, type EventSource } from '../events.js';
import { silentLogger, type Logger } from '../logger.js';
import { MAX_TIMER_MS } from '../timers.js';
import type { Envelope } from './envelope.js';
import { deleteValue, setValue } from './set-delete.js';
import { checkValue } from './recompute.js';
import { KeyedMutex } from '../lock/keyed-mutex.js';
import { SingleFlight } from '../lock/single-flight.js';
import { toPort, toSubscriberPort } from '../redis/adapt.js';
import type { Answer, BatchResult, Call, Compute, ComputeMany, GuardResult, StrategyDeps } from './context.js';
import { BatchClaims } from './batch-claims.js';
import { SharedBatch } from './shared-batch.js';
import { afterClaim } from './strategies/redis-lock.js';
import { shareFlight } from './strategies/shared-flight.js';
import { isFresh } from './envelope.js';
import { announceInvalidation, L1Tier } from './l1-tier.js';
import { OutageAnswers } from './outage.js';
import { RedisGate } from '../redis/gate.js';
import { refreshInBackground } from './refresh.js';
import { shouldRefreshEarly } from './strategies/xfetch.js';
import { leaseNotifier, type NotifierLease } from '../redis/shared-notifier.js';
import { checkGuardOption, resolveGuardOptions, type GuardOptions } from './options.js';
import type { Strategy } from './strategy.js';

export type { GuardOptions };
import { getWithLocalLock } from './strategies/local-lock.js';
import { getWithoutProtection } from './strategies/none.js';
import { getWithRedisLock } from './strategies/redis-lock.js';
import { getWithSwr } from './strategies/swr.js';
import { getWithXfetch } from './strategies/xfetch.js';
import { forgetFlights } from './strategies/shared-flight.js';
import { CallTrace } from '../telemetry/call-trace.js';
import { markEnvelope } from './recompute.js';
import { checkNamespaceName, checkTags, invalidateMarks, serverTime } from './tags.js';
import { namespaceOf, type Invalidate } from './namespace.js';
import { forgetAllFlights } from './strategies/shared-flight.js';
import { SPAN } from '../telemetry/tracing.js';
import type { CacheKeys } from '../keys.js';

export interface CallOptions {
  strategy?: Strategy;
  /** Lifetime of this value, ms. @default the guard's valueTtlMs */
  ttlMs?: number;
  /**
   * `redis-lock`: with a stale value in reach, wait for the fresh one at most this long, then take
   * the stale one while the computation goes on. @default the guard's softTimeoutMs
   */
  softTimeoutMs?: number;
  /**
   * Tags of the value (its computation may add more, `ctx.addTags`): `invalidateTags` of any of
   * them makes it count as missing in every process. See docs/library.md, "Tags and namespaces".
   */
  tags?: readonly string[];
  /** Logger bound to the caller's correlation fields (e.g. a job's child logger). */
  logger?: Logger;
  /**
   * Correlation fields (e.g. `{ runId, jobId, workerId }`) that every event of this call carries,
   * untouched, for subscribers of the events (`subscribeEvents`). Not written to log lines: bind
   * those to `logger`.
   */
  context?: EventContext;
}

/** getManyOrCompute's options: its keys are claimed and computed as `redis-lock` does one. */
export type ManyOptions = Omit<CallOptions, 'strategy'>;

export interface SetOptions {
  /** Fresh time of this value, ms. @default the guard's valueTtlMs */
  ttlMs?: number;
  /** Tags of the value (see CallOptions). */
  tags?: readonly string[];
  logger?: Logger;
  /** Correlation fields for this call's events (see CallOptions). */
  context?: EventContext;
}

export interface DeleteOptions {
  logger?: Logger;
  /** Correlation fields for this call's events (see CallOptions). */
  context?: EventContext;
}

/** invalidateTags' and clear()'s options. */
export type InvalidateOptions = DeleteOptions;

/** What the guard's calls do on a namespace's behalf (namespace.ts): not part of the public options. */
export const IN_NAMESPACE: unique symbol = Symbol('cache-stampede namespace');
type Scoped<O> = O & { [IN_NAMESPACE]?: readonly string[] };

export interface StampedeGuard {
  /**
   * The value of `key` from the cache, or computed by `compute` on a miss according to the
   * strategy. `source` says where it came from. `compute`'s result must survive JSON. While
   * Redis is unavailable, `onRedisDown` decides (computed in this process, or RedisUnavailableError).
   */
  getOrCompute<T>(key: string, compute: Compute<T>, options?: CallOptions): Promise<GuardResult<T>>;
  /**
   * The values of many keys at once, with `redis-lock`'s guarantee for each: hits answered from
   * the L1 tier and Redis, the missing keys claimed together (one round trip; on a cluster one per
   * slot), the keys this call holds computed in ONE call of `computeMany(heldKeys, { signal })`,
   * the keys other processes hold waited for, each key written with its own fence, TTL and
   * notification. A key is computed at most once in the fleet whichever way it was asked for
   * (batches and single calls join each other's flights in a process, and the lock across). A key
   * the batch left out, or whose computation failed, fails alone (its failure policy applies):
   * its entry is `{ error }`. Answers in the order of `keys`, duplicates once.
   */
  getManyOrCompute<T>(keys: readonly string[], computeMany: ComputeMany<T>, options?: ManyOptions): Promise<BatchResult<T>>;
  /**
   * Store `value` for every process: the next read anywhere gets it, waiters on the key are woken
   * with it, and a holder computing at this moment (from older data) cannot overwrite it.
   * `value` must survive JSON. Rejects with RedisUnavailableError while Redis is unavailable.
   */
  set<T>(key: string, value: T, options?: SetOptions): Promise<void>;
  /**
   * Remove the value for every process (after a write to the source, say): the next read
   * recomputes, a holder computing at this moment cannot store its value, waiters contend again.
   * Resolves true when there was a value. Rejects with RedisUnavailableError while Redis is unavailable.
   */
  delete(key: string, options?: DeleteOptions): Promise<boolean>;
  /**
   * Every value carrying one of `tags`, in every process, counts as missing from the moment this
   * resolves, whatever its strategy, grace or tier: `redis-lock` recomputes it once, `swr` and
   * `xfetch` never serve it as stale, and a value whose computation began before this (a holder
   * writing late) never counts again. Writes one small record per tag (no scan of the keyspace);
   * reading a tagged value costs one more round trip, for its tags' records. Rejects with
   * RedisUnavailableError while Redis is unavailable.
   */
  invalidateTags(tags: readonly string[], options?: InvalidateOptions): Promise<void>;
  /**
   * A view of the guard whose keys live under `name` (the guard's keys `<name>:<key>`): the same
   * calls, and `clear()`, which invalidates every value of the namespace at once, as
   * `invalidateTags` does a tag. Views are cheap: make one per request if you like.
   */
  namespace(name: string): GuardNamespace;
  /**
   * A lock of your own on `name`, for work that must not run twice at once in the fleet. Waits
   * (at most `waitMs`) in arrival order inside this process, for a release notification across
   * processes; resolves with the held lock (its fence, `extend`, `release`, a `signal` aborted when
   * it is lost). Locks live beside the cache's keys, never shared with a cache key's own lock.
   */
  lock(name: string, options?: LockOptions): Promise<HeldLock>;
  /**
   * Stop: waits for background refreshes still running, then aborts computations' signals and
   * closes the subscriber the guard created.
   */
  close(): Promise<void>;
}

/** A namespace of a guard (`guard.namespace(name)`): the guard's calls on its keys, and `clear()`. */
export interface GuardNamespace
  extends Pick<StampedeGuard, 'getOrCompute' | 'getManyOrCompute' | 'set' | 'delete' | 'invalidateTags' | 'namespace'> {
  /** Its path: `users`, or `users/eu` for a namespace inside another. */
  readonly name: string;
  /** Every value of this namespace (and of those inside it) counts as missing from the moment this resolves, in every process. */
  clear(options?: InvalidateOptions): Promise<void>;
}

type Runner = (call: Call<unknown>, deps: StrategyDeps) => Promise<GuardResult<unknown>>;

/** A Map, not an object: a strategy named "toString" or "__proto__" must find nothing. */
const RUNNERS = new Map<string, Runner>([
  ['none', getWithoutProtection],
  ['local-lock', getWithLocalLock],
  ['redis-lock', getWithRedisLock],
  ['swr', getWithSwr],
  ['xfetch', getWithXfetch],
]);

export function createGuard(options: GuardOptions): StampedeGuard {
  const resolved = resolveGuardOptions(options);
  const tracing = options.tracing;
  const defaultLogger = options.logger ?? silentLogger;
  /** The source of the guard's own events (its connections), which belong to no call. */
  const guardEvents: EventSource = { log: defaultLogger };
  const aborter = new AbortController();
  // Every running computation listens on this one signal (and stops listening when it ends);
  // hundreds at once is normal, not a leak.
  setMaxListeners(0, aborter.signal);
  let notifier: NotifierLease | null = null;
  let ownSubscriber: SubscriberPort | null = null;
  /** The seam between the guard and the caller's client library (redis/port.ts). */
  const redis = toPort(options.redis);
  const callerSubscriber = options.subscriber ? toSubscriberPort(options.subscriber, redis) : null;
  const db = redis.database;
  /** This guard's id on the L1 bus, so that a tier ignores its own announcements. */
  const origin = randomUUID();
  const l1 = resolved.l1Options
    ? new L1Tier(resolved.l1Options, resolved.graceMs, redis, l1BusChannel(resolved.keyPrefix, db), origin, guardEvents)
    : null;
  const outage = new OutageAnswers(resolved.graceMs, resolved.l1Options?.maxEntries);
  /** How long a set or delete keeps its fence in Redis: until no holder that started before it can still write. */
  const fenceKeepMs = () => Math.min(MAX_TIMER_MS, resolved.computeTimeoutMs + resolved.lockTtlMs);
  const gate = new RedisGate(redis, resolved.redisTimeoutMs, guardEvents, (_node, up) => {
    // Back from an outage: what this process holds may have missed the fleet's writes, and what it
    // computed alone must not outlive the outage. The next miss is the fleet's one computation.
    if (!up) return;
    l1?.clear();
    outage.recovered();
  });

  const deps: StrategyDeps = {
    ...resolved,
    redis,
    gate,
    outage,
    keys: (key) => cacheKeys(resolved.keyPrefix, key, db),
    mutex: new KeyedMutex(),
    flight: new SingleFlight(),
    signal: aborter.signal,
    refreshing: new Map(),
    continuing: new Set(),
    l1,
    // Created on first wait (or at once, for the L1 tier's bus): processes that never wait never open a pub/sub connection.
    notifier: () => {
      // A call that reaches its first wait after close() opens no connection that nothing would close.
      if (aborter.signal.aborted) throw new GuardClosedError();
      if (!notifier) {
        let subscriber: SubscriberPort;
        if (callerSubscriber) subscriber = callerSubscriber;
        else {
          subscriber = redis.createSubscriber((err) => emitEvent(guardEvents, 'warn', 'redis.error', { role: 'subscriber', err }));
          ownSubscriber = subscriber;
        }
        notifier = leaseNotifier(subscriber);
      }
      return notifier;
    },
  };

  const locks = new FairLocks({
    redis,
    gate,
    notifier: deps.notifier,
    keys: (name) => lockKeys(resolved.keyPrefix, name, db),
    defaultTtlMs: resolved.lockTtlMs,
    defaultWaitMs: resolved.maxWaitMs,
    closed: aborter.signal,
  });

  // The tier answers once its bus is live; until then (and if subscribing fails) reads go to Redis.
  deps.l1?.start(deps.notifier()).catch((err: unknown) => emitEvent(guardEvents, 'warn', 'redis.error', { role: 'l1-bus', err }));

  const start = (key: unknown, logger: Logger | undefined) => {
    checkKey(key);
    if (aborter.signal.aborted) throw new GuardClosedError();
    return { keys: deps.keys(key), log: logger ?? defaultLogger };
  };

  /** The strategy's answer; while the call's Redis is unavailable (known before, or found on the way), onRedisDown's. */
  const answer = async (run: Runner, request: Call<unknown>, routeKey: string): Promise<Answer<unknown>> => {
    const known = gate.downFor(routeKey);
    if (known) return outage.answer(request, deps, known);
    try {
      return await run(request, deps);
    } catch (err) {
      if (err instanceof RedisUnavailableError) return outage.answer(request, deps, err);
      throw err;
    }
  };

  /** The call's answer, and its span when the guard traces: the span is active while the call runs. */
  const getOrCompute = async (request: Call<unknown>, run: Runner, keys: CacheKeys): Promise<Answer<unknown>> => {
    if (!request.trace) return lookUp(request, run, keys);
    const trace = request.trace;
    try {
      const answered = await trace.run(() => lookUp(request, run, keys));
      trace.finish(answered);
      return answered;
    } catch (err) {
      trace.finish(undefined, err);
      throw err;
    }
  };

  /** A span around a set, delete or lock, when the guard traces. */
  const traced = <R>(name: string, key: string, work: (trace: CallTrace | undefined) => Promise<R>): Promise<R> => {
    if (!tracing) return work(undefined);
    const trace = CallTrace.start(tracing, name, key);
    return trace
      .run(() => work(trace))
      .then(
        (result) => {
          trace.finish(undefined);
          return result;
        },
        (err: unknown) => {
          trace.finish(undefined, err);
          throw err;
        },
      );
  };

  /** The L1 tier, then the strategy. */
  const lookUp = async (request: Call<unknown>, run: Runner, keys: CacheKeys): Promise<Answer<unknown>> => {
    const { key, strategy } = request;
    if (!l1) return answer(run, request, keys.value);

    const near = l1.read(key);
    // A namespace's call takes only a value its namespace wrote (namespace.ts).
    if (near && request.ns.every((ns) => near.ns?.includes(ns))) {
      emitEvent(request, 'info', 'cache.hit', { tier: 'l1' });
      if (strategy === 'xfetch' && shouldRefreshEarly(near, Date.now(), resolved.xfetchBeta, resolved.random())) {
        refreshInBackground(request, deps, keys, near);
      }
      return { value: near.value, source: 'cache' };
    }
    const ticket = l1.begin(key);
    let answered: Answer<unknown> | undefined;
    try {
      answered = await answer(run, request, keys.value);
      return answered;
    } finally {
      const fresh = answered?.envelope && isFresh(answered.envelope) && !answered.envelope.uncached ? answered.envelope : undefined;
      l1.end(ticket, fresh);
    }
  };

  /**
   * Record the invalidation of `marks` (tags, or namespaces' marks) for the fleet, then drop what
   * this process holds of them: its flights (begun before), its L1 tier's values (and, through the
   * bus, every other process's).
   */
  const invalidate: Invalidate = async (marks, options, fields) => {
    if (aborter.signal.aborted) throw new GuardClosedError();
    const source: EventSource = { log: options.logger ?? defaultLogger, context: options.context };
    if (marks.length === 0) return;
    await traced(SPAN.invalidate, marks.join(' '), async () => {
      await invalidateMarks(deps.redis, resolved.keyPrefix, marks, resolved.tagRetentionMs, source, (routeKey, send) =>
        gate.run(routeKey, send),
      );
      forgetAllFlights(deps);
      if (deps.l1) deps.l1.invalidated(marks);
      else announceInvalidation(deps.redis, l1BusChannel(resolved.keyPrefix, db), origin, marks, guardEvents);
      emitEvent(source, 'info', 'tags.invalidated', fields);
    });
  };

  const guard: StampedeGuard = {
    async getOrCompute<T>(key: string, compute: Compute<T>, call: Scoped<CallOptions> = {}): Promise<GuardResult<T>> {
      const strategy = call.strategy ?? resolved.strategy;
      const run = RUNNERS.get(strategy);
      if (!run) throw new UnknownStrategyError(strategy);
      const { keys, log } = start(key, call.logger);
      const ttlMs = checkCallTtl(call.ttlMs ?? resolved.valueTtlMs);
      const request: Call<unknown> = {
        key,
        strategy,
        compute: compute as Compute<unknown>,
        log,
        context: call.context,
        ttlMs,
        softTimeoutMs: call.softTimeoutMs === undefined ? resolved.softTimeoutMs : checkGuardOption('softTimeoutMs', call.softTimeoutMs),
        tags: call.tags === undefined ? [] : checkTags(call.tags),
        ns: call[IN_NAMESPACE] ?? [],
        trace: tracing && CallTrace.start(tracing, SPAN.getOrCompute, key, strategy),
      };
      return strip(await getOrCompute(request, run, keys)) as GuardResult<T>;
    },
    async getManyOrCompute<T>(
      keys: readonly string[],
      computeMany: ComputeMany<T>,
      options: Scoped<ManyOptions> = {},
    ): Promise<BatchResult<T>> {
      if (!Array.isArray(keys)) throw new InvalidKeyError('getManyOrCompute takes an array of keys');
      const unique = [...new Set(keys)];
      for (const key of unique) checkKey(key);
      if (typeof computeMany !== 'function')
        throw new OptionsError('computeMany', 'getManyOrCompute takes a batch computation: (keys, { signal }) => values');
      if (aborter.signal.aborted) throw new GuardClosedError();
      const log = options.logger ?? defaultLogger;
      const ttlMs = checkCallTtl(options.ttlMs ?? resolved.valueTtlMs);
      const softTimeoutMs =
        options.softTimeoutMs === undefined ? resolved.softTimeoutMs : checkGuardOption('softTimeoutMs', options.softTimeoutMs);
      const tags = options.tags === undefined ? [] : checkTags(options.tags);
      const ns = options[IN_NAMESPACE] ?? [];
      // The keys this call holds once claimed share one computeMany; a key it comes to hold later
      // (its holder elsewhere failed or vanished) is computed alone, by computeMany([key]).
      const computeOf = new Map<string, Compute<T>>();
      const claims = new BatchClaims(deps, (held) => {
        const shared = new SharedBatch(held, computeMany, deps);
        for (const key of held) computeOf.set(key, shared.computeOf(key));
      });
      const byBatch: Runner = (call, strategyDeps) =>
        shareFlight('redis-lock', call, strategyDeps, async () => {
          const keysOf = strategyDeps.keys(call.key);
          return afterClaim(call, strategyDeps, keysOf, await claims.claim(call, keysOf));
        });
      const one = (key: string): Promise<Answer<unknown>> => {
        const compute: Compute<T> = (ctx) => (computeOf.get(key) ?? new SharedBatch([key], computeMany, deps).computeOf(key))(ctx);
        const request: Call<unknown> = {
          key,
          strategy: 'redis-lock',
          compute: compute as Compute<unknown>,
          log,
          context: options.context,
          ttlMs,
          softTimeoutMs,
          tags,
          ns,
          trace: tracing && CallTrace.start(tracing, SPAN.getOrCompute, key, 'redis-lock'),
        };
        return getOrCompute(request, byBatch, deps.keys(key));
      };
      // Every key starts in this turn, so that those that go to Redis are claimed together.
      const all = () => Promise.allSettled(unique.map(one));
      const batchSpan = tracing?.startSpan(SPAN.getManyOrCompute, { attributes: { 'cache_stampede.keys': unique.length } });
      const settled = batchSpan ? await batchSpan.run(all) : await all();
      batchSpan?.end();
      return new Map(
        settled.map((outcome, i) => [
          unique[i]!,
          outcome.status === 'fulfilled' ? (strip(outcome.value) as GuardResult<T>) : { error: asError(outcome.reason) },
        ]),
      );
    },
    async set<T>(key: string, value: T, options: Scoped<SetOptions> = {}): Promise<void> {
      const { keys, log } = start(key, options.logger);
      checkValue(key, value);
      const ttlMs = checkCallTtl(options.ttlMs ?? resolved.valueTtlMs);
      const marks = { tags: options.tags === undefined ? [] : checkTags(options.tags), ns: options[IN_NAMESPACE] ?? [] };
      await traced(SPAN.set, key, async (trace) => {
        const source: EventSource = { log, key, context: options.context, trace };
        outage.forget(key);
        // A value with tags is dated by the server's clock before it is written (tags.ts).
        const bornAt =
          marks.tags.length > 0 || marks.ns.length > 0
            ? await gate.run(keys.value, () => serverTime(deps.redis, keys.value, source))
            : undefined;
        const now = Date.now();
        const envelope: Envelope<T> = { value, fence: 0, computedAt: now, computeMs: 0, ttlMs, freshUntil: now + ttlMs };
        markEnvelope(envelope, marks, resolved, undefined, bornAt);
        const fence = await gate.run(keys.value, () => setValue(deps.redis, keys, envelope, resolved.graceMs, fenceKeepMs(), source));
        emitEvent(source, 'info', 'cache.write', { fence, set: true });
        forgetFlights(deps, key, RUNNERS.keys(), marks.ns);
        deps.l1?.written(key, { ...envelope, fence });
      });
    },
    async delete(key: string, options: Scoped<DeleteOptions> = {}): Promise<boolean> {
      const { keys, log } = start(key, options.logger);
      return traced(SPAN.delete, key, async (trace) => {
        const source: EventSource = { log, key, context: options.context, trace };
        outage.forget(key);
        const existed = await gate.run(keys.value, () => deleteValue(deps.redis, keys, fenceKeepMs(), source));
        emitEvent(source, 'info', 'cache.delete', { existed });
        forgetFlights(deps, key, RUNNERS.keys(), options[IN_NAMESPACE] ?? []);
        deps.l1?.deleted(key);
        return existed;
      });
    },
    async invalidateTags(tags: readonly string[], options: InvalidateOptions = {}): Promise<void> {
      const checked = checkTags(tags);
      return invalidate(
        checked.map((t) => `tag:${t}` as const),
        options,
        { tags: checked },
      );
    },
    namespace(name: string): GuardNamespace {
      return namespaceOf(guard, invalidate, [], checkNamespaceName(name));
    },
    async lock(name: string, lockOptions: LockOptions = {}): Promise<HeldLock> {
      checkKey(name);
      if (aborter.signal.aborted) throw new GuardClosedError();
      return traced(SPAN.lock, name, async (trace) => {
        const held = await locks.lock(name, lockOptions);
        trace?.event('lock.acquired', { fence: held.fence });
        return held;
      });
    },
    async close() {
      await Promise.all([...deps.refreshing.values(), ...deps.continuing]);
      aborter.abort(new GuardClosedError());
      gate.stop();
      // Takes back only this guard's subscriptions: a `subscriber` may be shared with other guards.
      (notifier as NotifierLease | null)?.release();
      const subscriber = ownSubscriber as SubscriberPort | null;
      if (subscriber) await subscriber.close();
    },
  };
  return guard;
}

function asError(reason: unknown): Error {
  return reason instanceof Error ? reason : new Error(String(reason));
}

/** What the caller sees of an answer: the value and where it came from. */
function strip<T>({ value, source }: Answer<T>): GuardResult<T> {
  return { value, source };
}

/**
 * A per-call fresh time, checked before anything is sent: a number of ms up to MAX_TIMER_MS (0 or
 * less gives the value 1 ms of fresh time, fractions are rounded). Infinity or a huge number
 * would ask PEXPIRE for what it refuses, and a key left without a TTL never expires.
 */
function checkCallTtl(ttlMs: unknown): number {
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs > MAX_TIMER_MS)
    throw new OptionsError('ttlMs', `ttlMs must be a number of ms up to ${MAX_TIMER_MS}, got ${String(ttlMs)}`);
  return Math.max(1, Math.round(ttlMs));
}

function checkKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH) {
    throw new InvalidKeyError(`a cache key must be a string of 1 to ${MAX_KEY_LENGTH} characters`);
  }
}
