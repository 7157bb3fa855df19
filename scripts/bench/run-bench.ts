import os from 'node:os';
import { createRedis } from '../redis/connection.js';
import { startEmbeddedRedis } from '../redis/redis-server.js';
import { COLD, coldSpec, criticalSpec, runColdBurst } from './cold/cold-burst.js';
import { runL1Bench } from './l1/l1-bench.js';
import { coldSystems } from './cold/systems.js';
import { CommandMeter } from './command-stats.js';
import { runHitsBench } from './hits/hits-bench.js';
import { runLockBench } from './locks/lock-bench.js';
import { runMemoryBench } from './memory/memory-bench.js';
import { runSoakBench } from './soak/soak-bench.js';
import { runBatchBench } from './batch/batch-bench.js';
import { formatBatchSection, insertSection } from './batch/markdown.js';
import { runTagsBench } from './tags/tags-bench.js';
import { formatTagsSection } from './tags/markdown.js';
import { runClientsBench } from './clients/clients-bench.js';
import { formatClientsSection } from './clients/markdown.js';
import type { BenchOptions } from './options.js';
import { formatMarkdown, type BenchMeta } from './output/markdown.js';
import { renderColdChart } from './output/chart.js';
import { checkTargets, type TargetCheck } from './output/targets.js';
import { Rows, type Row } from './rows.js';

export interface BenchResult {
  meta: BenchMeta & { options: BenchOptions };
  rows: Row[];
  targets: TargetCheck[];
  markdown: string;
  /** The cold-burst chart, when that scenario ran. */
  svg: string | null;
}

/**
 * One bench run: its own redis-server (INFO commandstats is server-wide, so nothing but the
 * bench may talk to it), the chosen scenarios in order, then the table, the targets and the
 * chart from the same rows.
 */
export async function runBench(options: BenchOptions, say: (line: string) => void): Promise<BenchResult> {
  const started = Date.now();
  const loadAtStart = os.loadavg()[0]!;
  const progress = (line: string) => say(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${line}`);
  const redis = await startEmbeddedRedis({ log: progress });
  const admin = createRedis(redis.url, 'producer');
  const rows = new Rows();
  try {
    const version = /redis_version:(\S+)/.exec(await admin.info('server'))?.[1] ?? 'unknown';
    progress(
      `bench: private redis-server ${version} on port ${redis.port}; scenarios ${options.scenarios.join(', ')}${options.quick ? ' (--quick)' : ''}`,
    );
    const meter = await CommandMeter.calibrate(admin);

    if (options.scenarios.includes('cold')) await runColdBurst(options, coldSpec(options), redis.url, meter, admin, rows, progress);
    if (options.scenarios.includes('critical')) await runColdBurst(options, criticalSpec(options), redis.url, meter, admin, rows, progress);
    if (options.scenarios.includes('l1')) await runL1Bench(redis.url, meter, admin, rows, progress, options.l1Changes);
    if (options.scenarios.includes('locks')) await runLockBench(options, redis.url, admin, rows, progress);
    if (options.scenarios.includes('hits')) await runHitsBench(options, redis.url, admin, rows, progress);
    if (options.scenarios.includes('memory')) await runMemoryBench(options, redis.url, rows, progress);
    if (options.scenarios.includes('batch')) await runBatchBench(options, redis.url, meter, admin, rows, progress);
    // Before tags: that scenario wraps ioredis's sendCommand in this process (its request
    // counter), which would weigh on the ioredis column alone.
    if (options.scenarios.includes('clients')) await runClientsBench(options, redis.url, meter, admin, rows, progress);
    if (options.scenarios.includes('tags')) await runTagsBench(options, redis.url, meter, admin, rows, progress);
    if (options.scenarios.includes('soak')) await runSoakBench(options, redis.url, admin, rows, progress);

    const labels = Object.fromEntries(coldSystems().map((s) => [s.id, s.label]));
    const meta: BenchMeta = {
      startedAt: new Date(started).toISOString().replace(/\.\d+Z$/, 'Z'),
      node: process.version,
      cpuCount: os.cpus().length,
      cpus: `${os.cpus().length} CPU(s) (${os.cpus()[0]?.model.trim() ?? 'unknown'})`,
      redis: version,
      durationSec: (Date.now() - started) / 1000,
      loadAverage: [loadAtStart, os.loadavg()[0]!],
    };
    const targets = checkTargets(rows);
    const withBatch = insertSection(formatMarkdown(rows, targets, options, meta, labels), formatBatchSection(rows, options));
    const withTags = insertSection(withBatch, formatTagsSection(rows, options));
    const markdown = insertSection(withTags, formatClientsSection(rows, options));
    const svg =
      rows.systems(COLD).length > 0
        ? await renderColdChart(
            rows.all,
            labels,
            options.computeMs,
            `${options.processes} processes x ${options.concurrency} requests, compute ${options.computeMs} ms, ${meta.startedAt}`,
          )
        : null;
    return { meta: { ...meta, options }, rows: rows.all, targets, markdown, svg };
  } finally {
    await admin.quit().catch(() => admin.disconnect());
    await redis.stop();
  }
}
