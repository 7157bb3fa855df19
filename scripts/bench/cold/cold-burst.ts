import type { Redis } from 'ioredis';
import { percentileOfSorted, ascending } from '../../report/percentile.js';
import { benchFile, spawnReady, expectType, type BenchChild } from '../child-process.js';
import type { CommandMeter } from '../command-stats.js';
import { rotate, type BenchOptions } from '../options.js';
import { median, type Rows } from '../rows.js';
import type { ColdChildConfig, ColdChildReport } from './child.js';
import { coldSystems, type ColdSystem } from './systems.js';

/**
 * Scenario 1, the cold burst: P processes x C concurrent requests for one cold key. For each
 * system and round: start P fresh processes, wait until all are connected and warmed up,
 * snapshot INFO commandstats, release them together, collect their reports, snapshot again.
 * Nothing else talks to the bench's redis-server in between, so the difference is the
 * system's own commands.
 */
export const COLD = 'cold';
const CHILD = benchFile('./cold/child.ts');
/** After the last report, let fire-and-forget commands (UNSUBSCRIBE, bus messages) land. */
const SETTLE_MS = 100;

interface RoundResult {
  recomputations: number;
  latencies: number[];
  errors: string[];
  serverCommands: number;
  byCommand: Map<string, number>;
  sentCommands: number;
  peakRssMb: number;
  distinctValues: number;
}

/** What one cold-burst scenario runs: which systems, how long the computation takes, how often. */
export interface ColdSpec {
  scenario: string;
  systems: ColdSystem[];
  computeMs: number;
  rounds: number;
}

/** The critical path: a 5 ms computation, where the guard's own round trips show. */
export const CRITICAL = 'critical';
export const CRITICAL_COMPUTE_MS = 5;

export function coldSpec(options: BenchOptions): ColdSpec {
  return { scenario: COLD, systems: coldSystems(), computeMs: options.computeMs, rounds: options.rounds };
}

export function criticalSpec(options: BenchOptions): ColdSpec {
  const systems = coldSystems().filter((s) => s.id === 'redis-lock' || s.id === 'floor');
  // Short runs: more rounds, so the median round is a steady figure (fewer with --quick).
  return { scenario: CRITICAL, systems, computeMs: CRITICAL_COMPUTE_MS, rounds: options.quick ? 2 : Math.max(5, options.rounds * 3) };
}

