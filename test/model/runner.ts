/**
 * Runs one program against a real Redis and records its history (model.ts checks it).
 *
 * Three guards stand for three processes: each has its own ioredis connection, single flight,
 * subscriber and (some) L1 tier. Operations start one after another with the program's gaps and
 * run side by side unless awaited. Meanwhile a sampler reads every key of the program's prefix
 * (PTTL, and the stored fence of value hashes). At the end every guard is closed, calls on closed
 * guards must fail with E_CLOSED at once, and nothing may be left behind: no subscriber connection
 * in CLIENT LIST, no socket or timer keeping this process alive.
 *
 * The traced processes (`fleet.traced`) get `tracing`: openTelemetry() on a tracer of the
 * program's own provider and in-memory exporter (one per program, each process its own tracer),
 * wrapped so that every span started and every end() is counted. AsyncLocalStorage is the context
 * manager while a traced program runs, so a computation sees the span it runs in.
 */
import { createHook } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { context, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Redis } from 'ioredis';
import type { SupportedRedisClient } from '../../src/redis/client.js';
import { clientLibraryFromEnv, closeClients, openClient } from '../support/clients.js';
import type { BatchContext, ComputeContext } from '../../src/cache/context.js';
import { createGuard, type GuardNamespace, type StampedeGuard } from '../../src/cache/guard.js';
import { type GuardEvent, subscribeEvents } from '../../src/events.js';
import type { Logger } from '../../src/logger.js';
import { openTelemetry } from '../../src/otel/index.js';
import { PROBE_INTERVAL_MS } from '../../src/redis/gate.js';
import type { StartSpanOptions, TraceAttributes, TraceSpan, Tracing } from '../../src/telemetry/tracing.js';
import { clientList, killSubscribers, pauseServer } from './faults.js';
import {
  type BatchRecord,
  CALL_SPANS,
  type CallRecord,
  type CloseRecord,
  type ComputeRecord,
  type ErrorInfo,
  type EventRecord,
  type History,
  MODEL_ERROR_CODE,
  type ProcessInfo,
  type Sample,
  type SpanRecord,
  settleDeadline,
} from './model.js';
import {
  batchRead,
  batchReadIndex,
  fullKey,
  type GetManyOp,
  type GetOp,
  KEYS,
  type Key,
  type Ns,
  type Op,
  opKey,
  PROCESSES,
  type Program,
  TIMINGS,
  uniqueKeys,
} from './operations.js';

export interface ModelEnv {
  url: string;
  /** For CLIENT KILL and CLIENT LIST. */
  admin: Redis;
  /** For DEBUG SLEEP (it blocks its connection for the pause). */
  faults: Redis;
  /** For the sampler's SCAN, PTTL and HGET. */
  sampler: Redis;
}

/** What a model computation throws when its plan says so (a batch's: `key` is its keys, comma-separated). */
export class ModelComputeError extends Error {
  readonly code = MODEL_ERROR_CODE;
  constructor(
    readonly key: string,
    op: number,
  ) {
    super(`the computation of #${op} threw, as planned`);
  }
}

const SUBSCRIBER_NAME = 'cache-stampede:subscriber';

/** The value of a stored envelope (the model's values are numbers); null when it is not one. */
function storedValue(envelope: string): number | null {
  try {
    const value = (JSON.parse(envelope) as { value?: unknown }).value;
    return typeof value === 'number' ? value : null;
  } catch {
    return null;
  }
}
const SAMPLE_EVERY_MS = 25;

const now = () => performance.now();

