/**
 * The operations of the model-based checker and the random programs made of them.
 *
 * A program is a fleet (three guards, "processes", some with an L1 tier) and a list of
 * operations. Each operation starts `gapMs` after the previous one started and, unless it is
 * awaited, runs alongside the ones after it, so operations on the 2-3 keys overlap. Every
 * operation prints as one readable line (fast-check shows the shrunk program that way), and the
 * program prints as a numbered listing.
 */
import fc from 'fast-check';
import { STRATEGIES, type FailurePolicy, type RedisDownPolicy, type Strategy } from '../../src/cache/strategy.js';

export const PROCESSES = 3;
export const KEYS = ['a', 'b', 'c'] as const;
export type Key = (typeof KEYS)[number];
export const LOCK_NAMES = ['x', 'y'] as const;
export type LockName = (typeof LOCK_NAMES)[number];
/** The tags of a program: two, so that one invalidation covers some values and not others. */
export const TAGS = ['t1', 't2'] as const;
export type Tag = (typeof TAGS)[number];
/** The namespaces of a program: `n`, and `n/m` inside it (`guard.namespace('n').namespace('m')`). */
export const NAMESPACES = ['n', 'n/m'] as const;
export type Ns = (typeof NAMESPACES)[number];

/** The namespaces a value written through `ns` is marked with, outermost first (`n/m`: `n` and `n/m`); none for the root. */
export function nsChain(ns: Ns | undefined): string[] {
  if (ns === undefined) return [];
  const names = ns.split('/');
  return names.map((_, n) => names.slice(0, n + 1).join('/'));
}

/** A key as the guard stores it: `a` through namespace `n/m` is `n:m:a` (namespace.ts). */
export function fullKey(key: string, ns: Ns | undefined): string {
  return ns === undefined ? key : `${ns.split('/').join(':')}:${key}`;
}

/**
 * The key a get, set or delete reaches in the guard's key space: its key through its namespace
 * (`ns`), or the root's call of `<under>:<key>` (a namespace's key, written without it).
 */
export function opKey(op: { key: string; ns?: Ns; under?: Ns }): string {
  return fullKey(op.key, op.ns ?? op.under);
}

/** How a computation ends: in time, by throwing, after the lock TTL, or after the compute timeout. */
export type Fate = 'ok' | 'throw' | 'slow' | 'hang';

export interface ComputePlan {
  /** How long it runs, ms (for `slow` and `hang` the fixed durations of the fleet's timings). */
  ms: number;
  fate: Fate;
  /** Stops (rejects with the signal's reason) when its signal aborts; else it runs to the end. */
  honorsSignal: boolean;
  /**
   * `ctx.setTtl(...)` just before it returns: this value's own fresh time and grace (missing: it
   * decides nothing, as every computation did before setTtl).
   */
  setTtl?: ValueTtlPlan;
  /** `ctx.skipCache()` just before it returns: the value answers its call and waiters, stored nowhere (missing: false). */
  skipCache?: boolean;
  /** `ctx.addTags(..)` just before it returns: tags its value carries beside its call's (missing: none). */
  addTags?: readonly Tag[];
}

/** What a computation decides of its value's lifetime (`ctx.setTtl`): either or both. */
export interface ValueTtlPlan {
  ttlMs?: number;
  graceMs?: number;
}

/**
 * A per-call `ttlMs`: `undefined` (the guard's valueTtlMs) almost always, sometimes an edge: 0 and
 * less give 1 ms, a fraction, more than a timer holds, Infinity.
 */
export type CallTtl = number | undefined;

/** The guard's timings, short so a program runs in about a second. */
export const TIMINGS = {
  lockTtlMs: 300,
  valueTtlMs: 400,
  graceMs: 300,
  maxWaitMs: 1500,
  computeTimeoutMs: 1000,
  failureBackoffMs: 200,
  /** A `slow` computation outlives the lock TTL (the watchdog must extend it). */
  slowMs: 380,
  /** A `hang` computation outlives the compute timeout. */
  hangMs: 1150,
  /**
   * Every Redis step's deadline (`redisTimeoutMs`) of a generated fleet: short, so that an
   * `outage` trips the breakers, above a round trip on a loaded machine and a `pause`.
   */
  redisTimeoutMs: 150,
  /** DEBUG SLEEP of a `pause`: Redis slow, under the deadline (a program written before the outage ops: 200 ms). */
  pauseMs: 100,
  /** DEBUG SLEEP of an `outage`, ms: over the deadline, so every guard that sends meanwhile opens its breaker. */
  outageMinMs: 250,
  outageMaxMs: 450,
  /**
   * What a computation may decide with `setTtl` (fast-check shrinks toward the first): a fresh
   * time shorter than a program's gaps add up to (60, 150: later reads find the value stale,
   * within a short grace or none; three in four), 1 ms (0), the guard's, and longer; a grace of
   * none, short, the guard's, and longer.
   */
  decidedTtlMs: [60, 150, 0, 400, 800],
  decidedGraceMs: [0, 100, 300, 600],
  /**
   * `softTimeoutMs`, per call (0: off for that call, whatever the guard's) and for the fleet's
   * guards: under a computation's 0..50 ms or around it, and under a slow one's.
   */
  callSoftTimeoutMs: [5, 0, 20, 100],
  fleetSoftTimeoutMs: [5, 20],
  /**
   * A short `tagRetentionMs` (one fleet in three): an invalidation's record expires within the
   * program, as long as a value's fresh time + grace (valueTtlMs + graceMs), so a value of the
   * guard's lifetime is not shortened by it and a longer one (setTtl) is.
   */
  tagRetentionMs: 700,
} as const;

