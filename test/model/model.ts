/**
 * The model: what a run of a program recorded (its history), and the invariants checked on it.
 *
 * Time is the test process's clock (performance.now()). Every interval is taken so that it
 * contains what it stands for: a call's start is taken before the call is made and its end after
 * it settled; a computation's start after the read that made it compute, its finish before its
 * write; a write's `stored` time after the write's reply. An invariant compares two things only
 * when their intervals say which came first; overlapping ones may be ordered either way.
 *
 * Versions. Every value is a number unique in the program (a counter): a set's, or one computation's
 * result. A value is "older" than a later piece of knowledge K (a set or delete that resolved, or
 * a value some call returned) when:
 * - a set's value X: X resolved before K started (K a set or delete), or before the call that
 *   computed K's value started (that computation read after X was stored);
 * - a computed value x: x's computation started before K (a set or delete) started (x was computed
 *   from data older than K, so it may not win over K: `set` and `delete` fence out every holder
 *   computing at that moment, and no write may bring back what a delete removed), or x's write
 *   was answered before K's value (computed) finished computing (K's write came after it).
 */
import type { ValueSource } from '../../src/cache/strategy.js';
import { SPAN } from '../../src/telemetry/tracing.js';
import { checkInvalidations, isMarked, valueMarks } from './invalidation.js';
import {
  describeDecisions,
  describeOp,
  describeTags,
  type GetManyOp,
  type GetOp,
  type Op,
  opKey,
  type Program,
  TIMINGS,
  uniqueKeys,
  type ValueTtlPlan,
} from './operations.js';

export interface ProcessInfo {
  /** P0..P2, with a ' for each close-and-replace: P1' is P1's second guard. */
  readonly label: string;
  readonly index: number;
  readonly gen: number;
  readonly l1: boolean;
  /** Its guard traces (`tracing`): its spans are in the history's `spans`. */
  readonly traced: boolean;
}

export interface ErrorInfo {
  readonly name: string;
  readonly code: string | undefined;
  readonly message: string;
  /** ModelComputeError: the key whose computation threw. */
  readonly key?: string;
}

export interface CallRecord {
  readonly i: number;
  readonly op: Op;
  /** The guard the operation ran on (none for kill and pause). */
  readonly proc: ProcessInfo | null;
  readonly start: number;
  /** When the operation settled (for a lock: after its release). */
  end?: number;
  value?: number;
  source?: ValueSource;
  error?: ErrorInfo;
  /** get: it joined another call's flight (its `flight.joined` event). */
  flightJoined?: boolean;
  /** get: when its own first claim found a stale value and it went on to fill (`cache.miss` with `stale`). */
  staleMissAt?: number;
  /** get: it was answered with the stale value at its soft timeout (`stale.served`, reason `soft-timeout`). */
  softTimedOut?: boolean;
  /** set: the value it stored. */
  setValue?: number;
  /** getMany: the keys of its answer (a Map), in its order. */
  answerKeys?: string[];
  /** lock: when lock() settled, the fence, when release() was called and answered, and its answer. */
  acquireEnd?: number;
  acquired?: boolean;
  fence?: number;
  releaseStart?: number;
  releaseEnd?: number;
  releasedOk?: boolean;
}

export interface ComputeRecord {
  readonly id: number;
  /** The operation whose computation it is (a background refresh's too). */
  readonly i: number;
  readonly key: string;
  readonly proc: ProcessInfo;
  readonly strategy: string;
  /** The fence its recompute.start event carried (0: an unfenced write). */
  fence: number | undefined;
  /** Its recompute.start said `degraded: true`: computed while its process found Redis unavailable (onRedisDown compute). */
  degraded: boolean;
  /** A key of a batch computation (computeMany): that call's `n` in the history's `batches`. */
  readonly batch?: number;
  /** That batch computation left this key out of its values (the record stands for a failed computation). */
  readonly omitted?: boolean;
  readonly start: number;
  finish?: number;
  threw?: boolean;
  /** From its cache.write / cache.write.rejected event; unknown when neither came. */
  stored?: 'yes' | 'no';
  storedAt?: number;
  /**
   * The span active when the computation was called (OpenTelemetry's active context), its id and
   * name: a traced process's computation runs in its `compute` span; null: no span was active.
   */
  span?: { readonly spanId: string; readonly name: string } | null;
  /** It called `setTtl` with this (its plan's), as it returned. */
  readonly decided?: ValueTtlPlan;
  /** It called `skipCache()` as it returned (its plan's): its value is stored nowhere. */
  readonly skipped?: boolean;
  /** Its holder's `lock.released` (or `lock.lost`) after it finished: no waiter gets its value later. */
  releasedAt?: number;
}

/** One call of a getMany's computeMany (its keys each have a ComputeRecord, their values their own). */
export interface BatchRecord {
  /** Its place in the history's `batches`. */
  readonly n: number;
  /** The getMany operation. */
  readonly i: number;
  readonly proc: ProcessInfo;
  /** The keys it was asked for, as given. */
  readonly keys: readonly string[];
  readonly start: number;
  finish?: number;
  threw?: boolean;
  /** The span active when it was called (as a ComputeRecord's). */
  span?: { readonly spanId: string; readonly name: string } | null;
}

/** The spans of the guards' calls (a getOrCompute, getManyOrCompute, set, delete or lock span). */
export const CALL_SPANS: ReadonlySet<string> = new Set([
  SPAN.getOrCompute,
  SPAN.getManyOrCompute,
  SPAN.set,
  SPAN.delete,
  SPAN.lock,
  SPAN.invalidate,
]);

/**
 * A span a traced guard started, from the runner's Tracing wrapper (which counts its end() calls),
 * completed from the in-memory exporter once it ended (parent, links, attributes, status).
 */
export interface SpanRecord {
  readonly proc: ProcessInfo;
  readonly name: string;
  readonly spanId: string;
  readonly traceId: string;
  /** A call span started by an operation of the program: that operation (synchronously in the call). */
  readonly op: number | undefined;
  /** The span the library asked it to be a child of (`parent`), or linked to (`links`), when it started it. */
  readonly startedUnder: string | undefined;
  readonly start: number;
  /** How many times end() was called, and when first, by the time the runner read the spans. */
  ends: number;
  end?: number;
  /** end() calls after the runner read the spans (every call, computation and guard had settled). */
  lateEnds: number;
  /** From the exporter: the span it is a child of (undefined: a root). */
  parent?: string | undefined;
  links?: readonly { readonly spanId: string; readonly traceId: string }[];
  attributes?: Readonly<Record<string, unknown>>;
  /** Its status is ERROR. */
  failed?: boolean;
  /** The exporter got it (it ended). */
  exported?: boolean;
}

export interface EventRecord {
  readonly t: number;
  readonly i: number;
  readonly event: string;
  readonly key: string | undefined;
  readonly strategy: string | undefined;
  readonly fields: Readonly<Record<string, unknown>>;
}

export interface Sample {
  readonly t: number;
  readonly key: string;
  /** PTTL: -1 means the key has no TTL, -2 that it is gone. */
  readonly pttl: number;
  /** HGET fence, for value hashes. */
  readonly fence: number | null;
  /** The value of the stored envelope (HGET envelope), for value hashes that hold one. */
  readonly value: number | null;
}

/** A transition of a guard's circuit breaker (its `redis.unavailable` / `redis.available`, from its logger). */
export interface BreakerRecord {
  readonly proc: ProcessInfo;
  readonly t: number;
  readonly up: boolean;
}

export interface CloseRecord {
  readonly proc: ProcessInfo;
  readonly start: number;
  end?: number;
  /** The operation that closed it (undefined: the program's final close). */
  readonly i: number | undefined;
}

export interface History {
  readonly program: Program;
  readonly calls: CallRecord[];
  readonly computes: ComputeRecord[];
  readonly events: EventRecord[];
  readonly samples: Sample[];
  readonly closes: CloseRecord[];
  /** [start, end, ms asked] of each DEBUG SLEEP (a pause's or an outage's). */
  readonly pauses: [number, number, number][];
  /** Every guard's breaker transitions, in order. */
  readonly breakers: BreakerRecord[];
  /**
   * The calls from this index on are the recovery round (the runner's, after a program whose
   * guards saw Redis unavailable, once every breaker closed): each process reads each key with
   * redis-lock at once.
   */
  recoveryFrom: number;
  /** Guards whose breaker did not close after the program (`recovers`). */
  readonly unrecovered: string[];
  /** Found by the runner after everything closed: connections, pending resources, late E_CLOSED. */
  readonly leaks: string[];
  /** The longest the test process's event loop was late while the program ran, ms (added to the tight bounds). */
  maxLagMs: number;
  /** Every span the traced guards started, read once every call, computation and guard settled. */
  readonly spans: SpanRecord[];
  /**
   * Each getMany's reads of its keys, one per key asked (a get of that key in the model's eyes,
   * numbered `#i.k`: `batchRead` in operations.ts), with its answer; the model adds them to `calls`.
   */
  readonly reads: CallRecord[];
  /** Every call of a getMany's computeMany. */
  readonly batches: BatchRecord[];
}

/**
 * The history as the invariants read it: each getMany's reads among the calls (every invariant of
 * a get holds for each key of a batch), ordered by index, and each traced getMany's per-key
 * getOrCompute spans given to its reads (they start in the order of the keys, in the call).
 */
export function withBatchReads(history: History): History {
  const reads = history.reads ?? [];
  if (reads.length === 0 || history.calls.includes(reads[0]!)) return history;
  const calls = [...history.calls, ...reads].sort((a, b) => a.i - b.i);
  const batchOps = new Set(history.calls.filter((c) => c.op.kind === 'get-many').map((c) => c.i));
  const seen = new Map<number, number>();
  const spans = [...history.spans]
    .sort((a, b) => a.start - b.start)
    .map((s) => {
      if (s.name !== SPAN.getOrCompute || s.op === undefined || !batchOps.has(s.op)) return s;
      const k = seen.get(s.op) ?? 0;
      seen.set(s.op, k + 1);
      const read = reads.filter((r) => (r.op as GetOp).batch === s.op)[k];
      return read ? { ...s, op: read.i } : s;
    });
  return { ...history, calls, spans };
}

