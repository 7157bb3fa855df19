import { join } from 'node:path';
import { pino } from 'pino';
import { createLogger, type Logger } from './logger.js';
import type { LogLevel } from './config.js';

export interface FileLogger {
  logger: Logger;
  path: string;
  /** Write out what is buffered; call before the process exits. */
  flush(): void;
}

/**
 * A process's NDJSON log: `<logDir>/<name>-<pid>.ndjson`, one file per process so that
 * concurrent workers never interleave partial lines. Asynchronous writes for speed; `flush`
 * on the way out so the last lines are not lost.
 */
export function createFileLogger(logDir: string, name: string, level: LogLevel, base: Record<string, unknown>): FileLogger {
  const path = join(logDir, `${name}-${process.pid}.ndjson`);
  const destination = pino.destination({ dest: path, mkdir: true, sync: false });
  const logger = createLogger({ level, destination, base });
  return { logger, path, flush: () => destination.flushSync() };
}