/** What a program written before the outage operations meant (JSON without these fields): the library's default deadline, a 200 ms pause. */
export const LEGACY = { redisTimeoutMs: 1000, pauseMs: 200 } as const;

/**
 * A program written before setTtl, skipCache and softTimeoutMs has none of their fields: a get
 * without `softTimeoutMs` takes its guard's, a fleet without one has it off (0), a computation
 * without `setTtl` or `skipCache` decides nothing and is stored (programFromJson reads it so).
 */
export const NO_SOFT_TIMEOUT = 0;

interface Base {
  /** Started this long after the previous operation started (settled, when that one is awaited), ms. */
  readonly gapMs: number;
  /** The next operation starts only after this one settled. */
  readonly awaited: boolean;
}

export interface GetOp extends Base {
  readonly kind: 'get';
  readonly p: number;
  readonly key: Key;
  readonly strategy: Strategy;
  readonly compute: ComputePlan;
  readonly ttlMs: CallTtl;
  /** The call's `softTimeoutMs` (0: off for this call); missing: the guard's (the fleet's). */
  readonly softTimeoutMs?: number;
  /** Not an operation of a program: one key's read of the getMany at this index (the model's view of it). */
  readonly batch?: number;
  /** That getMany's computation leaves this key out. */
  readonly omitted?: boolean;
  /** The call's `tags` (missing: none). */
  readonly tags?: readonly Tag[];
  /** Made through `guard.namespace(..)` of this path (missing: the guard itself). */
  readonly ns?: Ns;
  /** The guard's own call of the namespace's key `<under>:<key>` (a value the namespace did not write). */
  readonly under?: Ns;
}
/**
 * `getManyOrCompute(keys, computeMany)`: 2-3 of the program's keys (a key may be asked twice: it
 * is asked once), one batch computation plan for whatever keys the call comes to compute (its
 * duration, fate and signal, as a get's), and per key what the computation decides of its value
 * (`setTtl(key, ..)`, `skipCache(key)`); `omit`: a key the computation leaves out of its answer
 * (rarely), which must fail alone.
 */
export interface GetManyOp extends Base {
  readonly kind: 'get-many';
  readonly p: number;
  /** As asked, duplicates included. */
  readonly keys: readonly Key[];
  /** The batch computation: `ms`, `fate`, `honorsSignal` (its setTtl and skipCache are per key, in `decide`). */
  readonly compute: ComputePlan;
  /** Per key: what the computation decides of that key's value (missing: nothing). */
  readonly decide?: Partial<Record<Key, KeyDecisions>>;
  /** A key the computation leaves out of the values it returns (missing: none). */
  readonly omit?: Key;
  readonly ttlMs: CallTtl;
  /** The call's `softTimeoutMs` (0: off for this call); missing: the guard's. */
  readonly softTimeoutMs?: number;
  /** The call's `tags` (missing: none). */
  readonly tags?: readonly Tag[];
  /** Made through `guard.namespace(..)` of this path (missing: the guard itself). */
  readonly ns?: Ns;
}
/** What a batch computation decides of one key's value (`ctx.setTtl(key, ..)`, `ctx.skipCache(key)`, `ctx.addTags(key, ..)`). */
export interface KeyDecisions {
  setTtl?: ValueTtlPlan;
  skipCache?: boolean;
  addTags?: readonly Tag[];
}

/** The keys of a getMany as the guard takes them: each once, in the order first asked. */
export function uniqueKeys(op: GetManyOp): Key[] {
  return [...new Set(op.keys)];
}

/**
 * The read of one key of a getMany, as the model sees it: a get of that key (redis-lock, the
 * batch's plan with the key's own decisions), numbered `#i.k` (k: the key's place in the answer, from 1).
 */
export function batchReadIndex(i: number, k: number): number {
  return i + (k + 1) / 10;
}
export function batchRead(i: number, op: GetManyOp, key: Key): GetOp {
  const decide = op.decide?.[key];
  return {
    kind: 'get',
    p: op.p,
    key,
    strategy: 'redis-lock',
    compute: {
      ms: op.compute.ms,
      fate: op.compute.fate,
      honorsSignal: op.compute.honorsSignal,
      ...(decide?.setTtl && { setTtl: decide.setTtl }),
      ...(decide?.skipCache && { skipCache: true }),
      ...(decide?.addTags && { addTags: decide.addTags }),
    },
    ttlMs: op.ttlMs,
    ...(op.softTimeoutMs !== undefined && { softTimeoutMs: op.softTimeoutMs }),
    ...(op.tags && { tags: op.tags }),
    ...(op.ns && { ns: op.ns }),
    gapMs: op.gapMs,
    awaited: op.awaited,
    batch: i,
    ...(op.omit === key && { omitted: true }),
  };
}

