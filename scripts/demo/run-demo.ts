import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Strategy } from '../../src/cache/strategy.js';
import type { Config } from '../common/config.js';
import { onFreshFleet } from '../fleet/fresh-fleet.js';
import { runBurst, type BurstSummary } from '../burst/burst.js';
import { createLabClient } from '../tracing/lab-client.js';
import { createRedisClient } from '../redis/connection.js';
import { redisClientKind, type RedisClientKind } from '../redis/client-kind.js';
import { closeRedis, createLabQueue, openRedis } from '../redis/lab-redis.js';
import { readLogs, summarizeAsync, type GroupSummary, type Verdict } from '../report/index.js';
import { fleetEnv } from './fleet-env.js';
import { coldComputation } from './cold-computation.js';

/** Run ids of the warm-up bursts end with this; reports leave them out. */
export const WARM_UP_SUFFIX = '-warm-up';

export interface DemoOptions {
  config: Config;
  strategies: readonly Strategy[];
  workers: number;
  jobs: number;
  keys: number;
  /** The example backend's answer time (what one recomputation takes), ms. */
  computeMs: number;
  /** The user's module (absolute path) instead of the example backend. */
  computeModule?: string;
  /** Directory for this demo's logs: one sub-directory per strategy. */
  logDir: string;
  /** One line per step, for the person waiting. */
  say: (line: string) => void;
  /** The Redis client library of the producer and the workers. @default REDIS_CLIENT's */
  clientKind?: RedisClientKind;
}

export interface DemoRow {
  strategy: Strategy;
  burst: BurstSummary;
  /** From the workers' logs, not from the producer. */
  logs: GroupSummary | undefined;
  /** Requests the example backend counted during the burst: a count independent of the logs. */
  backendRequests: number | undefined;
  verdict: Verdict | undefined;
  logDir: string;
}

/** The backend counted a different number of requests than the logs' recomputations: one of the two counts is wrong. */
export function countsDisagree(row: DemoRow): boolean {
  return row.backendRequests !== undefined && row.backendRequests !== row.logs?.recomputations;
}

/**
 * The main job: for each strategy, on a cold cache, start a fleet, send one burst, stop the
 * fleet, and read what the workers logged (and, with the example backend, what it counted).
 * Strategies run one after another against the same Redis and queue, each from a clean slate, so
 * their rows compare like with like.
 */
export async function runDemo(options: DemoOptions): Promise<DemoRow[]> {
  const { config, say } = options;
  const computation = await coldComputation({
    backendDelayMs: options.computeMs,
    ...(options.computeModule !== undefined && { computeModule: options.computeModule }),
  });
  const clientKind = options.clientKind ?? redisClientKind();
  // Housekeeping (emptying the cache's keys before each fleet) on ioredis; the jobs go through
  // BullMQ on the client under study.
  const redis = createRedisClient(config.cacheRedisUrl, 'producer', config.tls);
  const producer = await openRedis(clientKind, config.queueRedisUrl, 'producer', config.tls).catch(async (err: unknown) => {
    await redis.quit().catch(() => redis.disconnect());
    throw err;
  });
  const queue = createLabQueue(config.queueName, producer);
  const client = createLabClient({ connection: producer, queueName: config.queueName, timeoutMs: 600_000, logDir: options.logDir });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const rows: DemoRow[] = [];
  try {
    for (const strategy of options.strategies) {
      const logDir = join(options.logDir, strategy);
      await mkdir(logDir, { recursive: true });
      say(`${strategy}: starting ${options.workers} workers`);
      const runId = `demo-${stamp}-${strategy}`;
      let backendRequests: number | undefined;
      const fleet = {
        workers: options.workers,
        concurrency: config.concurrency,
        env: { ...fleetEnv(config, logDir, clientKind), ...computation.env },
        computeModule: computation.computeModule,
      };
      const burst = await onFreshFleet({ cache: redis, keyPrefix: config.keyPrefix, queue, logDir, fleet }, async () => {
        // A fleet fresh from start-up picks up its first jobs slowly (connections, JIT), which
        // spreads the burst out and understates the stampede; a quick warm-up burst on another
        // key (its own run id, left out of the counts) gets every worker going first.
        await runBurst(client, {
          jobs: options.workers * 10,
          keys: 1,
          keyPrefix: 'warm-up',
          strategy: 'none',
          runId: `${runId}${WARM_UP_SUFFIX}`,
        });
        say(`${strategy}: ${options.jobs} jobs on ${options.keys} cold key(s), computing with ${computation.describe}`);
        const requestsBefore = computation.backend?.requests();
        const summary = await runBurst(client, { jobs: options.jobs, keys: options.keys, strategy, runId });
        // Every job has finished, so every request it made has reached the backend.
        if (requestsBefore !== undefined) backendRequests = computation.backend!.requests() - requestsBefore;
        return summary;
      });

      const report = await summarizeAsync(readLogs([logDir]), { runId });
      rows.push({
        strategy,
        burst,
        logs: report.strategies.find((s) => s.strategy === strategy),
        backendRequests,
        verdict: report.verdicts.find((v) => v.strategy === strategy),
        logDir,
      });
      const row = rows.at(-1)!;
      const n = row.logs?.recomputations;
      const requests = backendRequests === undefined ? '' : `, ${backendRequests} backend request${backendRequests === 1 ? '' : 's'}`;
      say(`${strategy}: ${burst.completed}/${burst.jobs} completed, ${n ?? '?'} recomputation${n === 1 ? '' : 's'}${requests}`);
    }
    return rows;
  } finally {
    await computation.close();
    await client.close();
    await queue.close();
    await Promise.all([redis, producer].map(closeRedis));
  }
}
