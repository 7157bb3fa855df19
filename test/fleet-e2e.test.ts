/**
 * End to end: a fleet of 4 real worker processes (started with concurrently through
 * startFleet), bursts of 200 get-value jobs through BullMQ, and the workers' NDJSON logs read
 * back after a graceful stop.
 *
 * One fleet serves every burst (the fleet is strategy-agnostic: the strategy travels in the job
 * data). Each burst gets its own runId and its own cache key names, so every burst starts on a
 * cold key, and the logs are accounted per runId. The logs are read only after the fleet has
 * stopped: workers write them asynchronously and flush on exit.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { CloseEvent } from 'concurrently';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STRATEGIES, type Strategy } from '../src/cache/strategy.js';
import { startFleet, type Fleet } from '../scripts/fleet/fleet.js';
import { waitForWorkers } from '../scripts/fleet/wait-ready.js';
import { runBurst, type BurstSummary } from '../scripts/burst/burst.js';
import type { GetValueData, GetValueResult } from '../src/bullmq/job-data.js';
import { createQueue } from '../src/bullmq/queue.js';
import { createGetValueClient, type GetValueClient } from '../src/bullmq/client.js';
import type { SimulatedValue } from '../workers/simulated-compute.js';
import { createRedis } from '../scripts/redis/connection.js';
import { readLogs, summarizeAsync, type Report } from '../scripts/report/index.js';
import { closeAll, redisUrl, uniquePrefix } from './support/redis.js';
import { parseLines, readLogDir, type LogFile } from './support/worker-process.js';

const WORKERS = 4;
const JOBS = 200;
// Long enough that all 200 jobs of a burst are in flight before the first computation ends.
const COMPUTE_MS = 800;
const CORRELATION = ['runId', 'jobId', 'strategy', 'key', 'workerId', 'pid'] as const;

interface BurstOutcome {
  strategy: Strategy;
  runId: string;
  keys: number;
  summary: BurstSummary;
  /** Return values of the burst's jobs, read back from BullMQ. */
  results: GetValueResult[];
}

