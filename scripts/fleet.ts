/**
 * npm run fleet -- --workers N [--concurrency C] [--compute MODULE] [--metrics-port P]
 * Start N worker processes through concurrently until Ctrl-C, then stop them gracefully.
 */
import { loadConfig } from './common/config.js';
import { ConfigError } from './common/errors.js';
import { resolveModulePath } from '../workers/compute-module.js';
import { metricsUrl } from '../workers/metrics/metrics-server.js';
import { checkComputeModule } from './fleet/check-compute.js';
import { metricsPort, startFleet } from './fleet/fleet.js';
import { assertRedisReachable, describeRedisUrl } from './redis/connection.js';
import { assertKeyPrefixAllowed } from './redis/key-access.js';
import { clientKindFor, REDIS_CLIENT_HELP } from './redis/client-kind.js';
import { EXIT_FAILED, EXIT_USAGE, hostArg, intArg, newCommand, runCli } from './common/cli.js';

await runCli(async () => {
  const opts = newCommand('fleet', 'Start N worker processes (named worker-1..N) until Ctrl-C.')
    .option('--workers <n>', 'worker processes', intArg(1, 64), 4)
    .option('--concurrency <n>', 'jobs per worker at once (env WORKER_CONCURRENCY, default 50)', intArg(1, 10_000))
    .option(
      '--compute <module>',
      'your computation: an ES module whose default export is async (key, { signal, params }) => value (env COMPUTE_MODULE)',
    )
    .option(
      '--metrics-port <port>',
      'Prometheus metrics: worker i at http://HOST:PORT+i-1/metrics; 0: a free port each (env METRICS_PORT)',
      intArg(0, 65_535),
    )
    .option('--metrics-host <host>', 'the address the metrics endpoints listen on (env METRICS_HOST, default 127.0.0.1)', hostArg)
    .addHelpText('after', REDIS_CLIENT_HELP)
    .parse()
    .opts<{ workers: number; concurrency?: number; compute?: string; metricsPort?: number; metricsHost?: string }>();

  // Check here once, so a wrong REDIS_URL or compute module gives one line instead of N workers
  // failing alike.
  const config = loadConfig({
    concurrency: opts.concurrency,
    computeModule: opts.compute,
    metricsPort: opts.metricsPort,
    metricsHost: opts.metricsHost,
  });
  // The workers inherit REDIS_CLIENT from this environment (concurrently passes it on).
  const clientKind = clientKindFor(config);
  const metrics = config.metricsPort === undefined ? undefined : { port: config.metricsPort, host: config.metricsHost };
  if (metrics && metricsPort(metrics.port, opts.workers) > 65_535) {
    throw new ConfigError(
      `${opts.workers} workers from metrics port ${metrics.port} need ports up to ${metricsPort(metrics.port, opts.workers)}; the last port is 65535`,
    );
  }
  const computeModule = config.computeModule === undefined ? undefined : resolveModulePath(config.computeModule);
  // Loaded once as a worker loads it, in a process of its own: missing, no function as default
  // export, throws on load.
  if (computeModule !== undefined) await checkComputeModule(computeModule);
  for (const warning of await assertRedisReachable(config.queueRedisUrl, config.tls)) process.stderr.write(`warning: ${warning}\n`);
  if (config.cacheRedisUrl !== config.queueRedisUrl) {
    for (const warning of await assertRedisReachable(config.cacheRedisUrl, config.tls)) process.stderr.write(`warning: ${warning}\n`);
  }
  // Once here, not once per worker: a prefix the ACL does not cover is one line, not N.
  await assertKeyPrefixAllowed(config.cacheRedisUrl, config.tls, config.keyPrefix);
  process.stdout.write(
    `starting ${opts.workers} workers on queue ${config.queueName} at ${describeRedisUrl(config.queueRedisUrl)} (${clientKind}), ` +
      `${computeModule === undefined ? 'simulated compute' : `compute ${computeModule}`}; logs in ${config.logDir}/; Ctrl-C stops them\n`,
  );
  if (metrics) process.stdout.write(metricsLines(opts.workers, metrics));
  // An output that broke (`npm run fleet | head`) stops the fleet (startFleet); what is still
  // written to it afterwards goes nowhere rather than crash the fleet with EPIPE.
  process.stdout.on('error', () => {});
  const fleet = startFleet({
    workers: opts.workers,
    ...(opts.concurrency !== undefined && { concurrency: opts.concurrency }),
    ...(computeModule !== undefined && { computeModule }),
    ...(metrics && { metrics }),
  });
  const events = await fleet.exited;
  // Clean is exit code 0, whatever stopped the fleet (SIGINT, SIGTERM, SIGHUP): a worker stops
  // gracefully on either and exits 0; one that exited otherwise is not counted clean.
  const failed = events.filter((e) => e.exitCode !== 0);
  process.stdout.write(`fleet stopped: ${events.length - failed.length} of ${events.length} workers exited cleanly\n`);
  if (failed.length === 0) return 0;
  // Every worker refused to start alike (exit code 2, a configuration its own check found): so
  // does the fleet.
  const refused = failed.filter((e) => e.exitCode === 2 && !fleet.ready.has(e.command.name));
  return refused.length === events.length ? EXIT_USAGE : EXIT_FAILED;
});

/** Where to scrape each worker (with port 0, each worker names its own port when it listens). */
function metricsLines(workers: number, { port, host }: { port: number; host: string }): string {
  if (port === 0) return `metrics: each worker on a free port of ${host}, named in its "metrics at" line\n`;
  return Array.from({ length: workers }, (_, i) => `metrics: worker-${i + 1} at ${metricsUrl(host, metricsPort(port, i + 1))}\n`).join('');
}
