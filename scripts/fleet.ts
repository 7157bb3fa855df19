/**
 * npm run fleet -- --workers N [--concurrency C]
 * Start N worker processes through concurrently until Ctrl-C, then stop them gracefully.
 */
import { loadConfig } from './common/config.js';
import { startFleet } from './fleet/fleet.js';
import { assertRedisReachable, describeRedisUrl } from './redis/connection.js';
import { EXIT_FAILED, intArg, newCommand, runCli } from './common/cli.js';

await runCli(async () => {
  const opts = newCommand('fleet', 'Start N worker processes (named worker-1..N) until Ctrl-C.')
    .option('--workers <n>', 'worker processes', intArg(1, 64), 4)
    .option('--concurrency <n>', 'jobs per worker at once (env WORKER_CONCURRENCY, default 50)', intArg(1, 10_000))
    .parse()
    .opts<{ workers: number; concurrency?: number }>();

  // Check here once, so a wrong REDIS_URL gives one line instead of N workers failing alike.
  const config = loadConfig({ concurrency: opts.concurrency });
  await assertRedisReachable(config.queueRedisUrl, config.tls);
  process.stdout.write(
    `starting ${opts.workers} workers on queue ${config.queueName} at ${describeRedisUrl(config.queueRedisUrl)}; logs in ${config.logDir}/; Ctrl-C stops them\n`,
  );
  const fleet = startFleet({ workers: opts.workers, ...(opts.concurrency !== undefined && { concurrency: opts.concurrency }) });
  const events = await fleet.exited;
  const failed = events.filter((e) => e.exitCode !== 0 && !(e.killed && e.exitCode === 'SIGINT'));
  process.stdout.write(`fleet stopped: ${events.length - failed.length} of ${events.length} workers exited cleanly\n`);
  return failed.length > 0 ? EXIT_FAILED : 0;
});
