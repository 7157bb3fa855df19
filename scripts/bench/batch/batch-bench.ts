import type { Redis } from 'ioredis';
import { ascending, percentileOfSorted } from '../../report/percentile.js';
import { benchFile, expectType, spawnReady, type BenchChild } from '../child-process.js';
import type { CommandMeter } from '../command-stats.js';
import { rotate, type BenchOptions } from '../options.js';
import { median, type Rows } from '../rows.js';
import type { BatchChildConfig, BatchChildReport } from './child.js';
import { BASELINE, BATCH_SYSTEMS, type BatchSystem } from './systems.js';

/**
 * Scenario: a batch of 50 cold keys (issue 27). Each system runs in a process of its own, kept
 * for the whole scenario; each round every system asks for 50 keys nobody asked for before, in
 * turns (round r starts with a different system), INFO commandstats snapshotted around each
 * batch (nothing else talks to the bench's redis-server meanwhile). The origin answers any
 * number of keys in one request after ORIGIN_MS (batch/origin.ts) and counts its requests.
 *
 * Cross-process case (`batch/cross`): two processes of the same system ask at once for
 * overlapping batches (keys 0-49 and 25-74 of a new tag): 75 distinct keys, 25 asked by both.
 */
export const BATCH = 'batch';
export const BATCH_CROSS = 'batch/cross';
export const BATCH_KEYS = 50;
export const CROSS_OFFSET = 25;
export const ORIGIN_MS = 30;
const CHILD = benchFile('./batch/child.ts');
/** Warm-up batches per process before the first measured one. */
const WARMUPS = 3;

interface Measured {
  latencyMs: number;
  originCalls: number;
  originKeys: number;
  commands: number;
  requests: number;
  serverCommands: number;
  errors: string[];
  wrong: number;
}

export async function runBatchBench(
  options: BenchOptions,
  redisUrl: string,
  meter: CommandMeter,
  admin: Redis,
  rows: Rows,
  progress: (line: string) => void,
): Promise<void> {
  const systems = BATCH_SYSTEMS;
  const crossSystems = systems.filter((s) => s.cross);
  const rounds = options.batchRounds;
  progress(
    `batch: starting ${systems.length + crossSystems.length} processes (one per system, a second for the cross-process case), ${WARMUPS} warm-up batches each`,
  );
  const specs = [...systems.map((system) => ({ system, role: 'a' })), ...crossSystems.map((system) => ({ system, role: 'b' }))];
  const children = await spawnReady(specs.length, CHILD, (i) => {
    const { system } = specs[i]!;
    const config: BatchChildConfig = {
      adapter: system.adapter,
      ...(system.variant !== undefined && { variant: system.variant }),
      settings: { redisUrl, prefix: `bench-batch-${system.id}`, valueTtlMs: 600_000, lockTtlMs: 10_000 },
      originMs: ORIGIN_MS,
      keys: BATCH_KEYS,
      warmups: WARMUPS,
    };
    return { env: { BENCH_BATCH: JSON.stringify(config) } };
  });
  const childOf = (system: BatchSystem, role: 'a' | 'b') => children[specs.findIndex((s) => s.system.id === system.id && s.role === role)]!;
  const single = new Map<string, Measured[]>(systems.map((s) => [s.id, []]));
  const cross = new Map<string, Measured[]>(crossSystems.map((s) => [s.id, []]));
  try {
    for (let round = 0; round < rounds; round++) {
      progress(`batch, round ${round + 1}/${rounds}: ${BATCH_KEYS} cold keys per system, then two processes with overlapping batches`);
      for (const system of rotate(systems, round)) {
        single.get(system.id)!.push(await measure(meter, [[childOf(system, 'a'), `run s${round} 0 ${BATCH_KEYS}`]]));
      }
      for (const system of rotate(crossSystems, round)) {
        cross.get(system.id)!.push(
          await measure(meter, [
            [childOf(system, 'a'), `run x${round} 0 ${BATCH_KEYS}`],
            [childOf(system, 'b'), `run x${round} ${CROSS_OFFSET} ${BATCH_KEYS}`],
          ]),
        );
      }
    }
  } finally {
    await Promise.all(children.map((child) => child.finish()));
    await admin.flushall();
  }

  const baseline = single.get(BASELINE)!;
  for (const system of systems) addRows(rows, BATCH, system, single.get(system.id)!, baseline, progress);
  const crossBaseline = cross.get(BASELINE)!;
  for (const system of crossSystems) addRows(rows, BATCH_CROSS, system, cross.get(system.id)!, crossBaseline, progress);
}

