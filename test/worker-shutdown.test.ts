/**
 * Graceful stop of a real worker process: SIGTERM while redis-lock jobs are in flight (their
 * holders computing, their waiters subscribed). The jobs complete, no lock is left in Redis,
 * the process exits 0 and its log ends with worker.stopped.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBurst } from '../scripts/burst/burst.js';
import type { GetValueData } from '../src/bullmq/job-data.js';
import { createQueue } from '../src/bullmq/queue.js';
import { createGetValueClient, type GetValueClient } from '../src/bullmq/client.js';
import { createRedis } from '../scripts/redis/connection.js';
import { scanKeys } from '../scripts/redis/scan.js';
import { closeAll, redisUrl, uniquePrefix } from './support/redis.js';
import { waitUntil } from './support/wait.js';
import { parseLines, readLogDir, spawnWorker, type WorkerProcess } from './support/worker-process.js';

const JOBS = 20;
const KEYS = 5;
// Long enough that the worker normally takes all 20 jobs while the holders still compute.
const COMPUTE_MS = 3000;

describe('SIGTERM during in-flight redis-lock jobs', () => {
  const prefix = uniquePrefix('shutdown');
  const queueName = `q-${prefix}`;
  const workerId = 'worker-shutdown';
  const lockPattern = `${prefix}:*:lock`;
  let logDir: string;
  let redis: Redis;
  let producer: Redis;
  let queue: Queue<GetValueData>;
  let client: GetValueClient;
  let worker: WorkerProcess;

  beforeAll(async () => {
    logDir = await mkdtemp(join(tmpdir(), 'cs-shutdown-'));
    redis = createRedis(redisUrl(), 'producer');
    producer = createRedis(redisUrl(), 'producer');
    queue = createQueue(queueName, producer);
    client = createGetValueClient({ connection: producer, queueName, timeoutMs: 100_000 });
    worker = spawnWorker({ REDIS_URL: redisUrl(), LOG_DIR: logDir, QUEUE_NAME: queueName, KEY_PREFIX: prefix }, ['--worker-id', workerId]);
    await worker.waitForLine(new RegExp(`^${workerId} ready:`));
  });

  afterAll(async () => {
    if (worker && worker.child.exitCode === null && worker.child.signalCode === null) {
      worker.child.kill('SIGKILL');
      await worker.exit;
    }
    await client?.close();
    await queue?.obliterate({ force: true }).catch(() => {});
    await queue?.close();
    await closeAll(...[redis, producer].filter(Boolean));
    // KEEP_TEST_LOGS=1 keeps the workers' logs for a post-mortem.
    if (logDir && !process.env.KEEP_TEST_LOGS) await rm(logDir, { recursive: true, force: true });
  });

  it('finishes the jobs in flight, leaves no lock, exits 0 and logs worker.stopped last', async () => {
    const burst = runBurst(
      client,
      { jobs: JOBS, keys: KEYS, strategy: 'redis-lock', computeMs: COMPUTE_MS, runId: `${prefix}-run` },
      { timeoutMs: 100_000 },
    );

    // In flight: every job taken by the worker (none left waiting, so all of them must finish),
    // and at least one key's holder still computing under its Redis lock. On a slow box the
    // first holders may be done before the last job is taken; those jobs then hit the cache.
    await waitUntil(
      'every job is taken and a lock is held',
      async () => {
        const [counts, locks] = await Promise.all([queue.getJobCounts('active', 'completed'), scanKeys(redis, lockPattern)]);
        return counts.active! + counts.completed! === JOBS && counts.active! > 0 && locks.length > 0;
      },
      { timeoutMs: 60_000 },
    );
    worker.child.kill('SIGTERM');

    const summary = await burst;
    expect(summary).toMatchObject({ jobs: JOBS, completed: JOBS, failed: 0, timedOut: false, distinctValues: KEYS });
    expect(summary.sources.computed).toBe(KEYS);
    expect(summary.sources.waited + summary.sources.cache).toBe(JOBS - KEYS);

    const exitCode = await worker.exit;
    expect(exitCode, worker.output()).toBe(0);
    expect(await queue.getJobCounts('active', 'waiting', 'failed', 'completed')).toEqual({
      active: 0,
      waiting: 0,
      failed: 0,
      completed: JOBS,
    });
    expect(await scanKeys(redis, lockPattern)).toEqual([]);

    const files = await readLogDir(logDir);
    expect(files).toHaveLength(1);
    const records = parseLines(files);
    const logged = records.map((r) => r.event);
    expect(logged.at(-1)).toBe('worker.stopped');
    // In the order they were logged: the last lines must not be written ahead of earlier ones.
    const times = records.map((r) => r.time as number);
    expect(times.findIndex((t, i) => i > 0 && t < times[i - 1]!)).toBe(-1);
    // The jobs really were in flight when the signal came: they completed after the stop began.
    const stopping = logged.indexOf('worker.stopping');
    expect(stopping).toBeGreaterThan(-1);
    expect(logged.slice(stopping).filter((e) => e === 'job.completed').length).toBeGreaterThan(0);
    expect(logged.filter((e) => e === 'recompute.start')).toHaveLength(KEYS);
    expect(logged.filter((e) => e === 'lock.released')).toHaveLength(KEYS);
    expect(logged.filter((e) => e === 'lock.lost' || e === 'job.failed' || e === 'job.retry')).toEqual([]);
    expect(worker.output()).toMatch(new RegExp(`${workerId}: SIGTERM, finishing jobs in flight`));
  }, 180_000);
});