/** The reads of the getMany at `i`. */
function readsOfBatch(h: History, i: number): CallRecord[] {
  return h.calls.filter((c) => c.op.kind === 'get' && c.op.batch === i);
}

export interface CheckOptions {
  /**
   * Mixed fleets: a guard without `l1` never announces its writes on the L1 bus, so a process with
   * an L1 tier keeps a replaced value until its fresh time ends. Strict: hold them to the bus
   * bound anyway (reports this); lenient (default): allow them the value's fresh time.
   */
  strictMixedL1: boolean;
}

/** Generous bounds, in ms. */
export const BOUNDS = {
  /** A write elsewhere reaches another process's L1 tier within this (one bus delivery). */
  busMs: 200,
  /** Slack on every settle bound. */
  slackMs: 2000,
  /**
   * A call still running when its guard's close() resolved settles within this after it: a round
   * trip or two on a loaded machine, less than the lock TTL a waiter would otherwise sit out.
   */
  afterCloseMs: 250,
  /** Per DEBUG SLEEP overlapping an interval: the pause's own length and this margin. */
  perPauseMs: 100,
} as const;

/** The code of the error a model computation throws (`fate: 'throw'`). */
export const MODEL_ERROR_CODE = 'E_MODEL_COMPUTE';

const LIBRARY_GET_ERRORS = new Set(['E_COMPUTE', 'E_COMPUTE_TIMEOUT', 'E_WAIT_TIMEOUT', 'E_CLOSED', 'E_LOCK_LOST', MODEL_ERROR_CODE]);
const UNAVAILABLE = 'E_REDIS_UNAVAILABLE';

/**
 * The calls that found Redis unavailable: their own events include `cache.degraded` (a call that
 * joined another's flight reports none of its own).
 */
function degradedCalls(h: History): Set<number> {
  return new Set(h.events.filter((e) => e.event === 'cache.degraded').map((e) => e.i));
}

/** Whether `proc`'s breaker opened at or before `t` (set, delete and lock may then reject with E_REDIS_UNAVAILABLE). */
function brokeBy(h: History, proc: ProcessInfo | null, t: number): boolean {
  return h.breakers.some((b) => b.proc === proc && !b.up && b.t <= t);
}

/** A call's ttlMs the guard may refuse (E_OPTIONS): not finite, or more than a timer holds. */
function refusableTtl(ttlMs: number | undefined): boolean {
  return ttlMs !== undefined && (!Number.isFinite(ttlMs) || ttlMs > 2 ** 31 - 1);
}

type Version =
  | { kind: 'set'; id: number; a: number; b: number; writer: ProcessInfo }
  | { kind: 'delete'; a: number; b: number; writer: ProcessInfo }
  | { kind: 'computed'; id: number; opStart: number; cs: number; cf: number; hi: number; writer: ProcessInfo; strategy: string };

interface Knowledge {
  key: string;
  /** When and where it became known. */
  t: number;
  proc: ProcessInfo;
  version: Version;
  what: string;
}

export function checkHistory(raw: History, options: CheckOptions): string[] {
  const history = withBatchReads(raw);
  const v = new Violations(history);
  const pauseAllowance = (from: number, to: number) =>
    history.pauses.filter(([s, e, ms]) => s <= to && e >= from - ms).reduce((sum, [, , ms]) => sum + ms + BOUNDS.perPauseMs, 0);

  checkSettled(history, v, pauseAllowance);
  checkErrors(history, v);
  checkValues(history, v, options, pauseAllowance);
  checkKeysExpire(history, v);
  checkFences(history, v);
  checkAtMostOnce(history, v);
  checkLocks(history, v, pauseAllowance);
  checkOutage(history, v);
  checkLifetimes(history, v, pauseAllowance);
  checkSoftTimeout(history, v, pauseAllowance);
  checkTracing(history, v);
  checkBatches(history, v);
  checkInvalidations(history, {
    add: (invariant, text) => v.add(invariant, text),
    call: (c) => v.call(c),
    at: (t) => v.at(t),
    pauseAllowance,
    degraded: degradedCalls(history),
    busMs: BOUNDS.busMs,
  });
  for (const leak of history.leaks) v.add('leak', leak);
  return v.list;
}

class Violations {
  readonly list: string[] = [];
  constructor(private readonly history: History) {}
  add(invariant: string, text: string): void {
    this.list.push(`[${invariant}] ${text}`);
  }
  call(c: CallRecord): string {
    return `#${c.i} ${c.proc ? `(${c.proc.label}) ` : ''}${describeOp(c.op).replace(/^\+\d+ms( await)? /, '')}`;
  }
  at(t: number): string {
    const origin = this.history.calls[0]?.start ?? 0;
    return `${Math.round(t - origin)}ms`;
  }
}

/** The calls as they ran: when each started and settled (ms from the first), and how. */
export function describeTimeline(raw: History, withEvents = false): string {
  const h = withBatchReads(raw);
  const origin = h.calls[0]?.start ?? 0;
  const ms = (t: number | undefined) => (t === undefined ? '?' : String(Math.round(t - origin)));
  const degraded = degradedCalls(h);
  const marksOf = valueMarks(h);
  /** `, tags [t1], namespace n/m` of a value ('' for none). */
  const marked = (id: number) => {
    const m = marksOf(id);
    return `${describeTags(m && m.tags.length > 0 ? m.tags : undefined)}${m && m.ns.length > 0 ? `, namespace ${m.ns.at(-1)}` : ''}`;
  };
  const lines = h.calls.map((c) => {
    const outcome = c.error
      ? `rejected ${c.error.code ?? c.error.name}`
      : c.value !== undefined
        ? `${c.value} (${c.source}${c.flightJoined ? ', joined a flight' : ''})`
        : c.answerKeys
          ? `answered [${c.answerKeys.join(', ')}]`
          : c.acquired
            ? `fence ${c.fence}, held ${ms(c.acquireEnd)}..${ms(c.releaseStart)}, release ${c.releasedOk}`
            : c.setValue !== undefined
              ? `stored ${c.setValue}`
              : c.end === undefined
                ? 'never settled'
                : 'done';
    const marks = `${degraded.has(c.i) ? ' [cache.degraded]' : ''}${c.softTimedOut ? ' [soft timeout]' : ''}${c.i >= h.recoveryFrom ? ' [recovery round]' : ''}`;
    return `  #${c.i} ${ms(c.start)}..${ms(c.end)} ms ${c.proc?.label ?? ''} ${c.op.kind}: ${outcome}${marks}`;
  });
  const computes = h.computes.map(
    (c) =>
      `  value ${c.id}${marked(c.id)}: #${c.i} ${c.proc.label} ${c.strategy} fence ${c.fence}${c.degraded ? ' degraded' : ''}${c.batch === undefined ? '' : ` (computeMany ${c.batch})`} computed ${ms(c.start)}..${ms(c.finish)} ms${c.omitted ? ' left out' : c.threw ? ' threw' : ''}${describeDecisions({ ms: 0, fate: 'ok', honorsSignal: false, ...(c.decided && { setTtl: c.decided }), ...(c.skipped && { skipCache: true }) })}, stored: ${c.stored ?? 'unknown'}${c.storedAt === undefined ? '' : ` at ${ms(c.storedAt)}`}${c.releasedAt === undefined ? '' : `, lock given back at ${ms(c.releasedAt)}`}${c.span ? `, in span ${c.span.spanId}` : ''}`,
  );
  const batches = (h.batches ?? []).map(
    (b) =>
      `  computeMany ${b.n} of #${b.i} ${b.proc.label}: [${b.keys.join(', ')}] ${ms(b.start)}..${ms(b.finish)} ms${b.threw ? ' threw' : ''}${b.span ? `, in span ${b.span.spanId}` : ''}`,
  );
  const closes = h.closes.map((c) => `  close() of ${c.proc.label}: ${ms(c.start)}..${ms(c.end)} ms`);
  const pauses = h.pauses.map(([start, end, asked]) => `  DEBUG SLEEP ${asked} ms: ${ms(start)}..${ms(end)} ms`);
  const breakers = h.breakers.map((b) => `  ${b.proc.label}'s breaker ${b.up ? 'closed' : 'opened'} at ${ms(b.t)} ms`);
  const spans = h.spans.map(
    (s) =>
      `  span ${s.spanId} ${s.proc.label} ${s.name.replace('cache-stampede ', '')}${s.op === undefined ? '' : ` #${s.op}`} ${ms(s.start)}..${ms(s.end)} ms` +
      `${s.ends > 1 ? ` (ended ${s.ends} times)` : ''}${s.parent ? `, parent ${s.parent}` : ''}${s.links && s.links.length > 0 ? `, links ${s.links.map((l) => l.spanId).join(' ')}` : ''}${s.failed ? ', failed' : ''}`,
  );
  const events = withEvents ? h.events.map((e) => `  ${ms(e.t)} #${e.i} ${e.event} ${e.key ?? ''} ${JSON.stringify(e.fields)}`) : [];
  return [
    'calls:',
    ...lines,
    'computations:',
    ...computes,
    ...batches,
    ...closes,
    ...pauses,
    ...breakers,
    ...(spans.length > 0 ? ['spans:', ...spans] : []),
    `  the test process's event loop was up to ${Math.round(h.maxLagMs)} ms late`,
    ...(withEvents ? ['events:', ...events] : []),
  ].join('\n');
}

// ---- every call settles ----

function settleBound(op: Op): number {
  switch (op.kind) {
    case 'get':
    case 'get-many':
      return TIMINGS.maxWaitMs + TIMINGS.computeTimeoutMs + BOUNDS.slackMs;
    case 'lock':
      return (op.waitMs ?? TIMINGS.maxWaitMs) + op.holdMs + BOUNDS.slackMs;
    case 'reopen':
      return TIMINGS.computeTimeoutMs + BOUNDS.slackMs;
    case 'pause':
      return TIMINGS.pauseMs + BOUNDS.slackMs;
    default:
      return BOUNDS.slackMs;
  }
}

