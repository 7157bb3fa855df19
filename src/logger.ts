import { pino, type Logger, type LevelWithSilent, type DestinationStream } from 'pino';

/**
 * The closed set of log events. Every machine-readable line has one of these as `event`,
 * and a fixed lowercase `msg` for humans. The log report counts these, so adding an event
 * means documenting it in the README's log contract.
 */
export const EVENTS = {
  'cache.hit': 'cache hit',
  'cache.miss': 'cache miss',
  'cache.write': 'value written',
  'cache.write.rejected': 'write rejected by a newer fence',
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
  'worker.started': 'worker started',
  'worker.stopping': 'worker stopping',
  'worker.stopped': 'worker stopped',
  'redis.warning': 'redis configuration warning',
  'redis.error': 'redis connection error (reconnecting)',
  'worker.error': 'worker error',
} as const;

export type EventName = keyof typeof EVENTS;
export type Level = 'debug' | 'info' | 'warn' | 'error';
export type { Logger };

/** Fields that tie a log line to one job of one run on one worker. */
export interface CorrelationFields {
  runId?: string;
  jobId?: string;
  strategy?: string;
  key?: string;
  workerId?: string;
}

/** Write one event line: `{ event, msg, ...fields }`. Errors go under `err` (pino's serializer). */
export function logEvent(
  logger: Logger,
  level: Level,
  event: EventName,
  fields: Record<string, unknown> = {},
): void {
  if (!logger.isLevelEnabled(level)) return;
  logger[level]({ event, ...fields }, EVENTS[event]);
}

export interface LoggerOptions {
  level?: LevelWithSilent;
  /** Where NDJSON goes; default stdout. Use `pino.destination({ sync: true })` in short-lived processes. */
  destination?: DestinationStream;
  /** Bound on every line (e.g. workerId). pino's own `pid` and `hostname` stay. */
  base?: Record<string, unknown>;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const logger = pino(
    {
      level: options.level ?? 'info',
      // Keep pino's default base (pid, hostname): the log contract relies on `pid`.
      timestamp: pino.stdTimeFunctions.epochTime,
      redact: { paths: ['password', '*.password', 'url', '*.url'], censor: redactUrlCensor },
    },
    options.destination ?? pino.destination(1),
  );
  return options.base ? logger.child(options.base) : logger;
}

/** A logger that drops everything: the library's default when the caller passes none. */
export const silentLogger: Logger = pino({ level: 'silent' });

/** A child logger bound to a job's correlation fields; every line it writes carries them. */
export function jobLogger(parent: Logger, fields: CorrelationFields): Logger {
  return parent.child(fields);
}

function redactUrlCensor(value: unknown): unknown {
  return typeof value === 'string' ? redactUrl(value) : '[Redacted]';
}

/**
 * `redis://user:secret@host:6379/0` -> `redis://user:***@host:6379/0`, wherever URLs appear in
 * the text (error messages quote them). The credentials run to the last `@` before the path, so
 * a raw `@` in a password is hidden too; a `password=` query parameter is hidden as well.
 * Never log a URL without it.
 */
export function redactUrl(text: string): string {
  return text
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#]*)@/gi, (_m, scheme: string, auth: string) => {
      const colon = auth.indexOf(':');
      return colon === -1 ? `${scheme}***@` : `${scheme}${auth.slice(0, colon)}:***@`;
    })
    .replace(/([?&]password=)[^&#\s]*/gi, '$1***');
}
