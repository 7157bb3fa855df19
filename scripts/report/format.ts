import type { ReadStats } from './read-logs.js';
import { failedVerdicts, type GroupSummary, type Report, type SplitBy, type Verdict } from './summarize.js';

/**
 * Two renderings of a Report: an aligned plain-text table for people (no colours, so it
 * survives pipes, CI logs and `> file`), and a JSON shape for machines whose field names
 * are a contract (see `ReportJson`).
 */

// ---------------------------------------------------------------------------------------------
// Text
// ---------------------------------------------------------------------------------------------

interface Column {
  header: string;
  align: 'left' | 'right';
  value: (g: GroupSummary) => string;
}

const SPLIT_COLUMNS: Record<SplitBy, Column> = {
  run: { header: 'run', align: 'left', value: (g) => g.runId ?? '-' },
  key: { header: 'key', align: 'left', value: (g) => g.key ?? '-' },
  worker: { header: 'worker', align: 'left', value: (g) => g.worker ?? '-' },
};

const count = (header: string, pick: (g: GroupSummary) => number): Column => ({
  header,
  align: 'right',
  value: (g) => String(pick(g)),
});

const COUNT_COLUMNS: Column[] = [
  count('jobs', (g) => g.jobs),
  count('failed', (g) => g.failed),
  count('recomputes', (g) => g.recomputations),
  count('hits', (g) => g.hits),
  count('l1 hits', (g) => g.l1Hits),
  count('misses', (g) => g.misses),
  count('waits', (g) => g.waits),
  count('joins', (g) => g.flightJoins),
  count('writes', (g) => g.writes),
  count('rejected', (g) => g.rejectedWrites),
  count('lost', (g) => g.lostLocks),
  {
    header: 'cache/computed/waited/stale',
    align: 'right',
    value: (g) => `${g.sources.cache}/${g.sources.computed}/${g.sources.waited}/${g.sources.stale}`,
  },
  { header: 'p50 ms', align: 'right', value: (g) => ms(g.latencyMs.p50) },
  { header: 'p99 ms', align: 'right', value: (g) => ms(g.latencyMs.p99) },
  { header: 'max ms', align: 'right', value: (g) => ms(g.latencyMs.max) },
  count('keys', (g) => g.keys),
  count('runs', (g) => g.runs),
  count('workers', (g) => g.workers),
];

/** The whole report as text: what was read, one table per strategy, the split table, the verdicts. */
export function formatReport(report: Report, input?: ReadStats | null): string {
  const out: string[] = [];
  if (input) out.push(formatInput(input));
  if (report.runId !== null) {
    const others = report.filteredOut > 0 ? ` (${report.filteredOut} lines of other runs left out)` : '';
    out.push(`run ${report.runId}${others}`);
  }
  if (report.strategies.length === 0) {
    out.push(report.runId === null ? 'no job lines found' : `no job lines found for run ${report.runId}`);
    return `${out.join('\n')}\n`;
  }
  if (out.length > 0) out.push('');
  out.push('per strategy', renderTable(columnsFor([]), report.strategies));
  if (report.by.length > 0) {
    out.push('', `per strategy, ${report.by.join(', ')}`, renderTable(columnsFor(report.by), report.groups));
  }
  if (report.verdicts.length > 0) {
    out.push('', 'verdicts', ...report.verdicts.map(formatVerdict));
  }
  return `${out.join('\n')}\n`;
}

/** One verdict line, as printed under "verdicts". */
export function formatVerdict(verdict: Verdict): string {
  return `  ${verdict.message}`;
}

/** `read 4 files: 1234 lines, 1230 records, 4 skipped (3 not JSON, first at logs/w1.ndjson:17)` */
export function formatInput(input: ReadStats): string {
  const files = `${input.files.length} ${input.files.length === 1 ? 'file' : 'files'}`;
  let skipped = `${input.skipped} skipped`;
  if (input.invalid > 0) {
    const first = input.firstInvalid ? `, first at ${input.firstInvalid.file}:${input.firstInvalid.line}` : '';
    const blank = input.skipped - input.invalid;
    skipped += ` (${input.invalid} not JSON${first}${blank > 0 ? `; ${blank} blank` : ''})`;
  }
  return `read ${files}: ${input.lines} lines, ${input.records} records, ${skipped}`;
}

/**
 * Align columns with spaces: text left, numbers right, two spaces between columns.
 * Exported for other plain-text tables (the demo's) to look the same.
 */
