/**
 * Batch get-value jobs (`keys`, issue 27's fleet part), on a real Redis and real worker processes:
 * - a module exporting `computeMany`: cached keys answered from the cache, the missing ones
 *   computed in ONE call (each value names its call and the call's keys), a key left out or a
 *   failed call failing alone; one `job.completed` line per key, `batch: true`, which the log
 *   report counts per key request;
 * - a module without it: its default export, key by key, a key that throws failing alone with
 *   the module's own message, `setTtl` reaching the key's value;
 * - the simulated computation: one call per batch, `simulate` failing every held key;
 * - malformed batch jobs fail at once without retries, and the worker keeps serving;
 * - the contract's checks, without Redis.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGetManyClient, type GetManyClient } from '../src/bullmq/client.js';
import { MAX_BATCH_KEYS, parseJobData, type GetManyResult, type JobData } from '../src/bullmq/job-data.js';
import { createQueue, DEFAULT_JOB_OPTIONS } from '../src/bullmq/queue.js';
import { InvalidJobDataError } from '../src/errors.js';
import { createRedis } from '../scripts/redis/connection.js';
import { summarize, type LogRecord } from '../scripts/report/index.js';
import { closeAll, redisUrl, uniquePrefix } from './support/redis.js';
import { sleep, waitUntil } from './support/wait.js';
import { parseLines, projectPath, readLogDir, spawnWorker, type WorkerProcess } from './support/worker-process.js';

interface Rig {
  queue: Queue<JobData>;
  client: GetManyClient;
  worker: WorkerProcess;
  logDir: string;
  workerId: string;
  /** The worker's log lines so far, once `ready` holds for them. */
  lines(ready: (records: Record<string, unknown>[]) => boolean): Promise<Record<string, unknown>[]>;
}

const rigs: Rig[] = [];
const connections: Redis[] = [];

afterAll(async () => {
  for (const rig of rigs) {
    await rig.client.close();
    if (rig.worker.child.exitCode === null && rig.worker.child.signalCode === null) {
      rig.worker.child.kill('SIGTERM');
      await rig.worker.exit;
    }
    await rig.queue.obliterate({ force: true }).catch(() => {});
    await rig.queue.close();
    if (!process.env.KEEP_TEST_LOGS) await rm(rig.logDir, { recursive: true, force: true });
  }
  await closeAll(...connections);
});

/** One worker process on a queue of its own, and a client for it. */
async function rig(label: string, args: string[], env: Record<string, string> = {}): Promise<Rig> {
  const tag = uniquePrefix(label);
  const logDir = await mkdtemp(join(tmpdir(), `cs-${label}-`));
  const connection = createRedis(redisUrl(), 'producer');
  connections.push(connection);
  const queueName = `q-${tag}`;
  const queue = createQueue(queueName, connection) as Queue<JobData>;
  const client = createGetManyClient({ connection, queueName, timeoutMs: 60_000 });
  const workerId = `${label}-1`;
  const worker = spawnWorker({ REDIS_URL: redisUrl(), LOG_DIR: logDir, QUEUE_NAME: queueName, KEY_PREFIX: tag, ...env }, [
    '--worker-id',
    workerId,
    ...args,
  ]);
  const made: Rig = {
    queue,
    client,
    worker,
    logDir,
    workerId,
    async lines(ready) {
      let records: Record<string, unknown>[] = [];
      const read = async () => {
        records = parseLines(await readLogDir(logDir));
        return ready(records);
      };
      await waitUntil('the expected log lines are written', read, { timeoutMs: 20_000, intervalMs: 100 });
      return records;
    },
  };
  rigs.push(made);
  await worker.waitForLine(new RegExp(`^${workerId} ready:`), 90_000);
  return made;
}

/** The job once it completed or failed for good (polled: a test's wait, not a hot path). */
async function settled(queue: Queue, job: Job): Promise<{ state: string; reason: string; attemptsMade: number }> {
  const giveUpAt = Date.now() + 60_000;
  for (;;) {
    const state = await job.getState();
    if (state === 'completed' || state === 'failed') {
      const fresh = (await queue.getJob(job.id!)) as Job;
      return { state, reason: fresh.failedReason, attemptsMade: fresh.attemptsMade };
    }
    if (Date.now() > giveUpAt) throw new Error(`job ${job.id} still ${state} after 60 s`);
    await sleep(100);
  }
}

interface ManyValue {
  key: string;
  by: string;
  call: number;
  keys?: string[];
  params?: unknown;
  jobId?: string;
  strategy?: string;
  workerId?: string;
}