describe(`a fleet of ${WORKERS} worker processes, bursts of ${JOBS} jobs`, () => {
  const tag = uniquePrefix('fleet-e2e');
  const queueName = `q-${tag}`;
  let logDir: string;
  let fleetOutput = '';
  let producer: Redis;
  let queue: Queue<GetValueData>;
  let client: GetValueClient;
  let fleet: Fleet | undefined;
  let exits: CloseEvent[] = [];
  let files: LogFile[] = [];
  let records: Record<string, unknown>[] = [];
  const bursts = new Map<string, BurstOutcome>();

  async function burst(name: string, strategy: Strategy, keys: number, computeMs = COMPUTE_MS, count = JOBS): Promise<void> {
    const runId = `${tag}-${name}`;
    const summary = await runBurst(
      client,
      // keyPrefix gives this burst cache keys no other burst uses: every burst starts cold.
      { jobs: count, keys, strategy, computeMs, runId, keyPrefix: `${name}-key` },
      { timeoutMs: 120_000 },
    );
    const jobs = await queue.getJobs(['completed'], 0, -1);
    const results = jobs.filter((job) => job.data.runId === runId).map((job) => job.returnvalue as unknown as GetValueResult);
    bursts.set(name, { strategy, runId, keys, summary, results });
  }

  beforeAll(async () => {
    logDir = await mkdtemp(join(tmpdir(), 'cs-fleet-e2e-'));
    producer = createRedis(redisUrl(), 'producer');
    queue = createQueue(queueName, producer);
    client = createGetValueClient({ connection: producer, queueName, timeoutMs: 120_000 });

    const out = new PassThrough();
    out.on('data', (chunk: Buffer) => (fleetOutput += chunk.toString('utf8')));
    fleet = startFleet({
      workers: WORKERS,
      env: {
        REDIS_URL: redisUrl(),
        LOG_DIR: logDir,
        QUEUE_NAME: queueName,
        KEY_PREFIX: tag,
        COMPUTE_MS: String(COMPUTE_MS),
        LOG_LEVEL: 'info',
      },
      outputStream: out,
    });
    try {
      await waitForWorkers(fleet, WORKERS, { timeoutMs: 60_000 });
      // Warm the workers up (first-job module loading and JIT, slow on a loaded box), so that the
      // measured bursts' jobs overlap the way they would in a running fleet.
      for (const strategy of STRATEGIES) await burst(`warmup-${strategy}`, strategy, 8, 0, 80);
      await burst('none', 'none', 1);
      await burst('local', 'local-lock', 1);
      await burst('redis', 'redis-lock', 1);
      await burst('redis-5keys', 'redis-lock', 5);
    } finally {
      exits = await fleet.stop('SIGTERM');
    }
    files = await readLogDir(logDir);
    records = parseLines(files);
  }, 180_000);

  afterAll(async () => {
    // Only reached with a running fleet when beforeAll failed before stopping it.
    if (fleet && exits.length === 0) await fleet.stop('SIGKILL');
    await client?.close();
    await queue?.obliterate({ force: true }).catch(() => {});
    await queue?.close();
    await closeAll(...[producer].filter(Boolean));
    // KEEP_TEST_LOGS=1 keeps the workers' logs for a post-mortem.
    if (logDir && !process.env.KEEP_TEST_LOGS) await rm(logDir, { recursive: true, force: true });
  });

  const outcome = (name: string): BurstOutcome => {
    const found = bursts.get(name);
    if (!found) throw new Error(`burst ${name} did not run; fleet output:\n${fleetOutput}`);
    return found;
  };
  /** recompute.start lines of one run, counted from the raw lines (JSON.parse, nothing else). */
  const rawRecomputes = (runId: string) => records.filter((r) => r.event === 'recompute.start' && r.runId === runId);
  const reportOf = (runId: string): Promise<Report> => summarizeAsync(readLogs([logDir]), { runId });

  it('every worker stopped on SIGTERM with exit code 0, logged worker.stopped, and left no lock', async () => {
    expect(exits, fleetOutput).toHaveLength(WORKERS);
    for (const exit of exits)
      expect({ name: exit.command.name, exitCode: exit.exitCode }).toEqual({ name: exit.command.name, exitCode: 0 });
    expect(files, 'one log file per worker process').toHaveLength(WORKERS);
    for (const { file, lines } of files) {
      const parsed = lines.map((line) => JSON.parse(line) as { event?: string; time: number });
      expect(parsed.at(-1)!.event, file).toBe('worker.stopped');
      // Lines are in the order they were logged (a flush on the way out must not reorder them).
      const backwards = parsed.findIndex((r, i) => i > 0 && r.time < parsed[i - 1]!.time);
      expect(backwards, `${file}: line ${backwards + 1} is older than the line before it`).toBe(-1);
    }
    const [, locks] = await producer.scan('0', 'MATCH', `${tag}:*:lock`, 'COUNT', 100_000);
    expect(locks).toEqual([]);
  });

  it('every job of every burst completed with a value', () => {
    for (const name of ['none', 'local', 'redis', 'redis-5keys']) {
      const { summary, results, strategy, runId } = outcome(name);
      expect({ name, completed: summary.completed, failed: summary.failed, timedOut: summary.timedOut }).toEqual({
        name,
        completed: JOBS,
        failed: 0,
        timedOut: false,
      });
      expect(results).toHaveLength(JOBS);
      for (const result of results) {
        expect(result.strategy).toBe(strategy);
        expect(result.workerId).toMatch(/^worker-[1-4]$/);
        const value = result.value as SimulatedValue;
        expect(value.computedBy).toMatch(/^worker-[1-4]$/);
        expect(value.computeMs).toBe(COMPUTE_MS);
        expect(typeof value.pid).toBe('number');
      }
      // The logs agree: one job.completed line per job of the run.
      expect(records.filter((r) => r.event === 'job.completed' && r.runId === runId)).toHaveLength(JOBS);
    }
  });

  it('the jobs were spread over the whole fleet', () => {
    const workers = new Set([...bursts.values()].flatMap((b) => b.results.map((r) => r.workerId)));
    expect([...workers].sort()).toEqual(['worker-1', 'worker-2', 'worker-3', 'worker-4']);
  });

  it('none: the stampede, more recomputations than there are workers', async () => {
    const { runId, results } = outcome('none');
    const recomputes = rawRecomputes(runId).length;
    expect(recomputes, `${recomputes} recomputations`).toBeGreaterThan(WORKERS);
    expect(results.filter((r) => r.source === 'computed')).toHaveLength(recomputes);
    const report = await reportOf(runId);
    expect(report.strategies.map((s) => [s.strategy, s.recomputations])).toEqual([['none', recomputes]]);
  });

  it('local-lock: at least one recomputation, at most one per worker process', async () => {
    const { runId, results } = outcome('local');
    const recomputes = rawRecomputes(runId);
    expect(recomputes.length).toBeGreaterThanOrEqual(1);
    expect(recomputes.length).toBeLessThanOrEqual(WORKERS);
    const perPid = new Map<unknown, number>();
    for (const r of recomputes) perPid.set(r.pid, (perPid.get(r.pid) ?? 0) + 1);
    expect(
      [...perPid.values()].every((n) => n === 1),
      JSON.stringify([...perPid]),
    ).toBe(true);
    // Every value came from one of this run's recomputations (a process may also read the value
    // another process wrote, so a worker can return more than one value).
    const recomputers = new Set(recomputes.map((r) => r.workerId));
    for (const r of results) expect(recomputers).toContain((r.value as SimulatedValue).computedBy);
    expect(new Set(results.map((r) => JSON.stringify(r.value))).size).toBeLessThanOrEqual(recomputes.length);
    expect(results.filter((r) => r.source === 'computed')).toHaveLength(recomputes.length);
    const report = await reportOf(runId);
    expect(report.strategies.map((s) => [s.strategy, s.recomputations])).toEqual([['local-lock', recomputes.length]]);
  });

  it('redis-lock: exactly one recomputation, and all 200 jobs got the same value', async () => {
    const { runId, results, summary } = outcome('redis');
    expect(rawRecomputes(runId)).toHaveLength(1);
    expect(summary.distinctValues).toBe(1);
    expect(new Set(results.map((r) => JSON.stringify(r.value))).size).toBe(1);
    expect(results.filter((r) => r.source === 'computed')).toHaveLength(1);
    const report = await reportOf(runId);
    expect(report.strategies.map((s) => [s.strategy, s.recomputations])).toEqual([['redis-lock', 1]]);
    expect(report.verdicts.filter((v) => v.strategy === 'redis-lock').map((v) => v.status)).toEqual(['ok']);
  });

  it('redis-lock over 5 keys in one burst: exactly one recomputation per key', async () => {
    const { runId, results } = outcome('redis-5keys');
    const perKey = new Map<unknown, number>();
    for (const r of rawRecomputes(runId)) perKey.set(r.key, (perKey.get(r.key) ?? 0) + 1);
    expect(Object.fromEntries(perKey)).toEqual({
      'redis-5keys-key-1': 1,
      'redis-5keys-key-2': 1,
      'redis-5keys-key-3': 1,
      'redis-5keys-key-4': 1,
      'redis-5keys-key-5': 1,
    });
    // One value per key, shared by all 40 jobs of that key.
    const valuesPerKey = new Map<string, Set<string>>();
    for (const r of results) {
      const set = valuesPerKey.get(r.key) ?? new Set();
      set.add(JSON.stringify(r.value));
      valuesPerKey.set(r.key, set);
    }
    expect([...valuesPerKey.values()].map((s) => s.size)).toEqual([1, 1, 1, 1, 1]);
    const report = await summarizeAsync(readLogs([logDir]), { runId, by: ['key'] });
    expect(report.groups.map((g) => [g.key, g.recomputations]).sort()).toEqual([
      ['redis-5keys-key-1', 1],
      ['redis-5keys-key-2', 1],
      ['redis-5keys-key-3', 1],
      ['redis-5keys-key-4', 1],
      ['redis-5keys-key-5', 1],
    ]);
  });

  it("the log report's recomputations equal the raw recompute.start lines in the files", async () => {
    // Independent count: plain substring matches over the raw lines, no JSON, no report code.
    const raw = files.reduce((sum, { lines }) => sum + lines.filter((l) => l.includes('"event":"recompute.start"')).length, 0);
    const report = await summarizeAsync(readLogs([logDir]));
    const counted = report.strategies.reduce((sum, s) => sum + s.recomputations, 0);
    expect(counted).toBe(raw);
    // And per run, against JSON-parsed lines.
    for (const { runId } of bursts.values()) {
      const perRun = await reportOf(runId);
      expect(
        perRun.strategies.reduce((sum, s) => sum + s.recomputations, 0),
        runId,
      ).toBe(rawRecomputes(runId).length);
    }
  });

  it('every line written for a job carries runId, jobId, strategy, key, workerId and pid', () => {
    const jobLines = records.filter((r) => 'jobId' in r);
    expect(jobLines.length).toBeGreaterThan(4 * JOBS);
    const incomplete = jobLines.filter((r) => CORRELATION.some((field) => r[field] === undefined || r[field] === null || r[field] === ''));
    expect(incomplete.slice(0, 3)).toEqual([]);
    // The fields are the job's own: the worker named in the line wrote it from its own pid.
    const pidOfWorker = new Map<unknown, Set<unknown>>();
    for (const r of jobLines) {
      const pids = pidOfWorker.get(r.workerId) ?? new Set();
      pids.add(r.pid);
      pidOfWorker.set(r.workerId, pids);
    }
    for (const [worker, pids] of pidOfWorker) expect(pids.size, String(worker)).toBe(1);
    const runIds = new Set([...bursts.values()].map((b) => b.runId));
    expect(jobLines.every((r) => runIds.has(r.runId as string))).toBe(true);
  });
});