export function renderTable<T>(
  columns: readonly { header: string; align: 'left' | 'right'; value: (row: T) => string }[],
  rows: readonly T[],
): string {
  const cells = rows.map((row) => columns.map((c) => c.value(row)));
  // reduce, not Math.max(...spread): a per-key table can have more rows than a call has arguments.
  const widths = columns.map((c, i) => cells.reduce((w, r) => Math.max(w, r[i]?.length ?? 0), c.header.length));
  const line = (values: readonly string[]): string =>
    values
      .map((v, i) => (columns[i]?.align === 'right' ? v.padStart(widths[i] ?? 0) : v.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n');
}

function columnsFor(by: readonly SplitBy[]): Column[] {
  return [{ header: 'strategy', align: 'left', value: (g) => g.strategy }, ...by.map((b) => SPLIT_COLUMNS[b]), ...COUNT_COLUMNS];
}

/** Whole milliseconds, except below 10 ms where a tenth still says something; `-` for none. */
function ms(value: number | null): string {
  if (value === null) return '-';
  return Number.isInteger(value) || value >= 10 ? String(Math.round(value)) : value.toFixed(1);
}

// ---------------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------------

/**
 * The machine-readable report (`npm run logs -- --json`). Field names are a contract; a
 * breaking change bumps `version`. Times are milliseconds; a missing value is `null`.
 *
 * - `version`: 1.
 * - `ok`: false when any verdict has status `fail` (what `--check` exits 1 on).
 * - `input`: what was read, or `null` when the records did not come from files:
 *   `files` (paths), `lines`, `records`, `skipped` (blank or not one JSON object, e.g. a
 *   truncated last line), `invalid` (the skipped lines that were not blank).
 * - `runId`: the `--run` filter or `null`; `by`: the splits below strategy (`key`, `run`, `worker`).
 * - `strategies`: one `GroupJson` per strategy; `groups`: one per strategy and split value
 *   (the same as `strategies` when `by` is empty).
 * - `GroupJson`: `strategy`; `runId`, `key`, `worker` (the split values, `null` when not split);
 *   counts `jobs` (= `completed` + `failed`), `completed`, `failed`, `hits` (`cache.hit`),
 *   `misses` (`cache.miss`), `recomputations` (`recompute.start`), `waits` (`wait.start`),
 *   `flightJoins` (`flight.joined`), `writes` (`cache.write`), `rejectedWrites`
 *   (`cache.write.rejected`), `lostLocks` (`lock.lost`); `sources` {`cache`, `computed`,
 *   `waited`} of completed jobs; `latencyMs` {`p50`, `p99`, `max`}, nearest-rank, enqueue to
 *   completion; distinct `keys`, `runs`, `workers`; `events`: every event name seen, with its count.
 * - `verdicts`: per strategy with a rule: `strategy`, `status` (`ok` | `fail` | `info`), `rule`,
 *   `message` (the printed line), `keys`, `runs`, `processes` (local-lock, else `null`), `pairs`
 *   (units checked), `recomputations`, `maxPerPair`, `offenders` [{`runId`, `key`, `worker`,
 *   `recomputations`}], worst first.
 * - `runsSeen`: every run id in the logs before filtering; `ignored`: lines that are not job
 *   lines (no `strategy`); `filteredOut`: job lines of other runs.
 */
export interface ReportJson {
  version: 1;
  ok: boolean;
  input: { files: string[]; lines: number; records: number; skipped: number; invalid: number } | null;
  runId: string | null;
  by: SplitBy[];
  strategies: GroupSummary[];
  groups: GroupSummary[];
  verdicts: Verdict[];
  runsSeen: string[];
  ignored: number;
  filteredOut: number;
}

export function toJSON(report: Report, input?: ReadStats | null): ReportJson {
  return {
    version: 1,
    ok: failedVerdicts(report).length === 0,
    input: input
      ? { files: [...input.files], lines: input.lines, records: input.records, skipped: input.skipped, invalid: input.invalid }
      : null,
    runId: report.runId,
    by: [...report.by],
    // Rebuilt field by field: the JSON keeps its names and order even if the Report grows.
    strategies: report.strategies.map(groupJson),
    groups: report.groups.map(groupJson),
    verdicts: report.verdicts.map(verdictJson),
    runsSeen: [...report.runsSeen],
    ignored: report.ignored,
    filteredOut: report.filteredOut,
  };
}

function groupJson(g: GroupSummary): GroupSummary {
  return {
    strategy: g.strategy,
    runId: g.runId,
    key: g.key,
    worker: g.worker,
    jobs: g.jobs,
    completed: g.completed,
    failed: g.failed,
    hits: g.hits,
    l1Hits: g.l1Hits,
    misses: g.misses,
    recomputations: g.recomputations,
    waits: g.waits,
    flightJoins: g.flightJoins,
    writes: g.writes,
    rejectedWrites: g.rejectedWrites,
    lostLocks: g.lostLocks,
    sources: { cache: g.sources.cache, computed: g.sources.computed, waited: g.sources.waited, stale: g.sources.stale },
    latencyMs: { p50: g.latencyMs.p50, p99: g.latencyMs.p99, max: g.latencyMs.max },
    keys: g.keys,
    runs: g.runs,
    workers: g.workers,
    events: { ...g.events },
  };
}

function verdictJson(v: Verdict): Verdict {
  return {
    strategy: v.strategy,
    status: v.status,
    rule: v.rule,
    message: v.message,
    keys: v.keys,
    runs: v.runs,
    processes: v.processes,
    pairs: v.pairs,
    recomputations: v.recomputations,
    maxPerPair: v.maxPerPair,
    offenders: v.offenders.map((o) => ({ runId: o.runId, key: o.key, worker: o.worker, recomputations: o.recomputations })),
  };
}