const valueIn = <T>(result: GetManyResult<T>, key: string): T => {
  const entry = result.results[key];
  if (!entry || 'error' in entry) throw new Error(`no value for ${key}: ${JSON.stringify(entry)}`);
  return entry.value;
};

describe('a worker whose module exports computeMany', { timeout: 180_000 }, () => {
  let r: Rig;
  beforeAll(async () => {
    r = await rig('batch-many', ['--compute', projectPath('test/fixtures/compute/batch.ts')]);
  }, 120_000);

  it('answers the cached keys from the cache and computes the missing ones in one call', async () => {
    const warm = await Promise.all(['warm-1', 'warm-2'].map((key) => r.client.get<ManyValue>(key, { runId: 'many-warm' })));
    const keys = ['warm-1', 'cold-1', 'warm-2', 'cold-2', 'cold-3'];
    const result = await r.client.getMany<ManyValue>(keys, { runId: 'many-1', params: { region: 'eu' } });
    expect(result.keys).toEqual(keys);
    expect(Object.keys(result.results)).toEqual(keys);
    expect(result).toMatchObject({ strategy: 'redis-lock', workerId: r.workerId });
    for (const [i, key] of ['warm-1', 'warm-2'].entries()) {
      expect(result.results[key]).toEqual({ value: warm[i]!.value, source: 'cache' });
    }
    const cold = ['cold-1', 'cold-2', 'cold-3'].map((key) => {
      expect(result.results[key]).toMatchObject({ source: 'computed' });
      return valueIn(result, key);
    });
    // One call of computeMany, for exactly the three missing keys, with the job's fields.
    expect(new Set(cold.map((v) => v.call)).size).toBe(1);
    for (const value of cold) {
      expect(value).toMatchObject({ by: 'computeMany', params: { region: 'eu' }, strategy: 'redis-lock', workerId: r.workerId });
      expect([...value.keys!].sort()).toEqual(['cold-1', 'cold-2', 'cold-3']);
    }
    // The same batch again: every key from the cache, the very same values, no new call.
    const again = await r.client.getMany<ManyValue>(keys, { runId: 'many-2' });
    for (const key of keys) expect(again.results[key]).toEqual({ value: valueIn(result, key), source: 'cache' });

    // Its lines: per key, the job's correlation fields; one recomputation per missing key.
    const records = await r.lines((rs) => rs.filter((l) => l.event === 'job.completed' && l.runId === 'many-2').length === 5);
    const completed = records.filter((l) => l.event === 'job.completed' && l.runId === 'many-1');
    expect(completed.map((l) => l.key).sort()).toEqual([...keys].sort());
    for (const line of completed) {
      expect(line).toMatchObject({ batch: true, strategy: 'redis-lock', workerId: r.workerId, jobId: completed[0]!.jobId });
    }
    expect(completed.filter((l) => l.source === 'computed').map((l) => l.key)).toEqual(
      expect.arrayContaining(['cold-1', 'cold-2', 'cold-3']),
    );
    const recomputed = records.filter((l) => l.event === 'recompute.start' && l.runId === 'many-1');
    expect(recomputed.map((l) => l.key).sort()).toEqual(['cold-1', 'cold-2', 'cold-3']);
    expect(new Set(recomputed.map((l) => l.jobId))).toEqual(new Set([completed[0]!.jobId]));

    // The log report counts the batch per key request: 5 completed, their sources, 3 recomputations.
    const report = summarize(records as LogRecord[], { runId: 'many-1' });
    expect(report.strategies).toHaveLength(1);
    expect(report.strategies[0]).toMatchObject({
      strategy: 'redis-lock',
      jobs: 5,
      completed: 5,
      recomputations: 3,
      keys: 5,
      sources: { cache: 2, computed: 3, waited: 0, stale: 0 },
    });
    expect(report.verdicts[0]).toMatchObject({ strategy: 'redis-lock', status: 'ok', pairs: 5 });
  });

  it('a key the batch left out fails alone; a batch call that throws fails the keys it held, not the hits', async () => {
    const left = await r.client.getMany<ManyValue>(['left-1', 'cold-4'], { runId: 'many-left' });
    expect(left.results['left-1']).toEqual({ error: 'the batch computation returned no value for "left-1"' });
    expect(left.results['cold-4']).toMatchObject({ source: 'computed', value: { by: 'computeMany', keys: ['left-1', 'cold-4'] } });

    const boom = await r.client.getMany<ManyValue>(['boom-1', 'cold-5', 'warm-1'], { runId: 'many-boom' });
    expect(boom.results['boom-1']).toEqual({ error: 'bulk backend refused 2 keys' });
    expect(boom.results['cold-5']).toEqual({ error: 'bulk backend refused 2 keys' });
    expect(boom.results['warm-1']).toMatchObject({ source: 'cache' });

    const records = await r.lines((rs) => rs.filter((l) => l.runId === 'many-boom' && String(l.event).startsWith('job.')).length === 3);
    const failed = records.filter((l) => l.event === 'job.failed' && (l.runId === 'many-boom' || l.runId === 'many-left'));
    expect(failed.map((l) => l.key).sort()).toEqual(['boom-1', 'cold-5', 'left-1']);
    for (const line of failed) expect(line).toMatchObject({ batch: true, level: 50, attempt: 1 });
    // A key that failed in a batch is not retried: the job completed, with the failure in its result.
    expect(records.filter((l) => l.event === 'job.retry')).toEqual([]);
  });

  it('malformed batch jobs fail at once, without retries, with their reason; the worker goes on', async () => {
    const cases: [unknown, string][] = [
      [{ keys: [], strategy: 'redis-lock' }, `"keys" must hold 1 to ${MAX_BATCH_KEYS} keys, got 0`],
      [{ keys: ['a', 'b', 'a'], strategy: 'redis-lock' }, '"keys" must not repeat a key, got "a" twice'],
      [{ key: 'a', keys: ['b'], strategy: 'redis-lock' }, 'a job has either "key" (one key) or "keys" (a batch), not both'],
      [
        { keys: ['a'], strategy: 'swr' },
        'a batch job ("keys") is computed under redis-lock only: "strategy" must be "redis-lock", got "swr"',
      ],
      [{ keys: 'a', strategy: 'redis-lock' }, '"keys" must be an array of keys like ["k1","k2"], got "a"'],
      [{ keys: ['a', 7], strategy: 'redis-lock' }, '"keys"[1] must be a string, got number 7'],
      [
        { keys: ['a'], strategy: 'redis-lock', computeMs: 5 },
        '"computeMs" is only for the simulated computation, and this worker runs a real one',
      ],
    ];
    const jobs = await Promise.all(cases.map(([data]) => r.queue.add('get-value', data as JobData, DEFAULT_JOB_OPTIONS)));
    for (const [i, job] of jobs.entries()) {
      const outcome = await settled(r.queue as Queue, job as Job);
      expect(outcome).toEqual({ state: 'failed', reason: `invalid job data: ${cases[i]![1]}`, attemptsMade: 1 });
    }
    const served = await r.client.getMany<ManyValue>(['after-bad-1', 'after-bad-2'], { runId: 'many-after' });
    expect(Object.values(served.results).map((e) => ('source' in e ? e.source : e.error))).toEqual(['computed', 'computed']);
    expect(r.worker.child.exitCode).toBeNull();
  });
});

