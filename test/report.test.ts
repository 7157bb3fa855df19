import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isUserError } from '../scripts/common/errors.js';
import {
  emptyReadStats,
  findLogFiles,
  formatReport,
  parseLine,
  percentile,
  readLogs,
  summarize,
  summarizeAsync,
  toJSON,
  type GroupSummary,
  type LogRecord,
  type Report,
} from '../scripts/report/index.js';

/**
 * The log report against synthetic worker logs: a small simulated fleet writes what each
 * strategy would log, and every expectation is tallied while the lines are generated, so the
 * assertions compare the report with what was actually written, not with hand-counted totals.
 */

const REPO = resolve(import.meta.dirname, '..');

// ---------------------------------------------------------------------------------------------
// A synthetic fleet
// ---------------------------------------------------------------------------------------------

interface FakeWorker {
  workerId: string;
  pid: number;
  hostname: string;
}

const WORKERS: FakeWorker[] = [1, 2, 3].map((n) => ({ workerId: `worker-${n}`, pid: 4000 + n, hostname: 'host-a' }));
const RUNS = ['r1', 'r2'];
const KEYS = ['k1', 'k2', 'k3'];
const STRATEGIES = ['none', 'local-lock', 'redis-lock'] as const;
const JOBS_PER_KEY = 7;

/** The counters of the report, and the events that feed them (the log contract, restated). */
const COUNTER_OF: Record<string, keyof GroupSummary> = {
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
};

interface Tally {
  counts: Record<string, number>;
  sources: { cache: number; computed: number; waited: number; stale: number };
  latencies: number[];
  keys: Set<string>;
  runs: Set<string>;
  workers: Set<string>;
  events: Record<string, number>;
}

interface Generated {
  /** Lines per worker, in order. */
  lines: Map<FakeWorker, string[]>;
  /** Expected totals per strategy (job lines only, every run). */
  tally: Map<string, Tally>;
  /** Expected totals per strategy for one run. */
  tallyByRun: Map<string, Map<string, Tally>>;
  /** recompute.start per strategy, run, key, worker. */
  recomputes: Map<string, number>;
  /** Lines without a strategy (worker.started, ...). */
  nonJobLines: number;
  records: LogRecord[];
}

function newTally(): Tally {
  return {
    counts: {},
    sources: { cache: 0, computed: 0, waited: 0, stale: 0 },
    latencies: [],
    keys: new Set(),
    runs: new Set(),
    workers: new Set(),
    events: {},
  };
}

function addToTally(t: Tally, record: Record<string, unknown>): void {
  const event = record.event as string;
  t.events[event] = (t.events[event] ?? 0) + 1;
  const counter = COUNTER_OF[event];
  if (counter) t.counts[counter] = (t.counts[counter] ?? 0) + 1;
  t.keys.add(record.key as string);
  t.runs.add(record.runId as string);
  t.workers.add(record.workerId as string);
  if (event === 'job.completed') {
    const source = record.source as string;
    if (source === 'cache' || source === 'computed' || source === 'waited' || source === 'stale') t.sources[source]++;
    t.latencies.push(record.latencyMs as number);
  }
}

