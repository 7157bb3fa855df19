import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { emptyReadStats, readLogs, type LogRecord } from '../read-logs.js';
import { summarizeWithTimelines, type HtmlReportData } from './collect.js';
import { renderHtmlReport, type HtmlPageOptions } from './page.js';
import { loadSlowestJobTrace, type TraceResult } from '../trace/load-trace.js';

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

/**
 * Read log files or directories (as `npm run logs`) and write their HTML report. Span files in
 * the same paths (`spans-*.jsonl`, when the lab traced) add the slowest job's trace: of run
 * `traceRunId`, else `runId`, else the latest run with job spans. An explicit `trace` (even
 * `null`) is drawn instead and no span file is read.
 */
export async function writeHtmlReportFromLogs(
  paths: readonly string[],
  file: string,
  options: HtmlPageOptions & { runId?: string; traceRunId?: string; keep?: (record: LogRecord) => boolean } = {},
): Promise<WrittenReport & HtmlReportData & { trace?: TraceResult }> {
  const input = emptyReadStats();
  const records = options.keep ? filter(readLogs(paths, input), options.keep) : readLogs(paths, input);
  const data = await summarizeWithTimelines(records, { runId: options.runId });
  const trace = options.trace === undefined ? await loadSlowestJobTrace(paths, { runId: options.traceRunId ?? options.runId }) : undefined;
  const waterfall = options.trace !== undefined ? options.trace : trace?.status === 'ok' ? trace.waterfall : null;
  const written = await writeHtmlReport(file, data, { ...options, input: options.input ?? input, trace: waterfall });
  return { ...written, ...data, ...(trace && { trace }) };
}

async function* filter(records: AsyncIterable<LogRecord>, keep: (record: LogRecord) => boolean): AsyncGenerator<LogRecord> {
  for await (const record of records) if (keep(record)) yield record;
}
