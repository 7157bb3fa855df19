/**
 * npm run load: the load lab. The same seeded traffic (Zipf keys, open-loop Poisson arrivals, a
 * timeline with a flush, a burst, the invalidation of one tag group) for every strategy, each on
 * a fresh fleet and an empty cache, against the example HTTP backend, which counts what reaches
 * it. Prints one table (or --json).
 * Uses REDIS_URL when set, else a private redis-server for the run.
 */
import { join } from 'node:path';
import { startBackend } from '../examples/http-backend/backend.js';
import { EXAMPLE_MODULE } from './demo/cold-computation.js';
import { assertModuleFile, resolveModulePath } from '../workers/compute-module.js';
import { MAX_COMPUTE_MS } from '../src/bullmq/job-data.js';
import { STRATEGIES, type Strategy } from '../src/cache/strategy.js';
import { InvalidArgumentError } from 'commander';
import { EXIT_FAILED, intArg, newCommand, parseStrategies, runCli } from './common/cli.js';
import { loadConfig } from './common/config.js';
import { ConfigError } from './common/errors.js';
import { formatLoadTable } from './load/format-load.js';
import { writeLoadReport } from './load/load-report.js';
import { writeLoadRun } from './load/load-run-file.js';
import { countsDisagree, runLoad } from './load/run-load.js';
import { MAX_TAG_GROUPS, checkTraffic, type TimelineEventOption } from './load/traffic-options.js';
import { parseBetas, runXfetchSweepCommand } from './load/xfetch-sweep.js';
import { assertRedisReachable, describeRedisUrl } from './redis/connection.js';
import { startEmbeddedRedis, type EmbeddedRedis } from './redis/redis-server.js';

