/**
 * npm run demo: every strategy side by side on a cold cache (the project's main job).
 * Uses REDIS_URL (or REDIS_CLUSTER_NODES) when set, else a private redis-server for the run;
 * with --cluster and no cluster named, a private 3-master Redis Cluster.
 */
import { join } from 'node:path';
import { STRATEGIES, type Strategy } from '../src/cache/strategy.js';
import { MAX_COMPUTE_MS } from '../src/bullmq/job-data.js';
import { loadConfig } from './common/config.js';
import { writeDemoReport } from './demo/demo-report.js';
import { formatDemoTable } from './demo/format-demo.js';
import { formatWarmTable } from './demo/format-warm.js';
import { runWarmScenario } from './demo/warm-scenario.js';
import { runLoadScenario } from './demo/load-scenario.js';
import { formatLoadTable } from './load/format-load.js';
import { countsDisagree as countsDisagreeUnderLoad } from './load/run-load.js';
import { countsDisagree, runDemo } from './demo/run-demo.js';
import { assertModuleFile, resolveModulePath } from '../workers/compute-module.js';
import { ConfigError } from './common/errors.js';
import { assertRedisReachable, describeRedisUrl } from './redis/connection.js';
import { isClusterUrl } from './redis/cluster-url.js';
import { clientKindFor, nodeRedisOnCluster, REDIS_CLIENT_HELP } from './redis/client-kind.js';
import { startEmbeddedRedis, type EmbeddedRedis } from './redis/redis-server.js';
import { startEmbeddedCluster, type EmbeddedCluster } from './redis/redis-cluster.js';
import { EXIT_FAILED, intArg, newCommand, parseStrategies, runCli } from './common/cli.js';

