/**
 * End to end: `npm run fleet -- --workers 3 --metrics-port P` as a user runs it (real worker
 * processes, each serving Prometheus /metrics on P, P+1, P+2), a cold burst then a warm burst per
 * strategy through the get-value client, every worker scraped before and after each run; then the
 * fleet stopped with SIGINT and its NDJSON logs summarized by the log report (scripts/report).
 *
 * The workers count their metrics and write their log lines from the same events, so for every
 * run the sum over the workers' metrics must equal the report's count: recomputations, hits (and
 * L1 hits), misses, waits, and jobs by source. Counts of the same steps, not timings: this holds
 * however the jobs spread over the workers on a loaded machine.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBurst } from '../scripts/burst/burst.js';
import { createRedis } from '../scripts/redis/connection.js';
import { readLogs, summarizeAsync, type GroupSummary } from '../scripts/report/index.js';
import { createGetValueClient, type GetValueClient } from '../src/bullmq/client.js';
import { STRATEGIES, type Strategy } from '../src/cache/strategy.js';
import { freePortRange } from './support/ports.js';
import { scrape, total, type Sample } from './support/prometheus.js';
import { closeAll, redisUrl, uniquePrefix } from './support/redis.js';
import { spawnEntry, type LabProcess } from './support/worker-process.js';

const WORKERS = 3;
const JOBS = 60;
// Long enough that a cold burst's jobs are in flight together (misses, waits, joins).
const COMPUTE_MS = 400;
const M = 'cache_stampede_';

interface Run {
  strategy: Strategy;
  runId: string;
  /** Every worker's samples, summed over the fleet by `total`, before and after the run. */
  before: Sample[];
  after: Sample[];
}