/** A timer that never outlives what waits on it. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Wait for `promise` at most until `deadline` (performance.now() time); true when it settled. */
async function settledBy(promise: Promise<unknown>, deadline: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, deadline - now()));
  });
  try {
    return await Promise.race([promise.then(() => true as const), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

function errorInfo(err: unknown): ErrorInfo {
  const e = err as { name?: unknown; code?: unknown; message?: unknown; key?: unknown };
  return {
    name: typeof e?.name === 'string' ? e.name : typeof err,
    code: typeof e?.code === 'string' ? e.code : undefined,
    message: typeof e?.message === 'string' ? e.message : String(err),
    ...(err instanceof ModelComputeError && { key: err.key }),
  };
}

interface Proc {
  info: ProcessInfo;
  guard: StampedeGuard;
  redis: SupportedRedisClient;
}

/** The guard itself, or its namespace `ns` (`n/m`: `guard.namespace('n').namespace('m')`). */
function viewOf(guard: StampedeGuard, ns: Ns | undefined): StampedeGuard | GuardNamespace {
  if (ns === undefined) return guard;
  const [outer, ...inner] = ns.split('/');
  return inner.reduce<GuardNamespace>((view, name) => view.namespace(name), guard.namespace(outer!));
}

/** The key a get or set passes to its guard or namespace: its own, or `<under>:<key>` for the guard's call of a namespace's key. */
function keyAsked(op: { key: string; under?: Ns }): string {
  return fullKey(op.key, op.under);
}

/** Counts of process.getActiveResourcesInfo() by type: what keeps the event loop alive. */
function resources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const type of process.getActiveResourcesInfo()) counts.set(type, (counts.get(type) ?? 0) + 1);
  return counts;
}

function moreThan(after: Map<string, number>, before: Map<string, number>): string[] {
  return [...after].filter(([type, n]) => n > (before.get(type) ?? 0)).map(([type, n]) => `${type} ${before.get(type) ?? 0} -> ${n}`);
}

/**
 * MODEL_DEBUG=1: where each timer still alive was created (a stack per timer), so a leaked timer
 * in the report says who set it.
 */
function trackTimers(): { stop(): void; alive(): string[] } {
  const timers = new Map<number, { stack: string; resource: { hasRef?: () => boolean } }>();
  const hook = createHook({
    init(id, type, _trigger, resource) {
      if (type === 'Timeout') timers.set(id, { stack: new Error().stack ?? '', resource: resource as { hasRef?: () => boolean } });
    },
    destroy(id) {
      timers.delete(id);
    },
  }).enable();
  return {
    stop: () => hook.disable(),
    alive: () =>
      [...timers.values()]
        .filter((t) => t.resource.hasRef?.() !== false)
        .map((t) =>
          t.stack
            .split('\n')
            .slice(2, 9)
            .map((line) => line.trim())
            .join(' < '),
        ),
  };
}

/** A span of a traced guard, counted: the wrapper records its start and every end(). */
class CountedSpan implements TraceSpan {
  constructor(
    readonly inner: TraceSpan,
    readonly record: SpanRecord,
    /** Set once the runner read the spans: a later end() is counted apart. */
    private readonly sealed: { read: boolean },
  ) {}
  setAttributes(attributes: TraceAttributes): void {
    this.inner.setAttributes(attributes);
  }
  addEvent(name: string, attributes?: TraceAttributes): void {
    this.inner.addEvent(name, attributes);
  }
  addLink(traceparent: string, attributes?: TraceAttributes): void {
    this.inner.addLink(traceparent, attributes);
  }
  run<T>(fn: () => T): T {
    return this.inner.run(fn);
  }
  traceparent(): string | undefined {
    return this.inner.traceparent();
  }
  end(error?: unknown): void {
    if (this.sealed.read) this.record.lateEnds++;
    else {
      this.record.ends++;
      this.record.end ??= now();
    }
    this.inner.end(error);
  }
}

/**
 * `tracing` of a traced process: openTelemetry() around its tracer, every span recorded in
 * `spans` (a call span with the operation that started it: `op()`, read synchronously).
 */
function countedTracing(
  inner: Tracing,
  proc: ProcessInfo,
  spans: SpanRecord[],
  op: () => number | undefined,
  sealed: { read: boolean },
): Tracing {
  return {
    startSpan(name: string, options: StartSpanOptions): TraceSpan {
      // The library hands back the spans it was given: openTelemetry() knows its own, not the wrapper.
      const parent = options.parent instanceof CountedSpan ? options.parent.inner : options.parent;
      const span = inner.startSpan(name, { ...options, parent });
      const [, traceId = '', spanId = ''] = (span.traceparent() ?? '').split('-');
      const startedUnder = options.parent instanceof CountedSpan ? options.parent.record.spanId : options.links?.[0]?.split('-')[2];
      const record: SpanRecord = {
        proc,
        name,
        spanId,
        traceId,
        op: CALL_SPANS.has(name) ? op() : undefined,
        startedUnder,
        start: now(),
        ends: 0,
        lateEnds: 0,
      };
      spans.push(record);
      return new CountedSpan(span, record, sealed);
    },
  };
}

/** AsyncLocalStorage as OpenTelemetry's context manager, while a traced program runs. */
function enableContext(): () => void {
  const manager = new AsyncLocalStorageContextManager().enable();
  if (!context.setGlobalContextManager(manager)) {
    manager.disable();
    return () => {};
  }
  return () => context.disable();
}

/** Routes the guards' events to the program that is running (one at a time). */
let recording: ((event: GuardEvent) => void) | null = null;
let unsubscribe: (() => void) | null = null;
function listenToEvents(): void {
  unsubscribe ??= subscribeEvents((event) => recording?.(event));
}
export function stopListening(): void {
  unsubscribe?.();
  unsubscribe = null;
}

export async function runProgram(program: Program, env: ModelEnv): Promise<History> {
  listenToEvents();
  const programId = randomBytes(4).toString('hex');
  const prefix = `m-${programId}`;
  const history: History = {
    program,
    calls: [],
    computes: [],
    events: [],
    samples: [],
    closes: [],
    pauses: [],
    breakers: [],
    recoveryFrom: program.ops.length,
    unrecovered: [],
    leaks: [],
    maxLagMs: 0,
    spans: [],
    reads: [],
    batches: [],
  };
  // How late this process ran its timers and callbacks: the time bounds allow for it (a loaded machine).
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  const { fleet } = program;

  // Tracing: one provider and in-memory exporter for the program, each traced process its tracer.
  const tracedFleet = fleet.traced.some(Boolean);
  const exporter = tracedFleet ? new InMemorySpanExporter() : null;
  const provider = exporter ? new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }) : null;
  const disableContext = tracedFleet ? enableContext() : () => {};
  /** The operation whose call is being made (set around the synchronous part of the call). */
  let calling: number | undefined;
  /** The spans were read: what ends later is counted apart. */
  const sealed = { read: false };

  const timerTracker = process.env.MODEL_DEBUG === '1' ? trackTimers() : null;
  const baseline = resources();
  const firstClientId = Math.max(0, ...(await clientList(env.admin)).map((c) => c.id));

  // A rejection nobody handles is a defect too (of the library or of this checker): record it.
  const unhandled = (reason: unknown) => {
    const e = errorInfo(reason);
    history.leaks.push(`unhandled rejection at ${Math.round(now() - (history.calls[0]?.start ?? now()))} ms: ${e.name}: ${e.message}`);
  };
  process.on('unhandledRejection', unhandled);

  // ---- events: which computation wrote, which call joined a flight ----
  const fenceOfOp = new Map<number, number>();
  const degradedOfOp = new Map<number, boolean>();
  const computeOf = new Map<string, ComputeRecord>();
  /** Each getMany's reads of its keys (`#i.k`), by key: a key's events are its read's. */
  const readsOf = new Map<number, Map<string, CallRecord>>();
  /** A batch computation's record of a key whose recompute.start had not come yet (its fence comes with it). */
  const awaitingFence = new Map<number, ComputeRecord>();
  recording = (event) => {
    const context = event.context as { program?: string; op?: number } | undefined;
    if (context?.program !== programId || context.op === undefined) return;
    const read = event.key === undefined ? undefined : readsOf.get(context.op)?.get(event.key);
    const i = read?.i ?? context.op;
    const call = read ?? history.calls[i]!;
    const fields = event.fields as Record<string, unknown>;
    history.events.push({ t: now(), i, event: event.event, key: event.key, strategy: event.strategy, fields } satisfies EventRecord);
    if (event.event === 'recompute.start') {
      // Emitted just before the computation is called (the model's compute reads these); a
      // batch's keys after the first may come after their batch computation began.
      const waiting = awaitingFence.get(i);
      if (waiting) {
        awaitingFence.delete(i);
        waiting.fence = Number(fields.fence);
        waiting.degraded = fields.degraded === true;
        computeOf.set(`${i}:${waiting.fence}`, waiting);
      } else {
        fenceOfOp.set(i, Number(fields.fence));
        degradedOfOp.set(i, fields.degraded === true);
      }
    }
    if (event.event === 'flight.joined') call.flightJoined = true;
    // Its first claim found a stale value and it goes to fill (redis-lock): from here its soft timeout runs.
    if (event.event === 'cache.miss' && fields.stale === true && fields.coalesced !== true) call.staleMissAt ??= now();
    if (event.event === 'stale.served' && fields.reason === 'soft-timeout') call.softTimedOut = true;
    // A holder gave its lock back (with its value, when its computation skipped the cache): no
    // waiter can get that value after this.
    if (event.event === 'lock.released' || event.event === 'lock.lost') {
      const comp = computeOf.get(`${i}:${Number(fields.fence)}`);
      if (comp && comp.finish !== undefined) comp.releasedAt ??= now();
    }
    if ((event.event === 'cache.write' && !fields.set) || event.event === 'cache.write.rejected') {
      const comp = computeOf.get(`${i}:${Number(fields.fence)}`);
      if (comp) {
        comp.stored = event.event === 'cache.write' ? 'yes' : 'no';
        comp.storedAt = now();
      }
    }
  };

  // ---- the fleet ----
  const clients: Redis[] = [];
  const duplicates: { made: Redis; by: ProcessInfo; at: number }[] = [];
  // TEST_REDIS_CLIENT: the guards' client library (ioredis unless told; the others through test/support/clients.ts).
  const library = clientLibraryFromEnv();
  const sharedSubscriber = !fleet.sharedSubscriber
    ? null
    : library === 'ioredis'
      ? new Redis(env.url, { connectionName: 'model:shared-subscriber', enableReadyCheck: false, maxRetriesPerRequest: null })
      : openClient(library, env.url, { name: 'model:shared-subscriber', retries: null });
  // CLIENT KILL TYPE pubsub resets it; it reconnects by itself.
  if (sharedSubscriber instanceof Redis) sharedSubscriber.on('error', () => {});
  const guards: Proc[] = [];
  /** A guard's logger: its breaker's transitions (guard events carry no guard of their own on the channel). */
  const breakerLog = (proc: ProcessInfo): Logger => {
    const line = (fields: Record<string, unknown>) => {
      if (fields.event === 'redis.unavailable' || fields.event === 'redis.available')
        history.breakers.push({ proc, t: now(), up: fields.event === 'redis.available' });
    };
    const logger: Logger = {
      debug: line,
      info: line,
      warn: line,
      error: line,
      child: () => logger,
      isLevelEnabled: (level) => level !== 'debug',
    };
    return logger;
  };
  /** An ioredis process connection whose duplicates (the guard's own subscriber) are kept, to close one that leaks. */
  const ioredisProcessClient = (index: number, info: ProcessInfo): Redis => {
    const redis = new Redis(env.url, { connectionName: `model:P${index}`, maxRetriesPerRequest: 2 });
    redis.on('error', () => {});
    clients.push(redis);
    const duplicate = redis.duplicate.bind(redis);
    redis.duplicate = ((...args: Parameters<Redis['duplicate']>) => {
      const made = duplicate(...args);
      duplicates.push({ made, by: info, at: now() });
      return made;
    }) as Redis['duplicate'];
    return redis;
  };
  const makeProcess = (index: number, gen: number): Proc => {
    const info: ProcessInfo = {
      label: `P${index}${"'".repeat(gen)}`,
      index,
      gen,
      l1: fleet.l1[index]!,
      traced: provider !== null && fleet.traced[index] === true,
    };
    const redis = library === 'ioredis' ? ioredisProcessClient(index, info) : openClient(library, env.url, { name: `model:P${index}` });
    const guard = createGuard({
      redis,
      keyPrefix: prefix,
      lockTtlMs: TIMINGS.lockTtlMs,
      valueTtlMs: TIMINGS.valueTtlMs,
      graceMs: TIMINGS.graceMs,
      maxWaitMs: TIMINGS.maxWaitMs,
      computeTimeoutMs: TIMINGS.computeTimeoutMs,
      ...(fleet.tagRetentionMs !== undefined && { tagRetentionMs: fleet.tagRetentionMs }),
      failurePolicy: fleet.failurePolicy,
      failureBackoffMs: TIMINGS.failureBackoffMs,
      redisTimeoutMs: fleet.redisTimeoutMs,
      onRedisDown: fleet.onRedisDown[index],
      ...(fleet.softTimeoutMs > 0 && { softTimeoutMs: fleet.softTimeoutMs }),
      logger: breakerLog(info),
      ...(info.l1 && { l1: { maxEntries: 100 } }),
      ...(sharedSubscriber && index > 0 && { subscriber: sharedSubscriber }),
      ...(info.traced && {
        tracing: countedTracing(
          openTelemetry({ tracer: provider!.getTracer(info.label), keys: { maxLength: 8 } }),
          info,
          history.spans,
          () => calling,
          sealed,
        ),
      }),
    });
    const proc = { info, guard, redis };
    guards.push(proc);
    return proc;
  };
  const current: Proc[] = Array.from({ length: PROCESSES }, (_, p) => makeProcess(p, 0));

  // ---- the sampler: every key has a TTL, fences never go down ----
  let sampling = true;
  const sampleOnce = async () => {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await env.sampler.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
    if (keys.length === 0) return;
    const t = now();
    // One transaction: a key's PTTL and its value are read together (a write between them would
    // pair one value's TTL with another's lifetime).
    const pipeline = env.sampler.multi();
    for (const key of keys) {
      pipeline.pttl(key);
      if (key.endsWith(':value')) pipeline.hmget(key, 'fence', 'envelope');
    }
    const replies = (await pipeline.exec()) ?? [];
    let n = 0;
    for (const key of keys) {
      const pttl = Number(replies[n++]?.[1]);
      const [fence, envelope] = key.endsWith(':value')
        ? ((replies[n++]?.[1] as (string | null)[] | undefined) ?? [null, null])
        : [null, null];
      history.samples.push({
        t,
        key,
        pttl,
        fence: fence == null ? null : Number(fence),
        value: envelope == null ? null : storedValue(envelope),
      } satisfies Sample);
    }
  };
  const sampler = (async () => {
    while (sampling) {
      await sampleOnce().catch(() => {});
      await sleep(SAMPLE_EVERY_MS);
    }
  })();

  // ---- the operations ----
  let nextValue = 1;
  const running: Promise<void>[] = [];
  const computations: Promise<unknown>[] = [];

  const compute = (i: number, op: GetOp, proc: Proc) => {
    return async ({ signal, setTtl, skipCache, addTags }: ComputeContext): Promise<number> => {
      const rec: ComputeRecord = {
        id: nextValue++,
        i,
        key: opKey(op),
        proc: proc.info,
        strategy: op.strategy,
        fence: fenceOfOp.get(i),
        degraded: degradedOfOp.get(i) === true,
        start: now(),
        ...(op.compute.setTtl && { decided: op.compute.setTtl }),
        ...(op.compute.skipCache && { skipped: true }),
      };
      if (tracedFleet) {
        const active = trace.getActiveSpan() as (ReturnType<typeof trace.getActiveSpan> & { name?: string }) | undefined;
        rec.span = active ? { spanId: active.spanContext().spanId, name: String(active.name) } : null;
      }
      history.computes.push(rec);
      computeOf.set(`${i}:${rec.fence}`, rec);
      const work = sleep(op.compute.ms, op.compute.honorsSignal ? signal : undefined);
      computations.push(work.catch(() => {}));
      try {
        await work;
        if (op.compute.fate === 'throw') throw new ModelComputeError(opKey(op), i);
        // What the computation decides of its value, as it returns it.
        if (op.compute.setTtl) setTtl(op.compute.setTtl);
        if (op.compute.skipCache) skipCache();
        if (op.compute.addTags) addTags(op.compute.addTags);
      } catch (err) {
        rec.finish = now();
        rec.threw = true;
        throw err;
      }
      rec.finish = now();
      return rec.id;
    };
  };

  /**
   * A getMany's computeMany: one record per key it is asked for (each key its own value, unique in
   * the program), one BatchRecord for the call.
   */
  const computeMany = (i: number, op: GetManyOp, proc: Proc, reads: Map<string, CallRecord>) => {
    // Through a namespace it is given, and answers, the caller's keys; the records name the guard's.
    const full = (key: string) => fullKey(key, op.ns);
    return async (asked: string[], { signal, setTtl, skipCache, addTags }: BatchContext): Promise<Map<string, number>> => {
      const keys = asked.map(full);
      const batch: BatchRecord = { n: history.batches.length, i, proc: proc.info, keys: [...keys], start: now() };
      if (tracedFleet) {
        const active = trace.getActiveSpan() as (ReturnType<typeof trace.getActiveSpan> & { name?: string }) | undefined;
        batch.span = active ? { spanId: active.spanContext().spanId, name: String(active.name) } : null;
      }
      history.batches.push(batch);
      const recs = asked.map((bare, n) => {
        const key = keys[n]!;
        const sub = reads.get(key)?.i ?? i;
        const decide = op.decide?.[bare as Key];
        const fence = fenceOfOp.get(sub);
        fenceOfOp.delete(sub);
        const rec: ComputeRecord = {
          id: nextValue++,
          i: sub,
          key,
          proc: proc.info,
          strategy: 'redis-lock',
          fence,
          degraded: fence !== undefined && degradedOfOp.get(sub) === true,
          start: batch.start,
          batch: batch.n,
          ...(decide?.setTtl && { decided: decide.setTtl }),
          ...(decide?.skipCache && { skipped: true }),
          ...(op.omit === bare && { omitted: true }),
        };
        history.computes.push(rec);
        if (fence === undefined) awaitingFence.set(sub, rec);
        else computeOf.set(`${sub}:${fence}`, rec);
        return rec;
      });
      const work = sleep(op.compute.ms, op.compute.honorsSignal ? signal : undefined);
      computations.push(work.catch(() => {}));
      try {
        await work;
        if (op.compute.fate === 'throw') throw new ModelComputeError(keys.join(','), i);
      } catch (err) {
        batch.finish = now();
        batch.threw = true;
        for (const rec of recs) {
          rec.finish = batch.finish;
          rec.threw = true;
        }
        throw err;
      }
      const values = new Map<string, number>();
      for (const [n, rec] of recs.entries()) {
        const bare = asked[n]!;
        rec.finish = now();
        // Left out: no value of this key (its record a failed computation).
        if (rec.omitted) {
          rec.threw = true;
          continue;
        }
        values.set(bare, rec.id);
        if (rec.decided) setTtl(bare, rec.decided);
        if (rec.skipped) skipCache(bare);
        const added = op.decide?.[bare as Key]?.addTags;
        if (added) addTags(bare, added);
      }
      batch.finish = now();
      return values;
    };
  };

  const settle = (rec: CallRecord, promise: Promise<unknown>, onValue?: (value: unknown) => void): Promise<void> =>
    promise.then(
      (value) => {
        rec.end = now();
        onValue?.(value);
      },
      (err: unknown) => {
        rec.end = now();
        rec.error = errorInfo(err);
      },
    );

  const start = (i: number, op: Op): Promise<void> => {
    const proc = 'p' in op ? current[op.p]! : null;
    const rec: CallRecord = { i, op, proc: proc?.info ?? null, start: now() };
    history.calls.push(rec);
    const context = { program: programId, op: i };
    // The call spans started synchronously in the call are this operation's.
    calling = i;
    try {
      return call(i, op, proc, rec, context);
    } finally {
      calling = undefined;
    }
  };

  const call = (i: number, op: Op, proc: Proc | null, rec: CallRecord, context: { program: string; op: number }): Promise<void> => {
    switch (op.kind) {
      case 'get':
        return settle(
          rec,
          // A throw before the first await (a refused ttlMs, say) is a rejection like any other.
          (async () =>
            viewOf(proc!.guard, op.ns).getOrCompute(keyAsked(op), compute(i, op, proc!), {
              strategy: op.strategy,
              ttlMs: op.ttlMs,
              context,
              ...(op.softTimeoutMs !== undefined && { softTimeoutMs: op.softTimeoutMs }),
              ...(op.tags && { tags: op.tags }),
            }))(),
          (result) => {
            const { value, source } = result as { value: number; source: CallRecord['source'] };
            rec.value = value;
            rec.source = source;
          },
        );
      case 'get-many': {
        // By the guard's key (its events name that one).
        const reads = new Map(
          uniqueKeys(op).map((key, k): [string, CallRecord] => [
            fullKey(key, op.ns),
            { i: batchReadIndex(i, k), op: batchRead(i, op, key), proc: proc!.info, start: rec.start },
          ]),
        );
        readsOf.set(i, reads);
        history.reads.push(...reads.values());
        return settle(
          rec,
          (async () =>
            viewOf(proc!.guard, op.ns).getManyOrCompute([...op.keys], computeMany(i, op, proc!, reads), {
              ttlMs: op.ttlMs,
              context,
              ...(op.softTimeoutMs !== undefined && { softTimeoutMs: op.softTimeoutMs }),
              ...(op.tags && { tags: op.tags }),
            }))(),
          (result) => {
            const answer = result as Map<string, { value?: unknown; source?: CallRecord['source']; error?: unknown }>;
            rec.answerKeys = [...answer.keys()];
            for (const read of reads.values()) {
              const entry = answer.get((read.op as GetOp).key);
              if (!entry) continue;
              if ('error' in entry) read.error = errorInfo(entry.error);
              else {
                read.value = entry.value as number;
                read.source = entry.source;
              }
            }
          },
        ).then(() => {
          // Each key is answered when the batch is; a batch that rejected rejected each.
          for (const read of reads.values()) {
            read.end = rec.end;
            if (rec.error) read.error ??= rec.error;
          }
        });
      }
      case 'set': {
        rec.setValue = nextValue++;
        return settle(
          rec,
          (async () =>
            viewOf(proc!.guard, op.ns).set(keyAsked(op), rec.setValue, { ttlMs: op.ttlMs, context, ...(op.tags && { tags: op.tags }) }))(),
        );
      }
      case 'delete':
        return settle(rec, (async () => viewOf(proc!.guard, op.ns).delete(op.key, { context }))());
      case 'invalidate':
        return settle(rec, (async () => proc!.guard.invalidateTags([...op.tags], { context }))());
      case 'clear':
        return settle(rec, (async () => (viewOf(proc!.guard, op.ns) as GuardNamespace).clear({ context }))());
      case 'lock':
        return settle(
          rec,
          (async () => {
            let held: Awaited<ReturnType<StampedeGuard['lock']>>;
            try {
              held = await proc!.guard.lock(op.name, op.waitMs === undefined ? {} : { waitMs: op.waitMs });
            } finally {
              rec.acquireEnd = now();
            }
            rec.acquired = true;
            rec.fence = held.fence;
            await sleep(op.holdMs);
            rec.releaseStart = now();
            rec.releasedOk = await held.release();
            rec.releaseEnd = now();
          })(),
        );
      case 'reopen': {
        const old = proc!;
        const close: CloseRecord = { proc: old.info, start: now(), i };
        history.closes.push(close);
        const closing = old.guard.close();
        current[op.p] = makeProcess(op.p, old.info.gen + 1);
        return settle(
          rec,
          closing.then(() => {
            close.end = now();
          }),
        );
      }
      case 'kill-subscribers':
        return settle(rec, killSubscribers(env.admin));
      case 'pause':
      case 'outage': {
        const pause: [number, number, number] = [rec.start, Number.POSITIVE_INFINITY, op.ms];
        history.pauses.push(pause);
        return settle(
          rec,
          pauseServer(env.faults, op.ms).finally(() => {
            pause[1] = now();
          }),
        );
      }
    }
  };

  // Every pause and outage of the program, each with a margin: what a wait for a call allows for them.
  const pauseBudgetMs = program.ops.reduce((sum, op) => sum + (op.kind === 'pause' || op.kind === 'outage' ? op.ms + 100 : 0), 0);
  const deadlineOf = (c: CallRecord) => settleDeadline(c.op, c.start, pauseBudgetMs, fleet.redisTimeoutMs);
  try {
    for (const [i, op] of program.ops.entries()) {
      if (op.gapMs > 0) await sleep(op.gapMs);
      const started = start(i, op);
      running.push(started);
      if (op.awaited) await settledBy(started, deadlineOf(history.calls[i]!));
    }
    // Every operation settles within its bound (model.ts reports those that did not).
    await settledBy(Promise.all(running), Math.max(...history.calls.map(deadlineOf)));

    // After an outage: every breaker closes again (a probe a second), and then the fleet is back
    // to one computation per key (the recovery round: each process reads each key at once).
    if (history.breakers.length > 0) {
      const down = () => current.filter((proc) => history.breakers.filter((b) => b.proc === proc.info).at(-1)?.up === false);
      const until = now() + PROBE_INTERVAL_MS + fleet.redisTimeoutMs + 1500;
      while (down().length > 0 && now() < until) await sleep(20);
      for (const proc of down())
        history.unrecovered.push(
          `${proc.info.label}'s breaker was still open ${PROBE_INTERVAL_MS + fleet.redisTimeoutMs + 1500} ms after the program's operations settled`,
        );
      if (history.unrecovered.length === 0) {
        history.recoveryFrom = history.calls.length;
        const keys = KEYS.filter((key) =>
          program.ops.some((op) => (op.kind === 'get' && op.key === key) || (op.kind === 'get-many' && op.keys.includes(key))),
        );
        const round = keys.flatMap((key) =>
          current.map(
            (proc): GetOp => ({
              kind: 'get',
              p: proc.info.index,
              key,
              strategy: 'redis-lock',
              compute: { ms: 10, fate: 'ok', honorsSignal: false },
              ttlMs: undefined,
              gapMs: 0,
              awaited: false,
            }),
          ),
        );
        const started = round.map((op) => start(history.calls.length, op));
        running.push(...started);
        await settledBy(Promise.all(started), Math.max(...history.calls.slice(history.recoveryFrom).map(deadlineOf)));
      }
    }
  } finally {
    // ---- close everything, and look for what was left behind ----
    const finalCloses = current.map((proc) => {
      const close: CloseRecord = { proc: proc.info, start: now(), i: undefined };
      history.closes.push(close);
      return proc.guard.close().then(
        () => {
          close.end = now();
        },
        (err: unknown) => history.leaks.push(`the final close() of ${proc.info.label} rejected: ${errorInfo(err).message}`),
      );
    });
    await settledBy(Promise.all(finalCloses), now() + TIMINGS.computeTimeoutMs + 2000 + pauseBudgetMs);
    // Calls still running settle promptly now (checked by model.ts from their ends).
    await settledBy(Promise.all(running), now() + 1000);

    // A closed guard refuses at once, and never computes.
    for (const proc of guards) {
      let computed = false;
      const refusals: [string, Promise<unknown>][] = [
        [
          'getOrCompute',
          (async () =>
            proc.guard.getOrCompute('a', async () => {
              computed = true;
              return 0;
            }))(),
        ],
        [
          'getManyOrCompute',
          (async () =>
            proc.guard.getManyOrCompute(['a', 'b'], async (keys) => {
              computed = true;
              return new Map(keys.map((key) => [key, 0]));
            }))(),
        ],
        ['set', (async () => proc.guard.set('a', 0))()],
        ['delete', (async () => proc.guard.delete('a'))()],
        ['invalidateTags', (async () => proc.guard.invalidateTags(['t1']))()],
        ['clear', (async () => proc.guard.namespace('n').clear())()],
        ['lock', (async () => proc.guard.lock('x'))()],
      ];
      for (const [what, call] of refusals) {
        const t0 = now();
        let outcome = 'did not settle within 200 ms';
        const settled = await settledBy(
          call.then(
            () => {
              outcome = 'resolved';
            },
            (err: unknown) => {
              outcome = errorInfo(err).code ?? errorInfo(err).name;
            },
          ),
          t0 + 200,
        );
        if (!settled || outcome !== 'E_CLOSED') history.leaks.push(`${what} on ${proc.info.label} after close(): ${outcome}, not E_CLOSED`);
      }
      if (computed) history.leaks.push(`getOrCompute or getManyOrCompute on ${proc.info.label} after close() ran its computation`);
    }

    await settledBy(Promise.all(computations), now() + TIMINGS.hangMs + 500);
    lag.disable();
    history.maxLagMs = lag.max / 1e6;
    sampling = false;
    await sampler;
    await sampleOnce().catch(() => {});
    recording = null;

    // The spans, now that every call, computation and guard settled: what ended, and how.
    if (provider && exporter) {
      sealed.read = true;
      await provider.forceFlush();
      const finished = new Map(exporter.getFinishedSpans().map((s) => [s.spanContext().spanId, s]));
      for (const rec of history.spans) {
        const span = finished.get(rec.spanId);
        if (!span) continue;
        rec.exported = true;
        rec.parent = span.parentSpanContext?.spanId;
        rec.links = span.links.map((l) => ({ spanId: l.context.spanId, traceId: l.context.traceId }));
        rec.attributes = { ...span.attributes };
        rec.failed = span.status.code === SpanStatusCode.ERROR;
      }
      await provider.shutdown();
    }
    disableContext();

    await Promise.all(
      [...clients, ...(sharedSubscriber instanceof Redis ? [sharedSubscriber] : [])].map((c) => c.quit().catch(() => c.disconnect())),
    );
    await closeClients();

    // No subscriber connection of this program is left on the server...
    let left: number[] = [];
    for (const deadline = now() + 1000; ; ) {
      left = (await clientList(env.admin)).filter((c) => c.id > firstClientId && c.name === SUBSCRIBER_NAME).map((c) => c.id);
      if (left.length === 0 || now() > deadline) break;
      await sleep(50);
    }
    if (left.length > 0) {
      const origin = history.calls[0]?.start ?? 0;
      const open = duplicates
        .filter((d) => d.made.status !== 'end')
        .map((d) => {
          const closed = history.closes.find((c) => c.proc === d.by);
          return `${d.by.label}'s, opened at ${Math.round(d.at - origin)} ms${closed ? ` (its close() started at ${Math.round(closed.start - origin)} ms)` : ''}`;
        });
      history.leaks.push(
        `${left.length} connection(s) named ${SUBSCRIBER_NAME} left open after every guard closed${open.length > 0 ? `: ${open.join('; ')}` : ''}`,
      );
    }

    // ...and nothing keeps this process alive that was not there before the program (ioredis's
    // disconnect() keeps a 2 s timer until the server has closed the socket: wait that out).
    let extra: string[] = [];
    for (const deadline = now() + 2500; ; ) {
      extra = moreThan(resources(), baseline);
      if (extra.length === 0 || now() > deadline) break;
      await sleep(50);
    }
    if (extra.length > 0) {
      const timers = timerTracker?.alive().map((stack) => `\n    timer set at ${stack}`) ?? [];
      history.leaks.push(`active resources after every guard and client closed: ${extra.join(', ')}${timers.join('')}`);
    }
    timerTracker?.stop();

    // Clean up what leaked, so the next program starts clean.
    for (const d of duplicates) if (d.made.status !== 'end') d.made.disconnect();
    for (const id of left) await env.admin.call('CLIENT', 'KILL', 'ID', String(id)).catch(() => {});
    const keys = await env.sampler.keys(`${prefix}:*`);
    if (keys.length > 0) await env.sampler.unlink(...keys);
    process.off('unhandledRejection', unhandled);
  }
  return history;
}
