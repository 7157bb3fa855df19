import { execFile } from 'node:child_process';
import { mulberry32 } from '../scripts/load/random.js';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RECOMPUTE_LAYER, buildTimelines, renderChartSvg, writeHtmlReportFromLogs, type LogRecord } from '../scripts/report/index.js';
import { binTimes, niceBucketSize, packIntervals, timelineSpec } from '../scripts/report/html/index.js';

/**
 * The HTML report against synthetic worker logs: a small simulated fleet runs a burst per
 * strategy with realistic timings (arrivals spread over a few ms, recomputations of a few
 * hundred ms, waits, cache hits), and the expected number of `recompute.start` per strategy
 * is tallied while the lines are written. The report is checked twice: in its text (every
 * recomputation is one SVG mark) and as a person sees it, in headless Chromium.
 */

const REPO = resolve(import.meta.dirname, '..');
const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOTS = join(REPO, 'test-results');
const STRATEGIES = ['none', 'local-lock', 'redis-lock'] as const;
type Strategy = (typeof STRATEGIES)[number];

// ---------------------------------------------------------------------------------------------
// A simulated fleet
// ---------------------------------------------------------------------------------------------

interface FakeWorker {
  workerId: string;
  pid: number;
}

const fleetOf = (n: number): FakeWorker[] => Array.from({ length: n }, (_, i) => ({ workerId: `worker-${i + 1}`, pid: 5000 + i + 1 }));

interface BurstOptions {
  strategy: Strategy;
  runId: string;
  workers: FakeWorker[];
  jobs: number;
  keys: number;
  computeMs: number;
  /** Jobs arrive spread over this long; those after the first write of their key hit the cache. */
  spreadMs: number;
  t0: number;
  seed: number;
  /** One redis-lock holder pauses past its TTL: `lock.lost`, then `cache.write.rejected`. */
  lostLock?: boolean;
}

/** What a generated set of logs contains, counted while it was written. */
interface Tally {
  recomputes: Map<string, number>;
  hits: Map<string, number>;
  waits: Map<string, number>;
  /** Records per worker, in the order the process would have written them. */
  lines: Map<string, Record<string, unknown>[]>;
}

const newTally = (): Tally => ({ recomputes: new Map(), hits: new Map(), waits: new Map(), lines: new Map() });
const bump = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);

/** Deterministic pseudo-random numbers, so every run draws the same picture. */
const random = mulberry32;

/**
 * One burst as the strategy would play it: `none` recomputes on every miss; `local-lock`
 * once per key per process (later callers in the process join the flight); `redis-lock`
 * once per key in the fleet (one caller per other process waits on the lock, the rest join).
 */
