import { strategyLabel } from '../../src/bullmq/job-data.js';
import { STRATEGIES } from '../../src/cache/strategy.js';
import type { EventName } from '../../src/logger.js';
import { ascending, percentileOfSorted } from './percentile.js';
import { RecomputationsPerValue } from './per-value.js';
import type { LogRecord } from './read-logs.js';

/**
 * Accounting over log records: counts per strategy (optionally split by key, run, worker)
 * and one verdict per strategy. No I/O: records come from anywhere (`readLogs`, a test, a
 * live stream), so the same code serves `npm run logs`, the demo and the tests.
 *
 * A "job line" is a record with a `strategy`; only those are counted. Events this file does
 * not know are tallied in `events` and otherwise ignored, so newer logs never break the report.
 * A strategy that is not one of the library's (a producer's made-up one, in a log written before
 * the processor labelled it) is counted under `invalid`, as the worker's metrics count it
 * (strategyLabel in src/bullmq/job-data.ts: one rule for both).
 */

export const GROUP_BY = ['strategy', 'key', 'run', 'worker'] as const;
export type GroupBy = (typeof GROUP_BY)[number];
/** The splits below a strategy; `strategy` itself is always the first. */
export type SplitBy = Exclude<GroupBy, 'strategy'>;

export interface SummarizeOptions {
  /** Split each strategy further, in this order. `strategy` is always implied. @default [] */
  by?: readonly GroupBy[];
  /** Count only the lines of this run. @default every run */
  runId?: string | undefined;
}

/** Where completed jobs got their value (`job.completed` `source`). */
/** Where each completed job's value came from (`job.completed`'s `source`): they add up to `completed`. */
export interface SourceCounts {
  cache: number;
  computed: number;
  waited: number;
  stale: number;
}

const SOURCES: ReadonlySet<string> = new Set<keyof SourceCounts>(['cache', 'computed', 'waited', 'stale']);

/** Nearest-rank percentiles of `job.completed` `latencyMs`; `null` when no job completed. */
export interface LatencySummary {
  p50: number | null;
  p99: number | null;
  max: number | null;
}

export interface GroupSummary {
  strategy: string;
  /** The group's run, key and worker when the report is split by them, else `null`. */
  runId: string | null;
  key: string | null;
  worker: string | null;
  /** `job.completed` + `job.failed`. */
  jobs: number;
  completed: number;
  failed: number;
  /** `cache.hit` events (a job may log more than one, e.g. the re-read after waiting). */
  hits: number;
  /** Of the hits, those the in-process L1 tier answered (`cache.hit` with `tier: 'l1'`). */
  l1Hits: number;
  misses: number;
  /** `recompute.start` events: one recomputation each. */
  recomputations: number;
  /** `wait.start` events: waits for another process's lock holder. */
  waits: number;
  flightJoins: number;
  writes: number;
  rejectedWrites: number;
  lostLocks: number;
  sources: SourceCounts;
  latencyMs: LatencySummary;
  /** Distinct keys, runs and workers (`workerId`, else `hostname:pid`) seen in the group. */
  keys: number;
  runs: number;
  workers: number;
  /** Every `event` seen in the group, known or not, with its count. */
  events: Record<string, number>;
}

export interface Report {
  /** The splits below strategy, in column order (no `strategy`, no duplicates). */
  by: SplitBy[];
  /** The `--run` filter, or `null`. */
  runId: string | null;
  /** One row per strategy, whatever the split. */
  strategies: GroupSummary[];
  /** One row per strategy and split value; the same rows as `strategies` when not split. */
  groups: GroupSummary[];
  /** One per strategy that has a rule (`none`, `local-lock`, `redis-lock`) and has job lines. */
  verdicts: Verdict[];
  /** Every run id in the job lines, before the run filter: helps when `--run` matched nothing. */
  runsSeen: string[];
  /** Records that are not job lines (no `strategy`), e.g. `worker.started`. */
  ignored: number;
  /** Job lines of other runs, left out by the run filter. */
  filteredOut: number;
}