/** Simulate every strategy over RUNS x KEYS, JOBS_PER_KEY jobs each, round-robin over WORKERS. */
function generateFleet(): Generated {
  const gen: Generated = {
    lines: new Map(WORKERS.map((w) => [w, []])),
    tally: new Map(),
    tallyByRun: new Map(),
    recomputes: new Map(),
    nonJobLines: 0,
    records: [],
  };
  let time = 1_700_000_000_000;
  const write = (w: FakeWorker, fields: Record<string, unknown>): void => {
    const record = { level: 30, time: time++, pid: w.pid, hostname: w.hostname, ...fields };
    gen.lines.get(w)!.push(JSON.stringify(record));
    gen.records.push(record);
    if (typeof fields.strategy !== 'string') {
      gen.nonJobLines++;
      return;
    }
    const strategy = fields.strategy;
    const runId = fields.runId as string;
    if (!gen.tally.has(strategy)) gen.tally.set(strategy, newTally());
    addToTally(gen.tally.get(strategy)!, record);
    if (!gen.tallyByRun.has(runId)) gen.tallyByRun.set(runId, new Map());
    const byRun = gen.tallyByRun.get(runId)!;
    if (!byRun.has(strategy)) byRun.set(strategy, newTally());
    addToTally(byRun.get(strategy)!, record);
    if (fields.event === 'recompute.start') {
      const id = [strategy, runId, fields.key, fields.workerId].join('|');
      gen.recomputes.set(id, (gen.recomputes.get(id) ?? 0) + 1);
    }
  };

  for (const w of WORKERS) write(w, { event: 'worker.started', workerId: w.workerId, msg: 'worker started' });

  RUNS.forEach((runId, r) => {
    for (const strategy of STRATEGIES) {
      KEYS.forEach((key, k) => {
        const localHolders = new Set<FakeWorker>();
        let fleetHolder: FakeWorker | null = null;
        for (let j = 0; j < JOBS_PER_KEY; j++) {
          const w = WORKERS[(j + k + r) % WORKERS.length]!;
          const base = { runId, jobId: `${strategy}/${runId}/${key}/${j}`, strategy, key, workerId: w.workerId };
          const log = (event: string, extra: Record<string, unknown> = {}): void => write(w, { ...base, event, msg: event, ...extra });
          const latencyMs = 5 + ((j * 37 + k * 11 + r * 5) % 200) + (j % 2 ? 0.5 : 0);
          const recompute = (): void => {
            log('recompute.start');
            log('recompute.end', { durationMs: 100 });
            // A holder paused past its lock TTL once: lost its lock, its write was fenced off.
            if (strategy === 'redis-lock' && runId === 'r2' && key === 'k2') {
              log('lock.lost');
              log('cache.write.rejected');
            } else {
              log('cache.write');
            }
            log('job.completed', { latencyMs, source: 'computed' });
          };
          log('cache.miss');
          if (strategy === 'none') {
            recompute();
          } else if (strategy === 'local-lock') {
            if (!localHolders.has(w)) {
              localHolders.add(w);
              log('lock.acquired');
              recompute();
            } else {
              log('flight.joined');
              log('job.completed', { latencyMs, source: 'waited' });
            }
          } else if (fleetHolder === null) {
            fleetHolder = w;
            log('lock.acquired');
            recompute();
          } else if (fleetHolder === w) {
            log('flight.joined');
            log('job.completed', { latencyMs, source: 'waited' });
          } else {
            log('lock.busy');
            log('wait.start');
            log('wait.end', { waitedMs: 80 });
            log('cache.hit');
            log('job.completed', { latencyMs, source: 'waited' });
          }
        }
      });
      // One failed job per strategy and run: counted in jobs and failed, recomputes nothing.
      const w = WORKERS[0]!;
      write(w, {
        runId,
        jobId: `${strategy}/${runId}/bad`,
        strategy,
        key: 'k1',
        workerId: w.workerId,
        event: 'job.failed',
        err: { type: 'Error', message: 'boom' },
        msg: 'job failed',
      });
    }
  });

  // A later strategy with events this report does not know: counted as a group, never fatal.
  const w = WORKERS[1]!;
  for (let j = 0; j < 3; j++) {
    const base = { runId: 'r1', jobId: `swr/${j}`, strategy: 'swr', key: 'k1', workerId: w.workerId };
    write(w, { ...base, event: 'cache.hit', msg: 'cache hit' });
    write(w, { ...base, event: 'stale.served', msg: 'stale served' });
    if (j === 0) write(w, { ...base, event: 'refresh.start', msg: 'refresh' });
    write(w, { ...base, event: 'job.completed', latencyMs: 2, source: 'stale', msg: 'job completed' });
  }

  for (const w of WORKERS) write(w, { event: 'worker.stopped', workerId: w.workerId, msg: 'worker stopped' });
  return gen;
}

/** Lines that are not log records, inserted into the files: each must be skipped and counted. */
const GARBAGE = {
  'worker-1': ['this is not json', ''],
  'worker-2': ['[12:00:00.000] INFO (4002): job completed', '[1,2,3]', '"a json string"'],
} as Record<string, string[]>;
const TRUNCATED = '{"level":30,"time":1,"pid":4003,"hostname":"host-a","event":"recomp';

