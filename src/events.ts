import { channel, subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { ValueSource } from './cache/strategy.js';
import { logEvent, type Level, type Logger } from './logger.js';
import { hideCredentials } from './redis/credentials.js';
import type { CallTrace } from './telemetry/call-trace.js';

/**
 * What the guard reports, as typed events: every step that the log contract names is one event,
 * published on one `node:diagnostics_channel` channel (as undici and bentocache report theirs)
 * and written to the call's logger, from the same call. A subscriber that counts them (metrics)
 * and a subscriber that writes them (log lines) therefore see exactly the same steps.
 *
 * Unused, it costs a `hasSubscribers` check per step: nothing is built for nobody.
 */

/** The channel's name, for `diagnostics_channel.subscribe(EVENTS_CHANNEL, handler)`. */
export const EVENTS_CHANNEL = 'cache-stampede:event';

/**
 * Correlation fields a caller passes with a call (`context` of getOrCompute, set, delete), e.g.
 * `{ runId, jobId, workerId }` or `{ requestId }`. Every event of the call carries the same
 * object, untouched; the library never reads it.
 */
export type EventContext = Readonly<Record<string, unknown>>;

/** The fields of each event, as docs/log-contract.md documents them. */
export type EventFields = {
  /** `tier`: which tier answered; `stale`: a stale value served (swr, xfetch); `coalesced`: the read was shared in-process. */
  'cache.hit': { tier?: 'l1' | 'redis' | 'outage'; stale?: true; coalesced?: true; degraded?: true };
  'cache.miss': { stale?: true; coalesced?: true };
  'cache.write': { fence: number; set?: true };
  'cache.write.rejected': { fence: number; storedFence: number };
  'cache.delete': { existed: boolean };
  /** A stored value that an invalidation covers (`invalidateTags`, a namespace's `clear()`) was found and counted as missing. */
  'cache.invalidated': { bornAt: number; invalidatedAt: number };
  /** `invalidateTags` (or `clear()`, with `namespace`): the marks' records now say so. */
  'tags.invalidated': { tags: string[]; namespace?: string };
  'flight.joined': Record<string, never>;
  'lock.acquired': { fence: number };
  'lock.busy': { refresh?: 'early' };
  'lock.released': { fence: number };
  'lock.extended': { fence: number };
  'lock.lost': { fence: number; during: 'compute' | 'write' | 'release' };
  'wait.start': { timeoutMs: number };
  'wait.end': { waitedMs: number; outcome: WaitOutcomeName };
  /** One recomputation. */
  'recompute.start': { fence: number; degraded?: true };
  /** `uncached`: the computation asked that its value be stored nowhere (`skipCache`). */
  'recompute.end': { durationMs: number; fence: number; uncached?: true };
  'recompute.failed': { durationMs: number; fence: number; err: unknown };
  /** `coalesced` lines (a caller that joined another's flight) carry no reason of their own. */
  'stale.served': {
    reason?: 'refreshing' | 'compute-failed' | 'backoff' | 'redis-down' | 'soft-timeout';
    computedAt?: number;
    backoffUntil?: number;
    coalesced?: true;
  };
  'backoff.start': { backoffMs: number; computedAt: number };
  /** `remainingMs`: of an early refresh, the value's fresh time left when the read decided it (freshUntil - now). */
  'refresh.start': { reason: 'stale' | 'early'; fence: number; remainingMs?: number };
  'refresh.end': { reason: 'stale' | 'early'; fence: number; ok: boolean; durationMs: number };
  'script.not-cached': { script: string };
  /** From the BullMQ processor (`cache-stampede/bullmq`): `latencyMs` from enqueue to completion. */
  /** `batch`: one key of a batch job (`keys`), each key its own line. */
  'job.completed': { latencyMs: number; source: ValueSource; batch?: true };
  /** `reason` and `code` for invalid job data, else `err`. */
  'job.failed': { latencyMs: number; attempt: number; reason?: string; code?: string; err?: unknown; batch?: true };
  /** An attempt failed for a reason that says nothing about the value (Redis out of reach); BullMQ tries again. */
  'job.retry': { latencyMs: number; attempt: number; err: unknown; batch?: true };
  /** The guard's own connections: its pub/sub `subscriber`, and the `l1-bus` announcements. */
  'redis.error': { role: 'subscriber' | 'l1-bus'; err: unknown };
  /** The guard's circuit breaker for `node` (host:port) opened: a step failed or had no answer in time. */
  'redis.unavailable': { node: string; cause: string };
  /** A probe of `node`'s keys was answered in time (on a cluster, by whichever master serves them now): their calls go to Redis again. */
  'redis.available': { node: string; downMs: number };
  /** A call found its Redis unavailable and followed `onRedisDown`. */
  'cache.degraded': { policy: 'compute' | 'error'; cause: string };
};

export type GuardEventName = keyof EventFields;

/**
 * How a wait for another holder ended (`released`: the holder gave up and the lock came to us;
 * `closed`: the guard was closed; `unavailable`: its Redis became unavailable; `soft-timeout`: the
 * call was answered with its stale value at its soft timeout).
 */
export type WaitOutcomeName = 'value' | 'released' | 'failed' | 'timeout' | 'closed' | 'unavailable' | 'soft-timeout';

/** One event, as published. Read-only: every subscriber, and the log line, share the objects. */
export type GuardEvent = {
  [E in GuardEventName]: {
    readonly event: E;
    /** The level its log line is written at. */
    readonly level: Level;
    /** The cache key; absent for events of the guard itself (a connection error). */
    readonly key?: string;
    /** The call's strategy; absent for `set`, `delete` and events of the guard itself. */
    readonly strategy?: string;
    /** The correlation fields the caller passed with the call, as passed. */
    readonly context?: EventContext;
    readonly fields: Readonly<EventFields[E]>;
  };
}[GuardEventName];

/** Whom an event is about: a call (its key, strategy, context), or the guard itself; and where its line goes. */
export interface EventSource {
  readonly log: Logger;
  readonly key?: string;
  readonly strategy?: string;
  readonly context?: EventContext | undefined;
  /** The call's span, when the guard traces (`tracing`): each event is a step of it. */
  readonly trace?: CallTrace | undefined;
}

const events = channel(EVENTS_CHANNEL);
/** The fields of an event that has none: one shared object, not one per event. */
const NO_FIELDS = Object.freeze({});

/** Report one event: to the channel's subscribers, and as a line to the source's logger. */
export function emitEvent<E extends GuardEventName>(
  source: EventSource,
  level: Level,
  event: E,
  fields: EventFields[E] = NO_FIELDS as EventFields[E],
): void {
  if (events.hasSubscribers) {
    if ('err' in fields) hideCredentials(fields.err);
    events.publish({ event, level, key: source.key, strategy: source.strategy, context: source.context, fields });
  }
  source.trace?.event(event, fields);
  logEvent(source.log, level, event, fields);
}

/**
 * Call `handler` with every event of every guard (and processor) in this process until the
 * returned function is called. The handler runs synchronously inside the guard's step: keep it
 * short, and do not throw (diagnostics_channel reports a throw as an uncaught exception).
 */
export function subscribeEvents(handler: (event: GuardEvent) => void): () => void {
  const listener = (message: unknown) => handler(message as GuardEvent);
  subscribe(EVENTS_CHANNEL, listener);
  return () => {
    unsubscribe(EVENTS_CHANNEL, listener);
  };
}