/** Summarize records already in memory. */
export function summarize(records: Iterable<LogRecord>, options: SummarizeOptions = {}): Report {
  const builder = new ReportBuilder(options);
  for (const record of records) builder.add(record);
  return builder.build();
}

/** Summarize a stream of records (e.g. `readLogs(paths)`) without holding them all in memory. */
export async function summarizeAsync(
  records: AsyncIterable<LogRecord> | Iterable<LogRecord>,
  options: SummarizeOptions = {},
): Promise<Report> {
  const builder = new ReportBuilder(options);
  for await (const record of records) builder.add(record);
  return builder.build();
}

/** Normalize `by`: drop `strategy` (always first anyway) and repeats, keep the caller's order. */
export function splitsOf(by: readonly GroupBy[] = []): SplitBy[] {
  return [...new Set(by.filter((b): b is SplitBy => b !== 'strategy'))];
}

/** Which counter each known event increments. Typed by `EventName`, so renaming an event breaks the build here. */
const COUNTERS = {
  'job.completed': 'completed',
  'job.failed': 'failed',
  'cache.hit': 'hits',
  'cache.miss': 'misses',
  'recompute.start': 'recomputations',
  'wait.start': 'waits',
  'flight.joined': 'flightJoins',
  'cache.write': 'writes',
  'cache.write.rejected': 'rejectedWrites',
  'lock.lost': 'lostLocks',
} as const satisfies Partial<Record<EventName, keyof GroupSummary>>;
type Counter = (typeof COUNTERS)[keyof typeof COUNTERS];

/** The fields of one job line the accounting needs, `null` where absent. */
interface Labels {
  strategy: string;
  runId: string | null;
  key: string | null;
  worker: string | null;
  /** One worker process: `hostname:pid`, which stays unique when a workerId is reused after a restart. */
  processId: string | null;
}

/** Accumulates records one at a time; `build()` may be called more than once. */
export class ReportBuilder {
  private readonly by: SplitBy[];
  private readonly runId: string | null;
  private readonly strategies = new Map<string, GroupAccumulator>();
  private readonly groups = new Map<string, GroupAccumulator>();
  /** Per strategy: recomputations per (run, key), and per (run, key, process), for the verdicts. */
  private readonly perRunKey = new Map<string, Map<string, PairCount>>();
  private readonly perRunKeyProcess = new Map<string, Map<string, PairCount>>();
  /** The same recomputations in time order, cut into values at the end of each computation. */
  private readonly perValue = new RecomputationsPerValue();
  private readonly runsSeen = new Set<string>();
  private ignored = 0;
  private filteredOut = 0;

  constructor(options: SummarizeOptions = {}) {
    this.by = splitsOf(options.by);
    this.runId = options.runId ?? null;
  }

  add(record: LogRecord): void {
    const labels = labelsOf(record);
    if (!labels) {
      this.ignored++;
      return;
    }
    if (labels.runId !== null) this.runsSeen.add(labels.runId);
    if (this.runId !== null && labels.runId !== this.runId) {
      this.filteredOut++;
      return;
    }
    const event = typeof record.event === 'string' ? record.event : null;
    accumulatorFor(this.strategies, [labels.strategy], labels).add(event, record, labels);
    if (this.by.length > 0) {
      const split = this.by.map((b) => splitValue(labels, b));
      accumulatorFor(this.groups, [labels.strategy, ...split], labels, this.by).add(event, record, labels);
    }
    this.countPairs(event, labels, record.time);
  }

  build(): Report {
    const strategies = sortGroups(
      [...this.strategies.values()].map((g) => g.summary()),
      [],
    );
    const groups =
      this.by.length === 0
        ? strategies
        : sortGroups(
            [...this.groups.values()].map((g) => g.summary()),
            this.by,
          );
    this.countPerValue();
    const verdicts = strategies.flatMap((s) =>
      verdictsFor(s.strategy, valuesOf(this.perRunKey.get(s.strategy)), valuesOf(this.perRunKeyProcess.get(s.strategy))),
    );
    return {
      by: [...this.by],
      runId: this.runId,
      strategies,
      groups,
      verdicts,
      runsSeen: [...this.runsSeen].sort(naturalCompare),
      ignored: this.ignored,
      filteredOut: this.filteredOut,
    };
  }