export interface SetOp extends Base {
  readonly kind: 'set';
  readonly p: number;
  readonly key: Key;
  readonly ttlMs: CallTtl;
  /** `set(.., { tags })` (missing: none). */
  readonly tags?: readonly Tag[];
  /** Through `guard.namespace(..)` of this path. */
  readonly ns?: Ns;
  /** The guard's own set of the namespace's key `<under>:<key>`: a value the namespace did not write. */
  readonly under?: Ns;
}
export interface DeleteOp extends Base {
  readonly kind: 'delete';
  readonly p: number;
  readonly key: Key;
  /** Through `guard.namespace(..)` of this path. */
  readonly ns?: Ns;
}
/** `invalidateTags(tags)`: every value carrying one of them counts as missing, in every process. */
export interface InvalidateOp extends Base {
  readonly kind: 'invalidate';
  readonly p: number;
  readonly tags: readonly Tag[];
}
/** `guard.namespace(..).clear()`: every value written through that namespace (or one inside it) counts as missing. */
export interface ClearOp extends Base {
  readonly kind: 'clear';
  readonly p: number;
  readonly ns: Ns;
}
export interface LockOp extends Base {
  readonly kind: 'lock';
  readonly p: number;
  readonly name: LockName;
  /** lock()'s waitMs: the guard's maxWaitMs, or short (a wait that ends around a hand-off). */
  readonly waitMs: number | undefined;
  /** Held this long before release(), ms; more than the lock TTL lets it expire while held. */
  readonly holdMs: number;
}
/** close() of the process's guard, and a new guard (new connection, empty L1) in its place. */
export interface ReopenOp extends Base {
  readonly kind: 'reopen';
  readonly p: number;
}
/** CLIENT KILL TYPE pubsub: every guard's pub/sub connection drops (ioredis reconnects). */
export interface KillOp extends Base {
  readonly kind: 'kill-subscribers';
}
/** DEBUG SLEEP: the whole server stops answering for `ms` (TIMINGS.pauseMs: slow, under the deadline). */
export interface PauseOp extends Base {
  readonly kind: 'pause';
  readonly ms: number;
}
/**
 * Redis unavailable: DEBUG SLEEP for `ms`, longer than the fleet's `redisTimeoutMs`, so every
 * guard with a step in flight (or a waiter, whose node the gate probes) opens its breaker; they
 * close again on a probe answered in time (every second).
 */
export interface OutageOp extends Base {
  readonly kind: 'outage';
  readonly ms: number;
}

export type Op = GetOp | GetManyOp | SetOp | DeleteOp | InvalidateOp | ClearOp | LockOp | ReopenOp | KillOp | PauseOp | OutageOp;

export interface Fleet {
  /** Which processes have `l1: { maxEntries: 100 }`. */
  readonly l1: readonly boolean[];
  readonly failurePolicy: FailurePolicy;
  /** Processes 1 and 2 are given one pub/sub connection of the test's (`subscriber` option). */
  readonly sharedSubscriber: boolean;
  /** Every guard's `redisTimeoutMs` (TIMINGS.redisTimeoutMs; LEGACY for a program written before it). */
  readonly redisTimeoutMs: number;
  /** Each process's `onRedisDown`. */
  readonly onRedisDown: readonly RedisDownPolicy[];
  /**
   * Which processes trace (`tracing`: openTelemetry() on the run's in-memory exporter); none in a
   * program written before tracing.
   */
  readonly traced: readonly boolean[];
  /** Every guard's `softTimeoutMs` (0: off, the library's default; so in a program written before it). */
  readonly softTimeoutMs: number;
  /** Every guard's `tagRetentionMs` (missing: the library's default, a day). */
  readonly tagRetentionMs?: number;
}

export interface Program {
  readonly fleet: Fleet;
  readonly ops: readonly Op[];
  readonly profile: Profile;
  /** Only computations that succeed in time, and no set, delete, close, kill, pause or outage. */
  readonly calm: boolean;
}

export function describeTtl(ttlMs: CallTtl): string {
  return ttlMs === undefined ? '' : `, ttlMs ${ttlMs}`;
}

/** `setTtl {ttlMs 60, graceMs 0}` and/or `skipCache`, as the computation calls them ('' for neither). */
export function describeDecisions(plan: ComputePlan): string {
  const ttl = plan.setTtl
    ? `, setTtl {${[
        ...(plan.setTtl.ttlMs === undefined ? [] : [`ttlMs ${plan.setTtl.ttlMs}`]),
        ...(plan.setTtl.graceMs === undefined ? [] : [`graceMs ${plan.setTtl.graceMs}`]),
      ].join(', ')}}`
    : '';
  const added = plan.addTags ? `, addTags [${plan.addTags.join(', ')}]` : '';
  return `${ttl}${plan.skipCache ? ', skipCache' : ''}${added}`;
}

/** `, tags [t1, t2]` ('' for none). */
export function describeTags(tags: readonly string[] | undefined): string {
  return tags ? `, tags [${tags.join(', ')}]` : '';
}

/** `P1.` for the guard itself, `P1.ns(n/m).` through a namespace. */
function callOn(op: { p: number; ns?: Ns }): string {
  return op.ns === undefined ? `P${op.p}.` : `P${op.p}.ns(${op.ns}).`;
}

