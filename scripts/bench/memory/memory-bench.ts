import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runBurst } from '../../burst/burst.js';
import { createGetValueClient } from '../../../src/bullmq/client.js';
import { createRedis } from '../../redis/connection.js';
import { spawnChild, type BenchChild } from '../child-process.js';
import type { BenchOptions } from '../options.js';
import { median, type Rows } from '../rows.js';
import { readProcessMemory, type ProcessMemory } from './proc-status.js';

/**
 * Scenario 4: the memory of real worker processes (workers/worker.ts, BullMQ + the guard +
 * the NDJSON file log) under the cold burst: P workers of concurrency C, one burst of P x C
 * get-value jobs for one cold key with `redis-lock`. RSS is read from /proc when each worker
 * is ready (idle) and after the burst (VmHWM, the peak), before it is stopped.
 */
export const MEMORY = 'memory';
const WORKER_ENTRY = fileURLToPath(new URL('../../../workers/worker.ts', import.meta.url));
const SYSTEM = 'worker (redis-lock)';

export async function runMemoryBench(options: BenchOptions, redisUrl: string, rows: Rows, progress: (line: string) => void): Promise<void> {
  if (!(await readProcessMemory(process.pid))) {
    progress('memory: /proc/<pid>/status is not readable on this system; scenario skipped');
    return;
  }
  const logDir = await mkdtemp(path.join(os.tmpdir(), 'cache-stampede-bench-worker-logs-'));
  const queueName = `bench-memory-${randomBytes(3).toString('hex')}`;
  const workers: Array<{ child: BenchChild; ready: Promise<void> }> = [];
  const producer = createRedis(redisUrl, 'producer');
  const client = createGetValueClient({ connection: producer, queueName });
  progress(
    `memory: ${options.processes} worker processes x concurrency ${options.concurrency}, one cold burst of ${options.processes * options.concurrency} jobs`,
  );
  try {
    for (let i = 0; i < options.processes; i++) {
      let markReady!: () => void;
      let markDead!: (err: Error) => void;
      const ready = new Promise<void>((resolve, reject) => {
        markReady = resolve;
        markDead = reject;
      });
      const child = spawnChild(WORKER_ENTRY, {
        args: ['--worker-id', `bench-worker-${i + 1}`, '--concurrency', String(options.concurrency)],
        env: {
          REDIS_URL: redisUrl,
          QUEUE_NAME: queueName,
          LOG_DIR: logDir,
          KEY_PREFIX: 'bench-mem',
          COMPUTE_MS: String(options.computeMs),
        },
        onText: (line) => {
          if (line.includes(' ready: ')) markReady();
        },
      });
      child.process.once('exit', (code, signal) =>
        markDead(new Error(`worker ${i + 1} exited (${signal ?? `code ${code}`}) before it was ready`)),
      );
      workers.push({ child, ready });
    }
    await withTimeout(Promise.all(workers.map((w) => w.ready)), 60_000, 'workers did not become ready');
    const idle = await Promise.all(workers.map((w) => readProcessMemory(w.child.pid)));

    const summary = await runBurst(
      client,
      {
        jobs: options.processes * options.concurrency,
        keys: 1,
        strategy: 'redis-lock',
        computeMs: options.computeMs,
        runId: queueName,
        keyPrefix: 'cold',
      },
      { timeoutMs: 120_000 },
    );
    const after = await Promise.all(workers.map((w) => readProcessMemory(w.child.pid)));

    const known = (list: Array<ProcessMemory | null>) => list.filter((m): m is ProcessMemory => m !== null);
    const peaks = known(after).map((m) => m.peakRssMb);
    rows.add(MEMORY, SYSTEM, 'idle.rss', median(known(idle).map((m) => m.rssMb)), 'MB (median process, when ready)');
    rows.add(MEMORY, SYSTEM, 'peak.rss', Math.max(...peaks), 'MB (largest process, VmHWM)');
    rows.add(MEMORY, SYSTEM, 'peak.rss.median', median(peaks), 'MB (median process, VmHWM)');
    rows.add(MEMORY, SYSTEM, 'jobs.completed', summary.completed, 'count');
    rows.add(MEMORY, SYSTEM, 'recomputations', summary.sources.computed, 'count');
    rows.add(MEMORY, SYSTEM, 'latency.p99', summary.latencyMs.p99, 'ms (enqueue to completion)');
  } finally {
    await Promise.all(
      workers.map(async ({ child }) => {
        child.process.kill('SIGTERM');
        await child.finish(20_000);
      }),
    );
    await client.close();
    await producer.quit();
    await rm(logDir, { recursive: true, force: true });
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