function simulateBurst(o: BurstOptions, tally: Tally): void {
  const rand = random(o.seed);
  const jobs = Array.from({ length: o.jobs }, (_, j) => {
    const arrival = o.t0 + Math.floor(rand() * o.spreadMs);
    const worker = o.workers[Math.floor(rand() * o.workers.length)]!;
    return { j, arrival, start: arrival + 1 + Math.floor(rand() * 4), key: `k${(j % o.keys) + 1}`, worker };
  }).sort((a, b) => a.start - b.start || a.j - b.j);

  const cachedAt = new Map<string, number>(); // key -> when its value is in the cache
  const processFlight = new Map<string, number>(); // worker|key -> when the flight's value arrives
  const holder = new Map<string, number>(); // key -> when the fleet-wide holder writes
  let lostOne = false;

  for (const { j, arrival, start, key, worker } of jobs) {
    const records = tally.lines.get(worker.workerId) ?? [];
    tally.lines.set(worker.workerId, records);
    const base = {
      pid: worker.pid,
      hostname: 'host-a',
      workerId: worker.workerId,
      runId: o.runId,
      jobId: `${o.runId}-${j}`,
      strategy: o.strategy,
      key,
    };
    const log = (time: number, event: string, extra: Record<string, unknown> = {}) =>
      records.push({ level: 30, time, ...base, event, msg: event, ...extra });
    const complete = (time: number, source: string) => log(time, 'job.completed', { latencyMs: time - arrival, source });

    if (start >= (cachedAt.get(key) ?? Infinity)) {
      log(start, 'cache.hit');
      bump(tally.hits, o.strategy);
      complete(start + 1, 'cache');
      continue;
    }
    log(start, 'cache.miss');
    const flightKey = `${worker.workerId}|${key}`;
    const flight = processFlight.get(flightKey);
    if (o.strategy !== 'none' && flight !== undefined && flight > start) {
      log(start + 1, 'flight.joined');
      complete(flight + 1, 'waited');
      continue;
    }
    const written = holder.get(key);
    if (o.strategy === 'redis-lock' && written !== undefined && written > start) {
      log(start + 1, 'lock.busy');
      log(start + 1, 'wait.start');
      bump(tally.waits, o.strategy);
      const woke = written + 1 + Math.floor(rand() * 3);
      log(woke, 'wait.end', { waitedMs: woke - start - 1 });
      log(woke, 'cache.hit');
      bump(tally.hits, o.strategy);
      processFlight.set(flightKey, woke);
      complete(woke + 1, 'waited');
      continue;
    }
    // This caller recomputes.
    if (o.strategy === 'redis-lock') log(start + 1, 'lock.acquired');
    const begin = start + 2;
    const end = begin + Math.round(o.computeMs * (0.9 + 0.25 * rand()));
    log(begin, 'recompute.start');
    bump(tally.recomputes, o.strategy);
    log(end, 'recompute.end', { durationMs: end - begin });
    if (o.strategy === 'redis-lock' && o.lostLock && !lostOne) {
      lostOne = true;
      log(end - 40, 'lock.lost');
      log(end + 1, 'cache.write.rejected');
    } else {
      log(end + 1, 'cache.write');
    }
    if (o.strategy === 'redis-lock') log(end + 1, 'lock.released');
    cachedAt.set(key, Math.min(cachedAt.get(key) ?? Infinity, end + 1));
    processFlight.set(flightKey, end + 1);
    holder.set(key, end + 1);
    complete(end + 2, 'computed');
  }
}

/** Write one NDJSON file per worker process, lines in time order (as a process writes them). */
async function writeLogs(dir: string, tally: Tally, workers: FakeWorker[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const w of workers) {
    const records = (tally.lines.get(w.workerId) ?? []).map((r, i) => ({ r, i }));
    records.sort((a, b) => (a.r.time as number) - (b.r.time as number) || a.i - b.i);
    const started = {
      level: 30,
      time: 1_700_000_000_000 - 1000,
      pid: w.pid,
      hostname: 'host-a',
      workerId: w.workerId,
      event: 'worker.started',
      msg: 'worker started',
    };
    const lines = [started, ...records.map((x) => x.r)].map((r) => JSON.stringify(r));
    await writeFile(join(dir, `${w.workerId}-${w.pid}.ndjson`), `${lines.join('\n')}\n`);
  }
}

// ---------------------------------------------------------------------------------------------
// Reading the report back
// ---------------------------------------------------------------------------------------------

interface SectionInHtml {
  strategy: string;
  recomputations: number;
  panels: number;
  bars: number;
}

/** Each strategy section, with its attributes and the recompute bars in its SVGs (one `<path>` each). */
function sectionsOf(html: string): SectionInHtml[] {
  return html
    .split('<section class="strategy"')
    .slice(1)
    .map((chunk) => {
      const body = chunk.slice(0, chunk.indexOf('</section>'));
      const attr = (name: string) => new RegExp(`${name}="([^"]*)"`).exec(body)?.[1];
      const groups = [...body.matchAll(new RegExp(`<g class="mark-rect role-mark ${RECOMPUTE_LAYER}_marks"[^>]*>(.*?)</g>`, 'gs'))];
      return {
        strategy: attr('data-strategy')!,
        recomputations: Number(attr('data-recomputations')),
        panels: (body.match(/<figure class="panel"/g) ?? []).length,
        bars: groups.reduce((n, g) => n + (g[1]!.match(/<path /g) ?? []).length, 0),
      };
    });
}

