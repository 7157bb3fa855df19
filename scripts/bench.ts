/**
 * npm run bench: this project against its peers, side by side in one run, on a private
 * redis-server. The table goes to stdout, progress to stderr. See scripts/bench/.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InvalidArgumentError } from 'commander';
import { SCENARIOS, resolveOptions, type ScenarioName } from './bench/options.js';
import { killAllChildren } from './bench/child-process.js';
import { runBench } from './bench/run-bench.js';
import { intArg, newCommand, runCli } from './common/cli.js';

await runCli(async () => {
  const opts = newCommand(
    'bench',
    'Benchmark the guard against bentocache, cachified, redis-semaphore and redlock (always on a private redis-server).',
  )
    .option('--quick', 'a reduced run, under a minute: 1 round, shorter lock runs, fewer hit jobs, 5 batch rounds, 20000 tagged values')
    .option('--scenarios <list>', `comma-separated, from ${SCENARIOS.join(', ')} (default: all but soak)`, parseScenarios)
    .option('--json <file>', 'also write the rows as JSON (and the cold-burst chart next to it, .svg)')
    .option('--svg <file>', 'write the cold-burst chart here')
    .option('--rounds <n>', 'rounds of the cold burst (default 3, 1 with --quick)', intArg(1, 50))
    .option('--processes <n>', 'cold burst: processes (default 4)', intArg(1, 32))
    .option('--concurrency <n>', 'cold burst: concurrent requests per process (default 50)', intArg(1, 5000))
    .option('--compute-ms <ms>', 'cold burst: computation time (default 200)', intArg(1, 60_000))
    .option('--poll-ms <ms>', "cold burst: the lock libraries' cache polling interval (default 10)", intArg(1, 10_000))
    .option(
      '--lock-ms <ms>',
      'locks: time per system and case, in slices taken in turns (default 4000, 600 with --quick)',
      intArg(50, 600_000),
    )
    .option(
      '--hit-jobs <n>',
      'hits: jobs per system, in slices of 1000 taken in turns; clients: hits per client, path and callers, in 10 slices (default 10000, 2000 with --quick)',
      intArg(10, 1_000_000),
    )
    .option('--batch-rounds <n>', 'batch: rounds of 50 cold keys per system (default 30, 5 with --quick)', intArg(1, 1000))
    .option(
      '--tags-values <n>',
      'tags: values carrying the tag invalidated, and deleted by SCAN + DEL for the baseline (default 100000, 20000 with --quick)',
      intArg(100, 2_000_000),
    )
    .option(
      '--tags-reads <n>',
      'tags: cache hits timed per kind of value, in 10 slices (default 5000, 1000 with --quick)',
      intArg(10, 1_000_000),
    )
    .option('--soak-recomputations <n>', 'soak: recomputations in one process (default 20000)', intArg(100, 10_000_000))
    .addHelpText(
      'after',
      [
        '',
        'The markdown table goes to stdout, progress lines to stderr. Scenarios: cold (P processes x C',
        'requests for one cold key, every system), critical (the same with a 5 ms computation: what the',
        "guard adds), l1 (commands per read with the L1 tier; a write reaching another process's tier),",
        'locks (acquire+release ops/s), hits (cache-hit jobs through BullMQ vs raw, the worker with and',
        'without its Prometheus metrics), memory (RSS of real worker processes under the cold burst), batch',
        '(50 cold keys: one getManyOrCompute against 50 getOrCompute calls, cachified createBatch and',
        'bentocache getOrSet, origin calls, Redis requests and latency; and two processes with overlapping',
        "batches), tags (a hit of a value with 3 tags and of a namespace's value against an untagged one:",
        'round trips, commands, time; invalidateTags of a tag carried by 100,000 values against SCAN + DEL',
        'of them, and the first read after it recomputing), clients (the guard with ioredis, iovalkey and',
        'node-redis: --hit-jobs cache hits of a warm key per client, 1 caller and 50, against the same',
        "EVALSHA sent straight through the client; the cold burst's processes x concurrency as guards in",
        'one process); on request only: soak (heap after GC over 20,000 recomputations, and the keys left',
        'once they expired).',
        'Example: npm run bench -- --json bench/results.json   (chart: bench/results.svg)',
      ].join('\n'),
    )
    .parse()
    .opts<{
      quick?: boolean;
      scenarios?: ScenarioName[];
      json?: string;
      svg?: string;
      rounds?: number;
      processes?: number;
      concurrency?: number;
      computeMs?: number;
      pollMs?: number;
      lockMs?: number;
      hitJobs?: number;
      batchRounds?: number;
      tagsValues?: number;
      tagsReads?: number;
      soakRecomputations?: number;
    }>();

  const options = resolveOptions({
    quick: opts.quick ?? false,
    scenarios: opts.scenarios,
    rounds: opts.rounds,
    processes: opts.processes,
    concurrency: opts.concurrency,
    computeMs: opts.computeMs,
    pollMs: opts.pollMs,
    lockRunMs: opts.lockMs,
    hitJobs: opts.hitJobs,
    batchRounds: opts.batchRounds,
    tagsValues: opts.tagsValues,
    tagsReads: opts.tagsReads,
    soakRecomputations: opts.soakRecomputations,
  });
  const progress = (line: string) => process.stderr.write(`${line}\n`);
  // Interrupted: stop the child processes, and exit through 'exit' so the private
  // redis-server is killed and its directory removed (scripts/redis/).
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      progress(`bench: ${signal}, stopping`);
      killAllChildren();
      process.exit(130);
    });
  }
  const result = await runBench(options, progress);
  process.stdout.write(`${result.markdown}\n`);

  const { markdown: _markdown, svg, ...json } = result;
  if (opts.json) {
    await writeOut(opts.json, `${JSON.stringify(json, null, 2)}\n`);
    progress(`wrote ${opts.json}`);
  }
  const svgPath = opts.svg ?? (opts.json ? opts.json.replace(/(\.json)?$/i, '.svg') : undefined);
  if (svgPath && svg) {
    await writeOut(svgPath, svg);
    progress(`wrote ${svgPath}`);
  }
  return 0;
});

async function writeOut(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  await writeFile(file, text);
}

function parseScenarios(raw: string): ScenarioName[] {
  const list = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = list.filter((s) => !(SCENARIOS as readonly string[]).includes(s));
  if (list.length === 0 || bad.length > 0) {
    throw new InvalidArgumentError(`expected a comma-separated list from ${SCENARIOS.join(', ')}, got "${raw}"`);
  }
  return [...new Set(list)] as ScenarioName[];
}