/** Send each child its line at once, collect the reports: one window of INFO commandstats. */
async function measure(meter: CommandMeter, runs: Array<[BenchChild, string]>): Promise<Measured> {
  const stop = await meter.start();
  for (const [child, line] of runs) child.send(line);
  const reports = await Promise.all(
    runs.map(async ([child]) => {
      const report = await child.next<BatchChildReport>(120_000);
      expectType(report as unknown as Record<string, unknown>, 'report', child);
      return report;
    }),
  );
  const server = await stop();
  return {
    // Two processes: until both batches are answered (the slower one).
    latencyMs: Math.max(...reports.map((r) => r.latencyMs)),
    originCalls: sum(reports.map((r) => r.originCalls)),
    originKeys: sum(reports.map((r) => r.originKeys)),
    commands: sum(reports.map((r) => r.commands)),
    requests: sum(reports.map((r) => r.requests)),
    serverCommands: server.total,
    errors: reports.flatMap((r) => r.errors),
    wrong: sum(reports.map((r) => r.wrong)),
  };
}

function addRows(
  rows: Rows,
  scenario: string,
  system: BatchSystem,
  runs: Measured[],
  baseline: Measured[],
  progress: (line: string) => void,
) {
  const add = (metric: string, value: number, unit: string) => rows.add(scenario, system.id, metric, value, unit);
  const sorted = runs.map((r) => r.latencyMs).sort(ascending);
  const of = (pick: (m: Measured) => number) => median(runs.map(pick));
  const ratio = (pick: (m: Measured) => number) => {
    const base = median(baseline.map(pick));
    return base === 0 ? Number.NaN : of(pick) / base;
  };
  add('rounds', runs.length, 'count');
  add(
    'origin.calls',
    of((m) => m.originCalls),
    'requests to the origin (median of rounds)',
  );
  add('origin.calls.max', Math.max(...runs.map((m) => m.originCalls)), 'requests to the origin (worst round)');
  add(
    'origin.keys',
    of((m) => m.originKeys),
    'keys asked of the origin (median of rounds)',
  );
  add('origin.keys.max', Math.max(...runs.map((m) => m.originKeys)), 'keys asked of the origin (worst round)');
  add(
    'sent.commands',
    of((m) => m.commands),
    'commands sent by the clients (median of rounds)',
  );
  add(
    'sent.requests',
    of((m) => m.requests),
    'requests sent, a pipeline one (median of rounds)',
  );
  add(
    'redis.commands',
    of((m) => m.serverCommands),
    'INFO commandstats, incl. inside scripts (median of rounds)',
  );
  add('latency.p50', percentileOfSorted(sorted, 50) ?? Number.NaN, 'ms (batch total, over rounds)');
  add('latency.p99', percentileOfSorted(sorted, 99) ?? Number.NaN, 'ms (batch total, over rounds)');
  add('latency.max', sorted.at(-1) ?? Number.NaN, 'ms (batch total, over rounds)');
  add('errors', sum(runs.map((m) => m.errors.length + m.wrong)), 'count (failed batches and wrong values)');
  if (system.id !== BASELINE) {
    add(
      'origin.calls vs single',
      ratio((m) => m.originCalls),
      'ratio of medians',
    );
    add(
      'sent.requests vs single',
      ratio((m) => m.requests),
      'ratio of medians',
    );
    add(
      'redis.commands vs single',
      ratio((m) => m.serverCommands),
      'ratio of medians',
    );
    // Per round against the baseline's batch of the same round: the machine's drift cancels.
    add('latency vs single', median(runs.map((m, i) => m.latencyMs / baseline[i]!.latencyMs)), 'median of per-round ratios');
  }
  const firstError = runs.flatMap((m) => m.errors)[0];
  if (firstError || runs.some((m) => m.wrong > 0)) {
    progress(
      `  ${system.label} (${scenario}): ${sum(runs.map((m) => m.errors.length))} failed batches, ${sum(runs.map((m) => m.wrong))} wrong values${firstError ? `, e.g. ${firstError}` : ''}`,
    );
  }
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