/** A call that found Redis unavailable may pay the deadline once, and then its computation. */
function degradedAllowance(h: History): number {
  return h.program.fleet.redisTimeoutMs + TIMINGS.computeTimeoutMs;
}

/**
 * How long the runner waits for an awaited operation (or for all of them): its bound, every pause
 * and outage of the program (`pauseBudgetMs`), and for a read, the outage's allowance in case it
 * finds Redis unavailable (model.ts checks the precise bound).
 */
export function settleDeadline(op: Op, start: number, pauseBudgetMs: number, redisTimeoutMs: number): number {
  return (
    start + settleBound(op) + pauseBudgetMs + (op.kind === 'get' || op.kind === 'get-many' ? redisTimeoutMs + TIMINGS.computeTimeoutMs : 0)
  );
}

function checkSettled(h: History, v: Violations, pauseAllowance: (from: number, to: number) => number): void {
  const lastT = Math.max(...h.calls.map((c) => c.end ?? c.start), ...h.closes.map((c) => c.end ?? c.start));
  const degraded = degradedCalls(h);
  for (const c of h.calls) {
    const bound = settleBound(c.op) + pauseAllowance(c.start, c.end ?? lastT) + (degraded.has(c.i) ? degradedAllowance(h) : 0);
    if (c.end === undefined) v.add('settles', `${v.call(c)} started at ${v.at(c.start)} never settled (bound ${bound} ms)`);
    else if (c.end - c.start > bound) v.add('settles', `${v.call(c)} took ${Math.round(c.end - c.start)} ms to settle (bound ${bound} ms)`);
  }
  for (const close of h.closes) {
    const bound = settleBound({ kind: 'reopen', p: 0, gapMs: 0, awaited: false }) + pauseAllowance(close.start, close.end ?? lastT);
    const what = close.i === undefined ? `the final close() of ${close.proc.label}` : `close() of ${close.proc.label} (#${close.i})`;
    if (close.end === undefined) v.add('settles', `${what} never resolved`);
    else if (close.end - close.start > bound)
      v.add('settles', `${what} took ${Math.round(close.end - close.start)} ms (bound ${bound} ms)`);
    if (close.end === undefined) continue;
    // Calls of that guard still running when close() resolved end promptly (a lock: its wait).
    for (const c of h.calls) {
      if (c.proc !== close.proc || c.start > close.end) continue;
      const settledAt = c.op.kind === 'lock' ? c.acquireEnd : c.end;
      const limit = Math.round(BOUNDS.afterCloseMs + pauseAllowance(close.end, settledAt ?? lastT) + h.maxLagMs);
      if (settledAt === undefined || settledAt > close.end + limit) {
        const late = settledAt === undefined ? 'never settled' : `settled ${Math.round(settledAt - close.end)} ms after`;
        v.add(
          'close-ends-calls',
          `${v.call(c)} was still running when ${what} resolved at ${v.at(close.end)}; it ${late}` +
            `${c.error ? ` (${c.error.code ?? c.error.name})` : c.value !== undefined ? ` (value ${c.value}, ${c.source})` : ''}; bound ${limit} ms`,
        );
      }
    }
  }
}

// ---- errors are the library's ----

function checkErrors(h: History, v: Violations): void {
  const degraded = degradedCalls(h);
  for (const c of h.calls) {
    const e = c.error;
    if (!e) continue;
    const code = e.code ?? '';
    // E_REDIS_UNAVAILABLE: a read only under onRedisDown 'error' and after finding Redis unavailable
    // (cache.degraded); set, delete and lock (its wait or its release) whatever the policy, once
    // their guard's breaker opened.
    const unavailable = code === UNAVAILABLE && brokeBy(h, c.proc, c.end!);
    let allowed: boolean;
    switch (c.op.kind) {
      case 'get':
        allowed =
          // A batch computation's error names its keys.
          (LIBRARY_GET_ERRORS.has(code) && (code !== MODEL_ERROR_CODE || (e.key?.split(',') ?? []).includes(opKey(c.op)))) ||
          (code === 'E_OPTIONS' && refusableTtl(c.op.ttlMs)) ||
          (code === UNAVAILABLE && degraded.has(c.i) && h.program.fleet.onRedisDown[c.proc!.index] === 'error');
        break;
      case 'get-many':
        // The call itself (each key fails alone, in its read): refused before it began.
        allowed = code === 'E_CLOSED' || (code === 'E_OPTIONS' && refusableTtl(c.op.ttlMs));
        break;
      case 'set':
        allowed = code === 'E_CLOSED' || (code === 'E_OPTIONS' && refusableTtl(c.op.ttlMs)) || unavailable;
        break;
      case 'delete':
      case 'invalidate':
      case 'clear':
        allowed = code === 'E_CLOSED' || unavailable;
        break;
      case 'lock':
        allowed = ((code === 'E_WAIT_TIMEOUT' || code === 'E_CLOSED') && c.acquired !== true) || unavailable;
        break;
      default:
        allowed = false;
    }
    if (!allowed) v.add('library-errors', `${v.call(c)} rejected with ${e.name}${e.code ? ` (${e.code})` : ''}: ${e.message}`);
  }
}

// ---- read-your-writes, no going back ----

function checkValues(h: History, v: Violations, options: CheckOptions, pauseAllowance: (from: number, to: number) => number): void {
  const computeOf = new Map(h.computes.map((c) => [c.id, c]));
  const setOf = new Map(h.calls.filter((c) => c.setValue !== undefined).map((c) => [c.setValue!, c]));
  const callOf = new Map(h.calls.map((c) => [c.i, c]));
  const horizon = Number.POSITIVE_INFINITY;
  const degraded = degradedCalls(h);

  /** The version of a value as stored; null when it was never stored. */
  const versionOf = (id: number): Version | null => {
    const set = setOf.get(id);
    // A set that rejected (E_REDIS_UNAVAILABLE: its step had no answer in time) may still take
    // effect when Redis answers again, in any order with what other processes send then.
    if (set)
      return { kind: 'set', id, a: set.start, b: set.error?.code === UNAVAILABLE ? horizon : (set.end ?? horizon), writer: set.proc! };
    const comp = computeOf.get(id);
    // A computation made while its process found Redis unavailable is written nowhere (checkOutage
    // checks that Redis never holds one).
    // Nor is one whose computation skipped the cache (checkLifetimes: Redis never holds it).
    if (!comp || comp.stored === 'no' || comp.degraded || comp.skipped) return null;
    return {
      kind: 'computed',
      id,
      opStart: callOf.get(comp.i)!.start,
      cs: comp.start,
      cf: comp.finish ?? horizon,
      hi: comp.storedAt ?? horizon,
      writer: comp.proc,
      strategy: comp.strategy,
    };
  };

  const knowledge: Knowledge[] = [];
  for (const c of h.calls) {
    if (c.end === undefined || c.error || !c.proc) continue;
    // What a call answered while its process found Redis unavailable is that process's own copy
    // (or its own outage computation), not something the fleet knew: not knowledge.
    if (degraded.has(c.i)) continue;
    if (c.op.kind === 'set')
      knowledge.push({
        key: opKey(c.op),
        t: c.end,
        proc: c.proc,
        version: { kind: 'set', id: c.setValue!, a: c.start, b: c.end, writer: c.proc },
        what: `${v.call(c)} (value ${c.setValue}) resolved at ${v.at(c.end)}`,
      });
    if (c.op.kind === 'delete')
      knowledge.push({
        key: opKey(c.op),
        t: c.end,
        proc: c.proc,
        version: { kind: 'delete', a: c.start, b: c.end, writer: c.proc },
        what: `${v.call(c)} resolved at ${v.at(c.end)}`,
      });
    if (c.op.kind === 'get' && c.value !== undefined) {
      const version = versionOf(c.value);
      if (version)
        knowledge.push({
          key: opKey(c.op),
          t: c.end,
          proc: c.proc,
          version,
          what: `${v.call(c)} returned ${c.value} (${c.source}) at ${v.at(c.end)}`,
        });
    }
  }

  // A computation that went on after its call was answered stale at its soft timeout: once its
  // write was answered, the fleet knows its value (no lost write: later reads get it or newer).
  for (const comp of h.computes) {
    const c = callOf.get(comp.i);
    if (!c?.softTimedOut || comp.stored !== 'yes' || comp.storedAt === undefined || comp.start < c.start) continue;
    const version = versionOf(comp.id);
    if (version)
      knowledge.push({
        key: comp.key,
        t: comp.storedAt,
        proc: comp.proc,
        version,
        what: `value ${comp.id}, computed by ${v.call(c)} after it was answered stale at its soft timeout, was stored at ${v.at(comp.storedAt)}`,
      });
  }

  const older = (x: Version, k: Version): boolean => {
    if (x.kind === 'delete') return false;
    if (k.kind !== 'delete' && k.id === x.id) return false;
    if (x.kind === 'set') return k.kind === 'computed' ? x.b < k.opStart : x.b < k.a;
    return k.kind === 'computed' ? x.hi < k.cf : x.cs < k.a;
  };

  /** How long after K the read R must see it. */
  const bound = (k: Knowledge, reader: ProcessInfo, from: number, to: number): number => {
    const pauses = pauseAllowance(from, to);
    if (reader.l1 && !k.version.writer.l1 && k.version.writer !== reader && !options.strictMixedL1)
      return TIMINGS.valueTtlMs + 100 + pauses + h.maxLagMs;
    if (k.proc === reader) return pauses;
    return BOUNDS.busMs + pauses + h.maxLagMs;
  };

  for (const r of h.calls) {
    if (r.op.kind !== 'get' || r.value === undefined || !r.proc || r.end === undefined) continue;
    const id = r.value;
    const set = setOf.get(id);
    const comp = computeOf.get(id);
    const key = set ? opKey(set.op as { key: string }) : comp?.key;
    if (key === undefined) {
      v.add('values', `${v.call(r)} returned ${JSON.stringify(id)}, which no set and no computation of this program produced`);
      continue;
    }
    if (key !== opKey(r.op)) {
      v.add('values', `${v.call(r)} returned ${id}, a value of key ${key}`);
      continue;
    }
    if (r.source === 'computed' && comp?.i !== r.i) {
      v.add('values', `${v.call(r)} says 'computed' but returned ${id}, which it did not compute`);
      continue;
    }
    const own = comp?.i === r.i;
    /**
     * THE OUTAGE RELAXATION (the only one): a call that found Redis unavailable (its events include
     * `cache.degraded`) answers from what its process holds: its L1 tier's copy (kept through a
     * bus drop), a value its process computed earlier in the outage, or its own computation. Its
     * process could not see Redis, so it is not held to what OTHER processes wrote or read
     * (read-your-writes and no going back apply to it only against its own process's knowledge),
     * and it may return its own process's outage computations (never stored; checkOutage holds
     * those to their process and their outage). Every call without `cache.degraded` keeps every
     * invariant here.
     */
    const degradedRead = degraded.has(r.i);
    let version = versionOf(id);
    let label = 'read-your-writes';
    if (!version) {
      // Never stored (its write was rejected, or it was computed while its process found Redis
      // unavailable): only its own call, and that call's flight, may return it.
      if (own) continue;
      if (degradedRead && comp!.degraded) continue;
      // Skipped the cache: it reaches its waiters (checkLifetimes says which), who are held to
      // what was known before them as a flight's joiners are.
      if (!comp!.skipped && !r.flightJoined) {
        v.add(
          'never-stored',
          `${v.call(r)} returned ${id} (${r.source}) at ${v.at(r.end)}, computed by #${comp!.i} (${comp!.proc.label}) ${comp!.degraded ? 'while its process found Redis unavailable (written nowhere)' : 'whose write was rejected'}: a value Redis never held`,
        );
        continue;
      }
      // A joiner: its call started later than the flight it joined; it gets the flight's value.
      version = {
        kind: 'computed',
        id,
        opStart: callOf.get(comp!.i)!.start,
        cs: comp!.start,
        cf: comp!.finish!,
        hi: comp!.finish!,
        writer: comp!.proc,
        strategy: comp!.strategy,
      };
      label = comp!.skipped ? 'skipped-value' : 'flight-joiner';
    }
    if (own) continue; // its own computation ran after the call started, after anything known before
    for (const k of knowledge) {
      if (k.key !== opKey(r.op) || k.t >= r.start) continue;
      if (degradedRead && k.proc !== r.proc) continue; // the outage relaxation above

      if (k.t + bound(k, r.proc, k.t, r.start) >= r.start) continue;
      if (!older(version, k.version)) continue;
      const origin = set ? `set by #${set.i}` : `computed by #${comp!.i} (${comp!.proc.label}, ${comp!.strategy}, fence ${comp!.fence})`;
      v.add(
        label,
        `${v.call(r)} started at ${v.at(r.start)} and returned ${id} (${r.source}, ${origin}), older than what ${k.proc.label} knew before: ${k.what}`,
      );
      break;
    }
  }
}