export function describeOp(op: Op): string {
  const gap = `+${op.gapMs}ms${op.awaited ? ' await' : ''}`;
  const at = 'p' in op ? callOn(op) : '';
  switch (op.kind) {
    case 'get': {
      const { ms, fate, honorsSignal } = op.compute;
      const how = fate === 'ok' ? `${ms}ms` : fate === 'throw' ? `throws after ${ms}ms` : `${fate} ${ms}ms`;
      const soft = op.softTimeoutMs === undefined ? '' : `, softTimeoutMs ${op.softTimeoutMs}`;
      if (op.batch !== undefined)
        return `${gap} ${at}get(${op.key}) in getMany #${op.batch}${op.omitted ? ', left out' : ''}${describeDecisions(op.compute)}`;
      return `${gap} ${at}get(${fullKey(op.key, op.under)}, ${op.strategy}, compute ${how}${honorsSignal ? ', honours signal' : ''}${describeDecisions(op.compute)}${describeTtl(op.ttlMs)}${soft}${describeTags(op.tags)})`;
    }
    case 'get-many': {
      const { ms, fate, honorsSignal } = op.compute;
      const how = fate === 'ok' ? `${ms}ms` : fate === 'throw' ? `throws after ${ms}ms` : `${fate} ${ms}ms`;
      const decisions = uniqueKeys(op)
        .map((key) => ({ key, text: describeDecisions({ ms: 0, fate: 'ok', honorsSignal: false, ...op.decide?.[key] }).slice(2) }))
        .filter((d) => d.text !== '')
        .map((d) => `; ${d.key}: ${d.text}`)
        .join('');
      const omit = op.omit === undefined ? '' : `; leaves out ${op.omit}`;
      const soft = op.softTimeoutMs === undefined ? '' : `, softTimeoutMs ${op.softTimeoutMs}`;
      return `${gap} ${at}getMany([${op.keys.join(', ')}], computeMany ${how}${honorsSignal ? ', honours signal' : ''}${describeTtl(op.ttlMs)}${soft}${describeTags(op.tags)}${decisions}${omit})`;
    }
    case 'set':
      return `${gap} ${at}set(${fullKey(op.key, op.under)}${describeTtl(op.ttlMs)}${describeTags(op.tags)})`;
    case 'delete':
      return `${gap} ${at}delete(${op.key})`;
    case 'invalidate':
      return `${gap} ${at}invalidateTags([${op.tags.join(', ')}])`;
    case 'clear':
      return `${gap} ${at}clear()`;
    case 'lock':
      return `${gap} ${at}lock(${op.name}${op.waitMs === undefined ? '' : `, waitMs ${op.waitMs}`}), release after ${op.holdMs}ms`;
    case 'reopen':
      return `${gap} ${at}close(), new guard in its place`;
    case 'kill-subscribers':
      return `${gap} CLIENT KILL TYPE pubsub`;
    case 'pause':
      return `${gap} DEBUG SLEEP ${op.ms / 1000}`;
    case 'outage':
      return `${gap} outage: DEBUG SLEEP ${op.ms / 1000}`;
  }
}

export function describeFleet(fleet: Fleet): string {
  const l1 = fleet.l1.map((on, p) => `P${p}${on ? ' l1' : ''}${fleet.traced[p] ? ' traced' : ''}`).join(', ');
  const down = fleet.onRedisDown.every((p) => p === fleet.onRedisDown[0])
    ? `onRedisDown ${fleet.onRedisDown[0]}`
    : `onRedisDown ${fleet.onRedisDown.map((policy, p) => `P${p} ${policy}`).join(', ')}`;
  const soft = fleet.softTimeoutMs > 0 ? `; softTimeoutMs ${fleet.softTimeoutMs}` : '';
  const retention = fleet.tagRetentionMs === undefined ? '' : `; tagRetentionMs ${fleet.tagRetentionMs}`;
  return `fleet: ${l1}; failurePolicy ${fleet.failurePolicy}; redisTimeoutMs ${fleet.redisTimeoutMs}; ${down}${soft}${retention}${fleet.sharedSubscriber ? '; P1 and P2 share a subscriber' : ''}`;
}

export function describeProgram(program: Program): string {
  const lines = program.ops.map((op, i) => `  #${i} ${describeOp(op)}`);
  return [`${program.profile} program; ${describeFleet(program.fleet)}`, ...lines].join('\n');
}

/** fast-check prints a value through this symbol: the shrunk program reads as a listing. */
function printable<T extends object>(value: T, text: (v: T) => string): T {
  Object.defineProperty(value, fc.toStringMethod, { value: () => text(value), enumerable: false });
  return value;
}

/**
 * A program written out as JSON (a failure prints its program so; a program written by hand, or
 * one of found.ts, reads the same): run as it is with `--program FILE`, whatever the generator
 * has become since. Only its shape is checked.
 */
export function programFromJson(text: string): Program {
  const parsed = JSON.parse(text, (_key, value) => (value === 'Infinity' ? Number.POSITIVE_INFINITY : value)) as Partial<Program>;
  const kinds = ['get', 'get-many', 'set', 'delete', 'invalidate', 'clear', 'lock', 'reopen', 'kill-subscribers', 'pause', 'outage'];
  if (
    typeof parsed !== 'object' ||
    parsed === null ||
    !Array.isArray(parsed.fleet?.l1) ||
    parsed.fleet.l1.length !== PROCESSES ||
    !Array.isArray(parsed.ops) ||
    !parsed.ops.every((op) => typeof op === 'object' && op !== null && kinds.includes(op.kind) && typeof op.gapMs === 'number')
  ) {
    throw new Error('a program is {"fleet":{"l1":[b,b,b],"failurePolicy":..,"sharedSubscriber":b},"ops":[{"kind":"get",...},...]}');
  }
  // Written before the outage operations: the library's default deadline, `compute`, 200 ms pauses;
  // before tracing: no process traces; before softTimeoutMs: off.
  const fleet: Fleet = {
    ...parsed.fleet,
    redisTimeoutMs: parsed.fleet.redisTimeoutMs ?? LEGACY.redisTimeoutMs,
    onRedisDown: parsed.fleet.onRedisDown ?? Array.from({ length: PROCESSES }, () => 'compute'),
    traced: parsed.fleet.traced ?? Array.from({ length: PROCESSES }, () => false),
    softTimeoutMs: parsed.fleet.softTimeoutMs ?? NO_SOFT_TIMEOUT,
  };
  if (!Array.isArray(fleet.traced) || fleet.traced.length !== PROCESSES || !fleet.traced.every((t) => typeof t === 'boolean'))
    throw new Error(`a program's fleet.traced is [b,b,b] (or left out: no process traces), got ${JSON.stringify(fleet.traced)}`);
  if (typeof fleet.softTimeoutMs !== 'number')
    throw new Error(`a program's fleet.softTimeoutMs is a number of ms (or left out: off), got ${JSON.stringify(fleet.softTimeoutMs)}`);
  if (fleet.tagRetentionMs !== undefined && typeof fleet.tagRetentionMs !== 'number')
    throw new Error(
      `a program's fleet.tagRetentionMs is a number of ms (or left out: the library's default), got ${JSON.stringify(fleet.tagRetentionMs)}`,
    );
  const ops = parsed.ops.map((op) => (op.kind === 'pause' && typeof op.ms !== 'number' ? { ...op, ms: LEGACY.pauseMs } : op));
  const program = { profile: 'chaos' as Profile, calm: false, ...parsed, fleet, ops } as Program;
  return printable<Program>({ ...program }, describeProgram);
}