interface Fixture {
  dir: string;
  gen: Generated;
  totalLines: number;
  skipped: number;
  invalid: number;
}

/** Write the fleet's logs: worker-1 and -2 as .ndjson with garbage, worker-3 as .log ending mid-line. */
async function writeFleetLogs(dir: string, gen: Generated): Promise<Fixture> {
  let totalLines = 0;
  let skipped = 0;
  let invalid = 0;
  for (const [w, lines] of gen.lines) {
    const out = [...lines];
    const garbage = GARBAGE[w.workerId] ?? [];
    // Garbage in the middle of the file, not only at the ends.
    out.splice(Math.floor(out.length / 2), 0, ...garbage);
    skipped += garbage.length;
    invalid += garbage.filter((g) => g !== '').length;
    let text = `${out.join('\n')}\n`;
    totalLines += out.length;
    const last = w.workerId === 'worker-3';
    if (last) {
      // A process killed mid-write: a half line, no newline at the end.
      text += TRUNCATED;
      totalLines++;
      skipped++;
      invalid++;
    }
    await writeFile(join(dir, `${w.workerId}-${w.pid}.${last ? 'log' : 'ndjson'}`), text);
  }
  // Not a log: ignored by extension.
  await writeFile(join(dir, 'README.txt'), 'not a log\n');
  return { dir, gen, totalLines, skipped, invalid };
}

function expectGroupMatches(group: GroupSummary | undefined, t: Tally): void {
  expect(group).toBeDefined();
  const g = group!;
  for (const counter of new Set(Object.values(COUNTER_OF))) {
    expect(g[counter], `${g.strategy} ${counter}`).toBe(t.counts[counter] ?? 0);
  }
  expect(g.jobs).toBe((t.counts.completed ?? 0) + (t.counts.failed ?? 0));
  expect(g.sources).toEqual(t.sources);
  expect(g.latencyMs).toEqual({
    p50: percentile(t.latencies, 50) ?? null,
    p99: percentile(t.latencies, 99) ?? null,
    max: t.latencies.length ? Math.max(...t.latencies) : null,
  });
  expect(g.keys).toBe(t.keys.size);
  expect(g.runs).toBe(t.runs.size);
  expect(g.workers).toBe(t.workers.size);
  expect(g.events).toEqual(t.events);
}

const strategyRow = (report: Report, strategy: string) => report.strategies.find((s) => s.strategy === strategy);

/** A job line for hand-made scenarios. */
function line(event: string, fields: { runId: string; key: string; strategy: string; worker?: number }): LogRecord {
  const n = fields.worker ?? 1;
  return {
    level: 30,
    time: 1,
    pid: 4000 + n,
    hostname: 'host-a',
    event,
    msg: event,
    runId: fields.runId,
    jobId: 'j',
    strategy: fields.strategy,
    key: fields.key,
    workerId: `worker-${n}`,
  };
}

// ---------------------------------------------------------------------------------------------
// Running the command
// ---------------------------------------------------------------------------------------------

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function runLogs(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'scripts/logs.ts', ...args],
      { cwd: REPO, env: { ...process.env, ...env }, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        done({ code, stdout, stderr });
      },
    );
  });
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

let tmp: string;
let fixture: Fixture;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cs-report-'));
  const dir = join(tmp, 'logs');
  await mkdir(dir);
  fixture = await writeFleetLogs(dir, generateFleet());
});

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('percentile (nearest rank)', () => {
  it('has no value for no values', () => {
    expect(percentile([], 50)).toBeUndefined();
    expect(percentile([], 0)).toBeUndefined();
  });

  it('is the only value for one value, whatever p', () => {
    for (const p of [0, 1, 50, 99, 100]) expect(percentile([42], p)).toBe(42);
  });

  it('gives p50 = 50 and p99 = 99 for 1..100 in any order', () => {
    const values = Array.from({ length: 100 }, (_, i) => ((i * 37) % 100) + 1); // a permutation of 1..100
    expect(new Set(values).size).toBe(100);
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile(values, 100)).toBe(100);
    expect(percentile(values, 0)).toBe(1);
    // Every integer p picks rank p exactly (no floating-point drift, e.g. at p = 7).
    for (let p = 1; p <= 100; p++) expect(percentile(values, p)).toBe(p);
  });

  it('returns an observed value, never an interpolation', () => {
    expect(percentile([1, 10], 50)).toBe(1);
    expect(percentile([1, 10], 51)).toBe(10);
    expect(percentile([10, 1, 100], 99)).toBe(100);
  });

  it('does not reorder the caller array, and rejects p outside 0..100', () => {
    const values = [3, 1, 2];
    percentile(values, 50);
    expect(values).toEqual([3, 1, 2]);
    expect(() => percentile(values, 101)).toThrow(RangeError);
    expect(() => percentile(values, -1)).toThrow(RangeError);
    expect(() => percentile(values, Number.NaN)).toThrow(RangeError);
  });
});

