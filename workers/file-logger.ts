import { join } from 'node:path';
import { pino } from 'pino';
import type { Logger } from '../src/logger.js';
import { createLogger } from '../scripts/common/logging.js';
import type { LogLevel } from '../scripts/common/config.js';

export interface FileLogger {
  logger: Logger;
  path: string;
  /** Write out what is buffered, in order, and close the file. */
  close(): Promise<void>;
}

/**
 * A process's NDJSON log: `<logDir>/<name>-<pid>.ndjson`, one file per process so that
 * concurrent workers never interleave partial lines. Asynchronous writes for speed; `close`
 * on the way out ends the stream after the pending writes, so the last lines come out in order
 * (a flushSync while a write is in flight could put queued lines ahead of it).
 */
export function createFileLogger(logDir: string, name: string, level: LogLevel, base: Record<string, unknown>): FileLogger {
  const path = join(logDir, `${name}-${process.pid}.ndjson`);
  const destination = pino.destination({ dest: path, mkdir: true, sync: false });
  const logger = createLogger({ level, destination, base });
  const close = () =>
    new Promise<void>((resolve) => {
      destination.once('close', () => resolve());
      destination.end();
    });
  return { logger, path, close };
}
