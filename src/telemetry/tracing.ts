/**
 * What the guard needs of a tracer: the one seam between the library and OpenTelemetry (or any
 * tracer). The library's core imports no tracing package; `cache-stampede/otel` implements this
 * on `@opentelemetry/api`, and a guard without `tracing` builds no span and pays one
 * `undefined` check per step.
 *
 * Why an option and not a diagnostics channel (as undici and bentocache publish): a waiter's
 * span must link to the holder's computation span in another process, so the guard must carry
 * the holder's span context inside the value it stores, and must run the computation inside
 * its span's context so that the user's own spans (an HTTP call, a query) nest under it. Both
 * need the tracer in the call's path, not beside it. BullMQ 6 made the same choice (its
 * `telemetry` option).
 */

export type TraceAttributes = Record<string, string | number | boolean>;

export interface StartSpanOptions {
  attributes?: TraceAttributes;
  /**
   * The cache key the span is about. Keys can be personal data: an implementation records it
   * only when its user asked for that (`cache-stampede/otel`: `keys: { maxLength }`).
   */
  key?: string;
  /** Start it as a child of this span; else of the active context. */
  parent?: TraceSpan;
  /** Start a trace of its own (a background refresh: its caller has been answered already). */
  root?: boolean;
  /** W3C traceparents of spans this one is linked to (a refresh: the request that started it). */
  links?: readonly string[];
}

export interface Tracing {
  startSpan(name: string, options: StartSpanOptions): TraceSpan;
}

export interface TraceSpan {
  setAttributes(attributes: TraceAttributes): void;
  /** A step of the span (the guard's events: a hit, a busy lock, a lost lock...). */
  addEvent(name: string, attributes?: TraceAttributes): void;
  /** A link to the span a W3C traceparent names; ignored when the traceparent is not one. */
  addLink(traceparent: string, attributes?: TraceAttributes): void;
  /** Run `fn` with this span active: spans started inside it (the user's own) are its children. */
  run<T>(fn: () => T): T;
  /** This span's W3C traceparent, to carry to other processes; undefined when it records nothing. */
  traceparent(): string | undefined;
  /** End it; with an error, marked failed. Called once. */
  end(error?: unknown): void;
}

/** A W3C traceparent, version 00: what a stored value may carry of its computation's span. */
const TRACEPARENT = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;

export function isTraceparent(value: unknown): value is string {
  return typeof value === 'string' && TRACEPARENT.test(value);
}

/** The span names, one place: docs/tracing.md lists them. */
export const SPAN = {
  getOrCompute: 'cache-stampede getOrCompute',
  getManyOrCompute: 'cache-stampede getManyOrCompute',
  set: 'cache-stampede set',
  delete: 'cache-stampede delete',
  lock: 'cache-stampede lock',
  compute: 'cache-stampede compute',
  wait: 'cache-stampede wait',
  refresh: 'cache-stampede refresh',
  invalidate: 'cache-stampede invalidate',
} as const;

/** The attribute names, one place: docs/tracing.md lists them. */
export const ATTR = {
  strategy: 'cache_stampede.strategy',
  source: 'cache_stampede.source',
  tier: 'cache_stampede.tier',
  fence: 'cache_stampede.fence',
  waitOutcome: 'cache_stampede.wait.outcome',
  waitMs: 'cache_stampede.wait.ms',
  staleReason: 'cache_stampede.stale.reason',
  redisDown: 'cache_stampede.redis_down.policy',
  writeRejected: 'cache_stampede.write.rejected',
  refreshReason: 'cache_stampede.refresh.reason',
  key: 'cache_stampede.key',
} as const;
