import { createReadStream } from 'node:fs';
import { basename, extname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { UserError } from '../../common/errors.js';
import { filesIn, statOrThrow } from '../find-files.js';
import { parseSpanLine, type Span } from './span.js';

/**
 * Reading the lab's span files (`spans-<something>.jsonl`, one per process, beside its pino logs).
 * Streamed line by line like the logs (read-logs.ts): a load run's span files may hold hundreds
 * of thousands of spans, and the waterfall needs only a few of them. A line that is not a span
 * (a process killed mid-write leaves a truncated last line) is skipped and counted.
 */

export interface SpanReadStats {
  /** The span files read (each once, whatever the number of passes). */
  files: string[];
  lines: number;
  spans: number;
  /** Lines that were not blank and not a span. */
  invalid: number;
  /** Where the first of them was, to point a human at it; `null` when none was. */
  firstInvalid: { file: string; line: number } | null;
}

export function emptySpanReadStats(): SpanReadStats {
  return { files: [], lines: 0, spans: 0, invalid: 0, firstInvalid: null };
}

/** A span and the file it came from (which process wrote it, when its fields do not say). */
export interface ReadSpan {
  span: Span;
  file: string;
}

/** In a directory, what counts as a span file; a `.jsonl` file named on its own is read whatever its name. */
export function isSpanFileName(name: string): boolean {
  return name.startsWith('spans-') && extname(name).toLowerCase() === '.jsonl';
}

/**
 * Expand paths into span files, as `findLogFiles` does for logs: a directory gives its
 * `spans-*.jsonl` files (sub-directories included), sorted; a file is taken when it is a
 * `.jsonl` file (a log file named beside it is not a span file). No span file at all is an
 * empty list, not an error: tracing is off by default. A path that does not exist is a
 * `UserError` (code `E_LOGS`), as for the logs.
 */
export async function findSpanFiles(paths: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  const seen = new Set<string>();
  for (const path of paths) {
    const found = (await statOrThrow(path, 'spans')).isDirectory()
      ? await filesIn(path, isSpanFileName)
      : extname(path).toLowerCase() === '.jsonl'
        ? [path]
        : [];
    for (const file of found) {
      const id = resolve(file);
      if (seen.has(id)) continue;
      seen.add(id);
      files.push(file);
    }
  }
  return files;
}

/**
 * The spans of `files`, in file order then line order. `stats` is filled in while iterating;
 * pass the same one to several passes and it counts each line once (the first pass).
 */
export async function* readSpanFiles(files: readonly string[], stats: SpanReadStats = emptySpanReadStats()): AsyncGenerator<ReadSpan> {
  for (const file of files) {
    const counting = !stats.files.includes(file);
    if (counting) stats.files.push(file);
    const input = createReadStream(file, { encoding: 'utf8' });
    const lines = createInterface({ input, crlfDelay: Infinity });
    let lineNo = 0;
    try {
      for await (const line of lines) {
        lineNo++;
        const span = parseSpanLine(line);
        if (counting) {
          stats.lines++;
          if (span) stats.spans++;
          else if (line.trim() !== '') {
            stats.invalid++;
            stats.firstInvalid ??= { file, line: lineNo };
          }
        }
        if (span) yield { span, file };
      }
    } catch (err) {
      throw new UserError('E_LOGS', `cannot read ${file}: ${(err as Error).message}`, { cause: err });
    } finally {
      lines.close();
      input.destroy();
    }
  }
}

/** "read 3 span files: 812 spans, 1 invalid line skipped (first: spans-x.jsonl line 4)" */
export function formatSpanInput(stats: SpanReadStats): string {
  const files = `read ${stats.files.length} span file${stats.files.length === 1 ? '' : 's'}: ${stats.spans} span${stats.spans === 1 ? '' : 's'}`;
  if (stats.invalid === 0) return files;
  const where = stats.firstInvalid ? ` (first: ${basename(stats.firstInvalid.file)} line ${stats.firstInvalid.line})` : '';
  return `${files}, ${stats.invalid} invalid line${stats.invalid === 1 ? '' : 's'} skipped${where}`;
}