describe(`npm run fleet -- --workers ${WORKERS} --metrics-port P: the workers' metrics agree with the log report`, () => {
  const tag = uniquePrefix('metrics-fleet');
  const queueName = `q-${tag}`;
  let logDir = '';
  let firstPort = 0;
  let fleet: LabProcess | undefined;
  let fleetExit: number | string | undefined;
  let producer: Redis;
  let client: GetValueClient;
  const runs: Run[] = [];
  let last: Sample[] = [];
  let lastTexts: string[] = [];

  const urls = () => Array.from({ length: WORKERS }, (_, i) => `http://127.0.0.1:${firstPort + i}/metrics`);
  /** All workers' samples, in one list (sums over it are sums over the fleet). */
  const scrapeFleet = async () => (await Promise.all(urls().map(scrape))).flat();

  beforeAll(async () => {
    logDir = await mkdtemp(join(tmpdir(), 'cs-metrics-fleet-'));
    producer = createRedis(redisUrl(), 'producer');
    client = createGetValueClient({ connection: producer, queueName, timeoutMs: 120_000 });
    firstPort = await freePortRange(WORKERS);
    fleet = spawnEntry('scripts/fleet.ts', ['--workers', String(WORKERS), '--metrics-port', String(firstPort)], {
      REDIS_URL: redisUrl(),
      LOG_DIR: logDir,
      QUEUE_NAME: queueName,
      KEY_PREFIX: tag,
      LOG_LEVEL: 'info',
      // The warm bursts' hits then come from the L1 tier where a worker already holds the value.
      L1_MAX_ENTRIES: '100',
    });
    try {
      for (let i = 1; i <= WORKERS; i++) await fleet.waitForLine(new RegExp(`worker-${i} ready: `), 90_000);
      for (const strategy of STRATEGIES) {
        const runId = `${tag}-${strategy}`;
        const before = await scrapeFleet();
        // A cold burst on a key of its own, then a warm one on the same key: the same run.
        for (let burst = 0; burst < 2; burst++) {
          const summary = await runBurst(
            client,
            { jobs: JOBS, keys: 1, strategy, computeMs: COMPUTE_MS, runId, keyPrefix: `${strategy}-key` },
            { timeoutMs: 120_000 },
          );
          expect(summary).toMatchObject({ completed: JOBS, failed: 0, timedOut: false });
        }
        runs.push({ strategy, runId, before, after: await scrapeFleet() });
      }
      lastTexts = await Promise.all(urls().map(async (url) => (await fetch(url)).text()));
      last = await scrapeFleet();
    } finally {
      fleet.child.kill('SIGINT');
      fleetExit = await fleet.exit;
    }
  }, 300_000);

  afterAll(async () => {
    // Only reached with a running fleet when beforeAll failed before stopping it.
    if (fleet && fleetExit === undefined) fleet.child.kill('SIGKILL');
    await client?.close();
    await closeAll(...[producer].filter(Boolean));
    if (logDir && !process.env.KEEP_TEST_LOGS) await rm(logDir, { recursive: true, force: true });
  });

  const reportOf = async (runId?: string): Promise<Map<string, GroupSummary>> => {
    const report = await summarizeAsync(readLogs([logDir]), runId === undefined ? {} : { runId });
    return new Map(report.strategies.map((s) => [s.strategy, s]));
  };

  /** What the metrics say about one strategy, summed over the workers: `after` minus `before`. */
  function fromMetrics(strategy: string, after: Sample[], before: Sample[] = []) {
    const count = (name: string, where: Record<string, string> = {}) =>
      total(after, M + name, { strategy, ...where }) - total(before, M + name, { strategy, ...where });
    return {
      recomputations: count('recomputations_total'),
      hits: count('cache_hits_total'),
      l1Hits: count('cache_hits_total', { tier: 'l1' }),
      misses: count('cache_misses_total'),
      waits: count('waits_total'),
      jobs: count('jobs_total'),
      completed: count('job_latency_seconds_count'),
      failed: count('jobs_total', { source: 'failed' }),
      sources: {
        cache: count('jobs_total', { source: 'cache' }),
        computed: count('jobs_total', { source: 'computed' }),
        waited: count('jobs_total', { source: 'waited' }),
        stale: count('jobs_total', { source: 'stale' }),
      },
    };
  }
  const fromReport = (s: GroupSummary | undefined) => ({
    recomputations: s?.recomputations,
    hits: s?.hits,
    l1Hits: s?.l1Hits,
    misses: s?.misses,
    waits: s?.waits,
    jobs: s?.jobs,
    completed: s?.completed,
    failed: s?.failed,
    sources: s?.sources,
  });

  it("printed every worker's URL, served /metrics on P, P+1, P+2, and stopped cleanly on SIGINT", () => {
    const output = fleet?.output() ?? '';
    urls().forEach((url, i) => {
      expect(output).toContain(`metrics: worker-${i + 1} at ${url}`);
      expect(output).toContain(`worker-${i + 1} metrics at ${url}`);
    });
    expect(fleetExit, output).toBe(0);
    expect(output).toContain(`fleet stopped: ${WORKERS} of ${WORKERS} workers exited cleanly`);
  });

  it("for each run, the sum of the workers' metrics equals the log report of that run", async () => {
    expect(runs.map((r) => r.strategy)).toEqual([...STRATEGIES]);
    for (const { strategy, runId, before, after } of runs) {
      const report = await reportOf(runId);
      expect([...report.keys()], runId).toEqual([strategy]);
      const metrics = fromMetrics(strategy, after, before);
      expect(metrics, strategy).toEqual(fromReport(report.get(strategy)));
      // Both bursts are in it: every job, at least one recomputation, and the warm burst's hits.
      expect(metrics.jobs, strategy).toBe(2 * JOBS);
      expect(metrics.recomputations, strategy).toBeGreaterThanOrEqual(1);
      expect(metrics.hits, strategy).toBeGreaterThanOrEqual(JOBS);
    }
  });

  it("the fleet's totals equal the whole log: per strategy, and the lost locks and rejected writes", async () => {
    const report = await reportOf();
    for (const strategy of STRATEGIES) expect(fromMetrics(strategy, last), strategy).toEqual(fromReport(report.get(strategy)));
    const all = [...report.values()];
    expect(total(last, `${M}lock_lost_total`)).toBe(all.reduce((n, s) => n + s.lostLocks, 0));
    expect(total(last, `${M}write_rejected_total`)).toBe(all.reduce((n, s) => n + s.rejectedWrites, 0));
    // redis-lock: one recomputation for the fleet, in the metrics as in the log.
    expect(total(last, `${M}recomputations_total`, { strategy: 'redis-lock' })).toBe(1);
  });

  it("serves prom-client's process metrics, and labels nothing by key, job or run", () => {
    for (const text of lastTexts) {
      for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes']) {
        expect(text).toContain(`\n${name}`);
      }
      expect(text).not.toMatch(/\b(key|jobId|job_id|runId|run_id)="/);
      expect(text).not.toContain(tag);
    }
    const labels = new Set(last.filter((s) => s.name.startsWith(M)).flatMap((s) => Object.keys(s.labels)));
    expect([...labels].sort()).toEqual(['le', 'outcome', 'source', 'strategy', 'tier'].filter((l) => labels.has(l)));
  });
});
