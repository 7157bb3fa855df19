import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildTraceTree,
  findSpanFiles,
  formatWaterfall,
  loadSlowestJobTrace,
  parseSpanLine,
  renderHtmlReport,
  summarize,
  writeHtmlReportFromLogs,
  type Span,
  type TraceResult,
  type Waterfall,
} from '../scripts/report/index.js';
import { walkTree } from '../scripts/report/trace/index.js';
import { nonEmptyLines, runCommand } from './support/run-command.js';

/**
 * The trace report (scripts/report/trace/) on hand-written span files of a small traced burst:
 * a producer (`cache-stampede-producer`, pid 4100) and two workers (worker-1 pid 5001, worker-2 pid 5002). Job 0 is
 * computed by worker-1; jobs 1 and 2 wait for it in worker-2, job 3 in worker-1: their
 * `getOrCompute` spans link to the one `cache-stampede compute` (trace of job 0, worker-1's
 * file). Job 2 is the slowest of run-b; a refresh root in worker-2 (longer, but no run id)
 * links to job 2's request; an older run-a has a slower job still; worker-2 wrote a span whose
 * parent is in no file (an orphan); the producer's file ends with a truncated line, worker-2's
 * with a line of text.
 */

const T0 = 1_780_000_000_000;
const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');
const traceId = (job: number) => `${hex(0xa1b2_c300 + job, 8)}${'e'.repeat(24)}`;
const spanId = (n: number) => `${hex(0x51a0_0000 + n, 8)}00000000`;

const TRACE_A = traceId(100);
const TRACE_REFRESH = traceId(200);
const COMPUTE = spanId(13);
/** Job 2's getOrCompute: where the refresh's link points. */
const JOB2_GET = spanId(23);
const MISSING_PARENT = spanId(999);

const PRODUCER = { service: 'cache-stampede-producer', pid: 4100 };
const W1 = { service: 'cache-stampede-worker', pid: 5001, workerId: 'worker-1' };
const W2 = { service: 'cache-stampede-worker', pid: 5002, workerId: 'worker-2' };

interface SpanInput {
  trace: string;
  id: string;
  parent?: string;
  name: string;
  kind?: string;
  start: number;
  end: number;
  attributes?: Record<string, string | number | boolean>;
  links?: { traceId: string; spanId: string }[];
  process: { service: string; pid: number; workerId?: string };
}

function spanLine(s: SpanInput): string {
  return JSON.stringify({
    traceId: s.trace,
    spanId: s.id,
    ...(s.parent && { parentSpanId: s.parent }),
    name: s.name,
    kind: s.kind ?? 'INTERNAL',
    startTime: T0 + s.start,
    endTime: T0 + s.end,
    // The SDK measures durations with a finer clock than the epoch times: a hair longer, at times.
    durationMs: s.end - s.start + 1e-7,
    status: { code: 'UNSET' },
    attributes: s.attributes ?? {},
    links: (s.links ?? []).map((l) => ({ ...l, attributes: {} })),
    events: [],
    ...s.process,
  });
}

/** Job n's producer side: its root and `add get-value`. Span ids: n*10+1 root, n*10+2 add. */
function producerSpans(job: number, runId: string, start: number, end: number, worker: string, trace = traceId(job)): SpanInput[] {
  const root = spanId(job * 10 + 1);
  return [
    {
      trace,
      id: root,
      name: 'get-value',
      start,
      end,
      attributes: {
        'cache_stampede.run_id': runId,
        'cache_stampede.job.key': 'key-1',
        'cache_stampede.job.index': job,
        'cache_stampede.worker_id': worker,
      },
      process: PRODUCER,
    },
    {
      trace,
      id: spanId(job * 10 + 2),
      parent: root,
      name: 'add get-value',
      kind: 'PRODUCER',
      start: start + 1,
      end: start + 3,
      process: PRODUCER,
    },
  ];
}

