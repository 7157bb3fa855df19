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
import { exitOnceFlushed } from '../scripts/common/exit.js';
import { startLabTracing, type LabTracing } from '../scripts/tracing/lab-tracing.js';
import { clientKindFor, REDIS_CLIENT_HELP } from '../scripts/redis/client-kind.js';

/** The service name of the workers' spans (`OTEL_SERVICE_NAME` overrides it). */
const WORKER_SERVICE = 'cache-stampede-worker';

/** Set once the worker has stopped gracefully (on SIGINT/SIGTERM): see the end of this file. */
let stopped = false;

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
    .addHelpText('after', REDIS_CLIENT_HELP)
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
  // Before anything else: a module that cannot be used, or a REDIS_CLIENT that cannot be had,
  // stops the worker with one line.
  clientKindFor(config);
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
  let tracing: LabTracing | undefined;
  try {
    const log = createFileLogger(config.logDir, workerId, config.logLevel, { workerId });
    // Spans to OTLP or to <logDir>/spans-<workerId>.jsonl, unless OTEL_SDK_DISABLED=true or
    // OTEL_TRACES_EXPORTER=none. An exporter that fails costs spans (one warning), never jobs.
    tracing = startLabTracing({
      serviceName: WORKER_SERVICE,
      logDir: config.logDir,
      fileName: workerId,
      workerId,
      warn: (line) => say(`warning: ${line}`),
    });
    const running = await startWorker({
      config,
      workerId,
      logger: log.logger,
      say,
      tracing: tracing !== undefined,
      ...(metrics && { metrics }),
      ...(computeModule && { computeModule }),
      ...(opts.stalledInterval !== undefined && { stalledIntervalMs: opts.stalledInterval }),
      ...(opts.lockDuration !== undefined && { lockDurationMs: opts.lockDuration }),
    });
    const stopProgress = reportProgress(running.worker, workerId, say);

    await new Promise<void>((resolve, reject) => {
      // A signal reaches a worker of a fleet more than once: a Ctrl-C from the terminal's process
      // group and again from the fleet, a service manager's SIGTERM to the whole group likewise.
      // A repeated signal must not cut the graceful stop short, nor kill the process as it exits:
      // the listeners stay until the end (a listener removed restores the default action, death,
      // if only for a moment). To stop at once, use SIGKILL.
      let stopping = false;
      const onSignal = (signal: NodeJS.Signals) => {
        if (stopping) return;
        stopping = true;
        say(`${workerId}: ${signal}, finishing jobs in flight`);
        // A stop that failed is not a clean exit: let runCli report it (exit 1).
        running.stop().then(resolve, reject);
      };
      process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
      // Said only now: whoever waits for this line to signal the worker finds the listeners in
      // place (on Linux the line reaches a pipe before the next statement runs).
      say(`${workerId} logging to ${log.path}`);
    });
    stopProgress();
    // Every job has ended, and its spans with it: export the last of them (bounded, see
    // SHUTDOWN_TIMEOUT_MS) before the process exits.
    await tracing?.shutdown();
    // Ends the log after its pending writes, in order (a flushSync here once wrote queued lines
    // ahead of one in flight).
    await log.close();
  } finally {
    // Done above on a graceful stop; here on a failed start.
    await tracing?.shutdown();
    // Served until the jobs in flight have finished, so a last scrape sees them; closed on every
    // way out, or it would keep the process alive.
    await server?.close();
  }
  say(`${workerId} stopped`);
  stopped = true;
});

if (stopped) {
  // Stopped: every job finished, every connection of ours closed, the log flushed. Exit now, once
  // stdout and stderr are written out, rather than wait for the event loop to run dry: ending by
  // itself, a process first closes its handles, the signal listeners among them, and a SIGTERM
  // that arrives then (a fleet forwards the one its process group also got) kills it;
  // process.exit keeps them to the end.
  exitOnceFlushed();
} else {
  // Failed with its one line (or --help). The process normally ends by itself, its log's pending
  // writes done (exiting at once could leave a log file still opening); if something of a library
  // still holds it open (a Redis Cluster client's sharded subscribers were seen to keep a
  // reconnect timer after quit, about once in a few dozen runs), it must not hang a fleet's
  // shutdown: exit after a grace period.
  setTimeout(() => process.exit(), 2000).unref();
}