describe('a worker whose module has no computeMany: its default export, key by key', { timeout: 180_000 }, () => {
  let r: Rig;
  beforeAll(async () => {
    r = await rig('batch-single', ['--compute', projectPath('test/fixtures/compute/behaviours.ts')]);
  }, 120_000);

  it("each held key computed by its own call with the job's fields; one that throws fails alone with the module's message", async () => {
    await r.client.get('echo-hit', { runId: 'single-warm' });
    const result = await r.client.getMany<{ key: string; jobId: string; params: unknown; strategy: string }>(
      ['echo-a', 'throw-b', 'echo-hit', 'echo-c'],
      { runId: 'single-1', params: { p: 1 } },
    );
    expect(result.results['throw-b']).toEqual({ error: 'backend refused throw-b' });
    expect(result.results['echo-hit']).toMatchObject({ source: 'cache' });
    for (const key of ['echo-a', 'echo-c']) {
      expect(result.results[key]).toMatchObject({ source: 'computed' });
      // The module echoes what it was called with: this key alone, the batch job's own fields.
      expect(valueIn(result, key)).toMatchObject({
        key,
        params: { p: 1 },
        runId: 'single-1',
        strategy: 'redis-lock',
        workerId: r.workerId,
      });
    }
    expect(valueIn(result, 'echo-a').jobId).toBe(valueIn(result, 'echo-c').jobId);
    const records = await r.lines((rs) => rs.some((l) => l.event === 'job.failed' && l.runId === 'single-1'));
    const failed = records.find((l) => l.event === 'job.failed' && l.runId === 'single-1')!;
    expect(failed).toMatchObject({ key: 'throw-b', batch: true, err: { message: 'backend refused throw-b' } });
  });

  it("a key's setTtl reaches its value: a brief key is computed again after its 300 ms", async () => {
    const first = await r.client.getMany(['brief-x', 'echo-long'], { runId: 'single-brief-1' });
    expect(Object.values(first.results).map((e) => ('source' in e ? e.source : e.error))).toEqual(['computed', 'computed']);
    await sleep(700);
    const second = await r.client.getMany(['brief-x', 'echo-long'], { runId: 'single-brief-2' });
    expect(second.results['brief-x']).toMatchObject({ source: 'computed' });
    expect(second.results['echo-long']).toMatchObject({ source: 'cache' });
  });
});

