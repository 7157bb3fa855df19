/**
 * npm run demo: every strategy side by side on a cold cache (the project's main job).
 * Uses REDIS_URL (or REDIS_CLUSTER_NODES) when set, else a private redis-server for the run;
 * with --cluster and no cluster named, a private 3-master Redis Cluster.
 */
import { join } from 'node:path';
import { STRATEGIES, type Strategy } from '../src/cache/strategy.js';
import { MAX_COMPUTE_MS, loadConfig } from '../src/config.js';
import { formatDemoTable } from '../src/demo/format-demo.js';
import { runDemo } from '../src/demo/run-demo.js';
import { ConfigError } from '../src/errors.js';
import { assertRedisReachable, describeRedisUrl } from '../src/redis/connection.js';
import { isClusterUrl } from '../src/redis/cluster-url.js';
import { startEmbeddedRedis, type EmbeddedRedis } from '../src/redis/embedded.js';
import { startEmbeddedCluster, type EmbeddedCluster } from '../src/redis/embedded-cluster.js';
import { EXIT_FAILED, intArg, newCommand, runCli } from './cli.js';

await runCli(async () => {
  const opts = newCommand('demo', 'Run every strategy on a cold cache with a fleet of workers and compare them.')
    .option('--workers <n>', 'worker processes per strategy', intArg(1, 32), 4)
    .option('--jobs <n>', 'jobs in each burst', intArg(1, 100_000), 200)
    .option('--keys <n>', 'distinct cold keys in each burst', intArg(1, 10_000), 1)
    .option('--compute-ms <ms>', 'simulated computation time', intArg(0, MAX_COMPUTE_MS), 1000)
    .option('--concurrency <n>', 'jobs per worker at once', intArg(1, 10_000))
    .option('--strategies <list>', `comma-separated, from ${STRATEGIES.join(', ')}`, parseStrategies, [...STRATEGIES])
    .option('--cluster', 'run on a Redis Cluster: the one REDIS_CLUSTER_NODES names, else a private 3-master cluster for the run')
    .option('--json', 'print the rows as JSON instead of the table')
    .parse()
    .opts<{ workers: number; jobs: number; keys: number; computeMs: number; concurrency?: number; strategies: Strategy[]; cluster?: boolean; json?: boolean }>();

  let config = loadConfig({ concurrency: opts.concurrency, computeMs: opts.computeMs });
  const say = (line: string) => process.stderr.write(`${line}\n`);
  let embedded: EmbeddedRedis | EmbeddedCluster | undefined;
  const clusterNamed = isClusterUrl(config.queueRedisUrl) || isClusterUrl(config.cacheRedisUrl);
  if (opts.cluster && !clusterNamed) {
    if (config.redisUrlGiven) throw new ConfigError('--cluster, but REDIS_URL names a single Redis; name a cluster (REDIS_CLUSTER_NODES) or unset REDIS_URL for a private one');
    embedded = await startEmbeddedCluster({ log: say });
    say(`--cluster: started a private 3-master Redis Cluster (${describeRedisUrl(embedded.url)}) for this run`);
    config = loadConfig({ concurrency: opts.concurrency, computeMs: opts.computeMs, redisUrl: embedded.url });
  } else if (config.redisUrlGiven || clusterNamed) {
    await assertRedisReachable(config.queueRedisUrl);
    if (config.cacheRedisUrl !== config.queueRedisUrl) await assertRedisReachable(config.cacheRedisUrl);
  } else {
    embedded = await startEmbeddedRedis({ log: say });
    say(`REDIS_URL not set: started a private redis-server on ${describeRedisUrl(embedded.url)} for this run`);
    config = loadConfig({ concurrency: opts.concurrency, computeMs: opts.computeMs, redisUrl: embedded.url });
  }

  const logDir = join(config.logDir, `demo-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  try {
    const rows = await runDemo({ config, strategies: opts.strategies, workers: opts.workers, jobs: opts.jobs, keys: opts.keys, computeMs: opts.computeMs, logDir, say });
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(rows.map(({ strategy, burst, logs, verdict }) => ({ strategy, burst, logs, verdict })), null, 2)}\n`);
    } else {
      process.stdout.write(`\n${formatDemoTable(rows, opts.workers)}\n\nlogs: ${logDir}/ (read them again with: npm run logs -- ${logDir})\n`);
    }
    const broken = rows.some((r) => r.verdict?.status === 'fail' || r.burst.completed !== r.burst.jobs);
    return broken ? EXIT_FAILED : 0;
  } finally {
    await embedded?.stop();
  }
});

function parseStrategies(raw: string): Strategy[] {
  const list = raw.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = list.filter((s) => !(STRATEGIES as readonly string[]).includes(s));
  if (list.length === 0 || bad.length > 0) {
    throw new ConfigError(`--strategies takes a comma-separated list from ${STRATEGIES.join(', ')}; got "${raw}"`);
  }
  return list as Strategy[];
}
