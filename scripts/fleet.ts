/**
 * npm run fleet -- --workers N [--concurrency C] [--compute MODULE]
 * Start N worker processes through concurrently until Ctrl-C, then stop them gracefully.
 */
import { loadConfig } from './common/config.js';
import { assertModuleFile, resolveModulePath } from '../workers/compute-module.js';
import { startFleet } from './fleet/fleet.js';
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
    .parse()
    .opts<{ workers: number; concurrency?: number; compute?: string }>();

  // Check here once, so a wrong REDIS_URL or module path gives one line instead of N workers
  // failing alike. (Each worker loads the module itself, and stops with one line if it cannot.)
  const config = loadConfig({ concurrency: opts.concurrency, computeModule: opts.compute });
  const computeModule = config.computeModule === undefined ? undefined : resolveModulePath(config.computeModule);
  if (computeModule !== undefined) await assertModuleFile(computeModule);
  for (const warning of await assertRedisReachable(config.queueRedisUrl, config.tls)) process.stderr.write(`warning: ${warning}\n`);
  process.stdout.write(
    `starting ${opts.workers} workers on queue ${config.queueName} at ${describeRedisUrl(config.queueRedisUrl)}, ` +
      `${computeModule === undefined ? 'simulated compute' : `compute ${computeModule}`}; logs in ${config.logDir}/; Ctrl-C stops them\n`,
  );
  const fleet = startFleet({
    workers: opts.workers,
    ...(opts.concurrency !== undefined && { concurrency: opts.concurrency }),
    ...(computeModule !== undefined && { computeModule }),
  });
  const events = await fleet.exited;
  const failed = events.filter((e) => e.exitCode !== 0 && !(e.killed && e.exitCode === 'SIGINT'));
  process.stdout.write(`fleet stopped: ${events.length - failed.length} of ${events.length} workers exited cleanly\n`);
  return failed.length > 0 ? EXIT_FAILED : 0;
});
