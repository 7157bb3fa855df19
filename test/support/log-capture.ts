import type { Logger } from '../../src/logger.js';
import { createLogger } from '../../scripts/common/logging.js';

export interface CapturedLine {
  event?: string;
  [field: string]: unknown;
}

/** A real pino logger whose lines are parsed into memory, for asserting on events. */
export function captureLogger(level: 'debug' | 'info' = 'debug'): { logger: Logger; lines: CapturedLine[]; count(event: string): number } {
  const lines: CapturedLine[] = [];
  const logger = createLogger({
    level,
    destination: { write: (chunk: string) => void lines.push(JSON.parse(chunk) as CapturedLine) },
  });
  return { logger, lines, count: (event) => lines.filter((l) => l.event === event).length };
}
