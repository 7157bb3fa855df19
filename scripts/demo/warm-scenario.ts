import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Strategy } from '../../src/cache/strategy.js';
import type { Config } from '../common/config.js';
import { onFreshFleet } from '../fleet/fresh-fleet.js';
import { runBurst } from '../burst/burst.js';
import { createLabClient } from '../tracing/lab-client.js';
import { runSteadyLoad, type SteadyLoadSummary } from '../burst/steady-load.js';
import { createRedisClient } from '../redis/connection.js';
import { redisClientKind, type RedisClientKind } from '../redis/client-kind.js';
import { closeRedis, createLabQueue, openRedis } from '../redis/lab-redis.js';
import { readLogs, summarizeAsync, type GroupSummary } from '../report/index.js';
import { fleetEnv } from './fleet-env.js';
import { WARM_UP_SUFFIX } from './run-demo.js';

export interface WarmScenarioOptions {
  /** Its valueTtlMs is the fresh time the load runs across; graceMs keeps stale values usable. */
  config: Config;
  strategies: readonly Strategy[];
  workers: number;
  computeMs: number;
  /** How many expiries the steady load runs across. */
  windows: number;
  ratePerSecond: number;
  logDir: string;
  say: (line: string) => void;
  /** The Redis client library of the producer and the workers. @default REDIS_CLIENT's */
  clientKind?: RedisClientKind;
}

export interface WarmRow {
  strategy: Strategy;
  load: SteadyLoadSummary;
  /** From the workers' logs, this strategy's steady run only. */
  logs: GroupSummary | undefined;
}

/**
 * The warm-key scenario: a key already in the cache, under steady load across several of its
 * expiries. Locking strategies make every request that arrives during a recomputation wait for
 * it; `swr` and `xfetch` keep serving. One fleet serves all strategies (the strategy is in each
 * job), one key per strategy, one after another.
 */
export async function runWarmScenario(options: WarmScenarioOptions): Promise<WarmRow[]> {
  const { config, say } = options;
  const logDir = join(options.logDir, 'warm');
  await mkdir(logDir, { recursive: true });
  const clientKind = options.clientKind ?? redisClientKind();
  // Housekeeping (emptying the cache's keys before each fleet) on ioredis; the jobs go through
  // BullMQ on the client under study.
  const redis = createRedisClient(config.cacheRedisUrl, 'producer', config.tls);
  const producer = await openRedis(clientKind, config.queueRedisUrl, 'producer', config.tls).catch(async (err: unknown) => {
    await redis.quit().catch(() => redis.disconnect());
    throw err;
  });
  const queue = createLabQueue(config.queueName, producer);
  const client = createLabClient({ connection: producer, queueName: config.queueName, timeoutMs: 120_000, logDir: options.logDir });
  const stamp = Date.now().toString(36);
  const rows: WarmRow[] = [];
  say(`warm key: starting ${options.workers} workers (value fresh for ${config.valueTtlMs} ms)`);
  const fleet = { workers: options.workers, concurrency: config.concurrency, env: fleetEnv(config, logDir, clientKind) };
  try {
    await onFreshFleet({ cache: redis, keyPrefix: config.keyPrefix, queue, logDir, fleet }, async () => {
      for (const strategy of options.strategies) {
        const runId = `warm-${stamp}-${strategy}`;
        // Warm the key with one job, then load it steadily across `windows` expiries.
        await runBurst(client, {
          jobs: 1,
          keys: 1,
          keyPrefix: `warm-${strategy}`,
          strategy,
          computeMs: options.computeMs,
          runId: `${runId}${WARM_UP_SUFFIX}`,
        });
        say(`warm key: ${strategy}, ${options.ratePerSecond} jobs/s for ${options.windows} expiries`);
        const load = await runSteadyLoad(client, {
          key: `warm-${strategy}-1`,
          strategy,
          computeMs: options.computeMs,
          runId,
          ratePerSecond: options.ratePerSecond,
          durationMs: config.valueTtlMs * options.windows,
        });
        rows.push({ strategy, load, logs: undefined });
      }
    });
  } finally {
    await client.close();
    await queue.close();
    await Promise.all([redis, producer].map(closeRedis));
  }
  // Background refreshes may finish after their job did: read the logs once the fleet stopped.
  for (const row of rows) {
    const report = await summarizeAsync(readLogs([logDir]), { runId: row.load.runId });
    row.logs = report.strategies.find((s) => s.strategy === row.strategy);
  }
  return rows;
}