// ---- a value's lifetime: setTtl, skipCache, fresh time and grace ----

interface Lifetime {
  /** Its fresh time, ms: its computation's setTtl, else its call's ttlMs, else the guard's. */
  freshMs: number;
  /** Its grace, ms: its computation's setTtl, else the guard's. */
  graceMs: number;
  /** Past this (the test's clock) it is not fresh: its computation finished, or its set resolved, its fresh time before. */
  freshEnd: number;
  /** How it says where it came from. */
  what: string;
}

/** A per-call (or set's) ttlMs as the guard takes it: 0 or less gives 1 ms, fractions are rounded. */
const callFreshMs = (ttlMs: number | undefined) => (ttlMs === undefined ? TIMINGS.valueTtlMs : Math.max(1, Math.round(ttlMs)));

/**
 * A value with tags or namespaces lives at most the fleet's `tagRetentionMs` from when its
 * computation began (an invalidation's record lives longer): its fresh time cut to what is left
 * after its computation (`computeMs`; a set's, 0), its grace to the rest (recompute.ts,
 * markEnvelope). The model's computeMs is at most the library's (it is measured inside it), so
 * the life it gives is never the shorter.
 */
function retained(
  h: History,
  marked: boolean,
  computeMs: number,
  freshMs: number,
  graceMs: number,
): { freshMs: number; graceMs: number; cut: string } {
  const retention = h.program.fleet.tagRetentionMs;
  if (!marked || retention === undefined) return { freshMs, graceMs, cut: '' };
  const longest = Math.max(1, retention - Math.ceil(computeMs));
  if (freshMs + graceMs <= longest) return { freshMs, graceMs, cut: '' };
  const fresh = Math.min(freshMs, longest);
  return { freshMs: fresh, graceMs: longest - fresh, cut: ` (cut to tagRetentionMs ${retention})` };
}

/** The lifetime of each value of the program (a set's, or a computation's that returned), by its id. */
function lifetimes(h: History): (id: number) => Lifetime | undefined {
  const byId = new Map<number, Lifetime>();
  const callOf = new Map(h.calls.map((c) => [c.i, c]));
  const marks = valueMarks(h);
  for (const c of h.calls) {
    if (c.op.kind !== 'set' || c.setValue === undefined) continue;
    const { freshMs, graceMs, cut } = retained(h, isMarked(marks(c.setValue)), 0, callFreshMs(c.op.ttlMs), TIMINGS.graceMs);
    byId.set(c.setValue, {
      freshMs,
      graceMs,
      freshEnd: (c.end ?? Number.POSITIVE_INFINITY) + freshMs,
      what: `set by #${c.i}, fresh ${freshMs} ms, grace ${graceMs} ms${cut}`,
    });
  }
  for (const comp of h.computes) {
    if (comp.finish === undefined || comp.threw) continue;
    const op = callOf.get(comp.i)?.op as GetOp | undefined;
    const { freshMs, graceMs, cut } = retained(
      h,
      isMarked(marks(comp.id)),
      // Floored: the library rounds its computeMs up.
      Math.floor(comp.finish - comp.start),
      comp.decided?.ttlMs !== undefined ? Math.max(1, Math.round(comp.decided.ttlMs)) : callFreshMs(op?.ttlMs),
      comp.decided?.graceMs ?? TIMINGS.graceMs,
    );
    const decided = comp.decided ? ' (setTtl)' : '';
    byId.set(comp.id, {
      freshMs,
      graceMs,
      freshEnd: comp.finish + freshMs,
      what: `computed by #${comp.i} (${comp.proc.label}), fresh ${freshMs} ms, grace ${graceMs} ms${decided}${cut}, finished at`,
    });
  }
  return (id) => byId.get(id);
}

/**
 * What a value's lifetime promises, whoever decided it (`setTtl`, a call's `ttlMs`, the guard):
 * - `key-ttl`: a value hash holding a value never has a TTL above that value's fresh time + its
 *   grace, or, when that is shorter, above the life of what the key held before (a write never
 *   shortens a key: it carries the fence that keeps older holders out, a delete's tombstone
 *   living computeTimeoutMs + lockTtlMs; the value itself is gone from reads at its own end, which
 *   `fresh-time` and `stale-in-grace` check) (the sampler reads PTTL and the envelope in one
 *   transaction);
 * - `fresh-time`: no call answered `cache` (its own read, not a flight it joined) started later
 *   than 25 ms (and the event loop's lateness) after its value's fresh time ended;
 * - `stale-in-grace`: a call answered `stale` (its own read) got a value Redis held (a set's or a
 *   stored computation's; its own process's copy when it found Redis unavailable), and started
 *   no later than the end of that value's grace (+ 25 ms, pauses, lateness);
 * - `skip-not-stored`: Redis never holds a value whose computation skipped the cache;
 * - `skip-served`: such a value is never answered `cache` or `stale` (no L1 tier, no Redis keeps
 *   it), only `computed` to its own call and `waited` to a call that started while its
 *   computation could still hand it over: before its call settled or its holder gave the lock
 *   back with it (whichever is later).
 */
