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
      redact: { paths: ['password', '*.password', 'url', '*.url'], censor: redactUrlCensor },
    },
    options.destination ?? pino.destination(1),
  );
  return options.base ? logger.child(options.base) : logger;
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
