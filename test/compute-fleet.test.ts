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

/**
 * The example backend on its own, as the load lab uses it: a real HTTP server and real fetches,
 * no Redis. Times are measured from the client, with bounds generous for a loaded 2-core box.
 */
describe('the example HTTP backend: per-request time, its load over time, degradation', () => {
  const backends: Backend[] = [];
  afterAll(async () => {
    await Promise.all(backends.map((b) => b.close()));
  });
  async function start(options: Parameters<typeof startBackend>[0]) {
    const started = await startBackend(options);
    backends.push(started);
    return started;
  }
  /** GET a path; the answer's status, body and how long it took, ms. */
  async function get(base: Backend, path: string) {
    const t0 = performance.now();
    const response = await fetch(`${base.url}${path}`);
    const body = (await response.json()) as Record<string, unknown>;
    return { status: response.status, body, ms: performance.now() - t0 };
  }
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it('?ms= sets this answer time instead of delayMs, and is capped at maxMs', async () => {
    const b = await start({ delayMs: 900, maxMs: 1500 });
    const quick = await get(b, '/value/a?ms=50');
    expect(quick.status).toBe(200);
    expect(quick.body).toMatchObject({ key: 'a', request: 1, delayMs: 50 });
    expect(quick.ms).toBeGreaterThanOrEqual(45);
    expect(quick.ms).toBeLessThan(600);
    const slower = await get(b, '/value/a?ms=400');
    expect(slower.body.delayMs).toBe(400);
    expect(slower.ms).toBeGreaterThanOrEqual(395);
    expect(slower.ms).toBeLessThan(850);
    const plain = await get(b, '/value/a');
    expect(plain.body.delayMs).toBe(900);
    expect(plain.ms).toBeGreaterThanOrEqual(895);
    const capped = await get(b, '/value/a?ms=1e9');
    expect(capped.body.delayMs).toBe(1500);
    expect(capped.ms).toBeGreaterThanOrEqual(1495);
    expect(capped.ms).toBeLessThan(5000);
    expect(b.requestsFor('a')).toBe(4);
  });

  it('a bad ms is a 400 naming ms, and is not counted as a request', async () => {
    const b = await start({ delayMs: 10 });
    for (const bad of ['abc', '-1', '', 'Infinity', 'NaN', '1O']) {
      const { status, body } = await get(b, `/value/a?ms=${encodeURIComponent(bad)}`);
      expect(status, `ms=${bad}`).toBe(400);
      expect(body.error).toMatch(/^ms must be a finite number of milliseconds >= 0, got /);
    }
    expect(b.requests()).toBe(0);
    expect(b.inFlight()).toBe(0);
    expect(b.timeline().reduce((sum, bin) => sum + bin.requests, 0)).toBe(0);
    expect((await get(b, '/value/a?ms=0')).status).toBe(200);
  });

  it('N concurrent requests: N in flight at the peak, counted in the bins and on GET /stats, 0 in flight after', async () => {
    const N = 20;
    const b = await start({ delayMs: 600 });
    const answers = Array.from({ length: N }, (_, i) => get(b, `/value/k${i}`));
    // While they run: the backend's own count, read over HTTP too.
    const deadline = Date.now() + 5000;
    while (b.inFlight() < N && Date.now() < deadline) await sleep(10);
    expect(b.inFlight()).toBe(N);
    const during = (await get(b, '/stats')).body;
    expect(during).toMatchObject({ requests: N, inFlight: N, peakInFlight: N });
    await Promise.all(answers);
    expect(b.inFlight()).toBe(0);
    expect(b.peakInFlight()).toBe(N);
    const timeline = b.timeline();
    expect(timeline.map((bin) => bin.second)).toEqual(timeline.map((_, i) => i));
    expect(timeline.reduce((sum, bin) => sum + bin.requests, 0)).toBe(N);
    expect(Math.max(...timeline.map((bin) => bin.peakInFlight))).toBe(N);
    const after = (await get(b, '/stats')).body;
    expect(after).toMatchObject({ requests: N, inFlight: 0, peakInFlight: N, timeline });
  });

  it('a bin counts the requests started in it, and the requests still running from earlier in its peak', async () => {
    const b = await start({ delayMs: 10 });
    // One request running through bins 0, 1 and 2; two short ones arriving in bin 1; none in bin 2.
    const long = get(b, '/value/long?ms=2400');
    while (b.timeline().length < 2) await sleep(20);
    await Promise.all([get(b, '/value/s1?ms=100'), get(b, '/value/s2?ms=100')]);
    await long;
    const [first, second, third] = b.timeline();
    expect(first).toEqual({ second: 0, requests: 1, peakInFlight: 1 });
    expect(second).toEqual({ second: 1, requests: 2, peakInFlight: 3 });
    expect(third).toEqual({ second: 2, requests: 0, peakInFlight: 1 });
  });

  it('reset() starts the load counts afresh; the lifetime request count stays', async () => {
    const b = await start({ delayMs: 200 });
    await Promise.all(Array.from({ length: 5 }, (_, i) => get(b, `/value/r${i}`)));
    expect(b.peakInFlight()).toBe(5);
    const running = get(b, '/value/running?ms=500');
    while (b.inFlight() < 1) await sleep(5);
    b.reset();
    // The one still running is in flight in the new run, and nothing arrived in it yet.
    expect(b.peakInFlight()).toBe(1);
    expect(b.timeline()).toEqual([{ second: 0, requests: 0, peakInFlight: 1 }]);
    await Promise.all([get(b, '/value/x'), get(b, '/value/y')]);
    await running;
    expect(b.peakInFlight()).toBe(3);
    expect(b.timeline().reduce((sum, bin) => sum + bin.requests, 0)).toBe(2);
    expect(b.requests()).toBe(8);
    expect((await get(b, '/stats')).body).toMatchObject({ requests: 8, peakInFlight: 3, inFlight: 0 });
  });

  it('degradePerInFlightMs: the k-th concurrent request takes k x the factor longer', async () => {
    const base = 300;
    const factor = 200;
    const b = await start({ delayMs: base, degradePerInFlightMs: factor });
    const answers = await Promise.all(Array.from({ length: 4 }, (_, i) => get(b, `/value/d${i}`)));
    // Which fetch arrives k-th is the server's order, so compare the sorted times.
    const delays = answers.map((a) => a.body.delayMs as number).sort((x, y) => x - y);
    expect(delays).toEqual([0, 1, 2, 3].map((k) => base + k * factor));
    const measured = answers.map((a) => a.ms).sort((x, y) => x - y);
    measured.forEach((ms, k) => {
      expect(ms, `request ${k}`).toBeGreaterThanOrEqual(base + k * factor - 5);
      expect(ms, `request ${k}`).toBeLessThan(base + k * factor + factor / 2 + 100);
    });
    // Alone again, it is as fast as before.
    const alone = await get(b, '/value/alone');
    expect(alone.body.delayMs).toBe(base);
  });

  it('with degradePerInFlightMs 0 (the default) concurrency costs nothing', async () => {
    const b = await start({ delayMs: 100 });
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => get(b, `/value/n${i}`)));
    expect(new Set(answers.map((a) => a.body.delayMs))).toEqual(new Set([100]));
  });

  it("the example's compute module passes params.ms through, and ignores an ms that is not a number >= 0", async () => {
    const b = await start({ delayMs: 700 });
    // The module reads BACKEND_URL when it loads.
    const previous = process.env.BACKEND_URL;
    process.env.BACKEND_URL = b.url;
    const { default: compute } = await import('../examples/http-backend/compute.js').finally(() => {
      if (previous === undefined) delete process.env.BACKEND_URL;
      else process.env.BACKEND_URL = previous;
    });
    const signal = new AbortController().signal;
    const t0 = performance.now();
    const quick = (await compute('m', { signal, params: { ms: 20 } })) as BackendValue;
    expect(performance.now() - t0).toBeLessThan(500);
    expect(quick).toMatchObject({ key: 'm', delayMs: 20 });
    expect(await compute('m', { signal, params: { ms: 0 } })).toMatchObject({ delayMs: 0 });
    for (const params of [{}, { ms: -1 }, { ms: '20' }, { ms: Number.NaN }, undefined]) {
      expect(await compute('m', { signal, params }), JSON.stringify(params)).toMatchObject({ delayMs: 700 });
    }
    expect(b.requestsFor('m')).toBe(7);
  });
});