function checkLifetimes(h: History, v: Violations, pauseAllowance: (from: number, to: number) => number): void {
  const life = lifetimes(h);
  const computeOf = new Map(h.computes.map((c) => [c.id, c]));
  const callOf = new Map(h.calls.map((c) => [c.i, c]));
  const setValues = new Set(h.calls.map((c) => c.setValue).filter((id) => id !== undefined));
  const degraded = degradedCalls(h);
  const slack = 25 + h.maxLagMs;
  const origin = (id: number) => {
    const l = life(id);
    const comp = computeOf.get(id);
    return `${id} (${l ? l.what : 'unknown'}${comp?.finish === undefined || setValues.has(id) ? '' : ` ${v.at(comp.finish)}`})`;
  };

  // The longest a key may already live when a value is written on it: a tombstone, or any value's life.
  let longestLife = TIMINGS.computeTimeoutMs + TIMINGS.lockTtlMs;
  for (const id of [...h.calls.map((c) => c.setValue), ...h.computes.map((c) => c.id)]) {
    const l = id === undefined ? undefined : life(id);
    if (l) longestLife = Math.max(longestLife, l.freshMs + l.graceMs);
  }
  const reportedTtl = new Set<number>();
  const reportedSkip = new Set<number>();
  for (const s of h.samples) {
    if (s.value === null) continue;
    const comp = computeOf.get(s.value);
    if (comp?.skipped && !reportedSkip.has(comp.id)) {
      reportedSkip.add(comp.id);
      v.add('skip-not-stored', `${s.key} held value ${origin(comp.id)} at ${v.at(s.t)}; its computation skipped the cache`);
    }
    const l = life(s.value);
    if (!l || s.pttl < 0 || reportedTtl.has(s.value)) continue;
    const allowed = Math.max(l.freshMs + l.graceMs, longestLife);
    if (s.pttl > allowed + 2) {
      reportedTtl.add(s.value);
      v.add(
        'key-ttl',
        `${s.key} held value ${origin(s.value)} with PTTL ${s.pttl} ms at ${v.at(s.t)}: more than its fresh time + grace (${l.freshMs + l.graceMs} ms) and than any earlier life of a key (${longestLife} ms)`,
      );
    }
  }

  for (const r of h.calls) {
    if (r.op.kind !== 'get' || r.value === undefined || r.end === undefined) continue;
    const comp = computeOf.get(r.value);
    const l = life(r.value);
    if (comp?.skipped) {
      const holder = callOf.get(comp.i);
      if (r.source !== 'computed' && r.source !== 'waited') {
        v.add('skip-served', `${v.call(r)} returned ${origin(r.value)} as ${r.source}: its computation skipped the cache`);
        continue;
      }
      if (comp.i === r.i) continue;
      // The holder's call settled (its flight's joiners came before), or its lock went back with the
      // value (its waiters subscribed before); without a recorded release, right after it finished.
      const handedOver = Math.max(
        holder?.end ?? Number.POSITIVE_INFINITY,
        comp.releasedAt ?? comp.finish! + 50 + pauseAllowance(comp.finish!, r.start),
      );
      if (r.start > handedOver + slack)
        v.add(
          'skip-served',
          `${v.call(r)} started at ${v.at(r.start)} and returned ${origin(r.value)} (${r.source}): its computation skipped the cache, and handed it over by ${v.at(handedOver)}`,
        );
      continue;
    }
    if (!l || r.flightJoined) continue;
    if (r.source === 'cache' && r.start > l.freshEnd + slack)
      v.add(
        'fresh-time',
        `${v.call(r)} started at ${v.at(r.start)} and returned ${origin(r.value)} from the cache, ${Math.round(r.start - l.freshEnd)} ms after its fresh time ended at ${v.at(l.freshEnd)}`,
      );
    if (r.source !== 'stale') continue;
    if (!degraded.has(r.i) && comp && (comp.stored === 'no' || comp.degraded))
      v.add('stale-in-grace', `${v.call(r)} returned ${origin(r.value)} as stale: a value Redis never held`);
    const graceEnd = l.freshEnd + l.graceMs;
    const limit = graceEnd + slack + pauseAllowance(l.freshEnd - l.freshMs, r.start);
    if (r.start > limit)
      v.add(
        'stale-in-grace',
        `${v.call(r)} started at ${v.at(r.start)} and returned ${origin(r.value)} as stale, ${Math.round(r.start - graceEnd)} ms after its grace ended at ${v.at(graceEnd)}`,
      );
  }
}

// ---- softTimeoutMs: the stale value in time, the computation goes on and writes ----

/** The soft timeout a get runs with: its own, else its guard's (0: off). */
function softTimeoutOf(h: History, op: GetOp): number {
  return op.softTimeoutMs ?? h.program.fleet.softTimeoutMs ?? 0;
}

/**
 * `softTimeoutMs` (redis-lock):
 * - `soft-timeout-bound`: a call whose own first claim found a stale value (`cache.miss` with
 *   `stale`) and that has a soft timeout settles within it (+ 100 ms, pauses, the event loop's
 *   lateness) of that claim (unless it found Redis unavailable: onRedisDown then answers);
 * - `soft-timeout-write` (no lost write): a computation that went on after its call was answered
 *   stale at its soft timeout, and succeeded in time (not skipping the cache, its process's Redis
 *   not unavailable meanwhile, no close() of its guard begun before the answer), writes: Redis
 *   stores its value, or rejects it because a newer write (a set or delete, or a holder with a
 *   higher fence) came first. Once stored it is knowledge for read-your-writes (checkValues): later
 *   reads get it or newer. No second computation meanwhile: `at-most-once` (calm programs);
 * - `close-waits`: close() of a guard resolves only after every such computation of its process
 *   answered before close() began has ended (or met its compute timeout) and its write was answered.
 */
