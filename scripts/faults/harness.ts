import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import type { Queue, QueueEvents } from 'bullmq';
import type { CloseEvent } from 'concurrently';
import type { Redis } from 'ioredis';
import type { RedisClient } from '../redis/connection.js';
import { REDIS_NAMED_BY_URL } from '../demo/fleet-env.js';
import { startFleet, type Fleet } from '../fleet/fleet.js';
import { waitForWorkers } from '../fleet/wait-ready.js';
import { runBurst, type BurstSummary } from '../burst/burst.js';
import type { GetValueData } from '../../src/bullmq/job-data.js';
import type { BurstSpec } from '../burst/producer.js';
import { createQueue, createQueueEvents } from '../../src/bullmq/queue.js';
import { createGetValueClient, type GetValueClient } from '../../src/bullmq/client.js';
import { createRedis, createRedisClient } from '../redis/connection.js';
import { startFaultRedis, type FaultRedis } from './fault-redis.js';
import { LogTail } from './log-tail.js';
import type { FaultOptions } from './types.js';

/**
 * The shared harness of the fault scenarios ("rig"): a private redis-server (AOF on; or a Redis
 * Cluster, cluster-rig.ts), a fleet of real worker processes with short lock and stall
 * settings, a producer with QueueEvents, and the workers' logs followed live so a scenario can
 * inject its fault at a chosen event.
 */

/** Short settings so that recovery takes seconds: every one of them is a worker flag or variable. */
export interface RigSettings {
  workers: number;
  /** Jobs per worker at once (WORKER_CONCURRENCY). */
  concurrency: number;
  /** Simulated computation (COMPUTE_MS); shorter than lockTtlMs, since the guard does not extend its lock. */
  computeMs: number;
  /** The guard's Redis lock TTL (LOCK_TTL_MS); also how long a waiter waits before checking on the holder. */
  lockTtlMs: number;
  /** BullMQ's job lock (`--lock-duration`): a dead worker's jobs are free again after this. @default BullMQ's 30 s */
  lockDurationMs?: number;
  /** BullMQ's stalled-job check (`--stalled-interval`). @default BullMQ's 30 s */
  stalledIntervalMs?: number;
  /** More redis-server arguments. */
  redisArgs?: string[];
  /** The server's password (`--requirepass`); workers get it in REDIS_URL. */
  password?: string;
  /** More worker environment (COMPUTE_TIMEOUT_MS, FAILURE_POLICY, ...); wins over the rig's own. */
  env?: Record<string, string>;
  /** Every worker serves Prometheus metrics on a free port of its own (`metricsUrls`). @default false */
  metrics?: boolean;
}

export const SHORT_SETTINGS = {
  lockTtlMs: 2000,
  lockDurationMs: 2000,
  stalledIntervalMs: 1000,
} as const;

/** What every rig has, on one Redis or on a cluster. */
export interface FleetRig {
  readonly name: string;
  readonly settings: RigSettings;
  /** The URL the workers use (with the password, if any: never print it). */
  readonly redisUrl: string;
  readonly logDir: string;
  readonly keyPrefix: string;
  readonly queueName: string;
  readonly tail: LogTail;
  readonly queue: Queue<GetValueData>;
  readonly events: QueueEvents;
  /** The producer's get-value client, for scenarios that send their own traffic. */
  readonly client: GetValueClient;
  readonly fleet: Fleet;
  /** The fleet's prefixed stdout and stderr so far. */
  output(): string;
  /** Each worker's metrics URL, from its `metrics at` line (with `settings.metrics`). */
  metricsUrls(): Map<string, string>;
  /** Pid of a worker (`worker-1`...), from its `worker.started` log line. */
  pidOf(workerId: string): number;
  /** How each worker that exited so far exited (exit code, or the signal's name). */
  exits(): Map<string, number | string>;
  /** Job ids BullMQ reported stalled (their worker stopped renewing their lock). */
  readonly stalled: string[];
  /** A burst of get-value jobs with runId `<rig>-<label>`; resolves when all enqueued jobs finished. */
  burst(
    label: string,
    spec: Omit<BurstSpec, 'runId' | 'strategy'> & Partial<Pick<BurstSpec, 'strategy'>>,
    timeoutMs?: number,
  ): Promise<BurstSummary>;
  runId(label: string): string;
  /** Milliseconds from `since` to the first job completion Redis recorded after it, or null. */
  recoveryMs(since: number): number | null;
  /** When Redis recorded the first job completion at or after `since` (epoch ms), or null. */
  firstCompletionAt(since: number): number | null;
  /** Send a signal to a worker process; SIGSTOPped ones get SIGCONT before the fleet stops. */
  signal(pid: number, signal: NodeJS.Signals): void;
  /** Stop the fleet gracefully (SIGKILL after `timeoutMs`), then read the logs to the end. */
  stopFleet(timeoutMs?: number): Promise<void>;
  /** Stop everything and delete the temporary directories (logs kept with keepLogs). */
  close(): Promise<void>;
}