/** The program as one line of JSON, for `--program` (Infinity, which JSON lacks, as "Infinity"). */
export function programToJson(program: Program): string {
  return JSON.stringify({ fleet: program.fleet, ops: program.ops }, (_key, value) =>
    value === Number.POSITIVE_INFINITY ? 'Infinity' : value,
  );
}

// ---- arbitraries ----

const proc = fc.integer({ min: 0, max: PROCESSES - 1 });
/** Mostly two keys, so operations collide; the third now and then. */
const key = fc.oneof({ arbitrary: fc.constantFrom<Key>('a', 'b'), weight: 5 }, { arbitrary: fc.constant<Key>('c'), weight: 1 });
const gapMs = fc.oneof({ arbitrary: fc.constant(0), weight: 2 }, { arbitrary: fc.integer({ min: 1, max: 40 }), weight: 5 });
const awaited = fc.integer({ min: 1, max: 4 }).map((k) => k === 4);
/** true with probability 1/n, shrinking to false. */
const rarely = (n: number) => fc.integer({ min: 1, max: n }).map((k) => k === n);

function callTtl(x: Exclusions): fc.Arbitrary<CallTtl> {
  if (x.has('edge-ttl')) return fc.constant(undefined);
  return fc.oneof(
    { arbitrary: fc.constant(undefined), weight: 30 },
    { arbitrary: fc.constantFrom(0, -5, 250.5, 2 ** 31, Number.POSITIVE_INFINITY), weight: 1 },
  );
}

/**
 * Now and then (one computation in four; in a calm program one in two) a lifetime of its own: a
 * fresh time, a grace, or both; left out of the plan otherwise, so a program reads as before.
 * Mostly a short fresh time: a value that goes stale within the program is what a soft timeout
 * needs (calm programs check that it computes nothing twice).
 */
function decidedTtl(x: Exclusions, calm: boolean): fc.Arbitrary<ValueTtlPlan | undefined> {
  if (x.has('set-ttl')) return fc.constant(undefined);
  const [short1, short2, ...others] = TIMINGS.decidedTtlMs;
  const ttlMs = fc.oneof(
    { arbitrary: fc.constantFrom<number>(short1, short2), weight: 3 },
    { arbitrary: fc.constantFrom<number>(...others), weight: 1 },
  );
  const graceMs = fc.constantFrom(...TIMINGS.decidedGraceMs);
  return fc.oneof(
    { arbitrary: fc.constant(undefined), weight: calm ? 4 : 12 },
    { arbitrary: fc.record({ ttlMs, graceMs }), weight: 2 },
    { arbitrary: fc.record({ ttlMs }), weight: 1 },
    { arbitrary: fc.record({ graceMs }), weight: 1 },
  );
}

function computePlan(calm: boolean, x: Exclusions): fc.Arbitrary<ComputePlan> {
  const fates: [Fate, number][] = [
    ['ok', 24],
    ['throw', 4],
    ['slow', 4],
    ['hang', 1],
  ];
  const fate: fc.Arbitrary<Fate> = calm
    ? fc.constant('ok')
    : fc.oneof(...fates.filter(([f]) => f === 'ok' || !x.has(f)).map(([f, weight]) => ({ arbitrary: fc.constant(f), weight })));
  return fc
    .record({
      fate,
      ms: fc.integer({ min: 0, max: 50 }),
      honorsSignal: fc.boolean(),
      setTtl: decidedTtl(x, calm),
      // One computation in ten: its value goes to its call and waiters only.
      skipCache: x.has('skip-cache') ? fc.constant(false) : rarely(10),
      addTags: addedTags(x),
    })
    .map(({ fate, ms, honorsSignal, setTtl, skipCache, addTags }) => ({
      fate,
      ms: fate === 'slow' ? TIMINGS.slowMs : fate === 'hang' ? TIMINGS.hangMs : ms,
      honorsSignal,
      // Left out when it decides nothing: the plan (and its JSON) reads as before.
      ...(setTtl && { setTtl }),
      ...(skipCache && { skipCache }),
      ...(addTags && { addTags }),
    }));
}

/** A call's (or a set's) `tags`: one in two, one tag or both (undefined: none). */
function callTags(x: Exclusions): fc.Arbitrary<Tag[] | undefined> {
  if (x.has('tags')) return fc.constant(undefined);
  return fc.oneof(
    { arbitrary: fc.constant(undefined), weight: 3 },
    { arbitrary: fc.constantFrom<Tag[]>(['t1'], ['t2'], ['t1', 't2']), weight: 3 },
  );
}

/** What a computation adds (`ctx.addTags`): one in four, one tag (undefined: nothing). */
function addedTags(x: Exclusions): fc.Arbitrary<Tag[] | undefined> {
  if (x.has('tags')) return fc.constant(undefined);
  return fc.oneof({ arbitrary: fc.constant(undefined), weight: 3 }, { arbitrary: fc.constantFrom<Tag[]>(['t1'], ['t2']), weight: 1 });
}

