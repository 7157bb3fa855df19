import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Strategy } from '../src/cache/strategy.js';
import { EVENT_RULES, LATENCY_LINES, ORIGIN_LINES, latencyOverTimeSpec, loadAxisSeconds, originSpec } from '../scripts/load/load-charts.js';
import { renderLoadReport, writeLoadReport } from '../scripts/load/load-report.js';
import { findLoadRuns, LOAD_RUN_FILE, parseLoadRun, writeLoadRun } from '../scripts/load/load-run-file.js';
import { renderHtmlReport, summarizeWithTimelines, type LogRecord } from '../scripts/report/index.js';
import { runCommand } from './support/run-command.js';
import type { LoadRow } from '../scripts/load/run-load.js';
import { checkTraffic, type TrafficSpec } from '../scripts/load/traffic-options.js';

/**
 * The load lab's HTML report on hand-made rows (no fleet): 10 s of traffic with a flush at 4 s;
 * `none` sends 40 requests to the origin in the second after it, `redis-lock` 3.
 */

const WIDTH = 760; // load-charts' default plot width
const traffic: TrafficSpec = checkTraffic({ durationMs: 10_000, rate: 50, keys: 100, events: [{ kind: 'flush', atMs: 4000 }] }, {});

function row(strategy: string, spike: number, p99AtFlush: number): LoadRow {
  const seconds = Array.from({ length: 10 }, (_, s) => s);
  return {
    strategy: strategy as Strategy,
    runId: `run-${strategy}`,
    jobs: 500,
    completed: 500,
    failed: 0,
    failures: {},
    latencyMs: { p50: 3, p99: p99AtFlush, p999: p99AtFlush, max: p99AtFlush },
    sources: { cache: 450, computed: 50 },
    staleShare: 0,
    bins: seconds.map((second) => ({ second, jobs: 50, failed: 0, p50: 3, p99: second === 4 ? p99AtFlush : 120 })),
    origin: {
      requests: 9 * 2 + spike,
      perSecond: { mean: 2, peak: spike },
      peakInFlight: spike,
      bins: seconds.map((second) => ({ second, requests: second === 4 ? spike : 2, peakInFlight: 1 })),
      countedBy: 'origin',
    },
    commandsPerJob: 4.5,
    events: [{ at: 4000, kind: 'flush' }],
    lagMs: { p99: 1, max: 2 },
    elapsedMs: 10_000,
    logs: undefined,
    staleAgeMs: { p50: null, p99: null },
  };
}

const rows = [row('none', 40, 900), row('redis-lock', 3, 250)];

/** The SVG of one figure of the page. */
function figureSvg(html: string, cls: string): string {
  const match = new RegExp(`<figure class="${cls}">[\\s\\S]*?(<svg[\\s\\S]*?</svg>)\\s*</figure>`).exec(html);
  expect(match, `figure.${cls} with an svg`).not.toBeNull();
  return match![1]!;
}

/** The elements under the mark group of one named layer (Vega: `<g class="... <name>_marks">`). */
function marksOf(svg: string, layer: string): string[] {
  const groups = [...svg.matchAll(new RegExp(`<g class="[^"]*\\b${layer}_marks"[^>]*>([\\s\\S]*?)</g>`, 'g'))];
  return groups.map((g) => g[1]!);
}

