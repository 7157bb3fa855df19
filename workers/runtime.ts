import { Worker } from 'bullmq';
import { BullMQOtel } from 'bullmq-otel';
import { createGuard, type StampedeGuard } from '../src/cache/guard.js';
import { openTelemetry } from '../src/otel/index.js';
import type { Config } from '../scripts/common/config.js';
import { logEvent, type Logger } from '../src/logger.js';
import { assertRedisReachable, describeRedisUrl } from '../scripts/redis/connection.js';
import { clientKindFor } from '../scripts/redis/client-kind.js';
import { closeRedis, isNodeRedis, labQueuePrefix, onRedisError, openRedis, type LabRedis } from '../scripts/redis/lab-redis.js';
import { evictionPolicyWarning } from '../scripts/redis/eviction-policy.js';
import { assertKeyPrefixAllowed } from '../scripts/redis/key-access.js';
import { createProcessor } from '../src/bullmq/processor.js';
import { readyLine } from './ready-line.js';
import { simulatedCompute, simulatedComputeMany } from './simulated-compute.js';
import type { GetManyData, GetManyResult, GetValueData, GetValueResult } from '../src/bullmq/job-data.js';
import type { ComputeModule } from './compute-module.js';
import { moduleCompute, moduleComputeMany } from './module-compute.js';
import { observeGuardEvents } from './guard-events.js';
import type { GuardMetrics } from './metrics/guard-metrics.js';

export interface WorkerRuntimeOptions {
  config: Config;
  workerId: string;
  /** NDJSON logger (to the worker's log file). */
  logger: Logger;
  /** Prometheus metrics to count the guard's events in; absent: none. */
  metrics?: GuardMetrics;
  /** Short human lines (stdout). */
  say: (line: string) => void;
  /** The user's computation; absent: the simulated one. */
  computeModule?: ComputeModule;
  /**
   * The lab's OpenTelemetry SDK is registered in this process (scripts/tracing): each job's
   * `process` span continues the trace its producer started (BullMQ telemetry), and the guard's
   * spans (`cache-stampede getOrCompute`, its `compute` and `wait`) are its children. @default false
   */
  tracing?: boolean;
  /** BullMQ stalled-job settings, shortened by the fault tests. */
  stalledIntervalMs?: number;
  lockDurationMs?: number;
}

export interface RunningWorker {
  readonly worker: Worker;
  /** Graceful stop: take no new jobs, finish the ones in flight, close everything. */
  stop(): Promise<void>;
}