/** A rig on one private redis-server. */
export interface Rig extends FleetRig {
  readonly redis: FaultRedis;
  /** A connection of its own for injecting faults and inspecting Redis. */
  readonly admin: Redis;
}

export async function startRig(name: string, settings: RigSettings, options: FaultOptions = {}): Promise<Rig> {
  const say = options.say ?? (() => {});
  const cleanups = new Cleanups();
  try {
    const redis = await startFaultRedis({ extraArgs: settings.redisArgs ?? [], log: say });
    cleanups.push(() => redis.stop());
    if (settings.password) {
      // Set after start: startEmbeddedRedis checks that the server is up with a PING without AUTH.
      // (stop() then cannot SHUTDOWN without the password either, and falls back to SIGTERM.)
      const setup = createRedis(redis.url, 'producer');
      await setup.config('SET', 'requirepass', settings.password).finally(() => setup.disconnect());
    }
    const redisUrl = settings.password ? redis.url.replace('redis://', `redis://:${encodeURIComponent(settings.password)}@`) : redis.url;
    const admin = createRedis(redisUrl, 'producer');
    cleanups.connection(admin);
    say(`${name}: redis-server on port ${redis.port} (AOF, appendfsync everysec); starting ${settings.workers} workers`);
    const rig = await startFleetRig(name, settings, options, redisUrl, cleanups);
    return { ...rig, redis, admin };
  } catch (err) {
    await cleanups.run();
    throw err;
  }
}

/** Whatever a rig opened, closed last first. */
export class Cleanups {
  private readonly steps: (() => Promise<unknown>)[] = [];

  push(...steps: (() => Promise<unknown>)[]): void {
    this.steps.push(...steps);
  }

  /** A connection that reconnects by itself (a fault scenario expects its errors), quit at the end. */
  connection(client: RedisClient): void {
    client.on('error', () => {});
    this.push(() => client.quit().catch(() => client.disconnect()));
  }

  async run(): Promise<void> {
    for (const step of this.steps.splice(0).reverse()) await step().catch(() => {});
  }
}

/**
 * The fleet, the producer and the log follower on the Redis at `redisUrl` (one node or a
 * cluster). What it opens goes into `cleanups`; the caller runs them when this throws.
 */
