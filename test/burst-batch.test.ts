/**
 * `npm run burst -- --batch N` end to end: the command as a user runs it, against a small fleet of
 * real worker processes (simulated computation) on a real Redis. Each job asks for N keys, so J
 * jobs are J x N key requests: the summary counts them per key request and per job, and the
 * workers' logs agree (one job.completed per key request, one recomputation per key). Bad values
 * are one line and exit 2, before anything connects.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobData } from '../src/bullmq/job-data.js';
import { createQueue } from '../src/bullmq/queue.js';
import type { BurstSummary } from '../scripts/burst/burst.js';
import { createRedis } from '../scripts/redis/connection.js';
import { summarize, type LogRecord } from '../scripts/report/index.js';
import { closeAll, redisUrl, uniquePrefix } from './support/redis.js';
import { nonEmptyLines, runCommand } from './support/run-command.js';
import { waitUntil } from './support/wait.js';
import { parseLines, readLogDir, spawnWorker, type WorkerProcess } from './support/worker-process.js';

const BURST = 'scripts/burst.ts';
const WORKERS = 2;

describe(`npm run burst -- --batch 5 against ${WORKERS} workers`, { timeout: 240_000 }, () => {
  const tag = uniquePrefix('burst-batch');
  const queueName = `q-${tag}`;
  let logDir = '';
  let env: Record<string, string> = {};
  let producer: Redis;
  let queue: Queue<JobData>;
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    logDir = await mkdtemp(join(tmpdir(), 'cs-burst-batch-'));
    env = { REDIS_URL: redisUrl(), QUEUE_NAME: queueName, LOG_DIR: logDir, KEY_PREFIX: tag, COMPUTE_MS: '50' };
    producer = createRedis(redisUrl(), 'producer');
    queue = createQueue(queueName, producer) as Queue<JobData>;
    for (let i = 1; i <= WORKERS; i++) workers.push(spawnWorker(env, ['--worker-id', `bb-${i}`]));
    await Promise.all(workers.map((w, i) => w.waitForLine(new RegExp(`^bb-${i + 1} ready:`), 90_000)));
  }, 120_000);

  afterAll(async () => {
    for (const worker of workers) {
      if (worker.child.exitCode === null && worker.child.signalCode === null) {
        worker.child.kill('SIGTERM');
        await worker.exit;
      }
    }
    await queue?.obliterate({ force: true }).catch(() => {});
    await queue?.close();
    if (producer) await closeAll(producer);
    if (logDir && !process.env.KEEP_TEST_LOGS) await rm(logDir, { recursive: true, force: true });
  });

  it('20 jobs of 5 keys over 10 keys: 100 key requests, each key computed once, counted per request and per job', async () => {
    const runId = `${tag}-json`;
    const result = await runCommand(
      BURST,
      ['--jobs', '20', '--keys', '10', '--batch', '5', '--compute-ms', '300', '--run-id', runId, '--json'],
      env,
    );
    const context = JSON.stringify(result);
    expect(result.code, context).toBe(0);
    const summary = JSON.parse(result.stdout) as BurstSummary;
    expect(summary).toMatchObject({
      jobs: 20,
      enqueued: 20,
      completed: 100,
      failed: 0,
      timedOut: false,
      batch: { keysPerJob: 5, keyRequests: 100, jobsCompleted: 20, jobsFailed: 0 },
    });
    // redis-lock over 10 keys: each key computed once in the fleet, every other request waited or hit.
    expect(summary.sources.computed).toBe(10);
    expect(summary.sources.computed + summary.sources.waited + summary.sources.cache + summary.sources.stale).toBe(100);
    expect(summary.distinctValues).toBe(10);

    // The workers' logs: one job.completed per key request (batch: true), one recomputation per key.
    let records: LogRecord[] = [];
    const logged = async () => {
      records = parseLines(await readLogDir(logDir)) as LogRecord[];
      return records.filter((l) => l.event === 'job.completed' && l.runId === runId).length === 100;
    };
    await waitUntil('every key request of the burst is logged', logged, { timeoutMs: 20_000, intervalMs: 100 });
    const completed = records.filter((l) => l.event === 'job.completed' && l.runId === runId);
    expect(completed.every((l) => l.batch === true)).toBe(true);
    expect(new Set(completed.map((l) => l.jobId)).size).toBe(20);
    const report = summarize(records, { runId });
    expect(report.strategies[0]).toMatchObject({ strategy: 'redis-lock', jobs: 100, completed: 100, recomputations: 10, keys: 10 });
    expect(report.verdicts[0]).toMatchObject({ status: 'ok', pairs: 10, maxPerPair: 1 });
  });

  it('the text summary says key requests and jobs', async () => {
    const runId = `${tag}-text`;
    const result = await runCommand(BURST, ['--jobs', '4', '--keys', '6', '--batch', '3', '--run-id', runId], env);
    const context = JSON.stringify(result);
    expect(result.code, context).toBe(0);
    expect(result.stdout, context).toMatch(
      new RegExp(`^run ${runId}: 12/12 key requests completed, 0 failed in [\\d.]+ s; 4 batch jobs of 3 keys: 4 completed, 0 failed$`, 'm'),
    );
    expect(result.stdout, context).toMatch(/^latency \(per key request, enqueue to completion\): p50 \d+ ms/m);
  });
});

describe.concurrent('burst --batch: bad values are one line and exit 2, before connecting', { timeout: 120_000 }, () => {
  const cases: [string, string[], Record<string, string>, RegExp][] = [
    ['--batch 0', ['--batch', '0'], {}, /^error: option '--batch <n>' argument '0' is invalid\. expected 1 to 1000, got 0$/],
    ['--batch x', ['--batch', 'x'], {}, /^error: option '--batch <n>' argument 'x' is invalid\. expected a whole number, got "x"$/],
    ['--batch 1001', ['--batch', '1001', '--keys', '2000'], {}, /--batch.*'1001'.*expected 1 to 1000/],
    ['--batch 6 --keys 5', ['--batch', '6', '--keys', '5'], {}, /^error: --batch 6 asks for more keys per job than --keys 5/],
    [
      '--batch 2 --keys 2 --strategy swr',
      ['--batch', '2', '--keys', '2', '--strategy', 'swr'],
      {},
      /^error: --batch jobs are computed under redis-lock only, got --strategy swr$/,
    ],
    [
      'STRATEGY=none --batch 1',
      ['--batch', '1'],
      { STRATEGY: 'none' },
      /^error: --batch jobs are computed under redis-lock only, got STRATEGY none$/,
    ],
  ];
  for (const [name, args, vars, pattern] of cases) {
    it(name, async () => {
      const result = await runCommand(BURST, args, { REDIS_URL: 'redis://127.0.0.1:1', ...vars });
      expect(result.code, JSON.stringify(result)).toBe(2);
      expect(nonEmptyLines(result.stderr)).toEqual([expect.stringMatching(pattern)]);
    });
  }

  it('--help says what --batch does', async () => {
    const result = await runCommand(BURST, ['--help']);
    expect(result.code).toBe(0);
    expect(result.stdout.replace(/\s+/g, ' ')).toMatch(
      /--batch <n> keys per job: each job asks for N keys .* J jobs are J x N key requests/,
    );
  });
});
