/**
 * Malformed get-value jobs sent straight through BullMQ, as any other client could send them,
 * to one real worker process: each fails once, at once, with a reason naming the problem
 * (UnrecoverableError: no retry even when the job asked for 3 attempts), and the same worker
 * process goes on to complete a valid job afterwards.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Job, Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GetValueResult } from '../src/bullmq/job-data.js';
import type { SimulatedValue } from '../workers/simulated-compute.js';
import { createRedis } from '../scripts/redis/connection.js';
import { closeAll, redisUrl, uniquePrefix } from './support/redis.js';
import { parseLines, readLogDir, spawnWorker, type WorkerProcess } from './support/worker-process.js';

interface Malformed {
  name: string;
  data: () => unknown;
  reason: RegExp;
}

const CASES: Malformed[] = [
  { name: 'missing key', data: () => ({ strategy: 'none' }), reason: /"key" must be a string, got nothing/ },
  { name: 'numeric key', data: () => ({ key: 42, strategy: 'none' }), reason: /"key" must be a string, got number 42/ },
  { name: 'object key', data: () => ({ key: { a: 1 }, strategy: 'none' }), reason: /"key" must be a string, got an object/ },
  { name: 'empty key', data: () => ({ key: '', strategy: 'none' }), reason: /"key" must be 1 to 1024 characters, got 0/ },
  {
    name: 'oversized key',
    data: () => ({ key: 'k'.repeat(1025), strategy: 'none' }),
    reason: /"key" must be 1 to 1024 characters, got 1025/,
  },
  {
    name: 'unknown strategy',
    data: () => ({ key: 'k', strategy: 'nope' }),
    reason: /"strategy" must be one of none, local-lock, redis-lock, swr, xfetch, got "nope"/,
  },
  { name: 'missing strategy', data: () => ({ key: 'k' }), reason: /"strategy" must be one of .*got nothing/ },
  {
    name: 'negative computeMs',
    data: () => ({ key: 'k', strategy: 'none', computeMs: -1 }),
    reason: /"computeMs" must be a whole number from 0 to \d+, got number -1/,
  },
  {
    name: 'non-integer computeMs',
    data: () => ({ key: 'k', strategy: 'none', computeMs: 1.5 }),
    reason: /"computeMs" must be a whole number .*got number 1\.5/,
  },
  {
    name: 'computeMs too large',
    data: () => ({ key: 'k', strategy: 'none', computeMs: 600_001 }),
    reason: /"computeMs" must be a whole number from 0 to 600000, got number 600001/,
  },
  {
    name: 'string computeMs',
    data: () => ({ key: 'k', strategy: 'none', computeMs: '10' }),
    reason: /"computeMs" must be a whole number .*got "10"/,
  },
  {
    name: 'unknown simulate',
    data: () => ({ key: 'k', strategy: 'none', simulate: 'explode' }),
    reason: /"simulate" must be one of throw, hang, got "explode"/,
  },
  {
    name: 'boolean simulate',
    data: () => ({ key: 'k', strategy: 'none', simulate: true }),
    reason: /"simulate" must be one of throw, hang, got boolean true/,
  },
  {
    name: 'oversized runId',
    data: () => ({ key: 'k', strategy: 'none', runId: 'r'.repeat(10_000) }),
    reason: /"runId" must be a string of 1 to 128 characters, got a string of 10000 characters/,
  },
  {
    name: 'oversized strategy',
    data: () => ({ key: 'k', strategy: 's'.repeat(10_000) }),
    reason: /"strategy" must be one of .*got a string of 10000 characters/,
  },
  { name: 'unknown field', data: () => ({ key: 'k', strategy: 'none', extra: 1 }), reason: /unknown field\(s\) "extra"/ },
  {
    name: '__proto__ payload',
    data: () => JSON.parse('{"__proto__":{"x":1},"key":"k","strategy":"none"}'),
    reason: /unknown field\(s\) "__proto__"/,
  },
  { name: 'array data', data: () => [{ key: 'k', strategy: 'none' }], reason: /job data must be an object .*got an array/ },
  { name: 'null data', data: () => null, reason: /job data must be an object .*got null/ },
  { name: 'string data', data: () => 'k', reason: /job data must be an object .*got "k"/ },
];

describe('malformed get-value jobs sent straight through BullMQ', () => {
  const prefix = uniquePrefix('malformed');
  const queueName = `q-${prefix}`;
  const workerId = 'worker-malformed';
  let logDir: string;
  let connection: Redis;
  let eventsConnection: Redis;
  let queue: Queue;
  let events: QueueEvents;
  let worker: WorkerProcess;
  let exitCode: number | string | undefined;
  const failedJobIds = new Map<string, string>();

  beforeAll(async () => {
    logDir = await mkdtemp(join(tmpdir(), 'cs-malformed-'));
    connection = createRedis(redisUrl(), 'producer');
    eventsConnection = createRedis(redisUrl(), 'worker');
    // Deliberately the plain BullMQ API with the contract's prefix, not this project's helpers.
    queue = new Queue(queueName, { connection, prefix: 'bull' });
    events = new QueueEvents(queueName, { connection: eventsConnection, prefix: 'bull' });
    await events.waitUntilReady();
    worker = spawnWorker({ REDIS_URL: redisUrl(), LOG_DIR: logDir, QUEUE_NAME: queueName, KEY_PREFIX: prefix, COMPUTE_MS: '10' }, [
      '--worker-id',
      workerId,
    ]);
    await worker.waitForLine(new RegExp(`^${workerId} ready:`));
  });

  afterAll(async () => {
    if (worker && worker.child.exitCode === null && worker.child.signalCode === null) {
      worker.child.kill('SIGKILL');
      await worker.exit;
    }
    await events?.close();
    await queue?.obliterate({ force: true }).catch(() => {});
    await queue?.close();
    await closeAll(...[connection, eventsConnection].filter(Boolean));
    if (logDir) await rm(logDir, { recursive: true, force: true });
  });

  for (const malformed of CASES) {
    it(`${malformed.name}: fails once, without retries, with a reason`, async () => {
      const job = await queue.add('get-value', malformed.data(), { attempts: 3 });
      // A retried job would not report "failed" until its third attempt.
      await expect(job.waitUntilFinished(events, 30_000)).rejects.toThrow(malformed.reason);
      const after = await Job.fromId(queue, job.id!);
      expect(after, 'job still stored').toBeDefined();
      expect(await after!.getState()).toBe('failed');
      expect(after!.attemptsMade).toBe(1);
      expect(after!.failedReason).toMatch(/^invalid job data: /);
      expect(after!.failedReason).toMatch(malformed.reason);
      failedJobIds.set(job.id!, malformed.name);
    });
  }

  it('a valid job sent afterwards completes on the same worker process', async () => {
    const job = await queue.add('get-value', { key: 'valid', strategy: 'redis-lock', computeMs: 5 }, { attempts: 3 });
    const result = (await job.waitUntilFinished(events, 30_000)) as GetValueResult;
    expect(result).toMatchObject({ key: 'valid', strategy: 'redis-lock', source: 'computed', workerId });
    expect((result.value as SimulatedValue).pid).toBe(worker.child.pid);
    expect(worker.child.exitCode).toBeNull();
    expect(await queue.getWorkersCount()).toBe(1);
  });

  it("the worker's log has one job.failed line with the reason for each malformed job", async () => {
    expect(failedJobIds.size, 'the malformed-job tests ran').toBe(CASES.length);
    worker.child.kill('SIGTERM');
    exitCode = await worker.exit;
    expect(exitCode, worker.output()).toBe(0);

    const files = await readLogDir(logDir);
    expect(files).toHaveLength(1);
    const records = parseLines(files);
    for (const [jobId, name] of failedJobIds) {
      const failed = records.filter((r) => r.jobId === jobId && r.event === 'job.failed');
      expect(failed, name).toHaveLength(1);
      const reason = CASES.find((c) => c.name === name)!.reason;
      expect(failed[0]!.reason, name).toMatch(reason);
      expect(failed[0], name).toMatchObject({ workerId, pid: worker.child.pid, code: 'E_JOB_DATA' });
      // No job line of a malformed job reached the guard.
      expect(
        records.filter((r) => r.jobId === jobId).map((r) => r.event),
        name,
      ).toEqual(['job.failed']);
    }
    expect(records.filter((r) => r.event === 'job.completed').map((r) => r.key)).toEqual(['valid']);
  });

  it('every log line names its worker once, and job data bound to the lines is bounded in length', async () => {
    const lines = (await readLogDir(logDir)).flatMap((f) => f.lines);
    expect(lines.length).toBeGreaterThan(CASES.length);
    for (const line of lines) expect(line.match(/"workerId":/g), line.slice(0, 200)).toHaveLength(1);
    for (const record of parseLines(await readLogDir(logDir))) {
      for (const field of ['runId', 'strategy', 'key'] as const) {
        if (typeof record[field] === 'string') expect((record[field] as string).length, field).toBeLessThanOrEqual(200);
      }
    }
  });
});
