import { createReadStream } from 'node:fs';
import { extname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { UserError } from '../common/errors.js';
import { filesIn, statOrThrow } from './find-files.js';

/**
 * Reading pino NDJSON logs, one worker process a file. Lines are streamed with readline,
 * so a log of any size is read in constant memory. Logs are evidence, not input we control:
 * a worker killed mid-write leaves a truncated last line, someone may pipe pino-pretty output
 * into the directory, so anything that is not one JSON object is skipped and counted, never fatal.
 */

/** One parsed log line: pino's fields (`level`, `time`, `pid`, `hostname`, `msg`) and ours (`event`, ...). */
export type LogRecord = Readonly<Record<string, unknown>>;

/** What the reader saw. Filled in while the records are iterated; complete once iteration ends. */
export interface ReadStats {
  /** The files read, in reading order. */
  files: string[];
  /** Every line read, including skipped ones. */
  lines: number;
  /** Lines parsed into a record. */
  records: number;
  /** Lines not turned into a record: blank, or not one JSON object (e.g. a truncated last line). */
  skipped: number;
  /** The skipped lines that were not blank. */
  invalid: number;
  /** Where the first invalid line was, to point a human at it; `null` when none was. */
  firstInvalid: { file: string; line: number } | null;
}

/** Files inside a directory that count as logs. Files named explicitly are read whatever their name. */
export const LOG_FILE_EXTENSIONS = ['.ndjson', '.log'] as const;

export function emptyReadStats(): ReadStats {
  return { files: [], lines: 0, records: 0, skipped: 0, invalid: 0, firstInvalid: null };
}

/**
 * Expand paths into log files: a file is taken as is, a directory gives its `*.ndjson` and
 * `*.log` files (sub-directories included), sorted so reports are reproducible. A path given twice is
 * read once. Throws a `UserError` (code `E_LOGS`) naming the path when a path does not exist,
 * or when no log file is found at all.
 */
export async function findLogFiles(paths: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  const seen = new Set<string>();
  const add = (file: string): void => {
    const id = resolve(file);
    if (!seen.has(id)) {
      seen.add(id);
      files.push(file);
    }
  };
  for (const path of paths) {
    const info = await statOrThrow(path, 'logs');
    if (info.isDirectory()) {
      for (const file of await filesIn(path, isLogFileName)) add(file);
    } else {
      add(path);
    }
  }
  if (files.length === 0) {
    const where = paths.length === 0 ? 'no path given' : paths.join(', ');
    throw new UserError('E_LOGS', `no log files (*.ndjson, *.log) found in ${where}`);
  }
  return files;
}

/**
 * Parse the lines of log files into records, streaming. `stats` (pass your own to read it
 * afterwards) counts lines, records and skipped lines across all files.
 */
export async function* readLogFiles(files: readonly string[], stats: ReadStats = emptyReadStats()): AsyncGenerator<LogRecord> {
  for (const file of files) {
    stats.files.push(file);
    const input = createReadStream(file, { encoding: 'utf8' });
    // crlfDelay: a "\r\n" split across two chunks is still one line end.
    const lines = createInterface({ input, crlfDelay: Infinity });
    let lineNo = 0;
    try {
      for await (const line of lines) {
        lineNo++;
        stats.lines++;
        const record = parseLine(line);
        if (record) {
          stats.records++;
          yield record;
        } else {
          stats.skipped++;
          if (line.trim() !== '') {
            stats.invalid++;
            stats.firstInvalid ??= { file, line: lineNo };
          }
        }
      }
    } catch (err) {
      throw new UserError('E_LOGS', `cannot read ${file}: ${(err as Error).message}`, { cause: err });
    } finally {
      // Also runs when the consumer stops early: do not leave the file descriptor open.
      lines.close();
      input.destroy();
    }
  }
}

/** `findLogFiles` then `readLogFiles`: the usual way in. */
export async function* readLogs(paths: readonly string[], stats: ReadStats = emptyReadStats()): AsyncGenerator<LogRecord> {
  yield* readLogFiles(await findLogFiles(paths), stats);
}

/** One JSON object, or `null` for anything else (blank, truncated, plain text, a bare number...). */
export function parseLine(line: string): LogRecord | null {
  const text = line.trim();
  // Cheap pre-check: pino writes objects only, so skip the parse (and its exception) for the rest.
  if (!text.startsWith('{') || !text.endsWith('}')) return null;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as LogRecord) : null;
  } catch {
    return null;
  }
}

function isLogFileName(name: string): boolean {
  return (LOG_FILE_EXTENSIONS as readonly string[]).includes(extname(name).toLowerCase());
}
