/**
 * The manual, held to the code where a test can read both (issue 23, finding 11):
 *
 * - library.md's entries table names every export of the three entry files, and only exports;
 * - configuration.md names every environment variable the lab reads;
 * - the sample outputs of the docs have the shape the code prints today: a worker's progress
 *   line, the burst summary, the log report's table;
 * - development.md's layout puts each module under the folder that holds it.
 */
import { EventEmitter } from 'node:events';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatBurstSummary } from '../scripts/burst/format-burst.js';
import { formatReport } from '../scripts/report/format.js';
import { summarize } from '../scripts/report/summarize.js';
import { reportProgress } from '../workers/progress-lines.js';
import { codeSpans, tablesOf } from './support/markdown.js';
import { projectPath } from './support/worker-process.js';

const read = (file: string) => readFileSync(projectPath(file), 'utf8');

/** Every .ts file under a folder of the project, as paths from the project's root. */
function sources(folder: string): string[] {
  const root = projectPath(folder);
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((name) => {
      const path = join(dir, name);
      if (name === 'node_modules') return [];
      return statSync(path).isDirectory() ? walk(path) : name.endsWith('.ts') ? [relative(projectPath('.'), path)] : [];
    });
  return walk(root);
}

/** The names an entry file re-exports (`export { a, type B, c as d } from ...`, `export type { ... }`). */
function exportsOf(file: string): string[] {
  const names: string[] = [];
  for (const match of read(file).matchAll(/export\s+(?:type\s+)?\{([^}]*)\}/g)) {
    for (const part of match[1]!.split(',')) {
      const name = part
        .trim()
        .replace(/^type\s+/, '')
        .split(/\s+as\s+/)
        .at(-1)!
        .trim();
      if (name) names.push(name);
    }
  }
  return names;
}

describe("library.md's entries table", () => {
  const table = tablesOf(read('docs/library.md')).find((t) => t[0]![0] === 'import' && t[0]![1] === 'what it holds');
  const entries: Array<[string, string]> = [
    ['cache-stampede', 'src/index.ts'],
    ['cache-stampede/lock', 'src/lock/index.ts'],
    ['cache-stampede/otel', 'src/otel/index.ts'],
    ['cache-stampede/bullmq', 'src/bullmq/index.ts'],
  ];
  for (const [entry, file] of entries) {
    it(`names every export of ${entry} (${file}), and nothing else`, () => {
      const row = table?.find((r) => r[0] === `\`${entry}\``);
      expect(row, `a row for ${entry}`).toBeDefined();
      const named = codeSpans(row![1]!);
      const exported = exportsOf(file);
      expect(exported.length).toBeGreaterThan(3);
      expect(
        exported.filter((name) => !named.includes(name)),
        'exported but not in the table',
      ).toEqual([]);
      expect(
        named.filter((name) => !exported.includes(name)),
        'in the table but not exported',
      ).toEqual([]);
    });
  }
});