function checkSoftTimeout(h: History, v: Violations, pauseAllowance: (from: number, to: number) => number): void {
  const degraded = degradedCalls(h);
  const callOf = new Map(h.calls.map((c) => [c.i, c]));

  for (const r of h.calls) {
    if (r.op.kind !== 'get' || r.staleMissAt === undefined || r.end === undefined || degraded.has(r.i)) continue;
    // A key of a getMany is answered with the batch, when its other keys are.
    if (r.op.batch !== undefined) continue;
    const soft = softTimeoutOf(h, r.op);
    if (soft <= 0) continue;
    const limit = soft + 100 + h.maxLagMs + pauseAllowance(r.staleMissAt, r.end);
    if (r.end - r.staleMissAt > limit)
      v.add(
        'soft-timeout-bound',
        `${v.call(r)} found a stale value at ${v.at(r.staleMissAt)} and settled ${Math.round(r.end - r.staleMissAt)} ms later (${r.error ? `rejected ${r.error.code ?? r.error.name}` : `${r.value} (${r.source})`}), past its soft timeout of ${soft} ms (bound ${Math.round(limit)} ms)`,
      );
  }

  /** The continuing computations: of a call answered stale at its soft timeout, begun before that answer. */
  const continuing = h.computes.filter((c) => {
    const r = callOf.get(c.i);
    return r?.softTimedOut === true && r.end !== undefined && c.start >= r.start && c.start <= r.end && !c.degraded;
  });
  const writes = h.calls.filter((c) => c.op.kind === 'set' || c.op.kind === 'delete');
  const key = (c: CallRecord) => opKey(c.op as { key: string });

  for (const c of continuing) {
    const r = callOf.get(c.i)!;
    const fate = (r.op as GetOp).compute.fate;
    if (fate !== 'ok' && fate !== 'slow') continue;
    if (c.skipped || c.threw || c.finish === undefined) continue;
    if (h.breakers.some((b) => b.proc === c.proc && !b.up && b.t >= c.start - h.program.fleet.redisTimeoutMs)) continue;
    if (h.closes.some((close) => close.proc === c.proc && close.start <= r.end!)) continue;
    const what = `value ${c.id}, computed by ${v.call(r)} (${c.proc.label}, fence ${c.fence}) over ${v.at(c.start)}..${v.at(c.finish)} after its call was answered stale at its soft timeout (${v.at(r.end!)})`;
    if (c.stored === undefined) {
      v.add('soft-timeout-write', `${what}: its write never came (no cache.write, no cache.write.rejected)`);
      continue;
    }
    if (c.stored === 'no') {
      const at = c.storedAt ?? Number.POSITIVE_INFINITY;
      const newer =
        writes.some((w) => key(w) === c.key && w.start < at && (w.end ?? Number.POSITIVE_INFINITY) > r.start) ||
        h.computes.some(
          (o) =>
            o !== c &&
            o.key === c.key &&
            o.stored === 'yes' &&
            (o.fence ?? 0) > (c.fence ?? 0) &&
            (o.storedAt ?? Number.POSITIVE_INFINITY) < at,
        );
      if (!newer) v.add('soft-timeout-write', `${what}: its write was rejected at ${v.at(at)}, though no newer write came`);
    }
  }

  for (const close of h.closes) {
    if (close.end === undefined) continue;
    for (const c of continuing) {
      const r = callOf.get(c.i)!;
      if (c.proc !== close.proc || r.end! >= close.start) continue;
      const done = Math.min(c.finish ?? Number.POSITIVE_INFINITY, c.start + TIMINGS.computeTimeoutMs);
      const wrote = c.storedAt ?? 0;
      if (close.end + 1 < Math.max(done, wrote))
        v.add(
          'close-waits',
          `close() of ${close.proc.label}${close.i === undefined ? ' (the final one)' : ` (#${close.i})`} began at ${v.at(close.start)} and resolved at ${v.at(close.end)}, before value ${c.id} of ${v.call(r)} (answered stale at its soft timeout at ${v.at(r.end!)}) ${done > close.end ? `finished computing at ${v.at(done)}` : `was written at ${v.at(wrote)}`}`,
        );
    }
  }
}

// ---- every key expires ----

function checkKeysExpire(h: History, v: Violations): void {
  const reported = new Set<string>();
  for (const s of h.samples) {
    if (s.pttl !== -1 || reported.has(s.key)) continue;
    reported.add(s.key);
    v.add('ttl', `key ${s.key} had no TTL (PTTL -1) at ${v.at(s.t)}`);
  }
}

// ---- the stored fence never decreases ----

function checkFences(h: History, v: Violations): void {
  const last = new Map<string, { fence: number; t: number }>();
  for (const s of h.samples) {
    if (s.fence === null || s.fence === 0) continue; // 0: an unfenced write where no fence was stored
    const before = last.get(s.key);
    if (before && s.fence < before.fence)
      v.add('fence', `the fence of ${s.key} went down from ${before.fence} (at ${v.at(before.t)}) to ${s.fence} (at ${v.at(s.t)})`);
    last.set(s.key, { fence: s.fence, t: s.t });
  }
}

// ---- redis-lock: one computation per key per expiry, without faults ----

function checkAtMostOnce(h: History, v: Violations): void {
  if (!h.program.calm) return;
  const computeBy = new Map(h.computes.map((c) => [`${c.i}:${c.fence}`, c]));
  const byKey = new Map<string, EventRecord[]>();
  for (const e of h.events) {
    if (e.event !== 'recompute.start' || e.strategy !== 'redis-lock' || e.key === undefined) continue;
    // A computation while its process found Redis unavailable is that process's own (checkOutage).
    if (e.fields.degraded === true) continue;
    byKey.set(e.key, [...(byKey.get(e.key) ?? []), e]);
  }
  const freshMs = lifetimes(h);
  for (const [key, starts] of byKey) {
    for (let n = 1; n < starts.length; n++) {
      const first = starts[n - 1]!;
      const second = starts[n]!;
      const comp = computeBy.get(`${first.i}:${first.fields.fence}`);
      if (comp?.stored !== 'yes') continue;
      // The first value's own fresh time (a computation may have decided a shorter one).
      const fresh = Math.min(TIMINGS.valueTtlMs, freshMs(comp.id)?.freshMs ?? TIMINGS.valueTtlMs);
      const window = fresh - 100;
      if (second.t - first.t < window)
        v.add(
          'at-most-once',
          `redis-lock computed ${key} twice within ${Math.round(second.t - first.t)} ms (< ${window} ms, the value fresh ${fresh} ms): #${first.i} at ${v.at(first.t)} and #${second.i} at ${v.at(second.t)}`,
        );
    }
  }
}

// ---- guard.lock: one holder at a time, fences in order, no wait while it is free ----

function checkLocks(h: History, v: Violations, pauseAllowance: (from: number, to: number) => number): void {
  const ttl = TIMINGS.lockTtlMs;
  const locks = h.calls.filter((c) => c.op.kind === 'lock');
  const held = locks.filter((c) => c.acquired && c.acquireEnd !== undefined);
  /** When it surely held the lock: from lock()'s answer until release() or the TTL from its call ran out. */
  const sure = (c: CallRecord): [number, number] => [c.acquireEnd!, Math.min(c.start + ttl, c.releaseStart ?? Number.POSITIVE_INFINITY)];
  /** When it may have held it: from its call until its release answered or its TTL from lock()'s answer ran out. */
  const maybe = (c: CallRecord): [number, number] => [c.start, Math.min(c.acquireEnd! + ttl, c.releaseEnd ?? Number.POSITIVE_INFINITY)];
  const name = (c: CallRecord) => (c.op as { name: string }).name;

  for (let a = 0; a < held.length; a++) {
    for (let b = a + 1; b < held.length; b++) {
      const A = held[a]!;
      const B = held[b]!;
      if (name(A) !== name(B)) continue;
      const [sa, ea] = sure(A);
      const [sb, eb] = sure(B);
      if (sa < ea && sb < eb && sa < eb && sb < ea)
        v.add(
          'lock-exclusive',
          `${v.call(A)} and ${v.call(B)} both held lock ${name(A)} from ${v.at(Math.max(sa, sb))} to ${v.at(Math.min(ea, eb))}`,
        );
      for (const [first, second] of [
        [A, B],
        [B, A],
      ] as const) {
        if (first.acquireEnd! < second.start && first.fence !== undefined && second.fence !== undefined && first.fence >= second.fence)
          v.add(
            'lock-fence',
            `${v.call(second)} got fence ${second.fence}, not above ${first.fence} of ${v.call(first)}, which held lock ${name(first)} before it asked`,
          );
      }
    }
  }

  // A wait that timed out while the lock stood free for longer than a TTL and a margin.
  for (const w of locks) {
    if (w.error?.code !== 'E_WAIT_TIMEOUT' || w.acquireEnd === undefined) continue;
    const busy = held
      .filter((c) => c !== w && name(c) === name(w))
      .map(maybe)
      .sort((x, y) => x[0] - y[0]);
    let free = w.start;
    let longest = 0;
    let at = w.start;
    for (const [s, e] of [...busy, [w.acquireEnd, w.acquireEnd] as [number, number]]) {
      const gapEnd = Math.min(s, w.acquireEnd);
      if (gapEnd - free > longest) {
        longest = gapEnd - free;
        at = free;
      }
      free = Math.max(free, e);
    }
    const limit = Math.round(ttl + 300 + pauseAllowance(at, at + longest) + h.maxLagMs);
    if (longest > limit)
      v.add(
        'lock-liveness',
        `${v.call(w)} gave up (E_WAIT_TIMEOUT) after ${Math.round(w.acquireEnd - w.start)} ms although lock ${name(w)} was free for ${Math.round(longest)} ms from ${v.at(at)} (more than ${limit} ms)`,
      );
  }
}

// ---- Redis unavailable: onRedisDown, outage values written nowhere, recovery ----

function checkOutage(h: History, v: Violations): void {
  const degraded = degradedCalls(h);
  const policy = (p: ProcessInfo) => h.program.fleet.onRedisDown[p.index] ?? 'compute';
  const computeOf = new Map(h.computes.map((c) => [c.id, c]));
  const callOf = new Map(h.calls.map((c) => [c.i, c]));
  /** The first time `proc`'s breaker closed in (from, to), if it did. */
  const recoveredIn = (proc: ProcessInfo, from: number, to: number) =>
    h.breakers.find((b) => b.proc === proc && b.up && b.t > from && b.t < to);
  const origin = (c: ComputeRecord) => `value ${c.id} (computed by #${c.i} in ${c.proc.label} while Redis was unavailable there)`;

  // onRedisDown 'error': no computation while Redis is unavailable; a call that found it so rejects with E_REDIS_UNAVAILABLE.
  for (const c of h.computes) {
    if (c.degraded && policy(c.proc) === 'error')
      v.add('down-error', `${origin(c)}: its guard's onRedisDown is error, which never computes while Redis is unavailable`);
  }
  for (const c of h.calls) {
    if (c.op.kind !== 'get' || !c.proc || !degraded.has(c.i) || c.end === undefined || policy(c.proc) !== 'error') continue;
    const code = c.error?.code;
    if (code === UNAVAILABLE || code === 'E_CLOSED') continue;
    // A holder whose write met the outage answers with what it computed before (docs/library.md).
    const comp = c.value === undefined ? undefined : computeOf.get(c.value);
    if (comp && comp.i === c.i && !comp.degraded && c.source === 'computed') continue;
    v.add(
      'down-error',
      `${v.call(c)} found Redis unavailable (cache.degraded) under onRedisDown error and ${c.error ? `rejected with ${code ?? c.error.name}` : `returned ${c.value} (${c.source})`}, not E_REDIS_UNAVAILABLE`,
    );
  }

  // What a process computed during an outage reaches only its own calls that found Redis
  // unavailable (a non-degraded call: only as a joiner of its flight, checked by never-stored),
  // and only until its breaker closes.
  for (const r of h.calls) {
    if (r.op.kind !== 'get' || r.value === undefined || !r.proc || !degraded.has(r.i)) continue;
    const comp = computeOf.get(r.value);
    if (!comp?.degraded || comp.i === r.i) continue;
    if (comp.proc !== r.proc) {
      v.add('outage-values', `${v.call(r)} returned ${origin(comp)}: another process's outage value`);
      continue;
    }
    const recovered = comp.finish === undefined ? undefined : recoveredIn(r.proc, comp.finish, r.start);
    if (recovered)
      v.add(
        'outage-values',
        `${v.call(r)} started at ${v.at(r.start)} and returned ${origin(comp)}, finished before ${r.proc.label}'s breaker closed at ${v.at(recovered.t)}: kept past the outage`,
      );
  }

  // Nothing computed during an outage is ever written to Redis (the sampler reads every stored value).
  const reported = new Set<number>();
  for (const s of h.samples) {
    const comp = s.value === null ? undefined : computeOf.get(s.value);
    if (!comp?.degraded || reported.has(comp.id)) continue;
    reported.add(comp.id);
    v.add('outage-not-written', `${s.key} held ${origin(comp)} at ${v.at(s.t)}`);
  }

  // Once per key per process during an outage (onRedisDown compute): a computation that succeeded
  // in time is shared by the process's callers of that key while it runs and kept for them while
  // it is fresh. Not when its process set or deleted the key meanwhile (the copy is forgotten),
  // its breaker closed meanwhile, or a call of the key had its own ttlMs.
  const outageComputes = h.computes.filter((c) => c.degraded).sort((a, b) => a.start - b.start);
  for (const [n, b] of outageComputes.entries()) {
    for (const a of outageComputes.slice(0, n)) {
      if (a.proc !== b.proc || a.key !== b.key || a.threw || a.finish === undefined) continue;
      if (a.finish - a.start >= TIMINGS.computeTimeoutMs - 50) continue;
      const ops = [callOf.get(a.i)?.op, callOf.get(b.i)?.op] as (GetOp | undefined)[];
      if (ops.some((op) => op?.ttlMs !== undefined)) continue;
      // Its computation decided its lifetime, or kept it from the cache (not kept for the process either).
      if (a.decided || a.skipped) continue;
      if (b.start < a.start + 20 || b.start > a.finish + TIMINGS.valueTtlMs - 100) continue;
      if (recoveredIn(a.proc, a.start - 1, b.start + 1)) continue;
      const wrote = h.calls.some(
        (c) => (c.op.kind === 'set' || c.op.kind === 'delete') && c.proc === a.proc && opKey(c.op) === a.key && c.start <= b.start,
      );
      if (wrote) continue;
      // A namespace takes only its own values: the guard's own call of its key computes apart.
      if (ops[0]?.ns !== ops[1]?.ns) continue;
      v.add(
        'outage-once-per-key',
        `${a.proc.label} computed ${a.key} twice while Redis was unavailable there: ${origin(a)} over ${v.at(a.start)}..${v.at(a.finish)}, and value ${b.id} (#${b.i}) from ${v.at(b.start)}, while the first ran or was fresh`,
      );
    }
  }

  for (const u of h.unrecovered) v.add('recovers', u);

  // After the outage ended and every breaker closed, the fleet is back to one computation per key:
  // in the recovery round (each process reads each key at once, redis-lock), at most one
  // computation per key, not counting a process whose breaker opened again (degraded).
  const byKey = new Map<string, ComputeRecord[]>();
  for (const c of h.computes) {
    if (c.i < h.recoveryFrom || c.degraded) continue;
    byKey.set(c.key, [...(byKey.get(c.key) ?? []), c]);
  }
  for (const [key, comps] of byKey) {
    if (comps.length > 1)
      v.add(
        'one-after-recovery',
        `after every breaker closed, the fleet computed ${key} ${comps.length} times at once: ${comps.map((c) => `value ${c.id} (#${c.i}, ${c.proc.label}, ${v.at(c.start)})`).join(', ')}`,
      );
  }
}

// ---- tracing: every span ends once, links name what they should ----

/**
 * The spans of the traced processes (the runner read them once every call, computation and
 * guard had settled):
 * - `span-ended`: every span a traced guard started has ended (a wait, compute, refresh or call
 *   span left open is the tracing equivalent of a leaked listener); `span-ended-twice`: none ended
 *   twice (the runner's wrapper counts end() calls);
 * - `span-tree`: a call span (getOrCompute, set, delete, lock) is a root (the runner makes every
 *   call outside any span, so a parent is a context leaked from another call); a compute or wait
 *   span is the child of a getOrCompute or refresh span of its process, in its trace;
 *   `span-nesting`: and has ended by the time its parent ended;
 * - `compute-in-span`: a traced process's computation runs with its own compute span active (one
 *   computation per compute span), an untraced process's with no span active;
 * - `call-span`: each call of a traced process has one call span (a ttlMs refused before the call
 *   began aside), which records the call's outcome: a get's source, failed when the call rejected;
 * - `span-links`: every link on a getOrCompute span names a compute span recorded in this run;
 * - `waited-link`: a traced get answered `waited` links to exactly the compute span of the
 *   computation whose value it returned (values are unique: the history knows that computation)
 *   when a traced process computed it; to nothing when a set or an untraced process made it; a
 *   get answered otherwise links to nothing;
 * - `refresh-span`: a refresh span has no parent and one link, to a getOrCompute span of its
 *   process (the request that started it), in another trace.
 */
function checkTracing(h: History, v: Violations): void {
  if (!h.program.fleet.traced.some(Boolean)) return;
  const byId = new Map(h.spans.map((s) => [s.spanId, s]));
  const callOf = new Map(h.calls.map((c) => [c.i, c]));
  const computeOf = new Map(h.computes.map((c) => [c.id, c]));
  const computeOfSpan = new Map<string, ComputeRecord[]>();
  for (const c of h.computes) {
    if (c.span) computeOfSpan.set(c.span.spanId, [...(computeOfSpan.get(c.span.spanId) ?? []), c]);
  }
  /** The operation a span is about: its own call's, its parent's, a refresh's request's. */
  const opOf = (s: SpanRecord, depth = 0): number | undefined => {
    if (s.op !== undefined || depth > 3) return s.op;
    const up = byId.get(s.parent ?? s.startedUnder ?? '') ?? (s.links?.[0] && byId.get(s.links[0].spanId));
    return up ? opOf(up, depth + 1) : computeOfSpan.get(s.spanId)?.[0]?.i;
  };
  const describe = (s: SpanRecord) => {
    const op = opOf(s);
    const call = op === undefined ? undefined : callOf.get(op);
    const short = s.name.replace('cache-stampede ', '');
    return `${s.proc.label}'s ${short} span ${s.spanId}${call ? ` (of ${v.call(call)})` : ''} started at ${v.at(s.start)}`;
  };

  /** The getMany whose key a span (or its call) is about, if it is one's. */
  const batchOf = (s: SpanRecord) => {
    const op = opOf(s);
    return op === undefined ? undefined : (callOf.get(op)?.op as GetOp | undefined)?.batch;
  };

  for (const s of h.spans) {
    if (s.ends === 0) {
      const op = opOf(s);
      const call = op === undefined ? undefined : callOf.get(op);
      const settled = call ? (call.end === undefined ? '; its call never settled' : `; its call settled at ${v.at(call.end)}`) : '';
      const late = s.lateEnds > 0 ? ' (it ended after that)' : '';
      v.add('span-ended', `${describe(s)} had not ended once every call, computation and guard had settled${late}${settled}`);
    } else if (s.ends > 1) v.add('span-ended-twice', `${describe(s)} was ended ${s.ends} times`);
  }

  for (const s of h.spans) {
    if (!s.exported) continue;
    // A getMany's per-key getOrCompute spans are children of its getManyOrCompute span.
    const batchSpan = s.parent === undefined ? undefined : byId.get(s.parent);
    const inBatch =
      s.name === SPAN.getOrCompute &&
      batchSpan?.name === SPAN.getManyOrCompute &&
      batchSpan.proc === s.proc &&
      s.op !== undefined &&
      (callOf.get(s.op)?.op as GetOp | undefined)?.batch === batchSpan.op;
    if (CALL_SPANS.has(s.name) && s.parent !== undefined && !inBatch)
      v.add(
        'span-tree',
        `${describe(s)} is a child of ${byId.get(s.parent)?.name ?? 'a span no guard started'} ${s.parent}: a call made outside any span`,
      );
    if (s.name === SPAN.compute || s.name === SPAN.wait) {
      const parent = s.parent === undefined ? undefined : byId.get(s.parent);
      if (
        !parent ||
        (parent.name !== SPAN.getOrCompute && parent.name !== SPAN.refresh) ||
        parent.proc !== s.proc ||
        parent.traceId !== s.traceId
      )
        v.add(
          'span-tree',
          `${describe(s)} has ${parent ? `as parent ${parent.proc.label}'s ${parent.name} ${parent.spanId}` : s.parent ? `a parent no guard started (${s.parent})` : 'no parent'}, not a getOrCompute or refresh span of its process in its trace`,
        );
    }
  }

  // A child (a wait, a computation) ends by the time its call (or refresh) does: the call's end
  // ends a wait still open, and a computation ends before the call answers.
  for (const s of h.spans) {
    const under = s.parent ?? s.startedUnder;
    const keyOfBatch = s.name === SPAN.getOrCompute && byId.get(under ?? '')?.name === SPAN.getManyOrCompute;
    if ((s.name !== SPAN.compute && s.name !== SPAN.wait && !keyOfBatch) || under === undefined || s.end === undefined) continue;
    // A holder's computation goes on after its call was answered stale at its soft timeout
    // (docs/library.md): its span outlives the call's (it must still end: span-ended).
    if (s.name === SPAN.compute && computeOfSpan.get(s.spanId)?.some((c) => callOf.get(c.i)?.softTimedOut)) continue;
    // So does a batch's (its key's read answered stale at its soft timeout).
    if (s.name === SPAN.compute && batchOf(s) !== undefined && callOf.get(opOf(s) ?? -1)?.softTimedOut) continue;
    const parent = byId.get(under);
    if (parent?.end !== undefined && s.end > parent.end)
      v.add(
        'span-nesting',
        `${describe(s)} ended at ${v.at(s.end)}, ${(s.end - parent.end).toFixed(1)} ms after its parent ${parent.name} ${parent.spanId} ended`,
      );
  }

  for (const c of h.computes) {
    // A key of a batch computation: the one call runs in the compute span of the key that asked first (below).
    if (c.batch !== undefined) continue;
    const what = `the computation of value ${c.id} (#${c.i}, ${c.proc.label}, ${c.strategy})`;
    if (!c.proc.traced) {
      if (c.span) v.add('compute-in-span', `${what}, on an untraced process, ran in ${c.span.name} span ${c.span.spanId}`);
      continue;
    }
    const own = c.span ? byId.get(c.span.spanId) : undefined;
    if (!c.span || !own || own.name !== SPAN.compute || own.proc !== c.proc)
      v.add(
        'compute-in-span',
        `${what} ran in ${c.span ? `${c.span.name} span ${c.span.spanId}` : 'no span'}, not a compute span of its process`,
      );
    else if ((computeOfSpan.get(c.span.spanId)?.length ?? 0) > 1)
      v.add('compute-in-span', `${what} ran in compute span ${c.span.spanId}, as did another computation`);
  }
  // computeMany runs in the compute span of one of its getMany's keys, of its process.
  for (const b of h.batches ?? []) {
    const what = `computeMany ${b.n} of #${b.i} (${b.proc.label}, [${b.keys.join(', ')}])`;
    if (!b.proc.traced) {
      if (b.span) v.add('compute-in-span', `${what}, on an untraced process, ran in ${b.span.name} span ${b.span.spanId}`);
      continue;
    }
    const own = b.span ? byId.get(b.span.spanId) : undefined;
    if (!b.span || !own || own.name !== SPAN.compute || own.proc !== b.proc || batchOf(own) !== b.i)
      v.add(
        'compute-in-span',
        `${what} ran in ${b.span ? `${b.span.name} span ${b.span.spanId}` : 'no span'}, not a compute span of one of its keys in its process`,
      );
  }
  for (const s of h.spans) {
    // A batch's keys share its one call (its other keys' compute spans run none of their own).
    if (s.name === SPAN.compute && !computeOfSpan.has(s.spanId) && batchOf(s) === undefined)
      v.add('compute-in-span', `${describe(s)} had no computation run in it`);
  }

  const callSpans = new Map<number, SpanRecord[]>();
  for (const s of h.spans) if (s.op !== undefined) callSpans.set(s.op, [...(callSpans.get(s.op) ?? []), s]);
  for (const c of h.calls) {
    if (!c.proc?.traced || c.end === undefined || !['get', 'get-many', 'set', 'delete', 'lock', 'invalidate', 'clear'].includes(c.op.kind))
      continue;
    const spans = callSpans.get(c.i) ?? [];
    // A getMany refused before it began (bad options, a closed guard) started no span, for none of its keys.
    const refused =
      c.op.kind === 'get-many' ? c.error !== undefined : c.op.kind === 'get' && c.op.batch !== undefined && callOf.get(c.op.batch)?.error;
    if (spans.length === 0) {
      if (c.error?.code !== 'E_OPTIONS' && !refused) v.add('call-span', `${v.call(c)} on a traced process started no span`);
      continue;
    }
    if (spans.length > 1) {
      v.add('call-span', `${v.call(c)} started ${spans.length} call spans: ${spans.map((s) => s.name).join(', ')}`);
      continue;
    }
    const s = spans[0]!;
    const expected =
      c.op.kind === 'get'
        ? SPAN.getOrCompute
        : c.op.kind === 'get-many'
          ? SPAN.getManyOrCompute
          : c.op.kind === 'invalidate' || c.op.kind === 'clear'
            ? SPAN.invalidate
            : `cache-stampede ${c.op.kind}`;
    if (s.name !== expected) v.add('call-span', `${v.call(c)} started a ${s.name} span, not ${expected}`);
    if (!s.exported) continue;
    // lock(): the span covers lock() only (not the hold or the release).
    const rejected = c.op.kind === 'lock' ? c.error !== undefined && c.acquired !== true : c.error !== undefined;
    if (rejected !== s.failed)
      v.add(
        'call-span',
        `${v.call(c)} ${rejected ? `rejected (${c.error!.code ?? c.error!.name})` : 'succeeded'} but its span ${s.spanId} is ${s.failed ? '' : 'not '}marked failed`,
      );
    if (c.op.kind === 'get' && c.source !== undefined && s.attributes?.['cache_stampede.source'] !== c.source)
      v.add(
        'call-span',
        `${v.call(c)} returned ${c.value} (${c.source}) but its span ${s.spanId} says source ${String(s.attributes?.['cache_stampede.source'])}`,
      );
  }

  for (const s of h.spans) {
    if (s.name !== SPAN.getOrCompute || !s.links) continue;
    for (const link of s.links) {
      const target = byId.get(link.spanId);
      if (!target || target.name !== SPAN.compute || target.traceId !== link.traceId)
        v.add(
          'span-links',
          `${describe(s)} links to ${target ? `${target.proc.label}'s ${target.name} ${target.spanId}` : 'a span no guard of this run started'} (trace ${link.traceId}, span ${link.spanId}), not a compute span of this run`,
        );
    }
  }

  for (const c of h.calls) {
    if (c.op.kind !== 'get' || !c.proc?.traced || c.value === undefined) continue;
    const s = callSpans.get(c.i)?.[0];
    if (!s?.links) continue;
    const comp = computeOf.get(c.value);
    let expected: string[];
    let why: string;
    if (c.source !== 'waited') {
      expected = [];
      why = `answered ${c.source}, not waited`;
    } else if (comp?.proc.traced) {
      // A key of a batch: the compute span of its read, the last begun before the value was made.
      const span =
        comp.batch === undefined
          ? comp.span && byId.get(comp.span.spanId)
          : h.spans
              .filter((x) => x.name === SPAN.compute && opOf(x) === comp.i && x.start <= (comp.finish ?? Number.POSITIVE_INFINITY))
              .at(-1);
      if (!span || span.name !== SPAN.compute) continue; // compute-in-span says why
      expected = [span.spanId];
      why = `its value was computed by #${comp.i} (${comp.proc.label}) in compute span ${span.spanId}`;
    } else {
      expected = [];
      why = comp ? `its value was computed by #${comp.i} on untraced ${comp.proc.label}` : 'its value was set';
    }
    const got = s.links.map((l) => l.spanId);
    if (got.length !== expected.length || got.some((id, n) => id !== expected[n]))
      v.add(
        'waited-link',
        `${v.call(c)} returned ${c.value} (${c.source}); ${why}, so its span ${s.spanId} should link to ${expected.length > 0 ? expected.join(', ') : 'nothing'}, but links to ${got.length > 0 ? got.map((id) => `${byId.get(id)?.name ?? 'unknown'} ${id}`).join(', ') : 'nothing'}`,
      );
  }

  for (const s of h.spans) {
    if (s.name !== SPAN.refresh || !s.exported) continue;
    if (s.parent !== undefined) v.add('refresh-span', `${describe(s)} has a parent (${s.parent}): a refresh is a trace of its own`);
    const links = s.links ?? [];
    if (links.length !== 1) {
      v.add('refresh-span', `${describe(s)} has ${links.length} links, not one (to the request that started it)`);
      continue;
    }
    const from = byId.get(links[0]!.spanId);
    if (!from || from.name !== SPAN.getOrCompute || from.proc !== s.proc || from.traceId !== links[0]!.traceId)
      v.add(
        'refresh-span',
        `${describe(s)} links to ${from ? `${from.proc.label}'s ${from.name} ${from.spanId}` : `a span no guard of this run started (${links[0]!.spanId})`}, not a getOrCompute span of its process`,
      );
    else if (from.traceId === s.traceId)
      v.add('refresh-span', `${describe(s)} is in the trace of the request that started it, not one of its own`);
  }
}

// ---- getManyOrCompute: one batch computation, keys failing alone, the answer in order ----

/**
 * What a getMany promises beyond what each of its keys does as a get (its reads, `#i.k`, are held
 * to every invariant above):
 * - `batch-answer`: a getMany that resolved answers a Map keyed by the keys asked, in their order,
 *   each once (a key asked twice, once);
 * - `batch-one-call`: the keys it holds at once are computed by one call of computeMany: at most
 *   one call of more than one key, and any other call is of one key it took over later (its read
 *   waited first), computed again (an earlier computation of it in this getMany), or computed
 *   while its process found Redis unavailable (`cache.degraded`: each key alone); every call is
 *   of keys of this getMany, each once;
 * - `batch-omit-alone`: a key the computation left out fails alone: its read answers an error or
 *   a stale value (never `computed`), and no other key of that call, whose value it returned,
 *   fails as a computation does (E_COMPUTE, E_MODEL_COMPUTE).
 * At most once per key per value life in the fleet, whichever way it was asked (gets and
 * getManys): `at-most-once` counts a batch's computations of a key as a get's.
 */
function checkBatches(h: History, v: Violations): void {
  const degraded = degradedCalls(h);
  const waitedAt = new Map<number, number>();
  for (const e of h.events) if (e.event === 'wait.start' && !waitedAt.has(e.i)) waitedAt.set(e.i, e.t);
  for (const c of h.calls) {
    if (c.op.kind !== 'get-many') continue;
    const op: GetManyOp = c.op;
    const reads = readsOfBatch(h, c.i);
    // By the guard's key (the computations' records name that one).
    const readOf = new Map(reads.map((r) => [opKey(r.op as GetOp), r]));
    const asked = uniqueKeys(op);

    if (c.end !== undefined && !c.error) {
      const got = c.answerKeys ?? [];
      if (got.length !== asked.length || got.some((key, n) => key !== asked[n]))
        v.add('batch-answer', `${v.call(c)} answered [${got.join(', ')}], not the keys asked, in order, once each: [${asked.join(', ')}]`);
      for (const r of reads) {
        if (got.includes((r.op as GetOp).key) && r.value === undefined && !r.error)
          v.add('batch-answer', `${v.call(c)} answered ${(r.op as GetOp).key} with neither a value nor an error`);
      }
    }

    const batches = (h.batches ?? []).filter((b) => b.i === c.i).sort((a, b) => a.start - b.start);
    // A key whose read began while a call of its process was reading it (a redis-lock get or a
    // getMany's read, through the same namespace) may have joined that call's flight: it waited
    // for it, and when its answer turns out outdated (an invalidation covers it, a newer write
    // refused it) the key looks again alone, as one taken over after a wait does.
    const joinedFlight = (r: CallRecord) =>
      h.calls.some(
        (o) =>
          o !== r &&
          o.proc === r.proc &&
          o.op.kind === 'get' &&
          o.op.strategy === 'redis-lock' &&
          opKey(o.op) === opKey(r.op as GetOp) &&
          o.op.ns === (r.op as GetOp).ns &&
          o.start <= r.start &&
          (o.end ?? Number.POSITIVE_INFINITY) >= r.start,
      );
    const computedBefore = (key: string, t: number) => h.computes.some((x) => x.i === readOf.get(key)?.i && x.start < t);
    const many = batches.filter((b) => b.keys.length > 1);
    if (many.length > 1)
      v.add(
        'batch-one-call',
        `${v.call(c)} called computeMany ${many.length} times with more than one key: ${many.map((b) => `[${b.keys.join(', ')}] at ${v.at(b.start)}`).join(', ')}`,
      );
    for (const b of batches) {
      const strange = b.keys.filter((key, n) => !readOf.has(key) || b.keys.indexOf(key) !== n);
      if (strange.length > 0)
        v.add('batch-one-call', `${v.call(c)} called computeMany with [${b.keys.join(', ')}]: ${strange.join(', ')} not asked, or twice`);
    }
    // The calls for keys it held when its claims were answered (not taken over after a wait, not
    // computed again, not computed apart while Redis was unavailable): one.
    const atClaim = batches.filter((b) =>
      b.keys.every((key) => {
        const r = readOf.get(key);
        if (!r) return true;
        const waited = waitedAt.get(r.i);
        return !(degraded.has(r.i) || (waited !== undefined && waited <= b.start) || computedBefore(key, b.start) || joinedFlight(r));
      }),
    );
    if (atClaim.length > 1)
      v.add(
        'batch-one-call',
        `${v.call(c)} called computeMany ${atClaim.length} times for keys it held at once (none waited for first): ${atClaim.map((b) => `[${b.keys.join(', ')}] at ${v.at(b.start)}`).join(', ')}`,
      );

    for (const b of batches) {
      if (b.threw || b.finish === undefined) continue;
      const left = h.computes.filter((x) => x.batch === b.n && x.omitted);
      if (left.length === 0) continue;
      for (const x of left) {
        const r = readOf.get(x.key);
        if (r && !r.error && r.source === 'computed')
          v.add('batch-omit-alone', `${v.call(r)} answered ${r.value} (computed), though computeMany ${b.n} left ${x.key} out`);
      }
      for (const x of h.computes.filter((y) => y.batch === b.n && !y.omitted)) {
        const r = readOf.get(x.key);
        const code = r?.error?.code;
        if (r && (code === 'E_COMPUTE' || code === MODEL_ERROR_CODE))
          v.add(
            'batch-omit-alone',
            `${v.call(r)} rejected with ${code} (${r.error!.message}), though computeMany ${b.n} returned its value ${x.id} and left out only ${left.map((y) => y.key).join(', ')}`,
          );
      }
    }
  }
}
