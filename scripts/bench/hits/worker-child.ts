/**
 * A BullMQ worker for the hits benchmark, on a queue of its own. Env BENCH_HITS (JSON). Modes:
 * - `raw`: a no-op processor;
 * - `get-value`: this project's processor (createProcessor) with its guard, as `npm run worker`
 *   runs it: the log lines (info, to an NDJSON file) written from the guard's events;
 * - `get-value-metrics`: as `get-value`, also counting the Prometheus metrics from the same
 *   events, as `npm run worker -- --metrics-port P` does;
 * - `get-value-silent`: no logger and nobody subscribed (the guard reporting to no one);
 * - `get-value-l1`: as `get-value`, with the guard's L1 tier (L1_MAX_ENTRIES in a fleet).
 * Same Worker options in every mode (those of workers/runtime.ts). The parent keeps
 * the queue paused while it fills it; on `run <n>` this process resumes the queue and
 * reports how long the next n jobs took. It stays up between slices (warm, like a worker
 * that has been running for a while) until stdin closes.
 */
import { Queue, Worker, type Job } from 'bullmq';
import { createGuard } from '../../../src/cache/guard.js';
import { createFileLogger } from '../../../workers/file-logger.js';
import { observeGuardEvents } from '../../../workers/guard-events.js';
import { createGuardMetrics } from '../../../workers/metrics/guard-metrics.js';
import { QUEUE_PREFIX } from '../../../src/bullmq/names.js';
import { createProcessor } from '../../../src/bullmq/processor.js';
import { simulatedCompute } from '../../../workers/simulated-compute.js';
import { createRedis } from '../../redis/connection.js';
import { commands, failChild, peakRssMb, runRequests, say } from '../child-protocol.js';

export type HitsMode = 'raw' | 'get-value' | 'get-value-metrics' | 'get-value-silent' | 'get-value-l1';

export interface HitsChildConfig {
  redisUrl: string;
  queueName: string;
  mode: HitsMode;
  concurrency: number;
  key: string;
  keyPrefix: string;
  logDir: string;
}

export interface HitsChildReport {
  type: 'report';
  elapsedMs: number;
  /** CPU time this process spent on the slice (user + system), µs: its cost, whatever else runs on the machine. */
  cpuUs: number;
  completed: number;
  failed: number;
  sources: Record<string, number>;
  peakRssMb: number;
}

try {
  const config = JSON.parse(process.env.BENCH_HITS ?? '') as HitsChildConfig;
  const workerId = `bench-${config.mode}-${process.pid}`;
  const connection = createRedis(config.redisUrl, 'worker');
  const cache = createRedis(config.redisUrl, 'cache');
  const control = createRedis(config.redisUrl, 'producer');
  const fileLog =
    config.mode === 'raw' || config.mode === 'get-value-silent'
      ? undefined
      : createFileLogger(config.logDir, workerId, 'info', { workerId });
  // As the lab's worker: the lines (and the metrics) from the guard's events.
  const stopObserving =
    fileLog && observeGuardEvents(fileLog.logger, config.mode === 'get-value-metrics' ? createGuardMetrics() : undefined);
  const guard = createGuard({
    redis: cache,
    keyPrefix: config.keyPrefix,
    ...(config.mode === 'get-value-l1' && { l1: { maxEntries: 1000 } }),
  });

  const processor =
    config.mode === 'raw'
      ? async (_job: Job) => undefined
      : createProcessor({
          guard,
          workerId,
          compute: (data) => simulatedCompute(workerId, data.computeMs ?? 1000, data.simulate),
          acceptsSimulation: true,
        });
  // Warm the key: from here on every get-value job is a cache hit.
  await guard.getOrCompute(config.key, async () => ({ warm: true }), { strategy: 'redis-lock' });

  const queue = new Queue(config.queueName, { connection: control, prefix: QUEUE_PREFIX });
  const worker = new Worker(config.queueName, processor, {
    connection,
    prefix: QUEUE_PREFIX,
    concurrency: config.concurrency,
    name: workerId,
  });
  worker.on('error', (err) => process.stderr.write(`worker error: ${err.message}\n`));
  await worker.waitUntilReady();

  let completed = 0;
  let failed = 0;
  let sources: Record<string, number> = {};
  let target = Number.POSITIVE_INFINITY;
  let reached: () => void = () => {};
  const check = () => {
    if (completed + failed >= target) reached();
  };
  worker.on('completed', (_job, result: { source?: string; keys?: unknown } | undefined) => {
    completed += 1;
    const source = result?.source ?? 'none';
    sources[source] = (sources[source] ?? 0) + 1;
    check();
  });
  worker.on('failed', () => {
    failed += 1;
    check();
  });

  const lines = commands();
  say({ type: 'ready' });
  for await (const jobs of runRequests(lines)) {
    completed = 0;
    failed = 0;
    sources = {};
    target = jobs;
    const finished = new Promise<void>((resolve) => (reached = resolve));
    const started = performance.now();
    const cpuAtStart = process.cpuUsage();
    await queue.resume();
    await finished;
    const report: HitsChildReport = {
      type: 'report',
      elapsedMs: performance.now() - started,
      cpuUs: cpuSpent(process.cpuUsage(cpuAtStart)),
      completed,
      failed,
      sources,
      peakRssMb: peakRssMb(),
    };
    say(report as unknown as Record<string, unknown>);
  }

  await worker.close();
  await queue.close();
  await guard.close();
  stopObserving?.();
  await fileLog?.close();
  await Promise.all([connection.quit(), cache.quit(), control.quit()]);
  process.exit(0);
} catch (err) {
  failChild(err);
}

function cpuSpent({ user, system }: NodeJS.CpuUsage): number {
  return user + system;
}