export async function runColdBurst(
  options: BenchOptions,
  spec: ColdSpec,
  redisUrl: string,
  meter: CommandMeter,
  admin: Redis,
  rows: Rows,
  progress: (line: string) => void,
): Promise<ColdSystem[]> {
  const { systems } = spec;
  const results = new Map<string, RoundResult[]>(systems.map((s) => [s.id, []]));
  const requests = options.processes * options.concurrency;
  const plan = Array.from({ length: spec.rounds }, (_, round) => rotate(systems, round).map((system, i) => ({ round, i, system }))).flat();
  // Pipelined: the next run's processes start (and warm up) while the previous run's shut
  // down, never while a run is measured: its window opens only once they are all ready.
  let ahead: Promise<Fleet> | undefined = plan[0] && startFleet(options, spec, redisUrl, plan[0].system, plan[0].round);
  ahead?.catch(() => {});
  try {
    for (const [index, { round, i, system }] of plan.entries()) {
      progress(
        `${spec.scenario === COLD ? 'cold burst' : `${spec.scenario} (compute ${spec.computeMs} ms)`}, round ${round + 1}/${spec.rounds}: ${system.label} (${i + 1}/${systems.length})`,
      );
      const fleet = await ahead!;
      let result: RoundResult;
      try {
        result = await measure(meter, fleet);
      } finally {
        const next = plan[index + 1];
        ahead = next && startFleet(options, spec, redisUrl, next.system, next.round);
        ahead?.catch(() => {});
        await Promise.all(fleet.children.map((child) => child.finish()));
        await admin.flushall();
      }
      results.get(system.id)!.push(result);
    }
  } finally {
    // A failed run leaves the next fleet started: stop it too.
    const left = await ahead?.catch(() => undefined);
    await Promise.all((left?.children ?? []).map((child) => child.finish()));
  }

  for (const system of systems) {
    const rounds = results.get(system.id)!;
    // Percentiles per round, then the median round: one round disturbed by the machine's
    // other work does not decide the figure; the worst round is kept next to it.
    const perRound = (q: number) => rounds.map((r) => percentileOfSorted([...r.latencies].sort(ascending), q) ?? Number.NaN);
    const p50 = median(perRound(50));
    const p99 = median(perRound(99));
    const add = (metric: string, value: number, unit: string) => rows.add(spec.scenario, system.id, metric, value, unit);
    add('recomputations', Math.max(...rounds.map((r) => r.recomputations)), 'count (worst round)');
    add('recomputations.median', median(rounds.map((r) => r.recomputations)), 'count');
    add('latency.p50', p50, 'ms (median of rounds)');
    add('latency.p99', p99, 'ms (median of rounds)');
    add('latency.p99.worst-round', Math.max(...perRound(99)), 'ms');
    add('latency.max', Math.max(...rounds.flatMap((r) => r.latencies)), 'ms (all rounds)');
    add('p99/compute', p99 / spec.computeMs, 'ratio');
    add(
      'redis.commands/request',
      sum(rounds.map((r) => r.serverCommands)) / (requests * rounds.length),
      'commands (INFO commandstats, incl. inside scripts)',
    );
    add('sent.commands/request', sum(rounds.map((r) => r.sentCommands)) / (requests * rounds.length), 'commands (sent by the clients)');
    add('errors', sum(rounds.map((r) => r.errors.length)), 'count');
    add('distinct.values', Math.max(...rounds.map((r) => r.distinctValues)), 'count (worst round)');
    add('peak.rss', Math.max(...rounds.map((r) => r.peakRssMb)), 'MB (largest process)');
    const byCommand = new Map<string, number>();
    for (const r of rounds) for (const [name, n] of r.byCommand) byCommand.set(name, (byCommand.get(name) ?? 0) + n);
    for (const [name, n] of [...byCommand].sort((a, b) => b[1] - a[1])) {
      add(`redis.commands/request.${name}`, n / (requests * rounds.length), 'commands (INFO commandstats)');
    }
    const firstError = rounds.flatMap((r) => r.errors)[0];
    if (firstError) progress(`  ${system.label}: ${rounds.flatMap((r) => r.errors).length} failed calls, e.g. ${firstError}`);
  }
  const ours = rows.get(spec.scenario, 'redis-lock', 'latency.p99');
  const floor = rows.get(spec.scenario, 'floor', 'latency.p99');
  if (ours !== undefined && floor !== undefined) {
    rows.add(spec.scenario, 'redis-lock', 'p99.overhead', ours - floor, 'ms over the floor (median rounds)');
  }
  return systems;
}

interface Fleet {
  children: BenchChild[];
}

async function startFleet(options: BenchOptions, spec: ColdSpec, redisUrl: string, system: ColdSystem, round: number): Promise<Fleet> {
  const config: ColdChildConfig = {
    adapter: system.adapter,
    ...(system.variant !== undefined && { variant: system.variant }),
    settings: { redisUrl, prefix: `bench-${system.id}`, valueTtlMs: 60_000, lockTtlMs: 10_000, pollMs: options.pollMs },
    key: `cold-r${round}-${Date.now()}`,
    calls: options.concurrency,
    computeMs: spec.computeMs,
  };
  const children = await spawnReady(options.processes, CHILD, () => ({ env: { BENCH_COLD: JSON.stringify(config) } }));
  for (const child of children) child.send('warm');
  await Promise.all(children.map(async (child) => expectType(await child.next(120_000), 'warmed', child)));
  return { children };
}

/** Open the window, release every process at once, collect the reports, close the window. */
async function measure(meter: CommandMeter, fleet: Fleet): Promise<RoundResult> {
  const stop = await meter.start();
  for (const child of fleet.children) child.send('go');
  const reports = await Promise.all(
    fleet.children.map(async (child) => {
      const report = await child.next<ColdChildReport>(120_000);
      expectType(report as unknown as Record<string, unknown>, 'report', child);
      return report;
    }),
  );
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  const server = await stop();
  return {
    recomputations: sum(reports.map((r) => r.computations)),
    latencies: reports.flatMap((r) => r.latenciesMs),
    errors: reports.flatMap((r) => r.errors),
    serverCommands: server.total,
    byCommand: server.byCommand,
    sentCommands: sum(reports.map((r) => r.sentCommands)),
    peakRssMb: Math.max(...reports.map((r) => r.peakRssMb)),
    // Across the fleet: 1 when every caller got the value of the same computation.
    distinctValues: new Set(reports.flatMap((r) => r.values)).size,
  };
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