describe('the load report', () => {
  let dir: string;
  let html: string;
  let file: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'load-report-'));
    const written = await writeLoadReport(rows, traffic, join(dir, 'nested', 'load-report.html'), { workers: 2 });
    file = written.file;
    html = await readFile(file, 'utf8');
    expect(written.bytes).toBe(Buffer.byteLength(html));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('writes one self-contained page: two charts as inline SVG, the traffic line, the table', () => {
    expect(file).toBe(join(dir, 'nested', 'load-report.html'));
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html.match(/<svg\b/g)).toHaveLength(2);
    expect(figureSvg(html, 'origin')).toContain('origin requests per second');
    expect(figureSvg(html, 'latency')).toContain('latency, ms');
    expect(html).toContain('<p class="traffic">2 workers, 50 jobs/s for 10 s over 100 keys');
    expect(html).toContain('flush at 4 s');
    // The load table's figures: none's peak of 40 requests per second, redis-lock's p99.
    const table = /<pre class="table">([\s\S]*?)<\/pre>/.exec(html)?.[1] ?? '';
    expect(table).toMatch(/^none\s+500\s+500\s+0\s+58\s+2\s+40\s+40\s+3\s+900\b/m);
    expect(table).toMatch(/^redis-lock\s+500\s+500\s+0\s+21\s+2\s+3\s+3\s+3\s+250\b/m);
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
  });

  it('draws one origin line per strategy, in its own colour, named in the legend', () => {
    const origin = figureSvg(html, 'origin');
    const lines = marksOf(origin, ORIGIN_LINES);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain('stroke="#e45756"'); // none
    expect(lines[1]).toContain('stroke="#4c78a8"'); // redis-lock
    expect(origin).toMatch(/aria-label="Symbol legend titled 'strategy'[^"]*2 values: none, redis-lock"/);
    expect(origin).toContain('aria-label="none: 40 origin requests in second 4 (at most 1 at once)"');
    expect(origin).toContain('aria-label="redis-lock: 3 origin requests in second 4 (at most 1 at once)"');
  });

  it('marks the flush as a vertical rule at its time, in both charts, on the same axis', () => {
    for (const cls of ['origin', 'latency']) {
      const rules = marksOf(figureSvg(html, cls), EVENT_RULES);
      expect(rules).toHaveLength(1);
      const line = /<line aria-label="flush at 4 s"[^>]*transform="translate\(([\d.]+),0\)"/.exec(rules[0]!);
      expect(line, `${cls}: the flush rule`).not.toBeNull();
      // 10 s on the axis, 760 px wide: 4 s is at 304 px.
      expect(Number(line![1])).toBeCloseTo((WIDTH * 4) / 10, 3);
    }
    const spec = originSpec(rows, { xMaxS: 10 }) as { layer: { name?: string; data?: { values?: unknown[] } }[] };
    expect(spec.layer.find((l) => l.name === EVENT_RULES)?.data?.values).toEqual([{ t: 4, kind: 'flush', d: 'flush at 4 s' }]);
  });

  it('draws p50 and p99 per strategy below, p99 solid and p50 dashed', () => {
    const latency = figureSvg(html, 'latency');
    const lines = marksOf(latency, LATENCY_LINES);
    expect(lines).toHaveLength(4);
    expect(lines.filter((l) => l.includes('stroke-dasharray="4,3"'))).toHaveLength(2);
    expect(latency).toContain('aria-label="none: p99 900 ms for the jobs due in second 4 (50 jobs, 0 failed)"');
    expect(latency).toContain('aria-label="redis-lock: p99 250 ms for the jobs due in second 4 (50 jobs, 0 failed)"');
    expect(latency).toContain('aria-label="redis-lock: p50 3 ms for the jobs due in second 4 (50 jobs, 0 failed)"');
    expect(latency).toMatch(/aria-label="Symbol legend titled 'latency'[^"]*2 values: p99, p50"/);
  });

  it('leaves out a second without a completed job instead of drawing it at 0', () => {
    const sparse = row('swr', 1, 100);
    sparse.bins[2] = { second: 2, jobs: 5, failed: 5, p50: null, p99: null };
    const spec = latencyOverTimeSpec([sparse]) as { layer: { data?: { values?: { t: number }[] } }[] };
    const times = spec.layer[0]!.data!.values!.map((v) => v.t);
    expect(times).not.toContain(2.5);
    expect(times).toContain(3.5);
  });

  it('extends the shared time axis while the origin is still busy after the traffic', () => {
    expect(loadAxisSeconds(rows, traffic.durationMs)).toBe(10);
    const late = row('xfetch', 1, 100);
    late.origin.bins.push({ second: 10, requests: 0, peakInFlight: 0 }, { second: 11, requests: 2, peakInFlight: 1 });
    expect(loadAxisSeconds([...rows, late], traffic.durationMs)).toBe(12);
  });

  it('keeps the origin idle seconds after the axis out of the picture (the SVG stays as wide)', async () => {
    const idle = rows.map((r) => ({
      ...r,
      origin: { ...r.origin, bins: [...r.origin.bins, { second: 10, requests: 0, peakInFlight: 0 }] },
    }));
    const width = (svg: string) => Number(/^<svg[^>]*\swidth="([\d.]+)"/.exec(svg)?.[1]);
    const page = await renderLoadReport(idle, traffic, { workers: 2 });
    expect(width(figureSvg(page, 'origin'))).toBe(width(figureSvg(html, 'origin')));
    expect(width(figureSvg(page, 'origin'))).toBe(width(figureSvg(page, 'latency')));
  });

  it('escapes text: a strategy name, the traffic line and the title cannot inject markup', async () => {
    const evil = '<img src=x onerror=alert(1)>';
    const odd = { ...traffic, computeTime: { kind: 'fixed', ms: '<b>1</b>' } } as unknown as TrafficSpec;
    const page = await renderLoadReport([row(evil, 5, 100)], odd, { workers: 1, title: 'load <i>test</i>' });
    expect(page).not.toContain('<img');
    expect(page).not.toContain('<b>1</b>');
    expect(page).not.toContain('<i>test</i>');
    expect(page).toContain('&lt;b&gt;1&lt;/b&gt; ms');
    expect(page).toContain('<title>load &lt;i&gt;test&lt;/i&gt;</title>');
    expect(page).toContain('data-strategies="&lt;img src=x onerror=alert(1)&gt;"');
    // Inside the SVG too (Vega escapes its labels), and in the text table.
    expect(page).toContain('&lt;img src=x onerror=alert(1)&gt;: 5 origin requests in second 4');
    expect(page).toMatch(/<pre class="table">[\s\S]*&lt;img src=x onerror=alert\(1\)&gt;\s+500/);
  });
});

