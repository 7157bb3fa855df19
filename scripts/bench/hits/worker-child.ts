/**
 * A BullMQ worker for the hits benchmark, on a queue of its own. Env BENCH_HITS (JSON). Modes:
 * - `raw`: a no-op processor;
 * - `get-value`: this project's processor (createProcessor) with its guard, logging at info
 *   to an NDJSON file as a worker does;
 * - `get-value-silent`: the same processor with a silent logger (the guard without logging);
 * - `get-value-l1`: as `get-value`, with the guard's L1 tier (L1_MAX_ENTRIES in a fleet).
 * Same Worker options in every mode (those of workers/runtime.ts). The parent keeps
 * the queue paused while it fills it; on `run <n>` this process resumes the queue and
 * reports how long the next n jobs took. It stays up between slices (warm, like a worker
 * that has been running for a while) until stdin closes.
 */
import { Queue, Worker, type Job } from 'bullmq';
import { createGuard } from '../../../src/cache/guard.js';
import { createFileLogger } from '../../../workers/file-logger.js';
import { silentLogger } from '../../../src/logger.js';
import { QUEUE_PREFIX } from '../../../src/bullmq/names.js';
import { createProcessor } from '../../../src/bullmq/processor.js';
import { simulatedCompute } from '../../../workers/simulated-compute.js';
import { createRedis } from '../../redis/connection.js';
import { commands, failChild, peakRssMb, say } from '../child-protocol.js';

export type HitsMode = 'raw' | 'get-value' | 'get-value-silent' | 'get-value-l1';

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
  const guard = createGuard({
    redis: cache,
    keyPrefix: config.keyPrefix,
    ...(config.mode === 'get-value-l1' && { l1: { maxEntries: 1000 } }),
  });
  const fileLog =
    config.mode === 'get-value' || config.mode === 'get-value-l1'
      ? createFileLogger(config.logDir, workerId, 'info', { workerId })
      : undefined;
  const logger = fileLog?.logger ?? silentLogger;

  const processor =
    config.mode === 'raw'
      ? async (_job: Job) => undefined
      : createProcessor({
          guard,
          logger,
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
  worker.on('completed', (_job, result: { source?: string } | undefined) => {
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
  for (;;) {
    const { value, done } = await lines.next();
    if (done) break;
    const match = /^run (\d+)$/.exec(String(value).trim());
    if (!match) continue;
    completed = 0;
    failed = 0;
    sources = {};
    target = Number(match[1]);
    const finished = new Promise<void>((resolve) => (reached = resolve));
    const started = performance.now();
    await queue.resume();
    await finished;
    const report: HitsChildReport = {
      type: 'report',
      elapsedMs: performance.now() - started,
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
  await fileLog?.close();
  await Promise.all([connection.quit(), cache.quit(), control.quit()]);
  process.exit(0);
} catch (err) {
  failChild(err);
}
