/**
 * Tags on get-value jobs (issue 28, the fleet), with real worker processes and the real command:
 * - a job's `tags` reach the guard: a tagged value (single and batch jobs, `npm run burst --
 *   --tags`) is recomputed after `npm run invalidate -- --tags`, an untagged one or another tag's
 *   stays cached;
 * - a worker with an L1 tier drops what the command invalidated (the command announces on the
 *   tier's bus);
 * - malformed `tags` fail that job at once, without retries, with a reason; the worker goes on;
 * - the contract's checks, without Redis.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGetManyClient, type GetManyClient } from '../src/bullmq/client.js';
import { parseJobData, type JobData } from '../src/bullmq/job-data.js';
import { createQueue, DEFAULT_JOB_OPTIONS } from '../src/bullmq/queue.js';
import { InvalidJobDataError } from '../src/errors.js';
import type { SimulatedValue } from '../workers/simulated-compute.js';
import { createRedis } from '../scripts/redis/connection.js';
import { closeAll, redisUrl, uniquePrefix } from './support/redis.js';
import { nonEmptyLines, runCommand } from './support/run-command.js';
import { sleep, waitUntil } from './support/wait.js';
import { parseLines, readLogDir, spawnWorker, type WorkerProcess } from './support/worker-process.js';

interface Rig {
  env: Record<string, string>;
  queue: Queue<JobData>;
  client: GetManyClient;
  worker: WorkerProcess;
  logDir: string;
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
    await rm(rig.logDir, { recursive: true, force: true });
  }
  await closeAll(...connections);
});

/** One worker (the simulated computation, 10 ms) on a queue and key prefix of its own, and a client. */
async function rig(label: string, env: Record<string, string> = {}): Promise<Rig> {
  const tag = uniquePrefix(label);
  const logDir = await mkdtemp(join(tmpdir(), `cs-${label}-`));
  const connection = createRedis(redisUrl(), 'producer');
  connections.push(connection);
  const fullEnv = { REDIS_URL: redisUrl(), LOG_DIR: logDir, QUEUE_NAME: `q-${tag}`, KEY_PREFIX: tag, COMPUTE_MS: '10', ...env };
  const queue = createQueue(fullEnv.QUEUE_NAME, connection) as Queue<JobData>;
  const client = createGetManyClient({ connection, queueName: fullEnv.QUEUE_NAME, timeoutMs: 60_000 });
  const worker = spawnWorker(fullEnv, ['--worker-id', `${label}-1`]);
  const made = { env: fullEnv, queue, client, worker, logDir };
  rigs.push(made);
  await worker.waitForLine(new RegExp(`^${label}-1 ready:`), 90_000);
  return made;
}