function runLogs(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'scripts/logs.ts', ...args],
      { cwd: REPO, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        done({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
      },
    );
  });
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

const WORKERS = fleetOf(4);
const RUNS = ['r1', 'r2'];

let tmp: string;
let logDir: string;
let tally: Tally;
let htmlFile: string;
let html: string;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cs-html-report-'));
  logDir = join(tmp, 'logs');
  tally = newTally();
  let seed = 1;
  RUNS.forEach((runId, r) => {
    STRATEGIES.forEach((strategy, s) => {
      simulateBurst(
        {
          strategy,
          runId,
          workers: WORKERS,
          jobs: 60,
          keys: 2,
          computeMs: 400,
          spreadMs: 700,
          t0: 1_700_000_000_000 + (r * 3 + s) * 10_000,
          seed: seed++,
          lostLock: runId === 'r2',
        },
        tally,
      );
    });
  });
  await writeLogs(logDir, tally, WORKERS);
  htmlFile = join(tmp, 'out', 'report.html');
  const written = await writeHtmlReportFromLogs([logDir], htmlFile);
  expect(written.file).toBe(htmlFile);
  html = await readFile(htmlFile, 'utf8');
});

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('timeline data', () => {
  it('packs overlapping intervals into the fewest rows, reusing freed rows', () => {
    const { slots, rows } = packIntervals([
      { start: 0, end: 10 },
      { start: 5, end: 15 },
      { start: 10, end: 20 },
      { start: 12, end: 13 },
    ]);
    expect(slots).toEqual([0, 1, 0, 2]);
    expect(rows).toBe(3);
  });

  it('bins instants per round bucket size', () => {
    expect(niceBucketSize(1500, 150)).toBe(10);
    expect(niceBucketSize(1000, 150)).toBe(10);
    expect(niceBucketSize(2600, 150)).toBe(20);
    expect(binTimes([0, 3, 9, 10, 35], 10)).toEqual([
      { start: 0, end: 10, count: 3 },
      { start: 10, end: 20, count: 1 },
      { start: 30, end: 40, count: 1 },
    ]);
  });

  it('pairs starts with ends per job; one bar per recompute.start, open ones drawn to the end', () => {
    const rec = (time: number, event: string, jobId: string, pid = 1): LogRecord => ({
      time,
      pid,
      workerId: `w${pid}`,
      runId: 'r',
      strategy: 'none',
      key: 'k',
      jobId,
      event,
    });
    const [panel] = buildTimelines([
      rec(100, 'recompute.start', 'a'),
      rec(110, 'recompute.start', 'b', 2),
      rec(300, 'recompute.end', 'a'),
      rec(120, 'cache.hit', 'c'),
      rec(130, 'lock.lost', 'b', 2),
      rec(400, 'job.completed', 'a'),
      // A later strategy's events: a background refresh and a stale value served.
      rec(150, 'refresh.start', 'd'),
      rec(250, 'refresh.end', 'd'),
      rec(160, 'stale.served', 'e'),
      // Joined another caller's flight: waits until its own job completes.
      rec(170, 'flight.joined', 'f', 2),
      rec(260, 'job.completed', 'f', 2),
    ]);
    expect(panel).toMatchObject({ strategy: 'none', runId: 'r', startedAt: 100, durationMs: 300, recomputations: 2, joins: 1, jobs: 2 });
    expect(panel!.lanes.map((l) => l.label)).toEqual(['w1 · pid 1', 'w2 · pid 2']);
    expect(panel!.lanes[0]!.bars).toEqual([
      { kind: 'recompute', start: 0, end: 200, open: false, failed: false, jobId: 'a', key: 'k' },
      { kind: 'refresh', start: 50, end: 150, open: false, failed: false, jobId: 'd', key: 'k' },
    ]);
    expect(panel!.lanes[1]!.bars).toMatchObject([
      { kind: 'recompute', start: 10, end: 300, open: true },
      { kind: 'joined', start: 70, end: 160, open: false },
    ]);
    expect(panel!.lanes[0]!.ticks).toEqual([
      { kind: 'cache.hit', at: 20 },
      { kind: 'stale.served', at: 60 },
    ]);
    expect(panel!.lanes[1]!.alerts).toMatchObject([{ kind: 'lock.lost', at: 30 }]);
  });

  it('renders any Vega-Lite spec to SVG without a browser', async () => {
    const svg = await renderChartSvg({
      data: { values: [{ a: 1, b: 2 }] },
      mark: 'bar',
      encoding: { x: { field: 'a', type: 'quantitative' }, y: { field: 'b', type: 'quantitative' } },
    });
    expect(svg).toMatch(/^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(svg).toContain('mark-rect role-mark');
  });
});

describe('html report, read as text', () => {
  it('has one panel per strategy and run, with one recompute bar per recompute.start', () => {
    const sections = sectionsOf(html);
    expect(sections.map((s) => s.strategy)).toEqual([...STRATEGIES]);
    for (const s of sections) {
      const expected = tally.recomputes.get(s.strategy) ?? 0;
      expect(expected, s.strategy).toBeGreaterThan(0);
      expect(s.recomputations, s.strategy).toBe(expected);
      expect(s.bars, s.strategy).toBe(expected);
      expect(s.panels, s.strategy).toBe(RUNS.length);
    }
    // The stampede is visible: none recomputes far more than redis-lock, which does once per key per run.
    expect(tally.recomputes.get('redis-lock')).toBe(RUNS.length * 2);
    expect(tally.recomputes.get('none')!).toBeGreaterThan(tally.recomputes.get('local-lock')!);
  });

  it('is self-contained: inline SVG and CSS, no script, no external resource', () => {
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/<script|<link |<img |@import|url\(/i);
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//i);
    expect(html).toContain('<table class="summary">');
    expect(html).toContain('ms since burst start');
    for (const w of WORKERS) expect(html).toContain(`${w.workerId} · pid ${w.pid}`);
  });

  it('marks lost locks and rejected writes, and carries the verdicts', () => {
    const redis = html.slice(html.indexOf('<section class="strategy" id="strategy-redis-lock"'));
    expect(redis).toContain('alerts_marks');
    expect(redis).toMatch(/aria-label="[^"]*lock lost/);
    expect(redis).toMatch(/aria-label="[^"]*write rejected/);
    expect(html).toContain('redis-lock: 1 recomputation per key per run (OK, 2 keys x 2 runs)');
  });

  it('npm run logs -- --html writes the report and prints its path', async () => {
    const file = join(tmp, 'cli', 'report.html');
    await mkdir(join(tmp, 'cli')); // the report's directory must exist: logs creates only the file
    const res = await runLogs([logDir, '--html', file]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain('per strategy');
    expect(res.stdout.trimEnd().split('\n').at(-1)).toBe(`html report: ${file}`);
    const sections = sectionsOf(await readFile(file, 'utf8'));
    expect(sections.map((s) => [s.strategy, s.bars])).toEqual(STRATEGIES.map((s) => [s, tally.recomputes.get(s)]));

    const json = await runLogs([logDir, '--json', '--html', file]);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout).version).toBe(1); // stdout stays pure JSON
    expect(json.stderr).toContain(`html report: ${file}`);
  }, 60_000);
});