describe('configuration.md', () => {
  it('names every environment variable the lab and the library read', () => {
    const read_: string[] = [];
    for (const file of [...sources('src'), ...sources('scripts'), ...sources('workers')]) {
      const text = read(file);
      for (const m of text.matchAll(/\bgiven\('([A-Z][A-Z0-9_]*)'\)/g)) read_.push(m[1]!);
      for (const m of text.matchAll(/namedRedis\(given, '([A-Z][A-Z0-9_]*)'\)/g)) read_.push(`${m[1]}_URL`, `${m[1]}_CLUSTER_NODES`);
      for (const m of text.matchAll(/\benv(?:\.|\[')([A-Z][A-Z0-9_]*)/g)) read_.push(m[1]!);
    }
    // Not settings: the system's PATH, npm's INIT_CWD (the directory `npm run` was called from),
    // the settings a benchmark passes its own child processes (BENCH_*), and those `npm run
    // test:model` passes the checker (MODEL_*, documented with it in development.md).
    const internal = (name: string) => name.startsWith('BENCH_') || name.startsWith('MODEL_');
    const variables = [...new Set(read_)].filter((name) => name !== 'PATH' && name !== 'INIT_CWD' && !internal(name));
    expect(variables).toEqual(
      expect.arrayContaining(['REDIS_URL', 'REDIS_CLUSTER_NODES', 'LOG_DIR', 'CACHE_STAMPEDE_NO_INSTALL', 'DEBUG']),
    );
    const table = tablesOf(read('docs/configuration.md')).find((t) => t[0]![0] === 'variable');
    const documented = new Set(table?.slice(1).map((row) => codeSpans(row[0]!)[0]));
    expect(variables.filter((name) => !documented.has(name)).sort()).toEqual([]);
  });
});

/** A line with its numbers (and run ids) replaced, to compare shapes, not figures. */
const shape = (line: string) =>
  line
    .trim()
    .replace(/burst-[0-9a-f]+/g, 'burst-ID')
    .replace(/\d+(\.\d+)?/g, 'N');

/** Every line of the code blocks of the manual's pages and the front page, with where it is and its block. */
function sampleLines(): Array<{ where: string; block: string; line: string }> {
  const pages = [
    ...readdirSync(projectPath('docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/${f}`),
    'README.md',
  ];
  return pages.flatMap((page) => {
    const out: Array<{ where: string; block: string; line: string }> = [];
    let block: string | null = null;
    read(page)
      .split('\n')
      .forEach((line, i) => {
        if (line.trim().startsWith('```')) block = block === null ? `${page}:${i + 1}` : null;
        else if (block !== null) out.push({ where: `${page}:${i + 1}`, block, line });
      });
    return out;
  });
}

describe('sample outputs have the shape the code prints', () => {
  const samples = sampleLines();

  it("a worker's progress line", () => {
    const worker = new EventEmitter();
    const said: string[] = [];
    const stop = reportProgress(worker as never, 'worker-1', (line) => said.push(line), 60_000);
    worker.emit('completed', {}, { source: 'cache' });
    stop();
    const progress = samples.filter((s) => /worker-\d+: \d+ jobs \(/.test(s.line));
    expect(progress.length).toBeGreaterThan(0);
    for (const { where, line } of progress) expect(shape(line.replace(/^\[worker-\d+\] /, '')), where).toBe(shape(said[0]!));
  });

  it("the burst's summary", () => {
    const printed = formatBurstSummary({
      runId: 'burst-abc123',
      jobs: 300,
      enqueued: 300,
      notEnqueued: 0,
      enqueueFailures: {},
      completed: 300,
      failed: 0,
      failures: {},
      distinctValues: 9,
      sources: { computed: 9, waited: 142, cache: 149, stale: 0 },
      latencyMs: { p50: 565, p99: 683, max: 687 },
      elapsedMs: 700,
      timedOut: false,
    } as never).split('\n');
    const starts = ['run burst-', 'distinct values:', 'sources:', 'latency (enqueue to completion):'];
    let seen = 0;
    for (const { where, line } of samples) {
      const start = starts.find((s) => line.startsWith(s));
      if (start === undefined) continue;
      seen++;
      expect(shape(line), where).toBe(shape(printed.find((p) => p.startsWith(start))!));
    }
    expect(seen).toBeGreaterThanOrEqual(4);
  });

  it("the log report's table: its header, and as many values in each row", () => {
    const report = summarize([
      { event: 'job.completed', strategy: 'redis-lock', key: 'k', runId: 'r', jobId: '1', pid: 1, source: 'cache', latencyMs: 5 },
    ]);
    const header = formatReport(report)
      .split('\n')
      .find((l) => l.startsWith('strategy '))!;
    const columns = (line: string) => line.trim().split(/\s{2,}/);
    const sourcesAt = columns(header).findIndex((c) => c.startsWith('cache/computed'));
    let tables = 0;
    samples.forEach(({ where, block, line }, i) => {
      if (!line.startsWith('strategy    jobs  failed')) return;
      tables++;
      expect(columns(line), where).toEqual(columns(header));
      // The rows: the lines after the header, in its block, up to a blank line.
      const after = samples.slice(i + 1).filter((s) => s.block === block);
      const end = after.findIndex((s) => s.line.trim() === '');
      for (const row of end === -1 ? after : after.slice(0, end)) {
        const values = columns(row.line);
        expect(values, row.where).toHaveLength(columns(header).length);
        expect(values[sourcesAt]!.split('/'), row.where).toHaveLength(columns(header)[sourcesAt]!.split('/').length);
      }
    });
    expect(tables).toBeGreaterThan(0);
  });
});

describe("development.md's layout", () => {
  it("names, on each folder's lines of src/, only modules that folder holds", () => {
    const markdown = read('docs/development.md');
    const block = markdown.slice(markdown.indexOf('\nsrc/  '), markdown.indexOf('\nworkers/'));
    const stems = new Map<string, Set<string>>();
    for (const file of sources('src')) {
      const parts = file.split('/'); // src/<folder>/.../<name>.ts
      if (parts.length < 3) continue; // src/*.ts: the top-level files have a line of their own
      const folder = parts[1]!;
      const stem = basename(file, '.ts');
      if (!stems.has(stem)) stems.set(stem, new Set());
      stems.get(stem)!.add(folder);
    }
    let folder: string | null = null;
    const wrong: string[] = [];
    for (const line of block.split('\n')) {
      const named = /^ {2}([a-z0-9]+)\/\s/.exec(line);
      if (named) folder = named[1]!;
      else if (!/^ {6,}\S/.test(line)) folder = null; // a top-level line of src/, or of another folder
      if (folder === null) continue;
      // Words, not possessives ("the guard's subscriber" names no module).
      for (const word of line.replace(/^ {2}[a-z0-9]+\//, '').matchAll(/[A-Za-z0-9-]+('s)?/g)) {
        if (word[1]) continue;
        const where = stems.get(word[0].toLowerCase());
        if (where && !where.has(folder)) wrong.push(`${folder}/ names ${word[0]}, which is in ${[...where].join(', ')}/`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