/** `npm run invalidate` with the rig's Redis and key prefix; it must succeed. */
async function invalidate(r: Rig, args: string[]): Promise<string> {
  const result = await runCommand('scripts/invalidate.ts', args, { REDIS_URL: r.env.REDIS_URL!, KEY_PREFIX: r.env.KEY_PREFIX! });
  expect(result.code, JSON.stringify(result)).toBe(0);
  expect(result.stderr, JSON.stringify(result)).toBe('');
  return result.stdout;
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

describe('tagged jobs against a worker, invalidated by npm run invalidate', { timeout: 180_000 }, () => {
  let r: Rig;
  beforeAll(async () => {
    r = await rig('job-tags');
  }, 120_000);

  it('a tagged value is recomputed after its tag is invalidated; another tag and an untagged value stay', async () => {
    const first = {
      product: await r.client.get<SimulatedValue>('product-1', { tags: ['catalogue', 'product:1'] }),
      other: await r.client.get<SimulatedValue>('user-1', { tags: ['user:1'] }),
      plain: await r.client.get<SimulatedValue>('plain-1'),
    };
    for (const result of Object.values(first)) expect(result.source).toBe('computed');
    expect((await r.client.get('product-1', { tags: ['catalogue', 'product:1'] })).source).toBe('cache');

    const printed = await invalidate(r, ['--tags', 'catalogue']);
    expect(printed).toMatch(
      new RegExp(`^invalidated tag catalogue under key prefix ${r.env.KEY_PREFIX} on 127\\.0\\.0\\.1:\\d+ in [\\d.]+ ms\\n$`),
    );

    const product = await r.client.get<SimulatedValue>('product-1', { tags: ['catalogue', 'product:1'] });
    expect(product.source).toBe('computed');
    expect(product.value.seq).not.toBe(first.product.value.seq);
    expect(await r.client.get('user-1', { tags: ['user:1'] })).toMatchObject({ source: 'cache', value: first.other.value });
    expect(await r.client.get('plain-1')).toMatchObject({ source: 'cache', value: first.plain.value });
    // A tag the job did not name reaches nothing: the job's tags are the value's.
    await invalidate(r, ['--tags', 'product:2']);
    expect((await r.client.get('product-1', { tags: ['catalogue', 'product:1'] })).source).toBe('cache');

    // The worker's lines: a read found the covered value, and recomputed it.
    await waitUntil('the worker logged the covered read', async () =>
      parseLines(await readLogDir(r.logDir)).some((l) => l.event === 'cache.invalidated' && l.key === 'product-1'),
    );
  });

  it('a batch job tags every key: an invalidation recomputes all of them', async () => {
    const keys = ['batch-a', 'batch-b', 'batch-c'];
    const first = await r.client.getMany<SimulatedValue>(keys, { tags: ['batch-tag'] });
    expect(keys.map((k) => first.results[k])).toEqual(keys.map(() => expect.objectContaining({ source: 'computed' })));
    const hit = await r.client.getMany(keys, { tags: ['batch-tag'] });
    expect(keys.map((k) => hit.results[k])).toEqual(keys.map(() => expect.objectContaining({ source: 'cache' })));

    await invalidate(r, ['--tags', 'other,batch-tag']);
    const again = await r.client.getMany<SimulatedValue>(keys, { tags: ['batch-tag'] });
    expect(keys.map((k) => again.results[k])).toEqual(keys.map(() => expect.objectContaining({ source: 'computed' })));
  });

  it('npm run burst -- --tags puts the tags on every job: a burst after the invalidation recomputes each key once', async () => {
    const burst = async (runId: string) => {
      const result = await runCommand(
        'scripts/burst.ts',
        ['--jobs', '12', '--keys', '3', '--tags', 'burst-tag, extra', '--run-id', runId, '--json'],
        { ...r.env, STRATEGY: 'redis-lock' },
      );
      expect(result.code, JSON.stringify(result)).toBe(0);
      return JSON.parse(result.stdout) as { completed: number; sources: Record<string, number> };
    };
    expect((await burst('tags-1')).sources.computed).toBe(3);
    expect(await burst('tags-2')).toMatchObject({ completed: 12, sources: { computed: 0, cache: 12 } });
    await invalidate(r, ['--tags', 'extra']);
    const after = await burst('tags-3');
    expect(after).toMatchObject({ completed: 12 });
    expect(after.sources.computed).toBe(3);
  });

  it('malformed tags fail that job at once, without retries, with their reason; the worker goes on', async () => {
    const cases: [unknown, string][] = [
      [{ key: 'k', strategy: 'redis-lock', tags: 'catalogue' }, '"tags" must be an array of strings like ["user:42"], got "catalogue"'],
      [{ key: 'k', strategy: 'redis-lock', tags: ['a', ''] }, '"tags"[1] must be a string of 1 to 256 characters, got ""'],
      [{ key: 'k', strategy: 'none', tags: ['a', 7] }, '"tags"[1] must be a string of 1 to 256 characters, got number 7'],
      [{ key: 'k', strategy: 'swr', tags: Array.from({ length: 65 }, (_, i) => `t${i}`) }, '"tags" must hold at most 64 tags, got 65'],
      [
        { key: 'k', strategy: 'xfetch', tags: ['x'.repeat(257)] },
        '"tags"[0] must be a string of 1 to 256 characters, got a string of 257 characters',
      ],
      [{ keys: ['a', 'b'], strategy: 'redis-lock', tags: [null] }, '"tags"[0] must be a string of 1 to 256 characters, got null'],
    ];
    const jobs = await Promise.all(cases.map(([data]) => r.queue.add('get-value', data as JobData, DEFAULT_JOB_OPTIONS)));
    for (const [i, job] of jobs.entries()) {
      expect(await settled(r.queue as Queue, job as Job)).toEqual({
        state: 'failed',
        reason: `invalid job data: ${cases[i]![1]}`,
        attemptsMade: 1,
      });
    }
    expect(await r.client.get('after-bad-tags', { tags: ['fine'] })).toMatchObject({ source: 'computed' });
    expect(r.worker.child.exitCode).toBeNull();
    // Each failed with its one job.failed line (E_JOB_DATA), under the job's own labels.
    const ids = new Set(jobs.map((j) => j.id));
    const records = parseLines(await readLogDir(r.logDir)).filter((l) => ids.has(l.jobId as string));
    expect(records.map((l) => [l.event, l.code])).toEqual(jobs.map(() => ['job.failed', 'E_JOB_DATA']));
  });
});

describe('a worker with an L1 tier', { timeout: 180_000 }, () => {
  it('drops the invalidated value from its tier: the command announces the invalidation on the bus', async () => {
    const r = await rig('job-tags-l1', { L1_MAX_ENTRIES: '100' });
    expect((await r.client.get('near', { tags: ['near-tag'] })).source).toBe('computed');
    // Read until the value is served from the worker's own tier (kept from a read, not its write).
    await waitUntil(
      'the worker answers from its L1 tier',
      async () => {
        await r.client.get('near', { tags: ['near-tag'] });
        return parseLines(await readLogDir(r.logDir)).some((l) => l.event === 'cache.hit' && l.tier === 'l1' && l.key === 'near');
      },
      { intervalMs: 50 },
    );
    await invalidate(r, ['--tags', 'near-tag']);
    expect((await r.client.get('near', { tags: ['near-tag'] })).source).toBe('computed');
  });
});

describe('the contract (parseJobData) and the client, without Redis', () => {
  it('takes tags on single and batch jobs, as given; refuses the rest before anything is sent', async () => {
    expect(parseJobData({ key: 'a', strategy: 'swr', tags: ['t1', 't2'] })).toEqual({ key: 'a', strategy: 'swr', tags: ['t1', 't2'] });
    expect(parseJobData({ keys: ['a'], strategy: 'redis-lock', tags: [] })).toEqual({ keys: ['a'], strategy: 'redis-lock', tags: [] });
    expect(parseJobData({ key: 'a', strategy: 'none' })).toEqual({ key: 'a', strategy: 'none' });
    expect(() => parseJobData({ key: 'a', strategy: 'none', tag: ['t'] })).toThrow(
      'unknown field(s) "tag"; allowed: key, strategy, computeMs, runId, simulate, params, keys, tags',
    );
    const connection = createRedis(redisUrl(), 'producer');
    connections.push(connection);
    const client = createGetManyClient({ connection, queueName: `q-${uniquePrefix('tags-refuse')}` });
    try {
      await expect(client.get('a', { tags: [''] })).rejects.toThrow(
        new InvalidJobDataError('"tags"[0] must be a string of 1 to 256 characters, got ""'),
      );
      await expect(client.getMany(['a'], { tags: 'a' as never })).rejects.toThrow(InvalidJobDataError);
      expect(client.pending).toBe(0);
    } finally {
      await client.close();
    }
  });

  it('npm run burst -- --tags: a bad list is one line naming the flag, before connecting', async () => {
    for (const [tags, names] of [
      ['a,,b', /--tags.*'a,,b'.*"tags"\[1\] must be a string of 1 to 256 characters, got ""/],
      ['', /--tags.*"tags"\[0\] must be a string/],
    ] as const) {
      const result = await runCommand('scripts/burst.ts', ['--tags', tags], { REDIS_URL: 'redis://127.0.0.1:1' });
      expect(result.code, JSON.stringify(result)).toBe(2);
      expect(nonEmptyLines(result.stderr)).toEqual([expect.stringMatching(names)]);
    }
  });
});