/** Job n's worker side: `process get-value` (n*10+4), `getOrCompute` (n*10+3), then compute or wait (n*10+5). */
function workerSpans(job: number, process: SpanInput['process'], start: number, end: number, computes: boolean): SpanInput[] {
  const trace = traceId(job);
  const processSpan = spanId(job * 10 + 4);
  const get = spanId(job * 10 + 3);
  const attributes: SpanInput['attributes'] = computes
    ? { 'cache_stampede.source': 'computed', 'cache_stampede.strategy': 'redis-lock', 'cache_stampede.fence': 7 }
    : {
        'cache_stampede.source': 'waited',
        'cache_stampede.strategy': 'redis-lock',
        'cache_stampede.wait.outcome': 'value',
        'cache_stampede.wait.ms': end - start - 12.25,
      };
  return [
    { trace, id: processSpan, parent: spanId(job * 10 + 2), name: 'process get-value', kind: 'CONSUMER', start, end, process },
    {
      trace,
      id: get,
      parent: processSpan,
      name: 'cache-stampede getOrCompute',
      start: start + 1,
      end: end - 5,
      attributes,
      ...(!computes && { links: [{ traceId: traceId(0), spanId: COMPUTE }] }),
      process,
    },
    computes
      ? { trace, id: COMPUTE, parent: get, name: 'cache-stampede compute', start: start + 5, end: start + 1005, process }
      : { trace, id: spanId(job * 10 + 5), parent: get, name: 'cache-stampede wait', start: start + 2, end: end - 10, process },
  ];
}

const producerFile = [
  // An older run whose one job was slower than any of run-b: picked only with --run run-a.
  ...producerSpans(100, 'run-a', -60_000, -55_000, 'worker-9', TRACE_A).slice(0, 1),
  ...producerSpans(0, 'run-b', 0, 1100, 'worker-1'),
  ...producerSpans(1, 'run-b', 5, 1050, 'worker-2'),
  ...producerSpans(2, 'run-b', 8, 1308, 'worker-2'),
  ...producerSpans(3, 'run-b', 10, 1070, 'worker-1'),
].map(spanLine);

const worker1File = [...workerSpans(0, W1, 20, 1080, true), ...workerSpans(3, W1, 50, 1060, false)].map(spanLine);

const worker2File = [
  ...workerSpans(1, W2, 30, 1040, false),
  ...workerSpans(2, W2, 40, 1290, false),
  // BullMQ's own span whose parent was never written: an orphan under job 2's root.
  { trace: traceId(2), id: spanId(29), parent: MISSING_PARENT, name: 'moveToFinished get-value', start: 1292, end: 1295, process: W2 },
  // Longer than every job, but a refresh root carries no run id: never "the slowest job".
  {
    trace: TRACE_REFRESH,
    id: spanId(201),
    name: 'cache-stampede refresh',
    start: 1500,
    end: 4500,
    attributes: { 'cache_stampede.strategy': 'swr' },
    links: [{ traceId: traceId(2), spanId: JOB2_GET }],
    process: W2,
  },
].map(spanLine);

let dir: string;
let result: TraceResult;
let waterfall: Waterfall;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'trace-report-'));
  // A log file beside the spans, as the lab writes them: the log report needs one to run at all.
  const log = (runId: string) =>
    JSON.stringify({
      level: 30,
      time: T0,
      pid: 5001,
      event: 'job.completed',
      strategy: 'redis-lock',
      runId,
      key: 'key-1',
      source: 'computed',
    });
  await writeFile(join(dir, 'worker-1-5001.ndjson'), `${log('run-a')}\n${log('run-b')}\n`);
  await writeFile(join(dir, 'spans-producer.jsonl'), `${producerFile.join('\n')}\n{"traceId":"abc`);
  // A blank line is no invalid line; pino-pretty text in a span file is one.
  await writeFile(join(dir, 'spans-worker-1.jsonl'), `${worker1File.join('\n')}\n\n`);
  await writeFile(join(dir, 'spans-worker-2.jsonl'), `${worker2File.join('\n')}\nINFO: not a span\n`);
  result = await loadSlowestJobTrace([dir]);
  if (result.status !== 'ok') throw new Error(`expected a trace, got ${result.status}`);
  waterfall = result.waterfall;
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const rowNamed = (name: string) => waterfall.rows.find((r) => r.span.name === name)!;

describe('reading span files', () => {
  it('finds spans-*.jsonl only (not the logs beside them), and counts the truncated and the text line instead of failing', async () => {
    expect((await findSpanFiles([dir])).map((f) => f.slice(dir.length + 1))).toEqual([
      'spans-producer.jsonl',
      'spans-worker-1.jsonl',
      'spans-worker-2.jsonl',
    ]);
    const spans = producerFile.length + worker1File.length + worker2File.length;
    expect(result.input).toMatchObject({
      spans,
      invalid: 2,
      firstInvalid: { file: join(dir, 'spans-producer.jsonl'), line: producerFile.length + 1 },
    });
    expect(result.input.files).toHaveLength(3);
  });

  it('rejects a line without ids or times, keeps one without optional fields', () => {
    expect(parseSpanLine('{"traceId":"x","spanId":"y","name":"n","startTime":1,"endTime":2}')).toBeNull();
    expect(parseSpanLine(`{"traceId":"${traceId(0)}","spanId":"${spanId(1)}","name":"n","startTime":2,"endTime":1}`)).toBeNull();
    const bare = parseSpanLine(`{"traceId":"${traceId(0)}","spanId":"${spanId(1)}","name":"n","startTime":1,"endTime":4}`);
    expect(bare).toMatchObject({ durationMs: 3, kind: 'INTERNAL', links: [], status: { code: 'UNSET' } });
    expect(bare?.parentSpanId).toBeUndefined();
  });

  it('says so in one line when a directory has no span file', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'trace-none-'));
    try {
      expect((await loadSlowestJobTrace([empty])).status).toBe('no-spans');
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});