describe('reading logs', () => {
  it('parses one JSON object a line and nothing else', () => {
    expect(parseLine('{"event":"cache.hit"}')).toEqual({ event: 'cache.hit' });
    expect(parseLine('  {"a":1}\r')).toEqual({ a: 1 });
    for (const bad of ['', '   ', 'text', '[1]', '"s"', '42', 'null', '{"a":', TRUNCATED]) expect(parseLine(bad)).toBeNull();
  });

  it('lists *.ndjson and *.log files of a directory and its sub-directories, sorted', async () => {
    const nested = join(fixture.dir, 'nested-strategy');
    await mkdir(nested, { recursive: true });
    await writeFile(join(nested, 'worker-9-4009.ndjson'), '');
    try {
      const files = await findLogFiles([fixture.dir]);
      expect(files.map((f) => f.slice(fixture.dir.length + 1))).toEqual([
        'nested-strategy/worker-9-4009.ndjson',
        'worker-1-4001.ndjson',
        'worker-2-4002.ndjson',
        'worker-3-4003.log',
      ]);
    } finally {
      await rm(nested, { recursive: true, force: true });
    }
  });

  it('reads a file named explicitly whatever its name, and a path given twice once', async () => {
    const readme = join(fixture.dir, 'README.txt');
    const one = join(fixture.dir, 'worker-1-4001.ndjson');
    expect(await findLogFiles([readme, one, fixture.dir])).toHaveLength(4);
  });

  it('fails with E_LOGS naming a path that does not exist', async () => {
    const missing = join(tmp, 'nope');
    const err = await findLogFiles([missing]).catch((e: unknown) => e);
    expect(isUserError(err)).toBe(true);
    expect(err).toMatchObject({ code: 'E_LOGS' });
    expect((err as Error).message).toContain(missing);
    expect((err as Error).message).not.toContain('\n');
  });

  it('fails with E_LOGS naming a directory without log files', async () => {
    const empty = join(tmp, 'empty');
    await mkdir(empty, { recursive: true });
    await writeFile(join(empty, 'notes.txt'), 'x\n');
    const err = await findLogFiles([empty]).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_LOGS' });
    expect((err as Error).message).toContain(empty);
  });

  it('streams records, skipping and counting blank, non-JSON and truncated lines', async () => {
    const stats = emptyReadStats();
    let records = 0;
    for await (const _ of readLogs([fixture.dir], stats)) records++;
    const written = [...fixture.gen.lines.values()].reduce((n, lines) => n + lines.length, 0);
    expect(records).toBe(written);
    expect(stats).toMatchObject({
      lines: fixture.totalLines,
      records: written,
      skipped: fixture.skipped,
      invalid: fixture.invalid,
    });
    expect(stats.files).toHaveLength(3);
    expect(stats.firstInvalid?.file).toContain('worker-1-4001.ndjson');
  });

  it('tolerates a file that is nothing but a truncated line', async () => {
    const file = join(tmp, 'only-truncated.ndjson');
    await writeFile(file, TRUNCATED);
    const stats = emptyReadStats();
    const report = await summarizeAsync(readLogs([file], stats));
    expect(stats).toMatchObject({ lines: 1, records: 0, skipped: 1, invalid: 1 });
    expect(report.strategies).toEqual([]);
    expect(formatReport(report, stats)).toContain('no job lines found');
  });
});