await runCli(async () => {
  const command = newCommand(
    'demo',
    'Compare the strategies with a fleet of workers: a cold burst, a warm key under steady load, then traffic over many keys.',
  )
    .option('--workers <n>', 'worker processes per strategy', intArg(1, 32), 4)
    .option('--jobs <n>', 'jobs in each burst', intArg(1, 100_000), 200)
    .option('--keys <n>', 'distinct cold keys in each burst', intArg(1, 10_000), 1)
    .option('--compute-ms <ms>', "cold bursts: the example backend's answer time", intArg(0, MAX_COMPUTE_MS), 1000)
    .option('--compute <module>', 'cold bursts: run your compute module instead of the example backend (env COMPUTE_MODULE)')
    .option('--concurrency <n>', 'jobs per worker at once', intArg(1, 10_000))
    .option('--strategies <list>', `cold burst: comma-separated, from ${STRATEGIES.join(', ')}`, parseStrategies, [
      'none',
      'local-lock',
      'redis-lock',
    ])
    .option('--warm-strategies <list>', 'warm key under steady load: comma-separated', parseStrategies, ['redis-lock', 'swr', 'xfetch'])
    .option('--no-warm', 'skip the warm-key scenario')
    .option('--warm-ttl-ms <ms>', 'warm key: how long a value is fresh', intArg(100, 600_000), 1500)
    .option('--warm-compute-ms <ms>', 'warm key: simulated computation time', intArg(0, MAX_COMPUTE_MS), 200)
    .option('--warm-rate <n>', 'warm key: jobs per second', intArg(1, 10_000), 100)
    .option('--warm-windows <n>', 'warm key: expiries the load runs across', intArg(1, 100), 2)
    .option('--no-load', 'skip the short load run (npm run load runs it at length)')
    .option('--load-duration <s>', 'load run: seconds of traffic per strategy', intArg(1, 3600), 10)
    .option('--load-strategies <list>', 'load run: comma-separated', parseStrategies, ['none', 'redis-lock', 'swr'])
    .option('--cluster', 'run on a Redis Cluster: the one REDIS_CLUSTER_NODES names, else a private 3-master cluster for the run')
    .option('--json', 'print the rows as JSON instead of the tables')
    .addHelpText('after', REDIS_CLIENT_HELP)
    .parse();
  const opts = command.opts<DemoFlags>();

  let config = loadConfig({ concurrency: opts.concurrency, computeMs: opts.computeMs, computeModule: opts.compute });
  const computeModule = config.computeModule === undefined ? undefined : resolveModulePath(config.computeModule);
  if (computeModule !== undefined) {
    // Your module decides how long it takes; a --compute-ms given too would be silently ignored.
    if (command.getOptionValueSource('computeMs') === 'cli') {
      throw new ConfigError("--compute-ms sets the example backend's answer time; with --compute your module decides");
    }
    await assertModuleFile(computeModule);
  }
  // Before any Redis is started: node-redis cannot run the lab on a cluster (BullMQ).
  const clientKind = clientKindFor(config);
  if (opts.cluster && clientKind === 'node-redis') throw nodeRedisOnCluster('--cluster asks for a Redis Cluster');
  const say = (line: string) => process.stderr.write(`${line}\n`);
  let embedded: EmbeddedRedis | EmbeddedCluster | undefined;
  const clusterNamed = isClusterUrl(config.queueRedisUrl) || isClusterUrl(config.cacheRedisUrl);
  if (opts.cluster && !clusterNamed) {
    if (config.redisUrlGiven)
      throw new ConfigError(
        '--cluster, but REDIS_URL names a single Redis; name a cluster (REDIS_CLUSTER_NODES) or unset REDIS_URL for a private one',
      );
    embedded = await startEmbeddedCluster({ log: say });
    say(`--cluster: started a private 3-master Redis Cluster (${describeRedisUrl(embedded.url)}) for this run`);
    config = loadConfig({ concurrency: opts.concurrency, computeMs: opts.computeMs, redisUrl: embedded.url });
  } else if (config.redisUrlGiven || clusterNamed) {
    const urls = new Set([config.queueRedisUrl, config.cacheRedisUrl]);
    for (const url of urls) for (const warning of await assertRedisReachable(url, config.tls)) say(`warning: ${warning}`);
  } else {
    embedded = await startEmbeddedRedis({ log: say });
    say(`REDIS_URL not set: started a private redis-server on ${describeRedisUrl(embedded.url)} for this run`);
    config = loadConfig({ concurrency: opts.concurrency, computeMs: opts.computeMs, redisUrl: embedded.url });
  }

  const logDir = join(config.logDir, `demo-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  try {
    const rows = await runDemo({
      config,
      strategies: opts.strategies,
      workers: opts.workers,
      jobs: opts.jobs,
      keys: opts.keys,
      computeMs: opts.computeMs,
      ...(computeModule !== undefined && { computeModule }),
      logDir,
      say,
      clientKind,
    });
    const warm = opts.warm
      ? await runWarmScenario({
          config: { ...config, valueTtlMs: opts.warmTtlMs },
          strategies: opts.warmStrategies,
          workers: opts.workers,
          computeMs: opts.warmComputeMs,
          windows: opts.warmWindows,
          ratePerSecond: opts.warmRate,
          logDir,
          say,
          clientKind,
        })
      : [];
    const load = opts.load
      ? await runLoadScenario({
          config,
          strategies: opts.loadStrategies,
          workers: opts.workers,
          durationS: opts.loadDuration,
          ...(computeModule !== undefined && { computeModule }),
          logDir,
          say,
        })
      : undefined;
    const report = await writeDemoReport(rows, logDir, warm.length > 0 ? [join(logDir, 'warm')] : [], load);
    const loadDisagrees = (load?.rows ?? []).map((row) => ({ strategy: row.strategy, problem: countsDisagreeUnderLoad(row) }));
    for (const d of loadDisagrees) if (d.problem) say(`warning: load: ${d.strategy}: the counts disagree: ${d.problem}`);
    if (opts.json) {
      const cold = rows.map(({ strategy, burst, logs, backendRequests, verdict }) => ({ strategy, burst, logs, backendRequests, verdict }));
      process.stdout.write(`${JSON.stringify({ cold, warm, load: load ?? null }, null, 2)}\n`);
      say(`report: ${report}`);
    } else {
      const computing = computeModule === undefined ? `the example HTTP backend (${opts.computeMs} ms a request)` : computeModule;
      const tables = [formatDemoTable(rows, opts.workers, computing)];
      if (warm.length > 0) tables.push(formatWarmTable(warm, opts.warmWindows, opts.warmComputeMs));
      if (load) tables.push(`under load: ${formatLoadTable(load.rows, load.traffic, load.workers)}`);
      process.stdout.write(
        `\n${tables.join('\n\n')}\n\nlogs: ${logDir}/ (read them again with: npm run logs -- ${logDir})\nreport: ${report} (open it in a browser)\n`,
      );
    }
    const broken =
      rows.some((r) => r.verdict?.status === 'fail' || r.burst.completed !== r.burst.jobs || countsDisagree(r)) ||
      warm.some((r) => r.load.completed !== r.load.jobs) ||
      (load?.rows ?? []).some((r) => r.failed > 0) ||
      loadDisagrees.some((d) => d.problem);
    return broken ? EXIT_FAILED : 0;
  } finally {
    await embedded?.stop();
  }
});

interface DemoFlags {
  workers: number;
  jobs: number;
  keys: number;
  computeMs: number;
  compute?: string;
  concurrency?: number;
  strategies: Strategy[];
  warmStrategies: Strategy[];
  warm: boolean;
  warmTtlMs: number;
  warmComputeMs: number;
  warmRate: number;
  warmWindows: number;
  load: boolean;
  loadDuration: number;
  loadStrategies: Strategy[];
  cluster?: boolean;
  json?: boolean;
}