describe('a load run in the log report (load.json beside its logs)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'load-run-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('is found in a directory and its sub-directories, or named as a file; a broken one is a problem, not a failure', async () => {
    const runDir = join(dir, 'found', 'load-1');
    await mkdir(join(runDir, 'none'), { recursive: true });
    const file = await writeLoadRun(runDir, { traffic, workers: 2, rows });
    await mkdir(join(dir, 'found', 'other'), { recursive: true });
    await writeFile(join(dir, 'found', 'other', LOAD_RUN_FILE), '{"rows": "not rows"}');

    const found = await findLoadRuns([join(dir, 'found'), file, join(dir, 'missing')]);
    expect(found.runs.map((r) => r.file)).toEqual([file]); // once, though reached twice
    expect(found.runs[0]).toMatchObject({ workers: 2, traffic: { durationMs: 10_000 } });
    expect(found.runs[0]!.rows.map((r) => r.strategy)).toEqual(['none', 'redis-lock']);
    expect(found.problems).toEqual([
      `${join(dir, 'found', 'other', LOAD_RUN_FILE)}: not a load run written by npm run load; left out of the report`,
    ]);
    expect(parseLoadRun('not json')).toBeNull();
    expect(parseLoadRun('[]')).toBeNull();
  });

  it('is drawn after the bursts, with both charts and the table; alone, the page does not say "no job lines"', async () => {
    const burst: LogRecord[] = [
      { event: 'job.end', strategy: 'none', runId: 'b1', key: 'k', jobId: '1', source: 'computed', durationMs: 5, time: 1000, pid: 1 },
    ];
    const withBurst = await renderHtmlReport(await summarizeWithTimelines(burst), { loadRuns: [{ traffic, workers: 2, rows }] });
    const sections = [...withBurst.matchAll(/<section class="([a-z]+)"/g)].map((m) => m[1]);
    expect(sections).toEqual(['summary', 'strategy', 'load']);
    const load = withBurst.slice(withBurst.indexOf('<section class="load"'));
    expect(load).toContain('data-strategies="none,redis-lock"');
    expect(load).toContain('<h2>Under load</h2>');
    expect(figureSvg(load, 'origin')).toContain('none: 40 origin requests in second 4');
    expect(figureSvg(load, 'latency')).toContain('redis-lock: p99 250 ms for the jobs due in second 4');
    expect(load).toMatch(/<pre class="table">[\s\S]*^none\s+500\s+500\s+0\s+58\b/m);

    const alone = await renderHtmlReport(await summarizeWithTimelines([]), { loadRuns: [{ traffic, workers: 2, rows }] });
    expect(alone).toContain('<section class="load"');
    expect(alone).not.toContain('no job lines found');
    const none = await renderHtmlReport(await summarizeWithTimelines([]));
    expect(none).toContain('no job lines found');
  });

  it('npm run logs -- --html draws the load run it finds beside the logs, and warns about a broken one', async () => {
    const runDir = join(dir, 'cli');
    await mkdir(join(runDir, 'none'), { recursive: true });
    await writeFile(
      join(runDir, 'none', 'worker-1.ndjson'),
      `${JSON.stringify({ event: 'job.end', strategy: 'none', runId: 'r', key: 'k', jobId: '1', source: 'computed', durationMs: 5, time: 1, pid: 1 })}\n`,
    );
    await writeLoadRun(runDir, { traffic, workers: 2, rows });
    const html = join(dir, 'cli.html');
    const ok = await runCommand('scripts/logs.ts', [runDir, '--html', html]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(await readFile(html, 'utf8')).toContain('<section class="load" data-strategies="none,redis-lock">');

    await writeFile(join(runDir, LOAD_RUN_FILE), '{"truncated": ');
    const broken = await runCommand('scripts/logs.ts', [runDir, '--html', html]);
    expect(broken.code, broken.stderr).toBe(0);
    expect(broken.stderr).toContain(`warning: ${join(runDir, LOAD_RUN_FILE)}: not a load run written by npm run load`);
    expect(await readFile(html, 'utf8')).not.toContain('<section class="load"');
  }, 60_000);
});
