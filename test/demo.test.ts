/**
 * `npm run demo` smoke test: the real command, small, against the test suite's Redis. It starts
 * the example HTTP backend and a fleet per strategy running the example's compute module, sends
 * a burst, and prints the comparison table.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisUrl, uniquePrefix } from './support/redis.js';
import { runCommand } from './support/run-command.js';
import { projectPath } from './support/worker-process.js';

const WORKERS = 2;
const JOBS = 40;

/** `npm run demo` to its end; the timeout bounds a hang only (a run takes a few seconds per strategy). */
const runDemo = (args: string[], env: Record<string, string>) => runCommand('scripts/demo.ts', args, env, 150_000);

/** The nth table's rows by strategy, cells by header (headers are separated by two or more spaces). */
function parseTable(stdout: string, nth = 0): Map<string, Record<string, string>> {
  const lines = stdout.split('\n');
  const headerAt = lines.map((line, i) => (/^strategy\s{2,}/.test(line) ? i : -1)).filter((i) => i >= 0)[nth] ?? -1;
  if (headerAt === -1) throw new Error(`no table ${nth + 1} in:\n${stdout}`);
  const headers = lines[headerAt]!.trim().split(/\s{2,}/);
  const rows = new Map<string, Record<string, string>>();
  for (const line of lines.slice(headerAt + 1)) {
    if (line.trim() === '') break;
    const cells = line.trim().split(/\s{2,}/);
    rows.set(cells[0]!, Object.fromEntries(headers.map((h, i) => [h, cells[i] ?? ''])));
  }
  return rows;
}

describe('npm run demo', () => {
  let logRoot = '';
  beforeAll(async () => {
    logRoot = await mkdtemp(join(tmpdir(), 'cs-demo-'));
  });
  afterAll(async () => {
    if (logRoot) await rm(logRoot, { recursive: true, force: true });
  });

  it(`compares every strategy with ${WORKERS} workers and ${JOBS} jobs, redis-lock at 1 recomputation`, async () => {
    const prefix = uniquePrefix('demo');
    const result = await runDemo(
      [
        '--workers',
        String(WORKERS),
        '--jobs',
        String(JOBS),
        '--compute-ms',
        '300',
        '--load-duration',
        '3',
        '--load-strategies',
        'none,redis-lock',
      ],
      {
        REDIS_URL: redisUrl(),
        LOG_DIR: logRoot,
        QUEUE_NAME: `q-${prefix}`,
        KEY_PREFIX: prefix,
      },
    );
    const context = `exit ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
    expect(result.code, context).toBe(0);

    const rows = parseTable(result.stdout);
    expect([...rows.keys()], context).toEqual(['none', 'local-lock', 'redis-lock']);
    for (const [strategy, row] of rows) {
      expect({ strategy, jobs: row.jobs, completed: row.completed }).toEqual({ strategy, jobs: String(JOBS), completed: String(JOBS) });
    }
    // The example backend's own count of requests agrees with the logs' recomputations.
    for (const [strategy, row] of rows) {
      expect({ strategy, backend: row['backend requests'] }).toEqual({ strategy, backend: row.recomputations });
    }
    expect(rows.get('redis-lock')!.recomputations, context).toBe('1');
    const local = Number(rows.get('local-lock')!.recomputations);
    expect(local).toBeGreaterThanOrEqual(1);
    expect(local).toBeLessThanOrEqual(WORKERS);
    expect(Number(rows.get('none')!.recomputations)).toBeGreaterThan(1);

    // The warm key under steady load: every job completes; swr and xfetch make nobody wait for a
    // computation, redis-lock does (the requests that arrive during its recomputation).
    const warm = parseTable(result.stdout, 1);
    expect([...warm.keys()], context).toEqual(['redis-lock', 'swr', 'xfetch']);
    for (const [strategy, row] of warm) {
      expect({ strategy, completed: row.completed }).toEqual({ strategy, completed: row.jobs });
      expect(Number(row.recomputations), strategy).toBeGreaterThanOrEqual(1);
    }
    expect(Number(warm.get('redis-lock')!['waited on a compute']), context).toBeGreaterThan(0);
    expect(warm.get('swr')!['waited on a compute'], context).toBe('0');
    expect(warm.get('xfetch')!['waited on a compute'], context).toBe('0');

    // Traffic over many keys, the same for both strategies: every job answered, and the origin's
    // own count agrees with the logs (the demo exits 1 otherwise).
    const load = parseTable(result.stdout, 2);
    expect([...load.keys()], context).toEqual(['none', 'redis-lock']);
    const jobs = load.get('none')!.jobs;
    for (const [strategy, row] of load)
      expect({ strategy, jobs: row.jobs, completed: row.completed }).toEqual({ strategy, jobs, completed: jobs });

    // It says where the logs are, and they are there, under LOG_DIR.
    const named = /^logs: (\S+?)\/? /m.exec(result.stdout);
    expect(named, context).not.toBeNull();
    const logDir = named![1]!;
    expect(logDir.startsWith(logRoot)).toBe(true);
    for (const strategy of ['none', 'local-lock', 'redis-lock']) expect(existsSync(join(logDir, strategy)), strategy).toBe(true);
    // Its report draws the load run after the bursts, and its figures are kept beside its logs.
    const report = await readFile(join(logDir, 'report.html'), 'utf8');
    expect(report).toContain('<section class="load" data-strategies="none,redis-lock">');
    expect(existsSync(join(logDir, 'load', 'load.json'))).toBe(true);
    // The lab traced (on by default): the slowest job of the redis-lock cold burst as a waterfall.
    expect(report).toMatch(/<section class="trace"[^>]* data-run="demo-[^"]*-redis-lock"/);
  }, 180_000);

  it('--compute runs your module in the cold bursts instead of the example backend (which then counts nothing)', async () => {
    const prefix = uniquePrefix('demo-module');
    const module = 'test/fixtures/compute/behaviours.ts';
    const result = await runDemo(
      ['--workers', '1', '--jobs', '20', '--strategies', 'redis-lock', '--no-warm', '--no-load', '--compute', module],
      {
        REDIS_URL: redisUrl(),
        LOG_DIR: logRoot,
        QUEUE_NAME: `q-${prefix}`,
        KEY_PREFIX: prefix,
      },
    );
    const context = `exit ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
    expect(result.code, context).toBe(0);
    expect(result.stdout).toContain(`one cold burst per strategy, computing with ${projectPath(module)}:`);
    expect(parseTable(result.stdout).get('redis-lock'), context).toMatchObject({
      completed: '20',
      recomputations: '1',
      'backend requests': '-',
    });
  }, 180_000);
});