describe('the slowest job', () => {
  it('is the longest job root of the latest run, not an older slower run nor a longer refresh root', () => {
    expect(waterfall.traceId).toBe(traceId(2));
    expect(waterfall.root.spanId).toBe(spanId(21));
    expect(waterfall).toMatchObject({ runId: 'run-b', jobsInRun: 4 });
  });

  it('is of the run asked for with --run', async () => {
    const older = await loadSlowestJobTrace([dir], { runId: 'run-a' });
    expect(older.status === 'ok' && older.waterfall.traceId).toBe(TRACE_A);
    // Its worker wrote no span of it: said, where run-b's answering worker-2 is in its trace.
    expect(older.status === 'ok' && older.waterfall.absentWorker).toBe('worker-9');
    expect(waterfall.absentWorker).toBeUndefined();
    const none = await loadSlowestJobTrace([dir], { runId: 'run-z' });
    expect(none).toMatchObject({ status: 'no-jobs', runId: 'run-z', runsSeen: ['run-a', 'run-b'] });
  });
});

describe('the trace tree', () => {
  it('nests spans across the producer and worker files, children by start time, the orphan under the root', () => {
    expect(waterfall.rows.map((r) => [r.depth, r.span.name, r.process, r.orphan])).toEqual([
      [0, 'get-value', 'producer pid 4100', false],
      [1, 'add get-value', 'producer pid 4100', false],
      [2, 'process get-value', 'worker-2 pid 5002', false],
      [3, 'cache-stampede getOrCompute', 'worker-2 pid 5002', false],
      [4, 'cache-stampede wait', 'worker-2 pid 5002', false],
      [1, 'moveToFinished get-value', 'worker-2 pid 5002', true],
    ]);
    expect(waterfall.processes).toBe(2);
    expect(rowNamed('add get-value').offsetMs).toBe(1);
    expect(rowNamed('cache-stampede wait').offsetMs).toBe(34);
  });

  it('orders siblings by start whatever the file order, and places a parent cycle once', () => {
    const span = (id: number, parent: number | undefined, start: number): Span => ({
      ...parseSpanLine(
        spanLine({
          trace: traceId(9),
          id: spanId(id),
          ...(parent && { parent: spanId(parent) }),
          name: `s${id}`,
          start,
          end: start + 1,
          process: W1,
        }),
      )!,
    });
    const root = span(1, undefined, 0);
    // 4 and 5 are each other's parent: reached from nowhere, shown once each under the root.
    // Children of 2 out of start order in the file, below the root's (whose own list is sorted last).
    const spans = [span(3, 1, 20), span(2, 1, 10), root, span(7, 2, 15), span(6, 2, 12), span(4, 5, 30), span(5, 4, 31)];
    const rows = [...walkTree(buildTraceTree(spans, root))].map((n) => [n.span.name, n.depth, n.orphan]);
    expect(rows).toEqual([
      ['s1', 0, false],
      ['s2', 1, false],
      ['s6', 2, false],
      ['s7', 2, false],
      ['s3', 1, false],
      ['s4', 1, true],
      ['s5', 2, false],
    ]);
    expect([...walkTree(buildTraceTree(spans, root))]).toHaveLength(spans.length);
  });
});

describe('links', () => {
  it("resolve the waiting request's link to the computation in worker-1's file, with everyone who waited on it", () => {
    const [link, ...more] = rowNamed('cache-stampede getOrCompute').links;
    expect(more).toEqual([]);
    expect(link?.target?.spanId).toBe(COMPUTE);
    expect(link).toMatchObject({ process: 'worker-1 pid 5001', offsetMs: 25 - 8 });
    expect(link?.target?.durationMs).toBeCloseTo(1000, 6);
    // Jobs 1 and 2 in worker-2, job 3 in worker-1.
    expect(link?.linkedFrom).toMatchObject({ spans: 3, processes: 2 });
  });

  it('count the refresh that links to this trace, and nothing for spans nobody links to', () => {
    expect(rowNamed('cache-stampede getOrCompute').linkedFrom).toMatchObject({ spans: 1, first: { name: 'cache-stampede refresh' } });
    expect(rowNamed('cache-stampede wait').linkedFrom).toBeUndefined();
  });
});

