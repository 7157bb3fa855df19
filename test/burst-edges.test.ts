/**
 * `npm run burst` and the get-value contract at their edges (issue 23, findings 4 and 16), through
 * real processes and a real worker:
 * - STRATEGY is the burst's strategy when `--strategy` is not given, and `--strategy` wins;
 * - a burst whose jobs all failed prints no latency line;
 * - a job with another name than `get-value` fails at once, without retries, with its reason, and
 *   the worker goes on serving.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGetValueClient, type GetValueClient } from '../src/bullmq/client.js';
import type { GetValueData } from '../src/bullmq/job-data.js';
import { createQueue, DEFAULT_JOB_OPTIONS } from '../src/bullmq/queue.js';
import { createRedis } from '../scripts/redis/connection.js';
import { closeAll, redisUrl, uniquePrefix } from './support/redis.js';
import { nonEmptyLines, runCommand } from './support/run-command.js';
import { projectPath, spawnWorker, type WorkerProcess } from './support/worker-process.js';

let logDir = '';
const connections: Redis[] = [];
const queues: Queue[] = [];
beforeAll(async () => {
  logDir = await mkdtemp(join(tmpdir(), 'cs-burst-edges-'));
});
afterAll(async () => {
  for (const queue of queues) await queue.obliterate({ force: true }).catch(() => {});
  await Promise.all(queues.map((q) => q.close()));
  await closeAll(...connections);
  await rm(logDir, { recursive: true, force: true });
});

function queueOf(name: string): Queue<GetValueData> {
  const connection = createRedis(redisUrl(), 'producer');
  connections.push(connection);
  const queue = createQueue(name, connection);
  queues.push(queue as Queue);
  return queue;
}

describe.concurrent('STRATEGY is the burst strategy when --strategy is not given (finding 4)', { timeout: 120_000 }, () => {
  const cases: [string, Record<string, string>, string[], string][] = [
    ['STRATEGY=none', { STRATEGY: 'none' }, [], 'none'],
    ['STRATEGY=swr', { STRATEGY: 'swr' }, [], 'swr'],
    ['STRATEGY=none --strategy xfetch: the flag wins', { STRATEGY: 'none' }, ['--strategy', 'xfetch'], 'xfetch'],
    ['neither: redis-lock', {}, [], 'redis-lock'],
  ];
  for (const [name, vars, args, expected] of cases) {
    it(name, async () => {
      // No worker on this queue: the jobs wait there, to be read back.
      const queueName = `q-${uniquePrefix('burst-strategy')}`;
      const queue = queueOf(queueName);
      const result = await runCommand('scripts/burst.ts', ['--jobs', '2', '--timeout', '1', '--json', ...args], {
        REDIS_URL: redisUrl(),
        QUEUE_NAME: queueName,
        ...vars,
      });
      expect(result.code, JSON.stringify(result)).toBe(1); // timed out: nobody consumes the queue
      const jobs = await queue.getWaiting();
      expect(jobs.map((j) => j.data.strategy)).toEqual([expected, expected]);
    });
  }

  it('a bad STRATEGY is one line naming it, before connecting', async () => {
    const result = await runCommand('scripts/burst.ts', ['--jobs', '1'], { REDIS_URL: 'redis://127.0.0.1:1', STRATEGY: 'nope' });
    expect(result.code, JSON.stringify(result)).toBe(2);
    expect(nonEmptyLines(result.stderr)).toEqual([expect.stringMatching(/^error: STRATEGY must be one of .*"nope"/)]);
  });
});

describe('against a worker running a real computation (finding 16)', { timeout: 180_000 }, () => {
  const queueName = `q-${uniquePrefix('burst-edges')}`;
  const env = { REDIS_URL: redisUrl(), QUEUE_NAME: queueName, LOG_DIR: logDir, KEY_PREFIX: uniquePrefix('burst-edges') };
  let worker: WorkerProcess;
  let queue: Queue<GetValueData>;
  let client: GetValueClient;

  beforeAll(async () => {
    queue = queueOf(queueName);
    client = createGetValueClient({ connection: connections[connections.length - 1]!, queueName, timeoutMs: 60_000 });
    worker = spawnWorker(env, ['--worker-id', 'edges-1', '--compute', projectPath('test/fixtures/compute/behaviours.ts')]);
    await worker.waitForLine(/edges-1 logging to /, 90_000);
  }, 120_000);

  afterAll(async () => {
    await client?.close();
    if (worker && worker.child.exitCode === null) {
      worker.child.kill('SIGTERM');
      await worker.exit;
    }
  });

  it('a burst whose jobs all failed prints no latency line', async () => {
    // --compute-ms is for the simulated computation: this worker fails every such job at once.
    const result = await runCommand('scripts/burst.ts', ['--jobs', '3', '--compute-ms', '5', '--run-id', 'all-failed'], env);
    const context = JSON.stringify(result);
    expect(result.code, context).toBe(1);
    expect(result.stdout, context).toMatch(/^run all-failed: 0\/3 completed, 3 failed/m);
    expect(result.stdout, context).toMatch(/^failed x3: invalid job data: "computeMs" is only for the simulated computation/m);
    expect(result.stdout, context).not.toMatch(/latency/);
  });

  it('a job named otherwise fails at once, not retried, with its reason; the worker goes on', async () => {
    const job = await queue.add('get-valu' as never, { key: 'named-otherwise', strategy: 'redis-lock' }, DEFAULT_JOB_OPTIONS);
    const failed = await settled(queue as Queue, job as Job);
    expect(failed.state).toBe('failed');
    expect(failed.reason).toBe(
      'invalid job data: the job\'s name must be "get-value" (the queue carries get-value jobs only), got "get-valu"',
    );
    expect(failed.attemptsMade).toBe(1);
    // The same data under the contract's name is served.
    const served = await client.get('named-properly', { strategy: 'redis-lock' });
    expect(served).toMatchObject({ key: 'named-properly', source: 'computed', workerId: 'edges-1' });
    expect(worker.child.exitCode).toBeNull();
  });
});

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
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
