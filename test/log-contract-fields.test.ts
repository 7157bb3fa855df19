/**
 * Every log line against the log contract, field by field (issue 23, finding 10). The contract
 * is data: this test reads docs/log-contract.md's two tables (the common fields, and each
 * event's fields, `?` marking those only some lines carry) and holds to them every line of
 *
 * - a real worker process (its NDJSON file) on a private redis-server that evicts (so it warns)
 *   and is restarted under it (so its connections report errors): cold, coalesced, L1, stale,
 *   back-off, failing and invalid jobs under several strategies, the watchdog at debug level, and
 *   its stop;
 * - the guard's paths in this process, written by the lab's pino logger: a wait on another
 *   process's holder, set and delete, a rejected write, a lost lock, a flushed script cache, an
 *   XFetch early refresh that finds the lock busy, the subscriber's connection error, and the
 *   BullMQ processor given a logger of its own, retrying a job while Redis is out of reach.
 *
 * Each line's `event` must be in the contract, its `msg` the event's text, and its fields exactly
 * the common ones and its event's (all of those not marked `?`). Every event of the contract
 * must be seen, but `worker.error` (BullMQ's own errors outside a job; none is provoked here).
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis } from '../scripts/redis/connection.js';
import { startEmbeddedRedis, type EmbeddedRedis } from '../scripts/redis/redis-server.js';
import { createProcessor } from '../src/bullmq/processor.js';
import { createGuard, type StampedeGuard } from '../src/cache/guard.js';
import { cacheKeys } from '../src/keys.js';
import { acquireLock, releaseLock } from '../src/lock/redis-lock.js';
import { EVENTS } from '../src/logger.js';
import { captureLogger, type CapturedLine } from './support/log-capture.js';
import { codeSpans, tablesOf } from './support/markdown.js';
import { sleep, waitUntil } from './support/wait.js';
import { parseLines, projectPath, readLogDir, spawnWorker, type WorkerProcess } from './support/worker-process.js';
import { toPort } from '../src/redis/adapt.js';

interface EventContract {
  required: string[];
  optional: string[];
}

interface Contract {
  events: Map<string, EventContract>;
  /** Common fields: on every line, on a lab worker's lines, on a job's lines. */
  always: string[];
  worker: string[];
  job: string[];
}

const names = codeSpans;

function readContract(markdown = readFileSync(projectPath('docs/log-contract.md'), 'utf8')): Contract {
  const tables = tablesOf(markdown);
  const eventTable = tables.find((t) => t[0]![0] === '`event`' && t[0]!.at(-1) === 'fields');
  const commonTable = tables.find((t) => t[0]![0] === 'lines' && t[0]![1] === 'common fields');
  if (!eventTable || !commonTable) throw new Error('docs/log-contract.md: the event table or the common-fields table is missing');
  const events = new Map<string, EventContract>();
  for (const row of eventTable.slice(1)) {
    const [event, ...more] = names(row[0]!);
    if (event === undefined || more.length > 0) throw new Error(`one event a row: ${row[0]}`);
    const fields = names(row.at(-1)!);
    events.set(event, {
      required: fields.filter((f) => !f.endsWith('?')),
      optional: fields.filter((f) => f.endsWith('?')).map((f) => f.slice(0, -1)),
    });
  }
  const common = (label: string) => {
    const row = commonTable.find((r) => r[0] === label);
    if (!row) throw new Error(`docs/log-contract.md: no common-fields row "${label}"`);
    return names(row[1]!);
  };
  return {
    events,
    always: common('every line'),
    worker: common('every line of a lab worker'),
    job: common('every line written for a job'),
  };
}

/** What is wrong with one line, by the contract; empty when nothing. */
function violations(contract: Contract, line: Record<string, unknown>, fromWorker: boolean): string[] {
  const event = String(line.event);
  const where = `${event} ${JSON.stringify(line).slice(0, 300)}`;
  const spec = contract.events.get(event);
  if (!spec) return [`not in the contract: ${where}`];
  const problems: string[] = [];
  if (line.msg !== EVENTS[event as keyof typeof EVENTS]) problems.push(`msg is not the event's text: ${where}`);
  const isJobLine = 'jobId' in line;
  const must = [...contract.always, ...(fromWorker ? contract.worker : []), ...(isJobLine ? contract.job : []), ...spec.required];
  for (const field of must) if (!(field in line)) problems.push(`missing ${field}: ${where}`);
  const allowed = new Set([...contract.always, ...contract.worker, ...contract.job, ...spec.required, ...spec.optional]);
  for (const field of Object.keys(line)) if (!allowed.has(field)) problems.push(`${field} is not in the contract: ${where}`);
  return problems;
}

