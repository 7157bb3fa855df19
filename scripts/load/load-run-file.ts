import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { LoadRow } from './run-load.js';
import type { TrafficSpec } from './traffic-options.js';

/**
 * A load run on disk: `npm run load` (and the demo's load stage) write `load.json` beside the
 * run's logs, the same document `npm run load -- --json` prints, so that `npm run logs -- --html`
 * on those logs can draw the run again (origin load and latency per second are counted by the
 * producer and the origin, not logged by the workers: the logs alone cannot give them).
 */

export const LOAD_RUN_FILE = 'load.json';

export interface LoadRun {
  traffic: TrafficSpec;
  workers: number;
  rows: LoadRow[];
}

export async function writeLoadRun(dir: string, run: LoadRun): Promise<string> {
  const file = resolve(dir, LOAD_RUN_FILE);
  await writeFile(file, `${JSON.stringify(run, null, 2)}\n`, 'utf8');
  return file;
}

/** What `findLoadRuns` found: the runs, and one line per file it could not use (the report goes on without it). */
export interface FoundLoadRuns {
  runs: Array<LoadRun & { file: string }>;
  problems: string[];
}

/**
 * Every `load.json` in the given paths: a path that is such a file, or a directory searched
 * through its sub-directories (as the log reader searches for log files). Paths that do not
 * exist are the log reader's to report.
 */
export async function findLoadRuns(paths: readonly string[]): Promise<FoundLoadRuns> {
  const found: FoundLoadRuns = { runs: [], problems: [] };
  const files = new Set<string>();
  for (const path of paths) {
    const info = await stat(path).catch(() => null);
    if (info?.isDirectory()) for (const file of await loadFilesIn(path)) files.add(resolve(file));
    else if (info?.isFile() && path.endsWith(LOAD_RUN_FILE)) files.add(resolve(path));
  }
  for (const file of [...files].sort()) {
    const run = parseLoadRun(await readFile(file, 'utf8').catch(() => ''));
    if (run) found.runs.push({ ...run, file });
    else found.problems.push(`${file}: not a load run written by npm run load; left out of the report`);
  }
  return found;
}

/** The document, or null when it does not have the shape the report draws from. */
export function parseLoadRun(text: string): LoadRun | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const run = value as Partial<LoadRun>;
  const rowsOk =
    Array.isArray(run.rows) &&
    run.rows.every((r) => typeof r?.strategy === 'string' && Array.isArray(r.bins) && Array.isArray(r.origin?.bins));
  const trafficOk = typeof run.traffic?.durationMs === 'number' && Array.isArray(run.traffic.events);
  return rowsOk && trafficOk && typeof run.workers === 'number' ? (run as LoadRun) : null;
}

async function loadFilesIn(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const files: string[] = [];
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) files.push(...(await loadFilesIn(path)));
    else if (e.name === LOAD_RUN_FILE) files.push(path);
  }
  return files;
}
