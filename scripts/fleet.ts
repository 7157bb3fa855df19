/**
 * npm run fleet -- --workers N [--concurrency C] [--compute MODULE] [--metrics-port P]
 * Start N worker processes through concurrently until Ctrl-C, then stop them gracefully.
 */
import { loadConfig } from './common/config.js';
import { ConfigError } from './common/errors.js';
import { assertModuleFile, resolveModulePath } from '../workers/compute-module.js';
import { metricsUrl } from '../workers/metrics/metrics-server.js';
import { metricsPort, startFleet } from './fleet/fleet.js';
import { assertRedisReachable, describeRedisUrl } from './redis/connection.js';
import { EXIT_FAILED, intArg, newCommand, runCli } from './common/cli.js';

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
    .option('--metrics-host <host>', 'the address the metrics endpoints listen on (env METRICS_HOST, default 127.0.0.1)')
    .parse()
    .opts<{ workers: number; concurrency?: number; compute?: string; metricsPort?: number; metricsHost?: string }>();

  // Check here once, so a wrong REDIS_URL or module path gives one line instead of N workers
  // failing alike. (Each worker loads the module itself, and stops with one line if it cannot.)
  const config = loadConfig({
    concurrency: opts.concurrency,
    computeModule: opts.compute,
    metricsPort: opts.metricsPort,
    metricsHost: opts.metricsHost,
  });
  const metrics = config.metricsPort === undefined ? undefined : { port: config.metricsPort, host: config.metricsHost };
  if (metrics && metricsPort(metrics.port, opts.workers) > 65_535) {
    throw new ConfigError(
      `${opts.workers} workers from metrics port ${metrics.port} need ports up to ${metricsPort(metrics.port, opts.workers)}; the last port is 65535`,
    );
  }
  const computeModule = config.computeModule === undefined ? undefined : resolveModulePath(config.computeModule);
  if (computeModule !== undefined) await assertModuleFile(computeModule);
  for (const warning of await assertRedisReachable(config.queueRedisUrl, config.tls)) process.stderr.write(`warning: ${warning}\n`);
  process.stdout.write(
    `starting ${opts.workers} workers on queue ${config.queueName} at ${describeRedisUrl(config.queueRedisUrl)}, ` +
      `${computeModule === undefined ? 'simulated compute' : `compute ${computeModule}`}; logs in ${config.logDir}/; Ctrl-C stops them\n`,
  );
  if (metrics) process.stdout.write(metricsLines(opts.workers, metrics));
  const fleet = startFleet({
    workers: opts.workers,
    ...(opts.concurrency !== undefined && { concurrency: opts.concurrency }),
    ...(computeModule !== undefined && { computeModule }),
    ...(metrics && { metrics }),
  });
  const events = await fleet.exited;
  const failed = events.filter((e) => e.exitCode !== 0 && !(e.killed && e.exitCode === 'SIGINT'));
  process.stdout.write(`fleet stopped: ${events.length - failed.length} of ${events.length} workers exited cleanly\n`);
  return failed.length > 0 ? EXIT_FAILED : 0;
});

/** Where to scrape each worker (with port 0, each worker names its own port when it listens). */
function metricsLines(workers: number, { port, host }: { port: number; host: string }): string {
  if (port === 0) return `metrics: each worker on a free port of ${host}, named in its "metrics at" line\n`;
  return Array.from({ length: workers }, (_, i) => `metrics: worker-${i + 1} at ${metricsUrl(host, metricsPort(port, i + 1))}\n`).join('');
}