describe('a worker running the simulated computation', { timeout: 180_000 }, () => {
  let r: Rig;
  beforeAll(async () => {
    r = await rig('batch-sim', [], { COMPUTE_MS: '20' });
  }, 120_000);

  it('computes a batch in one call of computeMs, each key its own value; simulate fails every held key', async () => {
    type Sim = { computedBy: string; seq: number; computedAt: string; computeMs: number; batch: number };
    const result = await r.client.requestMany<Sim>({ keys: ['s-1', 's-2', 's-3'], strategy: 'redis-lock', computeMs: 150, runId: 'sim-1' });
    const values = ['s-1', 's-2', 's-3'].map((key) => valueIn(result, key));
    for (const value of values) expect(value).toMatchObject({ computedBy: r.workerId, computeMs: 150, batch: 3 });
    expect(new Set(values.map((v) => v.computedAt)).size).toBe(1);
    expect(new Set(values.map((v) => v.seq)).size).toBe(3);

    const failed = await r.client.requestMany({ keys: ['s-1', 's-4'], strategy: 'redis-lock', simulate: 'throw', runId: 'sim-2' });
    expect(failed.results['s-1']).toMatchObject({ source: 'cache' });
    expect(failed.results['s-4']).toEqual({ error: `simulated failure in ${r.workerId} after 20 ms` });
  });
});

describe('the batch job contract (parseJobData), and the client refusing before enqueueing', () => {
  it('takes keys with redis-lock and the other fields, refuses the rest', () => {
    expect(parseJobData({ keys: ['a', 'b'], strategy: 'redis-lock', runId: 'r', params: { x: 1 } })).toEqual({
      keys: ['a', 'b'],
      strategy: 'redis-lock',
      runId: 'r',
      params: { x: 1 },
    });
    expect(() => parseJobData({ keys: Array.from({ length: MAX_BATCH_KEYS + 1 }, (_, i) => `k${i}`), strategy: 'redis-lock' })).toThrow(
      `"keys" must hold 1 to ${MAX_BATCH_KEYS} keys, got ${MAX_BATCH_KEYS + 1}`,
    );
    expect(parseJobData({ keys: Array.from({ length: MAX_BATCH_KEYS }, (_, i) => `k${i}`), strategy: 'redis-lock' })).toMatchObject({
      strategy: 'redis-lock',
    });
    expect(() => parseJobData({ keys: ['a', ''], strategy: 'redis-lock' })).toThrow('"keys"[1] must be 1 to 1024 characters, got 0');
    expect(() => parseJobData({ keys: ['a'] })).toThrow('"strategy" must be one of');
    // A single job is what it was.
    expect(parseJobData({ key: 'a', strategy: 'swr' })).toEqual({ key: 'a', strategy: 'swr' });
  });

  it('getMany refuses bad keys before sending anything', async () => {
    const connection = createRedis(redisUrl(), 'producer');
    connections.push(connection);
    const client = createGetManyClient({ connection, queueName: `q-${uniquePrefix('batch-refuse')}` });
    try {
      await expect(client.getMany(['a', 'a'])).rejects.toThrow(new InvalidJobDataError('"keys" must not repeat a key, got "a" twice'));
      await expect(client.requestMany({ key: 'a', strategy: 'redis-lock' } as never)).rejects.toThrow(InvalidJobDataError);
      await expect(client.request({ keys: ['a'], strategy: 'redis-lock' } as never)).rejects.toThrow(InvalidJobDataError);
      expect(client.pending).toBe(0);
    } finally {
      await client.close();
    }
  });
});