/**
 * Where a call goes: the guard itself, a namespace (`ns`), or the guard's own call of a namespace's
 * key (`under`). A namespace's gets, sets and deletes are of its key `a` (a getMany's keys aside):
 * they meet each other, and the guard's own calls of it, as often as the guard's own calls meet,
 * and every key more is a first computation more, which costs a program time.
 */
type Scope = { ns?: Ns; under?: Ns };
const scoped = <O extends { key: Key }>(op: O, scope: Scope): O & Scope =>
  scope.ns === undefined && scope.under === undefined ? op : { ...op, key: 'a', ...scope };
/**
 * A computation of a namespace's key (through it or not) ends in time, or throws: the guard's own
 * keys have the watchdog and the compute timeout (slow, hang), and a program lasts at least as long
 * as its slowest computation, so these keys' first computations would cost the run its time.
 */
const inTime = (plan: ComputePlan, scope: Scope): ComputePlan =>
  (scope.ns === undefined && scope.under === undefined) || plan.fate === 'ok' || plan.fate === 'throw'
    ? plan
    : { ...plan, fate: 'ok', ms: 40 };
function scope(x: Exclusions, weights: { root: number; ns: number; under: number }): fc.Arbitrary<Scope> {
  if (x.has('namespace')) return fc.constant({});
  const path = fc.oneof({ arbitrary: fc.constant<Ns>('n'), weight: 3 }, { arbitrary: fc.constant<Ns>('n/m'), weight: 1 });
  return fc.oneof(
    { arbitrary: fc.constant({}), weight: weights.root },
    ...(weights.ns > 0 ? [{ arbitrary: path.map((ns): Scope => ({ ns })), weight: weights.ns }] : []),
    ...(weights.under > 0 ? [{ arbitrary: path.map((under): Scope => ({ under })), weight: weights.under }] : []),
  );
}

/** A call's own `softTimeoutMs`, one get in five (in a calm program one in two; undefined: the guard's). */
function callSoftTimeout(x: Exclusions, calm: boolean): fc.Arbitrary<number | undefined> {
  if (x.has('soft-timeout')) return fc.constant(undefined);
  return fc.oneof(
    { arbitrary: fc.constant(undefined), weight: calm ? 1 : 4 },
    { arbitrary: fc.constantFrom<number>(...TIMINGS.callSoftTimeoutMs), weight: 1 },
  );
}

/**
 * A calm program's strategy: `redis-lock` one get in two (what at-most-once checks, and where a
 * soft timeout applies), else any.
 */
function calmStrategy(strategies: Strategy[]): fc.Arbitrary<Strategy> {
  return fc.oneof(
    { arbitrary: fc.constant<Strategy>('redis-lock'), weight: 1 },
    { arbitrary: fc.constantFrom<Strategy>(...strategies), weight: 1 },
  );
}

function getOp(calm: boolean, x: Exclusions): fc.Arbitrary<Op> {
  const strategies = STRATEGIES.filter((s) => !x.has(s));
  return fc
    .record({
      kind: fc.constant('get' as const),
      p: proc,
      key,
      strategy:
        calm && strategies.includes('redis-lock')
          ? calmStrategy(strategies)
          : fc.constantFrom<Strategy>(...(strategies.length > 0 ? strategies : STRATEGIES)),
      compute: computePlan(calm, x),
      ttlMs: calm ? fc.constant(undefined) : callTtl(x),
      softTimeoutMs: callSoftTimeout(x, calm),
      tags: callTags(x),
      // One in six through a namespace; one in twelve the guard's own read of a namespace's key
      // (not in a calm program: a namespace's read recomputes over it, which at-most-once forbids).
      scope: scope(x, { root: 18, ns: 4, under: calm ? 0 : 2 }),
      gapMs,
      awaited,
    })
    .map(({ softTimeoutMs, tags, scope, compute, ...op }) =>
      scoped(
        {
          ...op,
          compute: inTime(compute, scope),
          // Left out when undefined: the op (and its JSON) reads as before.
          ...(softTimeoutMs !== undefined && { softTimeoutMs }),
          ...(tags && { tags }),
        },
        scope,
      ),
    );
}

/**
 * A getMany: 2-3 different keys (one in four asks the first again), one batch plan (a get's), per key now and
 * then a setTtl or skipCache of its own, one batch in twelve leaving a key out.
 */
function getManyOp(calm: boolean, x: Exclusions): fc.Arbitrary<Op> {
  const decisions = computePlan(calm, x).map(
    ({ setTtl, skipCache, addTags }): KeyDecisions => ({
      ...(setTtl && { setTtl }),
      ...(skipCache && { skipCache }),
      ...(addTags && { addTags }),
    }),
  );
  return fc
    .record({
      kind: fc.constant('get-many' as const),
      p: proc,
      keys: fc.uniqueArray(key, { minLength: 2, maxLength: 3 }),
      // One in four asks its first key again, last (asked once: answered once, in its first place).
      twice: rarely(4),
      plan: computePlan(calm, x),
      decide: fc.tuple(decisions, decisions, decisions),
      // Not in a calm program (where every computation succeeds).
      omit: calm ? fc.constant(false) : rarely(12),
      ttlMs: calm ? fc.constant(undefined) : callTtl(x),
      softTimeoutMs: callSoftTimeout(x, calm),
      tags: callTags(x),
      scope: scope(x, { root: 5, ns: 1, under: 0 }),
      gapMs,
      awaited,
    })
    .map(({ plan, decide, omit, softTimeoutMs, twice, tags, scope, ...fields }): GetManyOp => {
      const unique = fields.keys;
      const op = { ...fields, keys: twice ? [...unique, unique[0]!] : unique };
      const decided = Object.fromEntries(
        unique
          .map((k, n) => [k, decide[n]!] as const)
          .filter(([, d]) => d.setTtl !== undefined || d.skipCache === true || d.addTags !== undefined),
      ) as Partial<Record<Key, KeyDecisions>>;
      const { ms, fate } = inTime(plan, scope);
      return {
        ...op,
        compute: { ms, fate, honorsSignal: plan.honorsSignal },
        // Left out when empty: the op (and its JSON) reads short.
        ...(Object.keys(decided).length > 0 && { decide: decided }),
        // The last key asked: a batch of one key leaves nothing to answer alone.
        ...(omit && unique.length > 1 && { omit: unique.at(-1)! }),
        ...(softTimeoutMs !== undefined && { softTimeoutMs }),
        ...(tags && { tags }),
        ...(scope.ns && { ns: scope.ns }),
      };
    });
}