export async function startFleetRig(
  name: string,
  settings: RigSettings,
  options: FaultOptions,
  redisUrl: string,
  cleanups: Cleanups,
): Promise<FleetRig> {
  const say = options.say ?? (() => {});
  const logDir = await mkdtemp(path.join(os.tmpdir(), `cs-faults-${name}-`));
  if (options.keepLogs) say(`${name}: worker logs kept in ${logDir}`);
  else cleanups.push(() => rm(logDir, { recursive: true, force: true }));
  const tail = new LogTail(logDir).start();
  cleanups.push(async () => tail.stop());

  const keyPrefix = 'cs-fault';
  const queueName = `faults-${name}`;
  const producer = createRedisClient(redisUrl, 'producer');
  const listener = createRedisClient(redisUrl, 'worker');
  cleanups.connection(producer);
  cleanups.connection(listener);
  const queue = createQueue(queueName, producer);
  const events = createQueueEvents(queueName, listener);
  queue.on('error', () => {});
  events.on('error', () => {});
  // Bursts go through the get-value client, as `npm run burst` sends them; `events` is the
  // scenario's own view of the queue (completion times, stalled jobs).
  const client = createGetValueClient({ connection: producer, queueName, timeoutMs: 600_000 });
  cleanups.push(
    () => client.close(),
    () => queue.close(),
    () => events.close(),
  );
  const completedAt: number[] = [];
  const stalled: string[] = [];
  // The stream entry id starts with Redis's clock at the completion: a completion read from the
  // stream after a restart still carries the time Redis recorded it, not the time it was read.
  events.on('completed', (_args: unknown, id: string) => completedAt.push(Number(id.split('-')[0]) || Date.now()));
  events.on('stalled', ({ jobId }) => stalled.push(jobId));
  await events.waitUntilReady();

  let text = '';
  const out = new PassThrough();
  out.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  const fleet = startFleet({
    workers: settings.workers,
    concurrency: settings.concurrency,
    env: {
      ...REDIS_NAMED_BY_URL,
      REDIS_URL: redisUrl,
      QUEUE_REDIS_URL: redisUrl,
      CACHE_REDIS_URL: redisUrl,
      QUEUE_NAME: queueName,
      KEY_PREFIX: keyPrefix,
      LOG_DIR: logDir,
      LOG_LEVEL: 'info',
      COMPUTE_MS: String(settings.computeMs),
      LOCK_TTL_MS: String(settings.lockTtlMs),
      VALUE_TTL_MS: '300000',
      ...settings.env,
    },
    workerArgs: [
      ...(settings.lockDurationMs === undefined ? [] : ['--lock-duration', String(settings.lockDurationMs)]),
      ...(settings.stalledIntervalMs === undefined ? [] : ['--stalled-interval', String(settings.stalledIntervalMs)]),
    ],
    outputStream: out,
    ...(settings.metrics && { metrics: { port: 0, host: '127.0.0.1' } }),
  });
  const exits = new Map<string, number | string>();
  for (const command of fleet.commands) {
    command.close.subscribe((event: CloseEvent) => exits.set(command.name, event.exitCode));
  }
  const paused = new Set<number>();
  let fleetStopped: Promise<void> | undefined;
  const stopFleet = (timeoutMs = 30_000) =>
    (fleetStopped ??= (async () => {
      for (const pid of paused) trySignal(pid, 'SIGCONT');
      paused.clear();
      let timer: NodeJS.Timeout | undefined;
      const stopped = fleet.stop('SIGTERM');
      const forced = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          for (const command of fleet.commands) if (command.state === 'started') command.kill('SIGKILL');
          resolve();
        }, timeoutMs);
      });
      await Promise.race([stopped, forced]);
      await stopped;
      clearTimeout(timer);
      await tail.refresh();
    })());
  cleanups.push(() => stopFleet(10_000));

  await waitForWorkers(fleet, settings.workers, { timeoutMs: 90_000 });
  await tail.waitForCount('worker.started', (r) => r.event === 'worker.started', settings.workers, 30_000);

  const runId = (label: string) => `${name}-${label}`;
  const firstCompletionAt = (since: number): number | null => {
    const after = completedAt.filter((t) => t >= since);
    return after.length === 0 ? null : Math.min(...after);
  };
  return {
    name,
    settings,
    redisUrl,
    logDir,
    keyPrefix,
    queueName,
    tail,
    queue,
    events,
    client,
    fleet,
    stalled,
    output: () => text,
    metricsUrls: () => new Map([...text.matchAll(/\[(worker-\d+)\] worker-\d+ metrics at (http:\/\/\S+)/g)].map((m) => [m[1]!, m[2]!])),
    pidOf(workerId) {
      const started = tail.records.find((r) => r.event === 'worker.started' && r.workerId === workerId);
      if (typeof started?.pid !== 'number') throw new Error(`no worker.started line from ${workerId}`);
      return started.pid;
    },
    exits: () => new Map(exits),
    runId,
    burst(label, spec, timeoutMs = 90_000) {
      return runBurst(client, { strategy: 'redis-lock', keyPrefix: label, ...spec, runId: runId(label) }, { timeoutMs });
    },
    recoveryMs(since) {
      const first = firstCompletionAt(since);
      return first === null ? null : first - since;
    },
    firstCompletionAt,
    signal(pid, signal) {
      process.kill(pid, signal);
      if (signal === 'SIGSTOP') paused.add(pid);
      if (signal === 'SIGCONT') paused.delete(pid);
    },
    stopFleet,
    close: () => cleanups.run(),
  };
}

function trySignal(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}