describe('html report, as a person sees it', () => {
  const browserMissing = !existsSync(CHROMIUM);
  if (browserMissing) console.warn(`skipping the browser test: no Chromium at ${CHROMIUM} (apt-get install chromium)`);

  it.skipIf(browserMissing)('shows every strategy panel with its recompute bars in headless Chromium; screenshot saved', async () => {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-quic',
        '--no-first-run',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      const requests: string[] = [];
      const errors: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      await page.goto(pathToFileURL(htmlFile).href, { waitUntil: 'load' });

      const seen = await page.$$eval(
        'section.strategy',
        (sections, layer) =>
          sections.map((s) => ({
            strategy: s.getAttribute('data-strategy'),
            declared: Number(s.getAttribute('data-recomputations')),
            bars: s.querySelectorAll(`svg g.${layer}_marks > path`).length,
            panels: s.querySelectorAll('figure.panel svg').length,
            // Drawn for real: the bars have a size on screen.
            visible: [...s.querySelectorAll(`svg g.${layer}_marks > path`)].filter((p) => {
              const box = p.getBoundingClientRect();
              return box.width > 0 && box.height > 0;
            }).length,
          })),
        RECOMPUTE_LAYER,
      );
      expect(seen.map((s) => s.strategy)).toEqual([...STRATEGIES]);
      for (const s of seen) {
        const expected = tally.recomputes.get(s.strategy!);
        expect(s.bars, s.strategy!).toBe(expected);
        expect(s.declared, s.strategy!).toBe(expected);
        expect(s.visible, s.strategy!).toBe(expected);
        expect(s.panels, s.strategy!).toBe(RUNS.length);
      }
      expect(await page.locator('table.summary tbody tr').count()).toBe(STRATEGIES.length);
      expect(await page.locator('.latency svg').count()).toBe(STRATEGIES.length);
      expect(requests.every((url) => url.startsWith('file:') || url.startsWith('data:'))).toBe(true);
      expect(errors).toEqual([]);

      await mkdir(SCREENSHOTS, { recursive: true });
      const shot = join(SCREENSHOTS, 'html-report.png');
      await page.screenshot({ path: shot, fullPage: true });
      console.log(`screenshot: ${shot}`);
      expect(existsSync(shot)).toBe(true);
    } finally {
      await browser.close();
    }
  });
});