describe('the text waterfall', () => {
  const text = () => formatWaterfall(waterfall, { barWidth: 40 });
  const lineOf = (needle: string) => nonEmptyLines(text()).find((l) => l.includes(needle))!;
  const barOf = (line: string) => /[|<]([█░ ]{40})[|>]$/.exec(line)?.[1];

  it('draws each span at its depth, with its process, start, duration and a bar on the trace scale', () => {
    const root = lineOf('get-value  ');
    expect(root).toMatch(/^get-value\s+producer pid 4100\s+0 ms\s+1300 ms\s+\|█{40}\|$/);
    // 1 ms into a 1300 ms window of 40 cells: the first cell only.
    expect(barOf(lineOf('  add get-value'))).toBe(`█${' '.repeat(39)}`);
    // The wait: 34 to 1272 ms, cells 1 to 39.
    const wait = lineOf('        cache-stampede wait');
    expect(wait).toMatch(/worker-2 pid 5002\s+34 ms\s+1238 ms/);
    expect(barOf(wait)).toBe(` ${'█'.repeat(39)}`);
  });

  it('puts the attributes and the link under the waiting request, the link drawn on the same scale', () => {
    const lines = nonEmptyLines(text());
    const at = lines.findIndex((l) => l.startsWith('      cache-stampede getOrCompute'));
    expect(lines[at + 1]).toBe('        source=waited strategy=redis-lock wait.outcome=value wait.ms=1237.8');
    expect(lines[at + 2]).toBe(`        <- linked from cache-stampede refresh (worker-2 pid 5002, trace ${TRACE_REFRESH.slice(0, 8)})`);
    expect(lines[at + 3]).toMatch(/^ {8}-> cache-stampede compute\s+worker-1 pid 5001\s+17 ms\s+1000 ms\s+\|/);
    // 17 to 1017 ms: cells 0 to 31.
    expect(barOf(lines[at + 3]!)).toBe(`${'░'.repeat(32)}${' '.repeat(8)}`);
    expect(lines[at + 4]).toBe(`           linked span, in trace ${traceId(0).slice(0, 8)}; 3 spans in 2 processes link to it`);
  });

  it('marks the orphan and names its missing parent', () => {
    const lines = nonEmptyLines(text());
    const at = lines.findIndex((l) => l.startsWith('  (orphan) moveToFinished get-value'));
    expect(at).toBeGreaterThan(0);
    expect(lines[at + 1]).toBe(`    orphan: parent span ${MISSING_PARENT.slice(0, 8)} is not in the span files read`);
  });

  it('stays within 120 columns for a job trace', () => {
    for (const line of nonEmptyLines(text())) expect(line.length, line).toBeLessThanOrEqual(120);
  });
});