/** Connect, check the queue's Redis, and start consuming get-value jobs. */
export async function startWorker(options: WorkerRuntimeOptions): Promise<RunningWorker> {
  const { config, workerId, logger, say } = options;
  // REDIS_CLIENT first: a bad value, or node-redis on a cluster, is one line before any connection.
  const clientKind = clientKindFor(config);
  const warn = (warning: string) => {
    logEvent(logger, 'warn', 'redis.warning', { warning });
    say(`warning: ${warning}`);
  };
  for (const warning of await assertRedisReachable(config.queueRedisUrl, config.tls)) warn(warning);
  if (config.cacheRedisUrl !== config.queueRedisUrl) {
    for (const warning of await assertRedisReachable(config.cacheRedisUrl, config.tls)) warn(warning);
  }
  await assertKeyPrefixAllowed(config.cacheRedisUrl, config.tls, config.keyPrefix);

  const closeables: LabRedis[] = [];
  const open = async (role: 'queue' | 'cache' | 'subscriber', url: string) => {
    const connection = await openRedis(clientKind, url, role === 'queue' ? 'worker' : role, config.tls);
    closeables.push(connection);
    onRedisError(connection, (err: unknown) => logEvent(logger, 'warn', 'redis.error', { role, err }));
    return connection;
  };
  let queueConnection: LabRedis;
  let cacheConnection: LabRedis;
  let subscriber: LabRedis | undefined;
  let guard: StampedeGuard;
  // The guard's and the processor's steps reach the log (and the metrics) as events, from one
  // subscriber: neither gets a logger of its own.
  const stopObserving = observeGuardEvents(logger, options.metrics);
  try {
    queueConnection = await open('queue', config.queueRedisUrl);
    cacheConnection = await open('cache', config.cacheRedisUrl);
    // node-redis: the guard's pub/sub connection is opened here (connected, as the guard wants
    // it) and closed by us; with ioredis the guard duplicates the cache connection itself.
    if (isNodeRedis(cacheConnection)) subscriber = await open('subscriber', config.cacheRedisUrl);
    const warning = await evictionPolicyWarning(queueConnection);
    if (warning) warn(warning);
    guard = createGuard({
      redis: cacheConnection,
      ...(subscriber && { subscriber }),
      keyPrefix: config.keyPrefix,
      valueTtlMs: config.valueTtlMs,
      graceMs: config.graceMs,
      ttlJitter: config.ttlJitter,
      lockTtlMs: config.lockTtlMs,
      computeTimeoutMs: config.computeTimeoutMs,
      failurePolicy: config.failurePolicy,
      failureBackoffMs: config.failureBackoffMs,
      ...(config.l1 && { l1: config.l1 }),
      xfetchBeta: config.xfetchBeta,
      redisTimeoutMs: config.redisTimeoutMs,
      onRedisDown: config.onRedisDown,
      softTimeoutMs: config.softTimeoutMs,
      ...(options.tracing && { tracing: openTelemetry() }),
    });
  } catch (err) {
    // A start that failed leaves nothing open that would keep the process alive.
    stopObserving();
    await Promise.all(closeables.map(closeRedis));
    throw err;
  }
  const worker = new Worker<unknown, GetValueResult | GetManyResult>(
    config.queueName,
    createProcessor({ guard, workerId, ...computation(options) }),
    {
      connection: queueConnection,
      prefix: labQueuePrefix(queueConnection),
      concurrency: config.concurrency,
      name: workerId,
      ...(options.tracing && { telemetry: new BullMQOtel() }),
      ...(options.stalledIntervalMs !== undefined && { stalledInterval: options.stalledIntervalMs }),
      ...(options.lockDurationMs !== undefined && { lockDuration: options.lockDurationMs }),
    },
  );
  worker.on('error', (err) => logEvent(logger, 'error', 'worker.error', { err }));
  await worker.waitUntilReady();

  logEvent(logger, 'info', 'worker.started', {
    queue: config.queueName,
    concurrency: config.concurrency,
    redis: describeRedisUrl(config.queueRedisUrl),
    compute: options.computeModule?.path ?? 'simulated',
  });
  say(
    readyLine(
      workerId,
      `queue ${config.queueName} on ${describeRedisUrl(config.queueRedisUrl)}, concurrency ${config.concurrency}, ` +
        (options.computeModule ? `compute ${options.computeModule.path}` : `simulated compute (${config.computeMs} ms)`) +
        // Not in worker.started: the log contract fixes that line's fields.
        `, client ${clientKind}`,
    ),
  );

  let stopping: Promise<void> | null = null;
  return {
    worker,
    stop() {
      stopping ??= (async () => {
        logEvent(logger, 'info', 'worker.stopping');
        await worker.close(); // waits for the jobs in flight; they release their own locks
        await guard.close();
        await Promise.all(closeables.map(closeRedis));
        stopObserving();
        logEvent(logger, 'info', 'worker.stopped');
      })();
      return stopping;
    },
  };
}

/**
 * The user's module, or the simulated computation (which alone reads computeMs and simulate).
 * Batch jobs: the module's `computeMany` when it exports one (else the processor calls its
 * default export key by key), or the simulated batch.
 */
function computation({ computeModule, workerId, config }: WorkerRuntimeOptions) {
  if (computeModule) {
    return {
      compute: moduleCompute(computeModule.compute, workerId),
      ...(computeModule.computeMany && { computeMany: moduleComputeMany(computeModule.computeMany, workerId) }),
    };
  }
  return {
    compute: (data: GetValueData) => simulatedCompute(workerId, data.computeMs ?? config.computeMs, data.simulate),
    computeMany: (data: GetManyData) => simulatedComputeMany(workerId, data.computeMs ?? config.computeMs, data.simulate),
    acceptsSimulation: true,
  };
}