describe('html report, large run', () => {
  it('5000 jobs per strategy render quickly into a small file (ticks binned, every recompute bar kept)', async () => {
    const workers = fleetOf(8);
    const big = newTally();
    for (const [s, strategy] of STRATEGIES.entries()) {
      simulateBurst(
        {
          strategy,
          runId: 'big',
          workers,
          jobs: 5000,
          keys: 20,
          computeMs: 300,
          spreadMs: 2000,
          t0: 1_700_000_000_000 + s * 10_000,
          seed: 100 + s,
        },
        big,
      );
    }
    const dir = join(tmp, 'big');
    await writeLogs(dir, big, workers);
    const lines = [...big.lines.values()].reduce((n, l) => n + l.length, 0);

    const started = performance.now();
    const written = await writeHtmlReportFromLogs([dir], join(tmp, 'big.html'));
    const elapsed = performance.now() - started;
    console.log(
      `large run: ${STRATEGIES.length} x 5000 jobs, ${lines} log lines, ${big.recomputes.get('none')} + ${big.recomputes.get('local-lock')} + ${big.recomputes.get('redis-lock')} recomputations, ${big.hits.get('none')} hits in none -> ${(written.bytes / 1024).toFixed(0)} KiB in ${elapsed.toFixed(0)} ms`,
    );

    expect(elapsed).toBeLessThan(20_000);
    expect(written.bytes).toBeLessThan(4 * 1024 * 1024);
    const text = await readFile(written.file, 'utf8');
    expect(text).toContain('tick_bins_marks'); // thousands of hits became a histogram
    for (const s of sectionsOf(text)) expect(s.bars, s.strategy).toBe(big.recomputes.get(s.strategy));
  }, 60_000);
});

describe('timeline spec', () => {
  it('draws ticks one by one when few, binned when many', () => {
    const panel = buildTimelines(
      Array.from(
        { length: 50 },
        (_, i): LogRecord => ({
          time: i,
          pid: 1,
          workerId: 'w',
          runId: 'r',
          strategy: 'none',
          key: 'k',
          jobId: `j${i}`,
          event: 'cache.hit',
        }),
      ),
    )[0]!;
    const layers = (spec: unknown) => (spec as { layer: { name: string }[] }).layer.map((l) => l.name);
    expect(layers(timelineSpec(panel))).toContain('ticks');
    expect(layers(timelineSpec(panel, { maxTicks: 10 }))).toContain('tick_bins');
  });
});