  /**
   * Every keyed job line registers its (run, key) pair, not only `recompute.start`: a pair
   * served entirely from the cache must still show up, with 0 recomputations.
   */
  private countPairs(event: string | null, labels: Labels, time: unknown): void {
    if (labels.key === null) return;
    const runId = labels.runId ?? '(none)';
    const recomputed = event === 'recompute.start' ? 1 : 0;
    const key = labels.key;
    bump(this.perRunKey, labels.strategy, [runId, key], () => ({ runId, key, processId: null, worker: null }), recomputed);
    // No pid (a foreign writer?): fall back to workerId, the next best name for a process.
    const processId = labels.processId ?? labels.worker;
    if (event !== null) this.perValue.add(JSON.stringify([labels.strategy, runId, key]), event, time, processId);
    if (processId === null) return;
    bump(
      this.perRunKeyProcess,
      labels.strategy,
      [runId, key, processId],
      () => ({ runId, key, processId, worker: describeWorker(labels) }),
      recomputed,
    );
  }

  /** Each pair's most recomputations of one value, from the computations in time order. */
  private countPerValue(): void {
    for (const [strategy, pairs] of this.perRunKey) {
      for (const pair of pairs.values()) pair.perValue = this.perValue.most(JSON.stringify([strategy, pair.runId, pair.key])).fleet;
    }
    for (const [strategy, pairs] of this.perRunKeyProcess) {
      for (const pair of pairs.values()) {
        const most = this.perValue.most(JSON.stringify([strategy, pair.runId, pair.key]));
        pair.perValue = most.perProcess.get(pair.processId ?? '(unknown)') ?? 0;
      }
    }
  }
}

class GroupAccumulator {
  private readonly counts: Record<Counter, number> = {
    completed: 0,
    failed: 0,
    hits: 0,
    misses: 0,
    recomputations: 0,
    waits: 0,
    flightJoins: 0,
    writes: 0,
    rejectedWrites: 0,
    lostLocks: 0,
  };
  private l1Hits = 0;
  private readonly sources: SourceCounts = { cache: 0, computed: 0, waited: 0, stale: 0 };
  private readonly latencies: number[] = [];
  private readonly keys = new Set<string>();
  private readonly runs = new Set<string>();
  private readonly workers = new Set<string>();
  private readonly events = new Map<string, number>();

  constructor(
    private readonly strategy: string,
    private readonly split: Pick<GroupSummary, 'runId' | 'key' | 'worker'>,
  ) {}

  add(event: string | null, record: LogRecord, labels: Labels): void {
    if (labels.key !== null) this.keys.add(labels.key);
    if (labels.runId !== null) this.runs.add(labels.runId);
    if (labels.worker !== null) this.workers.add(labels.worker);
    if (event === null) return;
    this.events.set(event, (this.events.get(event) ?? 0) + 1);
    if (Object.hasOwn(COUNTERS, event)) this.counts[COUNTERS[event as keyof typeof COUNTERS]]++;
    if (event === 'cache.hit' && record.tier === 'l1') this.l1Hits++;
    if (event === 'job.completed') {
      const source = record.source;
      if (typeof source === 'string' && SOURCES.has(source)) this.sources[source as keyof SourceCounts]++;
      const latency = record.latencyMs;
      if (typeof latency === 'number' && Number.isFinite(latency)) this.latencies.push(latency);
    }
  }