describe('summarize', () => {
  let report: Report;
  beforeAll(async () => {
    report = await summarizeAsync(readLogs([fixture.dir]));
  });

  it('counts every strategy exactly as generated, unknown strategies included', () => {
    expect(report.strategies.map((s) => s.strategy)).toEqual(['none', 'local-lock', 'redis-lock', 'swr']);
    for (const [strategy, tally] of fixture.gen.tally) expectGroupMatches(strategyRow(report, strategy), tally);
    expect(report.ignored).toBe(fixture.gen.nonJobLines);
    expect(report.runsSeen).toEqual(RUNS);
  });

  it('shows the stampede: none recomputes on every job, redis-lock once per key per run', () => {
    expect(strategyRow(report, 'none')!.recomputations).toBe(RUNS.length * KEYS.length * JOBS_PER_KEY);
    expect(strategyRow(report, 'redis-lock')!.recomputations).toBe(RUNS.length * KEYS.length);
    const local = strategyRow(report, 'local-lock')!.recomputations;
    expect(local).toBeGreaterThan(RUNS.length * KEYS.length);
    expect(local).toBeLessThanOrEqual(RUNS.length * KEYS.length * WORKERS.length);
  });

  it('filters one run', () => {
    const r1 = summarize(fixture.gen.records, { runId: 'r1' });
    for (const [strategy, tally] of fixture.gen.tallyByRun.get('r1')!) expectGroupMatches(strategyRow(r1, strategy), tally);
    const otherRunLines = [...fixture.gen.tallyByRun.get('r2')!.values()].reduce(
      (n, t) => n + Object.values(t.events).reduce((a, b) => a + b, 0),
      0,
    );
    expect(r1.filteredOut).toBe(otherRunLines);
    expect(r1.runId).toBe('r1');
    expect(r1.verdicts.find((v) => v.strategy === 'redis-lock')!.runs).toBe(1);
  });

  it('splits by key, run and worker; the groups add up to the strategy totals', () => {
    const split = summarize(fixture.gen.records, { by: ['strategy', 'key', 'run', 'worker', 'key'] });
    expect(split.by).toEqual(['key', 'run', 'worker']);
    for (const s of split.strategies) {
      const groups = split.groups.filter((g) => g.strategy === s.strategy);
      const sum = (pick: (g: GroupSummary) => number) => groups.reduce((n, g) => n + pick(g), 0);
      expect(sum((g) => g.recomputations)).toBe(s.recomputations);
      expect(sum((g) => g.jobs)).toBe(s.jobs);
      expect(sum((g) => g.hits)).toBe(s.hits);
      for (const g of groups) expect([g.keys, g.runs, g.workers]).toEqual([1, 1, 1]);
    }
    // Per worker, recomputations are exactly what each simulated worker did.
    for (const g of split.groups) {
      const id = [g.strategy, g.runId, g.key, g.worker].join('|');
      expect(g.recomputations, id).toBe(fixture.gen.recomputes.get(id) ?? 0);
    }
  });

  it('sorts keys naturally (k2 before k10)', () => {
    const records = ['k10', 'k2', 'k1'].map((key) => line('cache.miss', { runId: 'r', key, strategy: 'none' }));
    const keys = summarize(records, { by: ['key'] }).groups.map((g) => g.key);
    expect(keys).toEqual(['k1', 'k2', 'k10']);
  });

  it('tallies every source of a completed job, stale too: the sources add up to the completed jobs', () => {
    const fields = { runId: 'r', key: 'k', strategy: 'swr' };
    const done = (source: string) => ({ ...line('job.completed', fields), source, latencyMs: 5 });
    const records = [done('cache'), done('stale'), done('stale'), done('computed'), done('waited')];
    const [group] = summarize(records).groups;
    expect(group!.sources).toEqual({ cache: 1, computed: 1, waited: 1, stale: 2 });
    const { cache, computed, waited, stale } = group!.sources;
    expect(cache + computed + waited + stale).toBe(group!.completed);
  });

  it('counts the hits the L1 tier answered apart, among all hits', () => {
    const fields = { runId: 'r', key: 'k', strategy: 'redis-lock' };
    const hit = (tier: string) => ({ ...line('cache.hit', fields), tier });
    const records = [hit('l1'), hit('l1'), hit('redis')];
    const [group] = summarize(records).groups;
    expect(group).toMatchObject({ hits: 3, l1Hits: 2 });
  });
});