const lockOp: fc.Arbitrary<Op> = fc.record({
  kind: fc.constant('lock' as const),
  p: proc,
  name: fc.oneof({ arbitrary: fc.constant<LockName>('x'), weight: 3 }, { arbitrary: fc.constant<LockName>('y'), weight: 1 }),
  waitMs: fc.oneof({ arbitrary: fc.constant(undefined), weight: 2 }, { arbitrary: fc.integer({ min: 10, max: 200 }), weight: 1 }),
  holdMs: fc.oneof(
    { arbitrary: fc.integer({ min: 0, max: 60 }), weight: 6 },
    { arbitrary: fc.constant(TIMINGS.lockTtlMs + 50), weight: 1 },
  ),
  gapMs,
  awaited,
});

/**
 * The kinds of program: `chaos` (every operation and fault), `calm` (computations that succeed in
 * time, and locks: nothing that excuses a second computation, for the at-most-once check), and
 * `locks` (guard.lock under pauses, kills and closes: hand-offs around a wait's deadline).
 */
export type Profile = 'chaos' | 'calm' | 'locks';

function opArbitrary(profile: Profile, x: Exclusions): fc.Arbitrary<Op> {
  const calm = profile === 'calm';
  // Invalidations are left out of calm programs, as sets and deletes are: each makes the next read compute again.
  const weights: Record<Profile, Record<Feature & Op['kind'], number> & { kill: number }> = {
    chaos: { get: 20, 'get-many': 4, set: 4, delete: 3, invalidate: 6, clear: 3, lock: 3, reopen: 1, kill: 1, pause: 1, outage: 1 },
    calm: { get: 9, 'get-many': 3, set: 0, delete: 0, invalidate: 0, clear: 0, lock: 1, reopen: 0, kill: 0, pause: 0, outage: 0 },
    locks: { get: 2, 'get-many': 0, set: 0, delete: 0, invalidate: 0, clear: 0, lock: 12, reopen: 1, kill: 1, pause: 2, outage: 1 },
  };
  const w = weights[profile];
  const arbitraries: (fc.WeightedArbitrary<Op> & { feature: Feature })[] = [
    { feature: 'get', arbitrary: getOp(calm, x), weight: w.get },
    // Always redis-lock: left out with it too.
    { feature: 'get-many', arbitrary: getManyOp(calm, x), weight: x.has('redis-lock') ? 0 : w['get-many'] },
    {
      feature: 'set',
      arbitrary: fc
        .record({
          kind: fc.constant('set' as const),
          p: proc,
          key,
          ttlMs: callTtl(x),
          tags: callTags(x),
          // One set in four is the guard's own of a namespace's key: what a namespace's read must not take.
          scope: scope(x, { root: 5, ns: 3, under: 3 }),
          gapMs,
          awaited,
        })
        .map(({ tags, scope, ...op }) => scoped({ ...op, ...(tags && { tags }) }, scope)),
      weight: w.set,
    },
    {
      feature: 'delete',
      arbitrary: fc
        .record({ kind: fc.constant('delete' as const), p: proc, key, scope: scope(x, { root: 9, ns: 3, under: 0 }), gapMs, awaited })
        .map(({ scope, ...op }) => scoped(op, scope)),
      weight: w.delete,
    },
    {
      feature: 'invalidate',
      arbitrary: fc.record({
        kind: fc.constant('invalidate' as const),
        p: proc,
        tags: fc.oneof(
          { arbitrary: fc.constantFrom<Tag[]>(['t1'], ['t2']), weight: 2 },
          { arbitrary: fc.constant<Tag[]>(['t1', 't2']), weight: 1 },
        ),
        gapMs,
        awaited,
      }),
      // Without tags it would cover nothing.
      weight: x.has('tags') ? 0 : w.invalidate,
    },
    {
      feature: 'clear',
      arbitrary: fc.record({
        kind: fc.constant('clear' as const),
        p: proc,
        ns: fc.oneof({ arbitrary: fc.constant<Ns>('n'), weight: 2 }, { arbitrary: fc.constant<Ns>('n/m'), weight: 1 }),
        gapMs,
        awaited,
      }),
      // Without namespaces it would cover nothing.
      weight: x.has('namespace') ? 0 : w.clear,
    },
    { feature: 'lock', arbitrary: lockOp, weight: w.lock },
    {
      feature: 'reopen',
      arbitrary: fc.record({ kind: fc.constant('reopen' as const), p: proc, gapMs, awaited: fc.constant(false) }),
      weight: w.reopen,
    },
    {
      feature: 'kill',
      arbitrary: fc.record({ kind: fc.constant('kill-subscribers' as const), gapMs, awaited: fc.constant(false) }),
      weight: w.kill,
    },
    {
      feature: 'pause',
      arbitrary: fc.record({ kind: fc.constant('pause' as const), ms: fc.constant(TIMINGS.pauseMs), gapMs, awaited: fc.constant(false) }),
      weight: w.pause,
    },
    {
      feature: 'outage',
      arbitrary: fc.record({
        kind: fc.constant('outage' as const),
        // Whole tens of ms: shrinks toward the shortest outage.
        ms: fc.integer({ min: TIMINGS.outageMinMs / 10, max: TIMINGS.outageMaxMs / 10 }).map((t) => t * 10),
        gapMs,
        awaited: fc.constant(false),
      }),
      weight: w.outage,
    },
  ];
  const possible = arbitraries.filter((a) => a.weight > 0);
  const left = possible.filter((a) => !x.has(a.feature));
  return fc.oneof(...(left.length > 0 ? left : possible));
}