  summary(): GroupSummary {
    const sorted = [...this.latencies].sort(ascending);
    return {
      strategy: this.strategy,
      ...this.split,
      jobs: this.counts.completed + this.counts.failed,
      ...this.counts,
      l1Hits: this.l1Hits,
      sources: { ...this.sources },
      latencyMs: {
        p50: percentileOfSorted(sorted, 50) ?? null,
        p99: percentileOfSorted(sorted, 99) ?? null,
        max: sorted.at(-1) ?? null,
      },
      keys: this.keys.size,
      runs: this.runs.size,
      workers: this.workers.size,
      events: Object.fromEntries([...this.events].sort(([a], [b]) => a.localeCompare(b))),
    };
  }
}

/** The labels of a job line, or `null` when the record is not one (no `strategy`). */
function labelsOf(record: LogRecord): Labels | null {
  const given = text(record.strategy);
  if (given === null) return null;
  const strategy = strategyLabel(given);
  const pid = text(record.pid);
  const hostname = text(record.hostname);
  const processId = pid === null ? null : `${hostname ?? ''}:${pid}`;
  return {
    strategy,
    runId: text(record.runId),
    key: text(record.key),
    worker: text(record.workerId) ?? processId,
    processId,
  };
}

/** Strings as they are, numbers as text (a key or pid may be numeric); anything else is absent. */
function text(value: unknown): string | null {
  if (typeof value === 'string') return value === '' ? null : value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return null;
}

function splitValue(labels: Labels, by: SplitBy): string | null {
  return by === 'run' ? labels.runId : by === 'key' ? labels.key : labels.worker;
}

/** `worker-2 (pid 123)` for humans naming an offending process. */
function describeWorker(labels: Labels): string | null {
  const { worker, processId } = labels;
  if (worker !== null && processId !== null && worker !== processId) {
    return `${worker} (pid ${processId.slice(processId.lastIndexOf(':') + 1)})`;
  }
  return worker ?? processId;
}

function accumulatorFor(
  map: Map<string, GroupAccumulator>,
  id: (string | null)[],
  labels: Labels,
  by: readonly SplitBy[] = [],
): GroupAccumulator {
  // JSON of the tuple: no separator character can make two different tuples collide.
  const mapKey = JSON.stringify(id);
  let acc = map.get(mapKey);
  if (!acc) {
    acc = new GroupAccumulator(labels.strategy, {
      runId: by.includes('run') ? labels.runId : null,
      key: by.includes('key') ? labels.key : null,
      worker: by.includes('worker') ? labels.worker : null,
    });
    map.set(mapKey, acc);
  }
  return acc;
}

function bump(
  perStrategy: Map<string, Map<string, PairCount>>,
  strategy: string,
  id: string[],
  create: () => Omit<PairCount, 'recomputations' | 'perValue'>,
  by: number,
): void {
  let pairs = perStrategy.get(strategy);
  if (!pairs) {
    pairs = new Map();
    perStrategy.set(strategy, pairs);
  }
  const mapKey = JSON.stringify(id);
  let pair = pairs.get(mapKey);
  if (!pair) {
    pair = { ...create(), recomputations: 0, perValue: 0 };
    pairs.set(mapKey, pair);
  }
  pair.recomputations += by;
}

function valuesOf<V>(map: Map<string, V> | undefined): V[] {
  return map ? [...map.values()] : [];
}

/** Known strategies in their documented order, later ones alphabetically; then the split values. */
function sortGroups(groups: GroupSummary[], by: readonly SplitBy[]): GroupSummary[] {
  const rank = (s: string): number => {
    const i = (STRATEGIES as readonly string[]).indexOf(s);
    return i === -1 ? STRATEGIES.length : i;
  };
  const field = { run: 'runId', key: 'key', worker: 'worker' } as const;
  return groups.sort((a, b) => {
    const byStrategy = rank(a.strategy) - rank(b.strategy) || naturalCompare(a.strategy, b.strategy);
    if (byStrategy !== 0) return byStrategy;
    for (const split of by) {
      const c = naturalCompare(a[field[split]] ?? '', b[field[split]] ?? '');
      if (c !== 0) return c;
    }
    return 0;
  });
}

