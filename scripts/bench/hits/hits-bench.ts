import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { GetValueData } from '../../../src/bullmq/job-data.js';
import { JOB_NAME } from '../../../src/bullmq/names.js';
import { createQueue } from '../../../src/bullmq/queue.js';
import { createRedis } from '../../redis/connection.js';
import { benchFile, expectType, spawnReady, type BenchChild } from '../child-process.js';
import { rotate, type BenchOptions } from '../options.js';
import { median, type Rows } from '../rows.js';
import type { HitsChildConfig, HitsChildReport, HitsMode } from './worker-child.js';
import { runProcessorCost } from './processor-cost.js';

/**
 * Scenario 3: cache-hit get-value jobs through BullMQ vs raw BullMQ jobs with a no-op
 * processor. One worker process per system, each on its own queue created with the project's
 * queue options, all up for the whole scenario. Slices, systems taking turns (A B C, B C A,
 * ...): the parent pauses a system's queue, fills it with a slice of jobs, and the worker
 * resumes it and times the slice. A ratio is the median of per-cycle ratios: on a shared
 * machine, runs a second apart see the same conditions, runs a minute apart do not.
 */
export const HITS = 'hits';
const CHILD = benchFile('./hits/worker-child.ts');
export const HIT_SLICE_JOBS = 1000;

export const HITS_SYSTEMS: Array<{ id: HitsMode; label: string }> = [
  { id: 'raw', label: 'raw BullMQ, no-op processor' },
  { id: 'get-value', label: 'get-value processor, cache hit, info log to file (the worker: lines from the events)' },
  {
    id: 'get-value-metrics',
    label: 'get-value processor, cache hit, info log to file and Prometheus metrics (the worker, --metrics-port)',
  },
  { id: 'get-value-silent', label: 'get-value processor, cache hit, no log, no event subscriber' },
  { id: 'get-value-l1', label: 'get-value processor, cache hit from the L1 tier, info log to file (lines from the events)' },
];

export function hitSlices(options: BenchOptions): number {
  return Math.max(1, Math.round(options.hitJobs / HIT_SLICE_JOBS));
}

interface Runner {
  queue: Queue<GetValueData>;
  child: BenchChild;
}

export async function runHitsBench(
  options: BenchOptions,
  redisUrl: string,
  admin: Redis,
  rows: Rows,
  progress: (line: string) => void,
): Promise<void> {
  const slices = hitSlices(options);
  const logDir = await mkdtemp(path.join(os.tmpdir(), 'cache-stampede-bench-logs-'));
  const producer = createRedis(redisUrl, 'producer');
  const runners = new Map<HitsMode, Runner>();
  const results = new Map<HitsMode, HitsChildReport[]>(HITS_SYSTEMS.map((s) => [s.id, []]));
  try {
    progress(`hits: starting ${HITS_SYSTEMS.length} worker processes (concurrency ${options.workerConcurrency})`);
    await Promise.all(
      HITS_SYSTEMS.map(async (system) => {
        const queueName = `bench-hits-${system.id}`;
        const queue = createQueue(queueName, producer);
        await queue.pause();
        const config: HitsChildConfig = {
          redisUrl,
          queueName,
          mode: system.id,
          concurrency: options.workerConcurrency,
          key: 'hot',
          keyPrefix: 'bench-hits',
          logDir,
        };
        const [child] = await spawnReady(1, CHILD, () => ({ env: { BENCH_HITS: JSON.stringify(config) } }));
        runners.set(system.id, { queue, child: child! });
      }),
    );
    progress(`hits: warm-up slice, then ${HITS_SYSTEMS.length} systems x ${slices} slices of ${HIT_SLICE_JOBS} jobs`);
    for (const system of HITS_SYSTEMS) await runSlice(runners.get(system.id)!, HIT_SLICE_JOBS);
    for (let s = 0; s < slices; s++) {
      for (const system of rotate(HITS_SYSTEMS, s)) {
        const report = await runSlice(runners.get(system.id)!, HIT_SLICE_JOBS);
        const hits = report.sources.cache ?? 0;
        if (system.id !== 'raw' && hits !== report.completed)
          progress(`  warning: ${report.completed - hits} of ${report.completed} ${system.id} jobs were not cache hits`);
        results.get(system.id)!.push(report);
      }
    }
    await runProcessorCost(options, redisUrl, rows, progress);
  } finally {
    await Promise.all([...runners.values()].map((r) => r.child.finish()));
    for (const { queue } of runners.values()) await queue.close();
    await producer.quit();
    await admin.flushall();
    await rm(logDir, { recursive: true, force: true });
  }

  const rate = (r: HitsChildReport) => (r.completed + r.failed) / (r.elapsedMs / 1000);
  const cpuPerJob = (r: HitsChildReport) => r.cpuUs / (r.completed + r.failed);
  const raw = results.get('raw')!.map(rate);
  const metricsOff = results.get('get-value')!;
  for (const system of HITS_SYSTEMS) {
    const reports = results.get(system.id)!;
    const rates = reports.map(rate);
    rows.add(HITS, system.id, 'jobs/s', median(rates), 'jobs per second (median of slices)');
    rows.add(HITS, system.id, 'cpu/job', median(reports.map(cpuPerJob)), 'µs of the worker process CPU per job (median of slices)');
    rows.add(
      HITS,
      system.id,
      'failed',
      reports.reduce((n, r) => n + r.failed, 0),
      'count',
    );
    rows.add(HITS, system.id, 'peak.rss', Math.max(...reports.map((r) => r.peakRssMb)), 'MB (worker process)');
    if (system.id !== 'raw')
      rows.add(HITS, system.id, 'vs raw', median(rates.map((v, i) => v / raw[i]!)), 'ratio (median of per-cycle ratios)');
    // The cost of the metrics: the same worker with and without them, slice by slice.
    if (system.id === 'get-value-metrics') {
      rows.add(
        HITS,
        system.id,
        'vs metrics off',
        median(rates.map((v, i) => v / rate(metricsOff[i]!))),
        'ratio (median of per-cycle ratios)',
      );
      rows.add(
        HITS,
        system.id,
        'cpu/job vs metrics off',
        median(reports.map((r, i) => cpuPerJob(r) - cpuPerJob(metricsOff[i]!))),
        'µs of CPU per job more than without metrics (median of per-cycle differences)',
      );
    }
  }
}

/** Fill the paused queue with `jobs` cache-hit get-value jobs, let the worker run them, time it. */
async function runSlice({ queue, child }: Runner, jobs: number): Promise<HitsChildReport> {
  await queue.pause();
  for (let start = 0; start < jobs; start += 1000) {
    const count = Math.min(1000, jobs - start);
    await queue.addBulk(
      Array.from({ length: count }, () => ({ name: JOB_NAME, data: { key: 'hot', strategy: 'redis-lock' as const, runId: 'bench-hits' } })),
    );
  }
  child.send(`run ${jobs}`);
  const report = await child.next<HitsChildReport>(300_000);
  expectType(report as unknown as Record<string, unknown>, 'report', child);
  return report;
}