describe('the contract as docs/log-contract.md writes it', () => {
  it('names every event of the EVENTS map, one a row, and no other', () => {
    const contract = readContract();
    expect([...contract.events.keys()].sort()).toEqual(Object.keys(EVENTS).sort());
    expect(contract.always).toEqual(['level', 'time', 'pid', 'hostname', 'event', 'msg']);
  });

  it('explains every field it lists, in its list of fields', () => {
    const markdown = readFileSync(projectPath('docs/log-contract.md'), 'utf8');
    // The list after "The fields:": each field named as `name`: what it is.
    const list = markdown.slice(markdown.indexOf('The fields:'));
    const explained = new Set([...list.matchAll(/`(\w+)`:/g)].map((m) => m[1]!));
    const listed = new Set([...readContract().events.values()].flatMap((e) => [...e.required, ...e.optional]));
    expect([...listed].filter((f) => !explained.has(f))).toEqual([]);
  });
});

describe('every line of a worker process and of the guard, held to the contract', () => {
  let server: EmbeddedRedis;
  let logDir: string;
  let worker: WorkerProcess;
  let producer: Redis;
  let queue: Queue;
  const workerId = 'worker-contract';
  const prefix = `contract-${process.pid}`;
  const queueName = `q-contract-${process.pid}`;
  const captures: CapturedLine[][] = [];
  const inProcess = (): CapturedLine[] => captures.flat();
  const workerLines = (): Promise<Record<string, unknown>[]> => readLogDir(logDir).then(parseLines);
  const seen = async (test: (line: Record<string, unknown>) => boolean) => (await workerLines()).some(test);

  beforeAll(async () => {
    server = await startEmbeddedRedis({ extraArgs: ['--maxmemory-policy', 'allkeys-lru'] });
    logDir = await mkdtemp(join(tmpdir(), 'cs-contract-'));
    producer = createRedis(server.url, 'producer');
    producer.on('error', () => {}); // Redis is restarted on purpose
    queue = new Queue(queueName, { connection: producer, prefix: 'bull' });
    queue.on('error', () => {});
  });

  afterAll(async () => {
    if (worker && worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL');
    await queue?.close();
    producer?.disconnect();
    await server?.stop();
    if (logDir) await rm(logDir, { recursive: true, force: true });
  });

  /** Add a job and wait for its last line (job.completed or job.failed) in the worker's log. */
  async function run(data: Record<string, unknown>): Promise<void> {
    const job = await queue.add('get-value', { runId: 'contract', ...data }, { attempts: 1 });
    await waitUntil(
      `job ${job.id} ${JSON.stringify(data)} finished`,
      () => seen((l) => l.jobId === job.id && (l.event === 'job.completed' || l.event === 'job.failed')),
      { timeoutMs: 30_000, intervalMs: 50 },
    );
  }

  it('a worker process: its jobs, a Redis restart and its stop', async () => {
    worker = spawnWorker(
      {
        REDIS_URL: server.url,
        LOG_DIR: logDir,
        LOG_LEVEL: 'debug',
        QUEUE_NAME: queueName,
        KEY_PREFIX: prefix,
        COMPUTE_MS: '0',
        VALUE_TTL_MS: '1000',
        LOCK_TTL_MS: '300',
        L1_MAX_ENTRIES: '100',
      },
      ['--worker-id', workerId],
    );
    await worker.waitForLine(new RegExp(`^${workerId} ready:`));
    // Three at once on one key: one computes past a third of its lock TTL (the watchdog), two join its flight.
    await Promise.all([1, 2, 3].map(() => run({ key: 'slow', strategy: 'redis-lock', computeMs: 400 })));
    // The L1 tier answers once its bus is subscribed.
    await run({ key: 'l1', strategy: 'redis-lock' });
    for (let i = 0; i < 20 && !(await seen((l) => l.event === 'cache.hit' && l.tier === 'l1')); i++) {
      await run({ key: 'l1', strategy: 'redis-lock' });
    }
    await run({ key: 'n', strategy: 'none' });
    await run({ key: 'll', strategy: 'local-lock' });
    await run({ key: 's', strategy: 'swr' });
    await run({ key: 'b', strategy: 'redis-lock' });
    await sleep(1100); // past the fresh time of s and b
    await run({ key: 's', strategy: 'swr' }); // stale hit, background refresh
    await run({ key: 'b', strategy: 'redis-lock', simulate: 'throw' }); // failed: the stale value, a back-off
    await run({ key: 'b', strategy: 'redis-lock' }); // served stale under the back-off
    await run({ key: 'f', strategy: 'redis-lock', simulate: 'throw' }); // failed, nothing stale: the job fails
    await run({ key: 'x', strategy: 'nope' }); // invalid

    // Redis goes away under the worker (and the guards below) and comes back on its port.
    await inProcessPaths();
    await server.stop();
    await waitUntil('the worker reported its connections failing', () => seen((l) => l.event === 'redis.error'), { timeoutMs: 30_000 });
    await waitUntil('the guard reported its subscriber failing', () => inProcess().some((l) => l.event === 'redis.error'), {
      timeoutMs: 30_000,
    });
    server = await startEmbeddedRedis({ port: server.port, extraArgs: ['--maxmemory-policy', 'allkeys-lru'] });
    await run({ key: 'after', strategy: 'redis-lock' });
    await closeInProcess();

    worker.child.kill('SIGTERM');
    expect(await worker.exit, worker.output()).toBe(0);
  }, 120_000);

  // The guard's paths in this process, on the same Redis, with the lab's pino logger.
  const guards: StampedeGuard[] = [];
  const clients: Redis[] = [];
  function guard(options: Record<string, unknown> = {}): StampedeGuard {
    const redis = new Redis(server.url, { maxRetriesPerRequest: 2 });
    redis.on('error', () => {}); // Redis is restarted on purpose
    const capture = captureLogger('debug');
    captures.push(capture.lines);
    const made = createGuard({ redis, keyPrefix: `${prefix}-g`, logger: capture.logger, lockTtlMs: 1000, ...options });
    guards.push(made);
    clients.push(redis);
    return made;
  }

  async function inProcessPaths(): Promise<void> {
    const a = guard();
    const b = guard();
    const slow = (ms: number, value: unknown) => async () => {
      await sleep(ms);
      return value;
    };
    // b waits on a's holder (b's subscriber is opened for it).
    const holding = a.getOrCompute('w', slow(300, 1));
    await sleep(50);
    await b.getOrCompute('w', slow(0, 2));
    await holding;
    // set and delete
    await a.set('sd', 1);
    await a.delete('sd');
    // a tagged value, invalidated, found covered; a namespace cleared
    await a.getOrCompute('tg', slow(0, 1), { tags: ['t'] });
    await a.invalidateTags(['t']);
    await b.getOrCompute('tg', slow(0, 2), { tags: ['t'] });
    await a.namespace('n').clear();
    // an unfenced write a set overtook: rejected
    const unfenced = a.getOrCompute('rj', slow(200, 1), { strategy: 'none' });
    await sleep(50);
    await b.set('rj', 2);
    await unfenced;
    // a holder whose lock a delete took away
    const losing = a.getOrCompute('lost', slow(300, 1));
    await sleep(50);
    await b.delete('lost');
    await losing.catch(() => {});
    // a flushed script cache
    const admin = new Redis(server.url);
    admin.on('error', () => {});
    clients.push(admin);
    await admin.script('FLUSH');
    await a.getOrCompute('sc', slow(0, 1));
    // XFetch reads a fresh value, wants an early refresh, and finds the lock busy
    const early = guard({ random: () => Number.MIN_VALUE, valueTtlMs: 5000 });
    await early.getOrCompute('xf', slow(20, 1), { strategy: 'xfetch' });
    const keys = cacheKeys(`${prefix}-g`, 'xf');
    const lease = await acquireLock(toPort(admin), keys, 5000);
    await early.getOrCompute('xf', slow(20, 1), { strategy: 'xfetch' });
    await waitUntil('the early refresh found the lock busy', () =>
      inProcess().some((l) => l.event === 'lock.busy' && l.refresh === 'early'),
    );
    if (lease) await releaseLock(toPort(admin), keys, lease);
    // The processor with a logger of its own, while its Redis is out of reach and the guard's
    // onRedisDown is `error`: an attempt is retried, the last one fails. The guard's breaker opens
    // (redis.unavailable) and closes once its probe is answered (redis.available).
    // Its first command fails at once ("Stream isn't writeable"), though it connects meanwhile.
    const offline = new Redis(server.url, { lazyConnect: true, enableOfflineQueue: false });
    offline.on('error', () => {});
    clients.push(offline);
    const capture = captureLogger('debug');
    captures.push(capture.lines);
    const offlineGuard = createGuard({ redis: offline, keyPrefix: `${prefix}-p`, onRedisDown: 'error', logger: capture.logger });
    guards.push(offlineGuard);
    const processor = createProcessor({
      guard: offlineGuard,
      workerId: 'worker-in-process',
      logger: capture.logger,
      compute: () => slow(0, 1),
    });
    for (const attemptsMade of [0, 2]) {
      const job = {
        id: `p${attemptsMade}`,
        data: { key: 'p', strategy: 'redis-lock', runId: 'r' },
        timestamp: Date.now(),
        attemptsMade,
        opts: { attempts: 3 },
      };
      await processor(job as never).catch(() => {});
    }
    await waitUntil('the breaker closed again', () => inProcess().some((l) => l.event === 'redis.available'));
  }

  async function closeInProcess(): Promise<void> {
    await Promise.all(guards.map((g) => g.close()));
    for (const client of clients) client.disconnect();
  }

  it("every line has the common fields and its event's, and no other; every event is seen", async () => {
    const contract = readContract();
    const fromWorker = await workerLines();
    expect(fromWorker.length).toBeGreaterThan(50);
    expect(inProcess().length).toBeGreaterThan(20);
    const problems = [
      ...fromWorker.flatMap((line) => violations(contract, line, true)),
      ...inProcess().flatMap((line) => violations(contract, line, false)),
    ];
    expect(problems).toEqual([]);
    const events = new Set([...fromWorker, ...inProcess()].map((l) => String(l.event)));
    expect([...contract.events.keys()].filter((e) => !events.has(e) && e !== 'worker.error')).toEqual([]);
  });
});