const collator = new Intl.Collator('en', { numeric: true });
/** `k2` before `k10`, as a human expects. */
export function naturalCompare(a: string, b: string): number {
  return collator.compare(a, b);
}

// ---------------------------------------------------------------------------------------------
// Verdicts: does each strategy keep its promise? Kept beside the accounting that feeds them.
// ---------------------------------------------------------------------------------------------

/**
 * - `ok` / `fail`: a protective strategy kept / broke its promise;
 * - `info`: no promise to check (`none`), just the numbers that show the stampede.
 */
export type VerdictStatus = 'ok' | 'fail' | 'info';

/** One (run, key[, worker process]) that recomputed more often than its strategy allows. */
export interface Offender {
  runId: string;
  key: string;
  /** The worker process (`workerId (pid N)`) for per-process rules, else `null`. */
  worker: string | null;
  recomputations: number;
}

export interface Verdict {
  strategy: string;
  status: VerdictStatus;
  /** The rule checked, in words, e.g. `at most 1 recomputation per key per run`. */
  rule: string;
  /** The one line for humans, e.g. `redis-lock: 1 recomputation per key per run (OK, 3 keys x 1 run)`. */
  message: string;
  keys: number;
  runs: number;
  /** Distinct worker processes, for the per-process rule (`local-lock`); else `null`. */
  processes: number | null;
  /** Units checked: (run, key) pairs, or (run, key, process) triples for `local-lock`. */
  pairs: number;
  /** Recomputations in all, and the most any unit did for one value (`PairCount.perValue`). */
  recomputations: number;
  maxPerPair: number;
  /** Units over the limit, worst first; empty unless `status` is `fail`. */
  offenders: Offender[];
}

/** Recomputations of one (run, key) or (run, key, process), including those with none. */
export interface PairCount {
  runId: string;
  key: string;
  processId: string | null;
  worker: string | null;
  recomputations: number;
  /**
   * The most recomputations of one value of the key (per-value.ts): the recomputations cut at
   * the end of each computation, so that a key recomputed again after an expiry or a flush is
   * not a stampede. The same as `recomputations` for a burst whose value does not expire.
   */
  perValue: number;
}

/**
 * The verdicts of one strategy, from its recomputation counts per (run, key) and per
 * (run, key, process). A strategy without a rule (or without keyed job lines) gets none.
 */
export function verdictsFor(strategy: string, perRunKey: PairCount[], perRunKeyProcess: PairCount[]): Verdict[] {
  if (strategy === 'redis-lock' && perRunKey.length > 0) {
    // Fleet-wide lock: one holder per key per run, for each value: a run longer than a value's
    // fresh time (the load lab) recomputes a key again after each expiry, one at a time.
    return [atMostOne(strategy, perRunKey, 'per key per run', null)];
  }
  if (strategy === 'local-lock' && perRunKeyProcess.length > 0) {
    // A process-local lock cannot see other processes: one per process is all it promises.
    return [
      atMostOne(
        strategy,
        perRunKeyProcess,
        'per key per run per worker process',
        distinct(perRunKeyProcess, (p) => p.processId),
      ),
    ];
  }
  if (strategy === 'none' && perRunKey.length > 0) return [stampede(strategy, perRunKey)];
  return [];
}

