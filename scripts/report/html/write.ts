import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { emptyReadStats, readLogs, type LogRecord } from '../read-logs.js';
import { summarizeWithTimelines, type HtmlReportData } from './collect.js';
import { renderHtmlReport, type HtmlPageOptions } from './page.js';

export interface WrittenReport {
  /** Absolute path of the file written. */
  file: string;
  bytes: number;
}

/** Render the page and write it, creating the directory; returns the absolute path to print. */
export async function writeHtmlReport(file: string, data: HtmlReportData, options: HtmlPageOptions = {}): Promise<WrittenReport> {
  const html = await renderHtmlReport(data, options);
  const path = resolve(file);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, html, 'utf8');
  return { file: path, bytes: Buffer.byteLength(html) };
}

/** Read log files or directories (as `npm run logs`) and write their HTML report. */
export async function writeHtmlReportFromLogs(
  paths: readonly string[],
  file: string,
  options: HtmlPageOptions & { runId?: string; keep?: (record: LogRecord) => boolean } = {},
): Promise<WrittenReport & HtmlReportData> {
  const input = emptyReadStats();
  const records = options.keep ? filter(readLogs(paths, input), options.keep) : readLogs(paths, input);
  const data = await summarizeWithTimelines(records, { runId: options.runId });
  const written = await writeHtmlReport(file, data, { ...options, input: options.input ?? input });
  return { ...written, ...data };
}

async function* filter(records: AsyncIterable<LogRecord>, keep: (record: LogRecord) => boolean): AsyncGenerator<LogRecord> {
  for await (const record of records) if (keep(record)) yield record;
}