describe('verdicts', () => {
  it('redis-lock passes with exactly one recomputation per (run, key)', () => {
    const report = summarize(fixture.gen.records);
    const v = report.verdicts.find((x) => x.strategy === 'redis-lock')!;
    expect(v.status).toBe('ok');
    expect(v.message).toBe(`redis-lock: 1 recomputation per key per run (OK, ${KEYS.length} keys x ${RUNS.length} runs)`);
    expect(v.pairs).toBe(KEYS.length * RUNS.length);
    expect(v.offenders).toEqual([]);
  });

  it('redis-lock fails naming the key and run that recomputed twice', () => {
    const extra = line('recompute.start', { runId: 'r2', key: 'k3', strategy: 'redis-lock', worker: 2 });
    const report = summarize([...fixture.gen.records, extra]);
    const v = report.verdicts.find((x) => x.strategy === 'redis-lock')!;
    expect(v.status).toBe('fail');
    expect(v.message).toBe('redis-lock: FAIL, key k3 in run r2 recomputed 2 times');
    expect(v.offenders).toEqual([{ runId: 'r2', key: 'k3', worker: null, recomputations: 2 }]);
    expect(toJSON(report).ok).toBe(false);
  });

  it('redis-lock says ≤1 when a key was served from the cache without recomputing', () => {
    const records = [
      line('cache.miss', { runId: 'r1', key: 'a', strategy: 'redis-lock' }),
      line('recompute.start', { runId: 'r1', key: 'a', strategy: 'redis-lock' }),
      line('cache.hit', { runId: 'r1', key: 'b', strategy: 'redis-lock' }),
    ];
    const v = summarize(records).verdicts[0]!;
    expect(v.status).toBe('ok');
    expect(v.message).toMatch(/^redis-lock: ≤1 recomputation per key per run \(OK, 2 keys x 1 run; 1 of 2 /);
  });

  it('local-lock passes with one recomputation per worker process, however many processes', () => {
    const report = summarize(fixture.gen.records);
    const v = report.verdicts.find((x) => x.strategy === 'local-lock')!;
    const expected = [...fixture.gen.recomputes].filter(([id]) => id.startsWith('local-lock|'));
    expect(v.status).toBe('ok');
    expect(v.recomputations).toBe(expected.reduce((n, [, c]) => n + c, 0));
    expect(v.maxPerPair).toBe(1);
    expect(v.processes).toBe(WORKERS.length);
    expect(v.message).toMatch(/^local-lock: (1|≤1) recomputation per key per run per worker process \(OK, 3 keys x 2 runs x 3 processes/);
    // A further process recomputing the same key is what local-lock cannot prevent: still OK.
    const more = line('recompute.start', { runId: 'r1', key: 'k1', strategy: 'local-lock', worker: WORKERS.length + 1 });
    const withMore = summarize([...fixture.gen.records, more]).verdicts.find((x) => x.strategy === 'local-lock')!;
    expect(withMore.status).toBe('ok');
    expect(withMore.processes).toBe(WORKERS.length + 1);
  });

  it('local-lock fails naming the worker process that recomputed one key twice', () => {
    const [id] = [...fixture.gen.recomputes].find(([i]) => i.startsWith('local-lock|r2|'))!;
    const [, runId, key, workerId] = id.split('|') as [string, string, string, string];
    const n = Number(workerId.split('-')[1]);
    const extra = line('recompute.start', { runId, key, strategy: 'local-lock', worker: n });
    const v = summarize([...fixture.gen.records, extra]).verdicts.find((x) => x.strategy === 'local-lock')!;
    expect(v.status).toBe('fail');
    expect(v.message).toBe(`local-lock: FAIL, key ${key} in run ${runId} on worker ${workerId} (pid ${4000 + n}) recomputed 2 times`);
  });

  it('local-lock tells processes apart by pid, even under one workerId (a restarted worker)', () => {
    const a = line('recompute.start', { runId: 'r', key: 'k', strategy: 'local-lock' });
    const b = { ...a, pid: 9999 };
    expect(summarize([a, b]).verdicts[0]!.status).toBe('ok');
    expect(summarize([a, a]).verdicts[0]!.status).toBe('fail');
  });

  it('none gets no verdict, only the recomputations per key per run', () => {
    const v = summarize(fixture.gen.records).verdicts.find((x) => x.strategy === 'none')!;
    const perPair = JOBS_PER_KEY;
    expect(v.status).toBe('info');
    expect(v.recomputations).toBe(RUNS.length * KEYS.length * perPair);
    expect(v.message).toContain(`${v.recomputations} recomputations for 3 keys x 2 runs`);
    expect(v.message).toContain(`${perPair.toFixed(1)} per key per run`);
  });

  describe('a run longer than a value: recomputations counted per value, cut where a computation ended', () => {
    const at = (time: number, event: string, fields: { key?: string; strategy?: string; worker?: number } = {}): LogRecord => ({
      ...line(event, { runId: 'long', key: fields.key ?? 'k', strategy: fields.strategy ?? 'redis-lock', worker: fields.worker }),
      time,
    });
    const verdict = (records: LogRecord[]) => summarize(records).verdicts[0]!;

    it('redis-lock: a key computed again after its previous computation ended (an expiry, a flush) is OK, and said', () => {
      // Lines of two processes, read file after file: out of time order, as npm run logs reads them.
      const worker1 = [at(100, 'recompute.start'), at(400, 'recompute.end'), at(9000, 'recompute.start'), at(9300, 'recompute.end')];
      const worker2 = [at(5000, 'recompute.start', { worker: 2 }), at(5300, 'recompute.end', { worker: 2 })];
      const v = verdict([...worker1, ...worker2]);
      expect(v.status).toBe('ok');
      expect(v.maxPerPair).toBe(1);
      expect(v.recomputations).toBe(3);
      expect(v.message).toBe(
        "redis-lock: 1 recomputation per key per run for each value (OK, 1 key x 1 run; 2 more after the key's previous computation had ended (expiries, flushes))",
      );
    });

    it('redis-lock: a second computation started while one was running fails, whichever process logged it first', () => {
      const worker2 = [at(200, 'recompute.start', { worker: 2 }), at(500, 'recompute.end', { worker: 2 })];
      const worker1 = [at(100, 'recompute.start'), at(400, 'recompute.end')];
      const v = verdict([...worker2, ...worker1]);
      expect(v.status).toBe('fail');
      expect(v.message).toBe('redis-lock: FAIL, key k in run long recomputed 2 times');
    });

    it('redis-lock: a holder that died mid-computation (no end line) and its takeover are two computations of one value', () => {
      const v = verdict([at(100, 'recompute.start'), at(6000, 'recompute.start', { worker: 2 }), at(6300, 'recompute.end', { worker: 2 })]);
      expect(v.status).toBe('fail');
    });

    it('redis-lock: a failed computation ends it too; a start in the millisecond of an end comes after it', () => {
      const v = verdict([at(100, 'recompute.start'), at(300, 'recompute.failed'), at(300, 'recompute.start', { worker: 2 })]);
      expect(v.status).toBe('ok');
    });

    it("local-lock: only a process's own end cuts its values: another process's end does not excuse a second start", () => {
      const strategy = 'local-lock';
      const ok = verdict([
        at(100, 'recompute.start', { strategy }),
        at(150, 'recompute.start', { strategy, worker: 2 }),
        at(400, 'recompute.end', { strategy }),
        at(500, 'recompute.start', { strategy }), // after its own end: a new value
      ]);
      expect(ok.status).toBe('ok');
      const bad = verdict([
        at(100, 'recompute.start', { strategy }),
        at(150, 'recompute.start', { strategy, worker: 2 }),
        at(200, 'recompute.end', { strategy, worker: 2 }),
        at(250, 'recompute.start', { strategy }), // process 1 still computing the first
      ]);
      expect(bad.status).toBe('fail');
      expect(bad.message).toMatch(/^local-lock: FAIL, key k in run long on worker worker-1 \(pid 4001\) recomputed 2 times/);
    });
  });

  it('has no verdict for strategies it does not know', () => {
    expect(summarize(fixture.gen.records).verdicts.map((v) => v.strategy)).toEqual(['none', 'local-lock', 'redis-lock']);
  });
});

describe('format', () => {
  it('renders aligned columns and the verdict lines', () => {
    const stats = emptyReadStats();
    stats.files.push('a.ndjson');
    const report = summarize(fixture.gen.records, { by: ['key'] });
    const text = formatReport(report, stats);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: an ANSI colour code starts with ESC
    expect(text).not.toMatch(/\x1b\[/); // no colours
    const table = text
      .split('\n\n')
      .find((b) => b.startsWith('per strategy\n'))!
      .split('\n')
      .slice(1);
    const header = table[0]!;
    // Right-aligned numbers: each row's "recomputes" value ends where its header ends.
    const end = header.indexOf('recomputes') + 'recomputes'.length;
    for (const row of table.slice(1)) {
      const strategy = row.split(/\s+/)[0]!;
      expect(
        row
          .slice(0, end)
          .trimEnd()
          .endsWith(String(strategyRow(report, strategy)!.recomputations)),
      ).toBe(true);
    }
    expect(text).toContain('per strategy, key');
    for (const v of report.verdicts) expect(text).toContain(`  ${v.message}\n`);
  });
});

describe('npm run logs', () => {
  it('prints the report; --json parses and matches the in-process report', async () => {
    const text = await runLogs([fixture.dir]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`${fixture.skipped} skipped`);
    expect(text.stdout).toContain('redis-lock: 1 recomputation per key per run (OK, 3 keys x 2 runs)');

    const json = await runLogs([fixture.dir, '--json', '--by', 'key,run']);
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout);
    const expected = toJSON(summarize(fixture.gen.records, { by: ['key', 'run'] }));
    expect(parsed).toMatchObject({ version: 1, ok: true, by: ['key', 'run'], runId: null });
    expect(parsed.strategies).toEqual(expected.strategies);
    expect(parsed.groups).toEqual(expected.groups);
    expect(parsed.verdicts).toEqual(expected.verdicts);
    expect(parsed.input).toMatchObject({ lines: fixture.totalLines, skipped: fixture.skipped, invalid: fixture.invalid });
  }, 30_000);

  it('--run filters, and reads LOG_DIR when no path is given', async () => {
    const res = await runLogs(['--run', 'r1', '--json'], { LOG_DIR: fixture.dir });
    expect(res.code).toBe(0);
    const parsed = JSON.parse(res.stdout);
    expect(parsed.runId).toBe('r1');
    expect(parsed.strategies).toEqual(toJSON(summarize(fixture.gen.records, { runId: 'r1' })).strategies);
  }, 30_000);

  it('--check exits 1 when a verdict fails, 0 when all hold', async () => {
    const bad = join(tmp, 'bad');
    await mkdir(bad);
    const twice = line('recompute.start', { runId: 'r9', key: 'hot', strategy: 'redis-lock' });
    await writeFile(join(bad, 'w.ndjson'), `${JSON.stringify(twice)}\n${JSON.stringify(twice)}\n`);
    const failed = await runLogs([bad, '--check']);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toContain('redis-lock: FAIL, key hot in run r9 recomputed 2 times');
    expect((await runLogs([bad])).code).toBe(0); // without --check, a report is a success
    expect((await runLogs([fixture.dir, '--check'])).code).toBe(0);
  }, 30_000);

  it.each([
    ['a missing path', [join('/nonexistent', 'logs-dir')], /logs-dir/],
    ['an unknown flag', ['--frobnicate'], /unknown option '--frobnicate'/],
    ['a bad --by value', ['--by', 'key,colour'], /colour/],
    ['an unknown --run', ['--run', 'r404'], /r404.*r1, r2/],
  ])(
    'exits 2 with a one-line error for %s',
    async (_what, args, pattern) => {
      const res = await runLogs(args, { LOG_DIR: fixture.dir });
      expect(res.code).toBe(2);
      expect(res.stdout).toBe('');
      const lines = res.stderr.trimEnd().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^error: /);
      expect(lines[0]).toMatch(pattern);
    },
    30_000,
  );
});
