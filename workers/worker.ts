/**
 * One worker process of the fleet: consumes get-value jobs until SIGINT/SIGTERM, then stops
 * taking jobs, finishes those in flight, flushes its log and exits 0.
 * Usage: tsx workers/worker.ts [--worker-id ID] [--concurrency C] [--compute MODULE] [--metrics-port P]   (see --help)
 */
import { loadConfig } from '../scripts/common/config.js';
import { createFileLogger } from './file-logger.js';
import { startWorker } from './runtime.js';
import { reportProgress } from './progress-lines.js';
import { fileNameArg, hostArg, intArg, newCommand, runCli } from '../scripts/common/cli.js';
import { loadComputeModule } from './compute-module.js';
import { createGuardMetrics, type GuardMetrics } from './metrics/guard-metrics.js';
import { startMetricsServer, type MetricsServer } from './metrics/metrics-server.js';

await runCli(async () => {
  const opts = newCommand('worker', 'Consume get-value jobs from the queue (stops gracefully on SIGINT/SIGTERM).')
    .option('--worker-id <id>', 'name in logs, log file and job results', fileNameArg("the worker's log file"), `worker-${process.pid}`)
    .option('--concurrency <n>', 'jobs processed at once (env WORKER_CONCURRENCY, default 50)', intArg(1, 10_000))
    .option('--stalled-interval <ms>', "BullMQ's stalled-job check interval", intArg(100, 3_600_000))
    .option('--lock-duration <ms>', "BullMQ's job lock duration", intArg(100, 3_600_000))
    .option(
      '--compute <module>',
      'your computation: an ES module whose default export is async (key, { signal, params }) => value (env COMPUTE_MODULE)',
    )
    .option(
      '--metrics-port <port>',
      'serve Prometheus metrics at http://HOST:PORT/metrics; 0: a free port (env METRICS_PORT)',
      intArg(0, 65_535),
    )
    .option('--metrics-host <host>', 'the address the metrics endpoint listens on (env METRICS_HOST, default 127.0.0.1)', hostArg)
    .parse()
    .opts<{
      workerId: string;
      concurrency?: number;
      stalledInterval?: number;
      lockDuration?: number;
      compute?: string;
      metricsPort?: number;
      metricsHost?: string;
    }>();

  const config = loadConfig({
    concurrency: opts.concurrency,
    computeModule: opts.compute,
    metricsPort: opts.metricsPort,
    metricsHost: opts.metricsHost,
  });
  // Before anything else: a module that cannot be used stops the worker with one line.
  const computeModule = config.computeModule === undefined ? undefined : await loadComputeModule(config.computeModule);
  const workerId = opts.workerId;
  const say = (line: string) => process.stdout.write(`${line}\n`);
  // So does a metrics port that cannot be had, before the worker takes any job.
  let metrics: GuardMetrics | undefined;
  let server: MetricsServer | undefined;
  if (config.metricsPort !== undefined) {
    metrics = createGuardMetrics();
    server = await startMetricsServer(metrics.registry, config.metricsHost, config.metricsPort);
    say(`${workerId} metrics at ${server.url}`);
  }
  try {
    const log = createFileLogger(config.logDir, workerId, config.logLevel, { workerId });
    const running = await startWorker({
      config,
      workerId,
      logger: log.logger,
      say,
      ...(metrics && { metrics }),
      ...(computeModule && { computeModule }),
      ...(opts.stalledInterval !== undefined && { stalledIntervalMs: opts.stalledInterval }),
      ...(opts.lockDuration !== undefined && { lockDurationMs: opts.lockDuration }),
    });
    const stopProgress = reportProgress(running.worker, workerId, say);
    say(`${workerId} logging to ${log.path}`);

    await new Promise<void>((resolve, reject) => {
      // A Ctrl-C reaches a worker twice under `concurrently` (from the terminal's process group
      // and forwarded by concurrently), so a repeated signal must not cut the graceful stop short.
      // To stop at once, use SIGKILL.
      const onSignal = (signal: NodeJS.Signals) => {
        process.removeAllListeners('SIGINT').removeAllListeners('SIGTERM');
        process.on('SIGINT', () => {}).on('SIGTERM', () => {});
        say(`${workerId}: ${signal}, finishing jobs in flight`);
        // A stop that failed is not a clean exit: let runCli report it (exit 1).
        running.stop().then(resolve, reject);
      };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
    });
    stopProgress();
    // Ends the log after its pending writes, in order (a flushSync here once wrote queued lines
    // ahead of one in flight).
    await log.close();
  } finally {
    // Served until the jobs in flight have finished, so a last scrape sees them; closed on every
    // way out, or it would keep the process alive.
    await server?.close();
  }
  say(`${workerId} stopped`);
});

// Stopped: every job finished, every connection of ours closed, the log flushed. The process
// normally ends here by itself; if something of a library still holds it open (a Redis Cluster
// client's sharded subscribers were seen to keep a reconnect timer after quit, about once in a
// few dozen runs), it must not hang a fleet's shutdown: exit after a grace period.
setTimeout(() => process.exit(), 2000).unref();