/**
 * What a program may leave out (`--exclude`, MODEL_EXCLUDE): an operation (`get`, `get-many`, `set`, `delete`,
 * `lock`, `reopen`, `kill`, `pause`, `outage`), a computation's fate (`throw`, `slow`, `hang`), a strategy,
 * the edge per-call TTLs (`edge-ttl`), the L1 tier (`l1`), the shared subscriber (`shared-subscriber`),
 * `onRedisDown: 'error'` (`down-error`: every guard `compute`), tracing (`tracing`: no process traces),
 * a computation's own lifetime (`set-ttl`), `skipCache` (`skip-cache`), soft timeouts (`soft-timeout`:
 * none per call, none for the fleet), tags on calls, sets and computations (`tags`; with it, no
 * `invalidate` either), `invalidateTags` (`invalidate`), namespaces (`namespace`: no call through one,
 * none of a namespace's keys by the guard itself; with it, no `clear`), a namespace's `clear()`
 * (`clear`), the short `tagRetentionMs` (`tag-retention`).
 * To look past a defect already found, or to run faster.
 */
export const FEATURES = [
  'get',
  'get-many',
  'set',
  'delete',
  'invalidate',
  'clear',
  'lock',
  'reopen',
  'kill',
  'pause',
  'outage',
  'throw',
  'slow',
  'hang',
  'edge-ttl',
  'l1',
  'shared-subscriber',
  'down-error',
  'tracing',
  'set-ttl',
  'skip-cache',
  'soft-timeout',
  'tags',
  'namespace',
  'tag-retention',
  ...STRATEGIES,
] as const;
export type Feature = (typeof FEATURES)[number];
export type Exclusions = ReadonlySet<Feature>;

export function parseExclusions(list: string): Exclusions {
  const names = list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const name of names) {
    if (!(FEATURES as readonly string[]).includes(name))
      throw new Error(`unknown feature "${name}" to exclude (one of ${FEATURES.join(', ')})`);
  }
  return new Set(names as Feature[]);
}

export interface ProgramOptions {
  exclude: Exclusions;
  maxOps: number;
}

/** `onRedisDown`: one policy for the fleet (three programs in four), or one per process. */
const policy = fc.constantFrom<RedisDownPolicy>('compute', 'error');
const onRedisDown: fc.Arbitrary<RedisDownPolicy[]> = fc.oneof(
  { arbitrary: policy.map((p) => [p, p, p]), weight: 3 },
  { arbitrary: fc.tuple(policy, policy, policy), weight: 1 },
);

/** A random program: three in five `chaos`, one `calm`, one `locks`. */
export function programArbitrary({ exclude, maxOps }: ProgramOptions): fc.Arbitrary<Program> {
  const l1 = exclude.has('l1') ? fc.constant(false) : fc.boolean();
  const traced = exclude.has('tracing') ? fc.constant(false) : fc.boolean();
  const fleet = (profile: Profile): fc.Arbitrary<Fleet> =>
    fc
      .record({
        l1: fc.tuple(l1, l1, l1),
        failurePolicy: fc.constantFrom<FailurePolicy>('stale', 'error', 'retry'),
        sharedSubscriber: exclude.has('shared-subscriber') ? fc.constant(false) : rarely(5),
        redisTimeoutMs: fc.constant(TIMINGS.redisTimeoutMs),
        onRedisDown: exclude.has('down-error') ? fc.constant(['compute', 'compute', 'compute'] as RedisDownPolicy[]) : onRedisDown,
        traced: fc.tuple(traced, traced, traced),
        // One fleet in three (a calm program's one in two) gives its guards a soft timeout.
        softTimeoutMs: exclude.has('soft-timeout')
          ? fc.constant(NO_SOFT_TIMEOUT)
          : fc.oneof(
              { arbitrary: fc.constant(NO_SOFT_TIMEOUT), weight: profile === 'calm' ? 1 : 2 },
              { arbitrary: fc.constantFrom<number>(...TIMINGS.fleetSoftTimeoutMs), weight: 1 },
            ),
        // One fleet in three: invalidations' records expire within the program.
        tagRetentionMs: exclude.has('tag-retention')
          ? fc.constant(undefined)
          : fc.oneof(
              { arbitrary: fc.constant(undefined), weight: 2 },
              { arbitrary: fc.constant<number>(TIMINGS.tagRetentionMs), weight: 1 },
            ),
      })
      .map(({ tagRetentionMs, ...fleet }): Fleet => ({ ...fleet, ...(tagRetentionMs !== undefined && { tagRetentionMs }) }));
  const program = (profile: Profile) =>
    fc
      .record({ fleet: fleet(profile), ops: fc.array(opArbitrary(profile, exclude), { minLength: 1, maxLength: maxOps, size: 'max' }) })
      .map(({ fleet, ops }) => printable<Program>({ fleet, ops, profile, calm: profile === 'calm' }, describeProgram));
  return fc.oneof(
    { arbitrary: program('chaos'), weight: 3 },
    { arbitrary: program('calm'), weight: 1 },
    { arbitrary: program('locks'), weight: 1 },
  );
}