describe('npm run logs -- DIR --trace', () => {
  it('prints the waterfall after the report, under its heading', async () => {
    const run = await runCommand('scripts/logs.ts', [dir, '--trace']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const lines = run.stdout.split('\n');
    const heading = lines.indexOf('trace of the slowest job');
    expect(heading).toBeGreaterThan(lines.indexOf('per strategy'));
    expect(lines[heading + 1]).toBe('read 3 span files: 23 spans, 2 invalid lines skipped (first: spans-producer.jsonl line 10)');
    expect(lines[heading + 2]).toBe(
      `slowest of 4 jobs in run run-b: get-value key-1, 1300 ms (trace ${traceId(2).slice(0, 8)}, 6 spans in 2 processes)`,
    );
    expect(run.stdout).toMatch(/-> cache-stampede compute\s+worker-1 pid 5001\s+17 ms\s+1000 ms/);
  });

  it('with --run, draws that run; with --json, the tree is the "trace" field', async () => {
    const older = await runCommand('scripts/logs.ts', [dir, '--trace', '--run', 'run-a', '--json']);
    expect([older.code, older.stderr]).toEqual([0, '']);
    const json = JSON.parse(older.stdout) as { trace: { traceId: string; absentWorker: string | null; rows: { name: string }[] } };
    expect(json.trace.traceId).toBe(TRACE_A);
    expect(json.trace.absentWorker).toBe('worker-9');
    expect(json.trace.rows.map((r) => r.name)).toEqual(['get-value']);
  });

  it('says in one line that there are no spans, exit 0', async () => {
    const logsOnly = await mkdtemp(join(tmpdir(), 'trace-logs-only-'));
    try {
      await writeFile(join(logsOnly, 'w.ndjson'), await readFile(join(dir, 'worker-1-5001.ndjson')));
      const run = await runCommand('scripts/logs.ts', [logsOnly, '--trace']);
      expect(run.code).toBe(0);
      expect(run.stdout.trimEnd().split('\n').slice(-2)).toEqual([
        'trace of the slowest job',
        'no spans found (the lab writes spans-*.jsonl beside its logs when tracing is on)',
      ]);
    } finally {
      await rm(logsOnly, { recursive: true, force: true });
    }
  });

  it('--help describes it', async () => {
    const help = await runCommand('scripts/logs.ts', ['--help']);
    expect(help.stdout).toMatch(/--trace\s+also print the trace of the slowest job/);
  });
});

describe('the HTML section', () => {
  /** The trace section's `<tr>` tags, as [class, attributes] in document order. */
  const rowsOf = (html: string) => {
    const section = /<section class="trace"[^>]*>[\s\S]*?<\/section>/.exec(html)?.[0] ?? '';
    return [...section.matchAll(/<tr class="(span|link)"([^>]*)>/g)].map(([, cls, attrs]) => ({
      cls,
      attr: (name: string) =>
        new RegExp(`\\s${name}(?:="([^"]*)")?(?=\\s|$)`).exec(attrs!)?.[1] ??
        (new RegExp(`\\s${name}(\\s|$)`).test(attrs!) ? '' : undefined),
    }));
  };

  it('is drawn by npm run logs --html from the span files beside the logs, one row per span and per link', async () => {
    const file = join(dir, 'report.html');
    const run = await runCommand('scripts/logs.ts', [dir, '--html', file]);
    expect(run.code).toBe(0);
    const html = await readFile(file, 'utf8');
    expect(html).toMatch(new RegExp(`<section class="trace" id="trace" data-trace-id="${traceId(2)}" data-run="run-b" data-spans="6">`));
    const rows = rowsOf(html);
    expect(rows.map((r) => (r.cls === 'span' ? r.attr('data-span-id') : `link ${r.attr('data-linked-span-id')}`))).toEqual([
      spanId(21),
      spanId(22),
      spanId(24),
      JOB2_GET,
      `link ${COMPUTE}`,
      spanId(25),
      spanId(29),
    ]);
    const link = rows[4]!;
    expect([
      link.attr('data-linked-trace-id'),
      link.attr('data-from-span-id'),
      link.attr('data-resolved'),
      link.attr('data-linked-from-spans'),
    ]).toEqual([traceId(0), JOB2_GET, '', '3']);
    expect(rows.filter((r) => r.attr('data-orphan') !== undefined).map((r) => r.attr('data-span-id'))).toEqual([spanId(29)]);
    expect(rows.map((r) => r.attr('data-depth') ?? '-')).toEqual(['0', '1', '2', '3', '-', '4', '1']);
    // Self-contained: no script, nothing fetched.
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
  });

  it('draws the linked computation hatched, at its place on the scale', async () => {
    const html = await renderHtmlReport(emptyData(), { trace: waterfall });
    const linkRow = /<tr class="link"[\s\S]*?<\/tr>/.exec(html)![0];
    const rect = /<rect class="linked" x="([\d.]+)" y="\d+" width="([\d.]+)"[^>]*fill="url\(#([\w-]+)\)"/.exec(linkRow);
    // 17 ms of 1300 ms on 480 px: x 6.3; 1000 ms: 369.2 px wide.
    expect(rect?.slice(1, 3)).toEqual(['6.3', '369.2']);
    expect(html).toContain(`<pattern id="${rect?.[3]}"`);
  });

  it('is absent without a trace, and the demo path (writeHtmlReportFromLogs) finds the spans itself', async () => {
    expect(await renderHtmlReport(emptyData())).not.toContain('class="trace"');
    const written = await writeHtmlReportFromLogs([dir], join(dir, 'demo.html'));
    expect(written.trace?.status).toBe('ok');
    expect(await readFile(written.file, 'utf8')).toContain(`data-trace-id="${traceId(2)}"`);
  });
});

/** A report of no log line: the page with nothing but what the test adds. */
function emptyData() {
  return { report: summarize([]), timelines: [] };
}