function atMostOne(strategy: string, pairs: PairCount[], per: string, processes: number | null): Verdict {
  const keys = distinct(pairs, (p) => p.key);
  const runs = distinct(pairs, (p) => p.runId);
  const total = sum(pairs);
  const offenders = pairs
    .filter((p) => p.perValue > 1)
    .sort((a, b) => b.perValue - a.perValue || naturalCompare(a.runId, b.runId) || naturalCompare(a.key, b.key))
    .map(({ runId, key, worker, perValue }) => ({ runId, key, worker, recomputations: perValue }));
  // Recomputations of a key after its previous computation had ended: expiries, flushes.
  const again = pairs.reduce((n, p) => n + Math.max(0, p.recomputations - 1), 0);
  const unit = processes === null ? 'key/run pair' : 'key/run/process triple';
  const base = { strategy, rule: `at most 1 recomputation ${per}`, keys, runs, processes, pairs: pairs.length };
  const stats = { recomputations: total, maxPerPair: pairs.reduce((max, p) => Math.max(max, p.perValue), 0) };

  const worst = offenders[0];
  if (worst) {
    const where = `key ${worst.key} in run ${worst.runId}${worst.worker ? ` on worker ${worst.worker}` : ''}`;
    const more = offenders.length > 1 ? `; ${plural(offenders.length - 1, `more ${unit}`)} over the limit` : '';
    return {
      ...base,
      ...stats,
      status: 'fail',
      offenders,
      message: `${strategy}: FAIL, ${where} recomputed ${times(worst.recomputations)}${more}`,
    };
  }
  // "1" only when every unit recomputed exactly once; units that were all cache hits make it "≤1".
  const idle = pairs.filter((p) => p.recomputations === 0).length;
  const bound = idle === 0 ? '1' : '≤1';
  const notes = [
    processes === null ? null : `${plural(total, 'recomputation')} in all`,
    idle === 0 ? null : `${idle} of ${plural(pairs.length, unit)} did not recompute`,
    again === 0 ? null : `${again} more after the key's previous computation had ended (expiries, flushes)`,
  ].filter((n) => n !== null);
  const scopeText = scope(keys, runs, processes, pairs.length) + (notes.length ? `; ${notes.join(', ')}` : '');
  const forEach = again === 0 ? '' : ' for each value';
  return { ...base, ...stats, status: 'ok', offenders, message: `${strategy}: ${bound} recomputation ${per}${forEach} (OK, ${scopeText})` };
}

/** `none` promises nothing: state how many times each key was recomputed per run. */
function stampede(strategy: string, pairs: PairCount[]): Verdict {
  const keys = distinct(pairs, (p) => p.key);
  const runs = distinct(pairs, (p) => p.runId);
  const total = sum(pairs);
  const worst = [...pairs].sort(
    (a, b) => b.recomputations - a.recomputations || naturalCompare(a.runId, b.runId) || naturalCompare(a.key, b.key),
  )[0];
  const average = (total / pairs.length).toFixed(1);
  const detail =
    worst && worst.recomputations > 0
      ? ` (${average} per key per run on average, max ${worst.recomputations}: key ${worst.key} in run ${worst.runId})`
      : '';
  return {
    strategy,
    status: 'info',
    rule: 'no guard: every miss recomputes',
    message: `${strategy}: no guard, ${plural(total, 'recomputation')} for ${scope(keys, runs, null, pairs.length)}${detail}`,
    keys,
    runs,
    processes: null,
    pairs: pairs.length,
    recomputations: total,
    maxPerPair: worst?.recomputations ?? 0,
    offenders: [],
  };
}

/** `3 keys x 2 runs`, plus the real number of pairs when not every key ran in every run. */
function scope(keys: number, runs: number, processes: number | null, pairs: number): string {
  const parts = [plural(keys, 'key'), plural(runs, 'run')];
  if (processes !== null) parts.push(plural(processes, 'process', 'processes'));
  const full = keys * runs * (processes ?? 1);
  const unit = processes === null ? 'key/run pair' : 'key/run/process triple';
  return parts.join(' x ') + (pairs === full ? '' : ` (${plural(pairs, unit)})`);
}

function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}

function times(n: number): string {
  return n === 1 ? 'once' : `${n} times`;
}

function sum(pairs: PairCount[]): number {
  return pairs.reduce((total, p) => total + p.recomputations, 0);
}

function distinct<T>(items: T[], pick: (item: T) => string | null): number {
  return new Set(items.map(pick)).size;
}

/** The verdicts that failed: what `--check` turns into exit code 1. */
export function failedVerdicts(report: Report): Verdict[] {
  return report.verdicts.filter((v) => v.status === 'fail');
}
