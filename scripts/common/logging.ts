import { pino, type DestinationStream, type LevelWithSilent, type Logger } from 'pino';

/**
 * The lab's NDJSON logs: pino, with the contract's fields (pid, epoch-ms time) and every URL and
 * password redacted. The guard itself only needs a logger of pino's shape (src/logger.ts).
 */
export interface LoggerOptions {
  level?: LevelWithSilent;
  /** Where NDJSON goes; default stdout. Use `pino.destination({ sync: true })` in short-lived processes. */
  destination?: DestinationStream;
  /** Bound on every line (e.g. workerId). pino's own `pid` and `hostname` stay. */
  base?: Record<string, unknown>;
}

export type { Logger };

export function createLogger(options: LoggerOptions = {}): Logger {
  const logger = pino(
    {
      level: options.level ?? 'info',
      // Keep pino's default base (pid, hostname): the log contract relies on `pid`.
      timestamp: pino.stdTimeFunctions.epochTime,
      formatters: { log: redactSecrets },
    },
    options.destination ?? pino.destination(1),
  );
  return options.base ? logger.child(options.base) : logger;
}

/**
 * `password` fields become `[Redacted]` and `url` fields lose their credentials, at the top of a
 * line and one level down. A plain check of each key: pino's `redact` with wildcard paths did the
 * same at several times the cost, on every line of every job.
 */
export function redactSecrets(fields: Record<string, unknown>, depth = 0): Record<string, unknown> {
  let copy: Record<string, unknown> | null = null;
  for (const key in fields) {
    const value = fields[key];
    let safe = value;
    if (key === 'password') safe = '[Redacted]';
    else if (key === 'url') safe = typeof value === 'string' ? redactUrl(value) : '[Redacted]';
    else if (depth === 0 && isPlainObject(value)) safe = redactSecrets(value, 1);
    if (safe !== value) {
      copy ??= { ...fields };
      copy[key] = safe;
    }
  }
  return copy ?? fields;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
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
