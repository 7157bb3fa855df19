import { hideCredentials } from './redis/credentials.js';

/**
 * The closed set of log events. Every machine-readable line has one of these as `event`,
 * and a fixed lowercase `msg` for humans. The log report counts these, so adding an event
 * means documenting it in docs/log-contract.md. The library's own are also typed events, with
 * their fields (events.ts); the rest are the lab worker's.
 */
export const EVENTS = {
  'cache.hit': 'cache hit',
  'cache.miss': 'cache miss',
  'cache.write': 'value written',
  'cache.write.rejected': 'write rejected by a newer fence',
  'cache.delete': 'value deleted',
  'cache.invalidated': 'stored value covered by an invalidation, counted as missing',
  'tags.invalidated': 'tags invalidated',
  'flight.joined': 'joined an in-flight computation in this process',
  'lock.acquired': 'lock acquired',
  'lock.busy': 'lock held by another holder',
  'lock.released': 'lock released',
  'lock.extended': 'lock extended',
  'lock.lost': 'lock lost',
  'wait.start': 'waiting for the holder',
  'wait.end': 'wait ended',
  'recompute.start': 'recompute started',
  'recompute.end': 'recompute ended',
  'recompute.failed': 'recompute failed',
  'stale.served': 'stale value served',
  'backoff.start': 'failure back-off started: the stale value is served without recomputing',
  'refresh.start': 'background refresh started',
  'refresh.end': 'background refresh ended',
  'script.not-cached': 'script not in redis script cache, sent with eval',
  'job.completed': 'job completed',
  'job.failed': 'job failed',
  'job.retry': 'job attempt failed, to be tried again',
  'worker.started': 'worker started',
  'worker.stopping': 'worker stopping',
  'worker.stopped': 'worker stopped',
  'redis.warning': 'redis configuration warning',
  'redis.error': 'redis connection error (reconnecting)',
  'redis.unavailable': 'cache redis unavailable: calls follow onRedisDown until a probe is answered',
  'redis.available': 'cache redis available again',
  'cache.degraded': 'cache redis unavailable for this call: onRedisDown applied',
  'worker.error': 'worker error',
} as const;

export type EventName = keyof typeof EVENTS;
export type Level = 'debug' | 'info' | 'warn' | 'error';

type LogMethod = (fields: Record<string, unknown>, msg?: string) => void;

/**
 * What the guard logs to: pino's shape (a pino logger fits as it is), so the guard needs no
 * logging library of its own. `child` binds correlation fields; `isLevelEnabled`, when there,
 * spares building lines nobody will see.
 */
export interface Logger {
  debug: LogMethod;
  info: LogMethod;
  warn: LogMethod;
  error: LogMethod;
  child(bindings: Record<string, unknown>): Logger;
  isLevelEnabled?(level: string): boolean;
  bindings?(): Record<string, unknown>;
}

/** Fields that tie a log line to one job of one run on one worker. */
export type CorrelationFields = {
  runId?: string;
  jobId?: string;
  strategy?: string;
  key?: string;
  workerId?: string;
};

/**
 * Write one event line: `{ event, msg, ...fields }`. Errors go under `err` (pino's serializer),
 * without the password of a failed AUTH (redis/credentials.ts). The library reports through
 * `emitEvent` (events.ts), which writes its line here.
 */
export function logEvent(logger: Logger, level: Level, event: EventName, fields: Record<string, unknown> = {}): void {
  if (logger.isLevelEnabled && !logger.isLevelEnabled(level)) return;
  hideCredentials(fields.err);
  logger[level]({ event, ...fields }, EVENTS[event]);
}

const drop = () => {};

/** A logger that drops everything: the library's default when the caller passes none. */
export const silentLogger: Logger = {
  debug: drop,
  info: drop,
  warn: drop,
  error: drop,
  child: () => silentLogger,
  isLevelEnabled: () => false,
};

/** A child logger bound to a job's correlation fields; every line it writes carries them. */
export function jobLogger(parent: Logger, fields: CorrelationFields): Logger {
  return parent.child(fields);
}