await runCli(async () => {
  const opts = newCommand('load', 'Play the same seeded traffic against every strategy and show what reaches the origin.')
    .option('--strategies <list>', `comma-separated, from ${STRATEGIES.join(', ')}`, parseStrategies, [...STRATEGIES])
    .option('--duration <s>', 'seconds of traffic per strategy', intArg(1, 86_400), 15)
    .option('--rate <n>', 'jobs per second (Poisson arrivals, open loop)', intArg(1, 100_000), 200)
    .option('--keys <n>', 'distinct keys', intArg(1, 1_000_000), 1000)
    .option('--zipf-s <s>', 'Zipf exponent of key popularity (0: uniform)', numberArg(0, 10), 1)
    .option('--seed <n>', 'seed of the traffic: the same seed, the same traffic', intArg(0, 0xffffffff), 1)
    .option('--workers <n>', 'worker processes per strategy', intArg(1, 32), 2)
    .option('--compute-ms <ms>', 'every computation takes this long (instead of the log-normal)', intArg(0, MAX_COMPUTE_MS))
    .option('--compute-median-ms <ms>', 'log-normal computation time: its median', intArg(1, MAX_COMPUTE_MS), 300)
    .option('--compute-sigma <s>', 'log-normal computation time: its spread (sigma)', numberArg(0, 5), 0.5)
    .option('--value-ttl-ms <ms>', "how long a value is fresh (the guard's VALUE_TTL_MS)", intArg(1, 86_400_000), 5000)
    .option('--ttl-jitter <f>', "shorten each value's fresh time at random by up to this fraction", numberArg(0, 1), 0)
    .option('--flush-at <s>', 'empty the cache this many seconds in (default: two thirds in; "none" for no flush)', flushArg)
    .option('--burst <at:jobs>', 'also a burst of this many jobs, this many seconds in (e.g. 5:500)', burstArg)
    .option(
      '--tag-groups <g>',
      "tag every job with its key's group, group-1 .. group-G (keys dealt round-robin by popularity: group-1 holds the hottest)",
      intArg(1, MAX_TAG_GROUPS),
    )
    .option(
      '--invalidate-at <s>',
      'invalidate the tag group-1 this many seconds in, as npm run invalidate does (needs --tag-groups)',
      numberArg(0, 86_400),
    )
    .option(
      '--compute <module>',
      'your compute module as the origin, instead of the example backend (its requests are counted from the logs)',
    )
    .option('--origin-degrade-ms <ms>', 'the origin answers this much slower per request already in flight', intArg(0, 10_000), 0)
    .option(
      '--xfetch-beta <list>',
      'instead: the XFetch β sweep against its model, one key (e.g. 0.5,1,2,4; uses --rate, --compute-ms, --value-ttl-ms, --seed, --duration / value TTL expiries per β)',
      parseBetas,
    )
    .option('--json', 'print every figure as JSON instead of the table')
    .parse()
    .opts<LoadFlags>();
  if (opts.xfetchBeta) return runXfetchSweepCommand({ ...opts, xfetchBeta: opts.xfetchBeta }, (line) => process.stderr.write(`${line}\n`));

  const durationMs = opts.duration * 1000;
  const flushAtMs = opts.flushAt === undefined ? Math.round((durationMs * 2) / 3) : opts.flushAt === 'none' ? null : opts.flushAt * 1000;
  if (opts.invalidateAt !== undefined && opts.tagGroups === undefined)
    throw new ConfigError('--invalidate-at invalidates a group of keys by its tag: give the keys tags with --tag-groups G');
  if (opts.tagGroups !== undefined && opts.tagGroups > opts.keys)
    throw new ConfigError(`--tag-groups ${opts.tagGroups} is more groups than --keys ${opts.keys}: each group holds a key at least`);
  for (const [flag, atMs] of [
    ['--flush-at', flushAtMs],
    ['--burst', opts.burst ? opts.burst.atS * 1000 : null],
    ['--invalidate-at', opts.invalidateAt === undefined ? null : opts.invalidateAt * 1000],
  ] as const) {
    if (atMs !== null && atMs >= durationMs)
      throw new ConfigError(`${flag} at ${atMs / 1000} s is not within the traffic's ${opts.duration} s (--duration)`);
  }
  const events: TimelineEventOption[] = [];
  if (flushAtMs !== null) events.push({ kind: 'flush', atMs: flushAtMs });
  if (opts.burst) events.push({ kind: 'burst', atMs: opts.burst.atS * 1000, jobs: opts.burst.jobs });
  if (opts.invalidateAt !== undefined) events.push({ kind: 'invalidate', atMs: opts.invalidateAt * 1000, group: 1 });
  const traffic = checkTraffic(
    {
      seed: opts.seed,
      keys: opts.keys,
      zipfS: opts.zipfS,
      rate: opts.rate,
      durationMs,
      computeTime:
        opts.computeMs !== undefined
          ? { kind: 'fixed', ms: opts.computeMs }
          : { kind: 'lognormal', medianMs: opts.computeMedianMs, sigma: opts.computeSigma },
      events,
      ...(opts.tagGroups !== undefined && { tagGroups: opts.tagGroups }),
    },
    { durationMs: '--duration', events: '--flush-at/--burst/--invalidate-at', tagGroups: '--tag-groups' },
  );

  const computeModule = opts.compute === undefined ? undefined : resolveModulePath(opts.compute);
  if (computeModule !== undefined) await assertModuleFile(computeModule);
  const say = (line: string) => process.stderr.write(`${line}\n`);
  const guard = { valueTtlMs: opts.valueTtlMs, ttlJitter: opts.ttlJitter };
  let config = loadConfig(guard);
  const embedded: EmbeddedRedis[] = [];
  if (config.redisUrlGiven) {
    for (const url of new Set([config.queueRedisUrl, config.cacheRedisUrl]))
      for (const warning of await assertRedisReachable(url, config.tls)) say(`warning: ${warning}`);
  } else {
    // Two servers, so that the cache's commands per job are the guard's alone, not BullMQ's too.
    const [queue, cache] = [await startEmbeddedRedis({ log: say }), await startEmbeddedRedis({ log: say })];
    embedded.push(queue!, cache!);
    say(
      `REDIS_URL not set: private redis-servers for this run, the queue on ${describeRedisUrl(queue!.url)}, the cache on ${describeRedisUrl(cache!.url)}`,
    );
    config = loadConfig({ ...guard, redisUrl: queue!.url, queueRedisUrl: queue!.url, cacheRedisUrl: cache!.url });
  }
  // Your module is the origin when given; else the example backend, which counts what reaches it.
  const backend =
    computeModule === undefined
      ? await startBackend({ delayMs: opts.computeMedianMs, degradePerInFlightMs: opts.originDegradeMs })
      : undefined;
  const logDir = join(config.logDir, `load-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  try {
    let lastProgress = 0;
    const rows = await runLoad({
      config,
      traffic,
      strategies: opts.strategies,
      workers: opts.workers,
      ...(backend && { backend }),
      computeModule: computeModule ?? EXAMPLE_MODULE,
      logDir,
      say,
      onProgress: (strategy, sent, done) => {
        const now = Date.now();
        if (now - lastProgress < 1000) return;
        lastProgress = now;
        say(`${strategy}: ${sent} sent, ${done} answered`);
      },
    });
    const disagreements = rows.map((row) => ({ strategy: row.strategy, problem: countsDisagree(row) })).filter((d) => d.problem);
    if (opts.json) process.stdout.write(`${JSON.stringify({ traffic, workers: opts.workers, rows }, null, 2)}\n`);
    else process.stdout.write(`\n${formatLoadTable(rows, traffic, opts.workers)}\n\nlogs: ${logDir}/\n`);
    await writeLoadRun(logDir, { traffic, workers: opts.workers, rows });
    const report = await writeLoadReport(rows, traffic, join(logDir, 'load-report.html'), { workers: opts.workers });
    if (opts.json) say(`report: ${report.file}`);
    else process.stdout.write(`report: ${report.file} (open it in a browser)\n`);
    for (const d of disagreements) say(`warning: ${d.strategy}: the counts disagree: ${d.problem}`);
    return rows.some((r) => r.failed > 0) || disagreements.length > 0 ? EXIT_FAILED : 0;
  } finally {
    await backend?.close();
    await Promise.all(embedded.map((server) => server.stop()));
  }
});

interface LoadFlags {
  strategies: Strategy[];
  duration: number;
  rate: number;
  keys: number;
  zipfS: number;
  seed: number;
  workers: number;
  computeMs?: number;
  computeMedianMs: number;
  computeSigma: number;
  valueTtlMs: number;
  ttlJitter: number;
  flushAt?: number | 'none';
  burst?: { atS: number; jobs: number };
  tagGroups?: number;
  invalidateAt?: number;
  originDegradeMs: number;
  compute?: string;
  json?: boolean;
  xfetchBeta?: number[];
}

function numberArg(min: number, max: number) {
  return (raw: string): number => {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n) || n < min || n > max)
      throw new InvalidArgumentError(`expected a number from ${min} to ${max}`);
    return n;
  };
}

function flushArg(raw: string): number | 'none' {
  if (raw === 'none') return 'none';
  return numberArg(0, 86_400)(raw);
}

function burstArg(raw: string): { atS: number; jobs: number } {
  const match = /^(\d+(?:\.\d+)?):(\d+)$/.exec(raw.trim());
  if (!match) throw new ConfigError(`--burst takes <seconds>:<jobs>, e.g. 5:500; got "${raw}"`);
  return { atS: Number(match[1]), jobs: Number(match[2]) };
}
