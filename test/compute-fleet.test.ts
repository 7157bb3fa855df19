/**
 * End to end with the user's own computation: a real HTTP backend that counts its requests (the
 * example's), a fleet of real worker processes started with `--compute` on the example's module
 * (which fetches from the backend), and cold bursts of 200 jobs sent through the get-value client.
 * The backend's own count and the workers' logs are two independent counts of the same thing.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { Queue } from 'bullmq';
import type { CloseEvent } from 'concurrently';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackend, type Backend, type BackendValue } from '../examples/http-backend/backend.js';
import { createGetValueClient, type GetValueClient } from '../src/bullmq/client.js';
import type { GetValueData, GetValueResult } from '../src/bullmq/job-data.js';
import { createQueue } from '../src/bullmq/queue.js';
import type { Strategy } from '../src/cache/strategy.js';
import { startFleet, type Fleet } from '../scripts/fleet/fleet.js';
import { waitForWorkers } from '../scripts/fleet/wait-ready.js';
import { createRedis } from '../scripts/redis/connection.js';
import { closeAll, redisUrl, uniquePrefix } from './support/redis.js';
import { parseLines, projectPath, readLogDir } from './support/worker-process.js';

const WORKERS = 4;
const JOBS = 200;
// The backend's answer time: long enough that a burst's jobs are all in flight before it answers.
const BACKEND_DELAY_MS = 800;

describe(`${WORKERS} workers running examples/http-backend/compute.ts against a real HTTP backend`, () => {
  const tag = uniquePrefix('compute-fleet');
  const queueName = `q-${tag}`;
  let logDir = '';
  let output = '';
  let backend: Backend;
  let producer: Redis;
  let queue: Queue<GetValueData>;
  let client: GetValueClient;
  let fleet: Fleet | undefined;
  let exits: CloseEvent[] = [];
  let records: Record<string, unknown>[] = [];
  const bursts = new Map<Strategy, { runId: string; key: string; results: GetValueResult<BackendValue>[] }>();

  /** JOBS gets for one cold key at once, through the client, as a web service's requests would come. */
  async function burst(strategy: Strategy, key: string, runId: string, jobs = JOBS) {
    return Promise.all(Array.from({ length: jobs }, () => client.get<BackendValue>(key, { strategy, runId })));
  }

  beforeAll(async () => {
    logDir = await mkdtemp(join(tmpdir(), 'cs-compute-fleet-'));
    backend = await startBackend({ delayMs: BACKEND_DELAY_MS });
    producer = createRedis(redisUrl(), 'producer');
    queue = createQueue(queueName, producer);
    client = createGetValueClient({ connection: producer, queueName, timeoutMs: 120_000 });
    const out = new PassThrough();
    out.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    fleet = startFleet({
      workers: WORKERS,
      computeModule: projectPath('examples/http-backend/compute.ts'),
      env: { REDIS_URL: redisUrl(), LOG_DIR: logDir, QUEUE_NAME: queueName, KEY_PREFIX: tag, BACKEND_URL: backend.url, LOG_LEVEL: 'info' },
      outputStream: out,
    });
    try {
      await waitForWorkers(fleet, WORKERS, { timeoutMs: 60_000 });
      // Get every worker going (module loading, JIT: slow on a loaded box), so that a burst's jobs
      // overlap as they would in a running fleet.
      await Promise.all(Array.from({ length: 8 }, (_, i) => burst('none', `warm-up-${i}`, `${tag}-warm-up`, 10)));
      for (const strategy of ['redis-lock', 'none'] as const) {
        const runId = `${tag}-${strategy}`;
        const key = `cold-${strategy}`;
        bursts.set(strategy, { runId, key, results: await burst(strategy, key, runId) });
      }
    } finally {
      exits = await fleet.stop('SIGTERM');
    }
    records = parseLines(await readLogDir(logDir));
  }, 240_000);

  afterAll(async () => {
    if (fleet && exits.length === 0) await fleet.stop('SIGKILL');
    await client?.close();
    await queue?.obliterate({ force: true }).catch(() => {});
    await queue?.close();
    await closeAll(...[producer].filter(Boolean));
    await backend?.close();
    if (logDir && !process.env.KEEP_TEST_LOGS) await rm(logDir, { recursive: true, force: true });
  });

  const outcome = (strategy: Strategy) => {
    const found = bursts.get(strategy);
    if (!found) throw new Error(`the ${strategy} burst did not run; fleet output:\n${output}`);
    return found;
  };
  const recomputations = (runId: string) => records.filter((r) => r.event === 'recompute.start' && r.runId === runId).length;

  it('every worker said which module it runs, and stopped cleanly', () => {
    const path = projectPath('examples/http-backend/compute.ts');
    for (let i = 1; i <= WORKERS; i++) expect(output).toContain(`worker-${i} ready: queue ${queueName}`);
    expect(output.match(new RegExp(`concurrency \\d+, compute ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'g'))).toHaveLength(WORKERS);
    expect(exits.map((e) => e.exitCode)).toEqual(Array(WORKERS).fill(0));
  });

  it(`redis-lock: ${JOBS} jobs on one cold key made exactly 1 backend request, and every job returned its value`, () => {
    const { key, runId, results } = outcome('redis-lock');
    expect(backend.requestsFor(key)).toBe(1);
    expect(recomputations(runId)).toBe(1);
    const [served] = backend.served().filter((v) => v.key === key);
    expect(results).toHaveLength(JOBS);
    for (const result of results) expect(result.value).toEqual(served);
    expect(results.filter((r) => r.source === 'computed')).toHaveLength(1);
  });

  it(`none: one backend request per job that recomputed, many of them, each job returning a value the backend served`, () => {
    const { key, runId, results } = outcome('none');
    const requests = backend.requestsFor(key);
    // Two independent counts agree: the backend's own, and the workers' logs.
    expect(requests).toBe(recomputations(runId));
    expect(results.filter((r) => r.source === 'computed')).toHaveLength(requests);
    expect(requests, `${requests} backend requests`).toBeGreaterThan(WORKERS);
    const served = backend.served().filter((v) => v.key === key);
    expect(new Set(results.map((r) => JSON.stringify(r.value)))).toEqual(new Set(served.map((v) => JSON.stringify(v))));
  });
});
