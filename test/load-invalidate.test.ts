/**
 * The load lab's group invalidation (issue 28): keys dealt into tag groups, one group's tag
 * invalidated mid-run. First the traffic model and the table without a fleet; then a small
 * seeded run (real workers, the example backend, the suite's Redis), as test/load.test.ts does:
 * the producer's, the logs' and the origin's counts agree, only the group's values are found
 * covered, and redis-lock recomputes the group's hottest key once more while a key of another
 * group is computed once.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackend, type Backend } from '../examples/http-backend/backend.js';
import { loadConfig } from '../scripts/common/config.js';
import { ConfigError } from '../scripts/common/errors.js';
import { formatLoadTable } from '../scripts/load/format-load.js';
import { EVENT_RULES, originSpec } from '../scripts/load/load-charts.js';
import { countsDisagree, runLoad, type LoadRow } from '../scripts/load/run-load.js';
import { groupOfRank, keysInGroup, rankOfKey } from '../scripts/load/tag-groups.js';
import { checkTraffic, type TrafficOptions } from '../scripts/load/traffic-options.js';
import { type TrafficJob, traffic } from '../scripts/load/traffic.js';
import { readLogs } from '../scripts/report/index.js';
import { redisUrl, uniquePrefix } from './support/redis.js';
import { nonEmptyLines, runCommand } from './support/run-command.js';

const jobsOf = (spec: ReturnType<typeof checkTraffic>): TrafficJob[] => [...traffic(spec)].filter((i): i is TrafficJob => i.kind === 'job');

describe('tag groups in the traffic model', () => {
  it('deals the keys round-robin by rank: every job carries its group tag, and the arrivals are as without groups', () => {
    const plain = jobsOf(checkTraffic({ seed: 5, keys: 10, rate: 300, durationMs: 1000 }));
    const grouped = jobsOf(checkTraffic({ seed: 5, keys: 10, rate: 300, durationMs: 1000, tagGroups: 3 }));
    expect(grouped.map(({ tags: _tags, ...job }) => job)).toEqual(plain);
    for (const job of grouped) expect(job.tags).toEqual([`group-${((job.rank - 1) % 3) + 1}`]);
    expect(plain.every((job) => !('tags' in job))).toBe(true);
    // Ranks 1, 4, 7, 10 | 2, 5, 8 | 3, 6, 9.
    expect([1, 2, 3].map((g) => keysInGroup({ keys: 10, tagGroups: 3 }, g))).toEqual([4, 3, 3]);
    expect(rankOfKey({ keyPrefix: 'key' }, 'key-12')).toBe(12);
    expect(rankOfKey({ keyPrefix: 'key' }, 'other-12')).toBeNull();
  });

  it('puts the invalidation on the timeline, with its tag, before the jobs due then', () => {
    const spec = checkTraffic({
      keys: 8,
      rate: 100,
      durationMs: 2000,
      tagGroups: 4,
      events: [{ kind: 'invalidate', atMs: 1000, group: 2 }],
    });
    const items = [...traffic(spec)];
    const at = items.findIndex((i) => i.kind === 'invalidate');
    expect(items[at]).toEqual({ at: 1000, kind: 'invalidate', group: 2, tag: 'group-2' });
    expect(items.slice(at + 1).every((i) => i.at >= 1000)).toBe(true);
    expect(checkTraffic({ tagGroups: 2, events: [{ kind: 'invalidate', atMs: 5 }] }).events).toEqual([
      { kind: 'invalidate', atMs: 5, group: 1 },
    ]);
  });

  it.each<[TrafficOptions, RegExp]>([
    [{ events: [{ kind: 'invalidate', atMs: 5 }] }, /^events\[0\] invalidates a group's tag: the keys need tags \(tagGroups\)$/],
    [{ tagGroups: 2, events: [{ kind: 'invalidate', atMs: 5, group: 3 }] }, /^events\[0\]\.group must be between 1 and 2, got 3$/],
    [
      {
        tagGroups: 2,
        events: [
          { kind: 'invalidate', atMs: 5 },
          { kind: 'invalidate', atMs: 9 },
        ],
      },
      /^events: one invalidation per run/,
    ],
    [{ keys: 3, tagGroups: 4 }, /^tagGroups must be between 0 and 3, got 4$/],
    [{ events: [{ kind: 'expire', atMs: 5 } as never] }, /^events\[0\]\.kind must be one of flush, burst, invalidate; got "expire"$/],
  ])('refuses %j, naming the parameter', (options, message) => {
    expect(() => checkTraffic(options)).toThrow(ConfigError);
    expect(() => checkTraffic(options)).toThrow(message);
  });
});

describe('npm run load: the new flags refused in one line, before anything starts', { timeout: 120_000 }, () => {
  it.concurrent.each<[string[], RegExp]>([
    [['--invalidate-at', '2'], /^error: --invalidate-at invalidates a group of keys by its tag: give the keys tags with --tag-groups G$/],
    [['--tag-groups', '30', '--keys', '20'], /^error: --tag-groups 30 is more groups than --keys 20/],
    [
      ['--tag-groups', '2', '--invalidate-at', '20', '--duration', '10'],
      /^error: --invalidate-at at 20 s is not within the traffic's 10 s/,
    ],
    [['--tag-groups', '0'], /^error: option '--tag-groups <g>' argument '0' is invalid/],
  ])('%j', async (args, message) => {
    const result = await runCommand('scripts/load.ts', args, { REDIS_URL: 'redis://127.0.0.1:1' });
    expect(result.code, JSON.stringify(result)).toBe(2);
    expect(nonEmptyLines(result.stderr)).toEqual([expect.stringMatching(message)]);
  });
});

const EXAMPLE_MODULE = fileURLToPath(new URL('../examples/http-backend/compute.ts', import.meta.url));
const spec = checkTraffic({
  seed: 7,
  keys: 20,
  zipfS: 1,
  rate: 40,
  durationMs: 3000,
  computeTime: { kind: 'fixed', ms: 300 },
  tagGroups: 4,
  events: [{ kind: 'invalidate', atMs: 1500, group: 1 }],
});

describe('a small load run that invalidates one tag group', { timeout: 240_000 }, () => {
  let backend: Backend;
  let logDir: string;
  let rows: LoadRow[];
  beforeAll(async () => {
    backend = await startBackend({ delayMs: 300 });
    logDir = await mkdtemp(join(tmpdir(), 'cs-load-invalidate-'));
    const prefix = uniquePrefix('load-invalidate');
    // Values stay fresh past the run: after the cold start, only the invalidation recomputes.
    const config = loadConfig({ redisUrl: redisUrl(), keyPrefix: prefix, queueName: `q-${prefix}`, logDir, valueTtlMs: 10_000 });
    rows = await runLoad({
      config,
      traffic: spec,
      strategies: ['redis-lock', 'none'],
      workers: 2,
      backend,
      computeModule: EXAMPLE_MODULE,
      logDir,
      say: () => {},
    });
  }, 180_000);
  afterAll(async () => {
    await backend?.close();
    if (logDir) await rm(logDir, { recursive: true, force: true });
  });

  /** The run's lines of one strategy. */
  async function records(strategy: string): Promise<Readonly<Record<string, unknown>>[]> {
    const all: Readonly<Record<string, unknown>>[] = [];
    const runId = rows.find((r) => r.strategy === strategy)!.runId;
    for await (const record of readLogs([join(logDir, strategy)])) if (record.runId === runId) all.push(record);
    return all;
  }
  const recomputationsOf = (lines: Readonly<Record<string, unknown>>[], key: string) =>
    lines.filter((l) => l.event === 'recompute.start' && l.key === key).length;

  it('every job completes, the invalidation is on the timeline, and the three counts agree', () => {
    for (const row of rows) {
      expect(row.failed, `${row.strategy}: ${JSON.stringify(row.failures)}`).toBe(0);
      expect(row.events, row.strategy).toEqual([{ at: 1500, kind: 'invalidate', tag: 'group-1' }]);
      expect(countsDisagree(row), row.strategy).toBeNull();
      expect(row.invalidation, row.strategy).toMatchObject({ tag: 'group-1', atMs: 1500, groupKeys: 5 });
    }
  });

  it('only the invalidated group is found covered; its values are recomputed after it', async () => {
    for (const row of rows) {
      const covered = (await records(row.strategy)).filter((l) => l.event === 'cache.invalidated');
      expect(covered.length, row.strategy).toBe(row.invalidation!.coveredReads);
      expect(covered.length, row.strategy).toBeGreaterThan(0);
      for (const line of covered) expect(groupOfRank(spec, rankOfKey(spec, line.key)!), String(line.key)).toBe(1);
      expect(row.invalidation!.recomputed, row.strategy).toBeGreaterThan(0);
    }
  });

  it('redis-lock: the hottest key (group 1) is computed twice, cold and after the invalidation; a key of group 2 once', async () => {
    const lines = await records('redis-lock');
    expect(recomputationsOf(lines, 'key-1')).toBe(2);
    expect(recomputationsOf(lines, 'key-2')).toBe(1);
    // At most one computation per group key asked for after the invalidation.
    const askedAfter = new Set(
      jobsOf(spec)
        .filter((j) => j.at >= 1500 && groupOfRank(spec, j.rank) === 1)
        .map((j) => j.key),
    );
    expect(rows[0]!.invalidation!.recomputed).toBeLessThanOrEqual(askedAfter.size);
    expect(await records('none').then((none) => recomputationsOf(none, 'key-1'))).toBeGreaterThanOrEqual(2);
  });

  it('the table counts the group, and the origin chart marks the invalidation', () => {
    const table = formatLoadTable(rows, spec, 2);
    expect(table).toMatch(/over 20 keys in 4 tag groups .*invalidate group-1 \(5 keys\) at 1\.5 s:/);
    expect(table.split('\n')[2]).toMatch(/group recomp {2}other group {2}covered$/);
    const lockLine = table.split('\n').find((l) => l.startsWith('redis-lock'))!;
    const inv = rows[0]!.invalidation!;
    expect(lockLine).toMatch(new RegExp(` ${inv.recomputed} +${inv.otherGroupsMean} +${inv.coveredReads}$`));
    const chart = originSpec(rows) as { layer: { name?: string; data?: { values?: unknown[] } }[] };
    expect(chart.layer.find((l) => l.name === EVENT_RULES)?.data?.values).toEqual([
      { t: 1.5, kind: 'invalidate group-1', d: 'invalidate group-1 at 1.5 s' },
    ]);
  });
});
