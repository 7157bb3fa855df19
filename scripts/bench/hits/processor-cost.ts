import { benchFile, expectType, spawnReady, type BenchChild } from '../child-process.js';
import { rotate, type BenchOptions } from '../options.js';
import { median, type Rows } from '../rows.js';

/**
 * Part of the hits scenario: the processor's own CPU per cache hit (processor-cost-child.ts),
 * beside the jobs/s through BullMQ. One process per mode, all warm, slices taken in turns.
 * Rows: CPU µs per job per mode (median of slices), and each mode against the worker without
 * metrics (`events`) as the median of per-cycle differences: the metrics' cost, the spans' cost
 * (OpenTelemetry with no SDK, and with an SDK and a no-op exporter), and what the events cost a
 * guard nobody subscribes to.
 */
export const PROCESSOR_COST = 'hits/processor';
const CHILD = benchFile('./hits/processor-cost-child.ts');

export const PROCESSOR_COST_MODES = ['silent', 'logger', 'events', 'metrics', 'tracing-api', 'tracing-sdk'] as const;
export type ProcessorCostMode = (typeof PROCESSOR_COST_MODES)[number];

export const PROCESSOR_COST_LABELS: Record<ProcessorCostMode, string> = {
  silent: 'no logger, nobody subscribed to the events',
  logger: "lines through the guard's logger option, nobody subscribed",
  events: 'lines written from the events (the worker)',
  metrics: 'lines and Prometheus metrics from the events (the worker, --metrics-port)',
  'tracing-api': 'lines from the events and spans (tracing: openTelemetry(), no SDK)',
  'tracing-sdk': 'lines from the events and spans (tracing: openTelemetry(), an SDK, a no-op exporter)',
};

export interface ProcessorCostConfig {
  redisUrl: string;
  keyPrefix: string;
  mode: ProcessorCostMode;
}

export interface ProcessorCostReport {
  type: 'report';
  /** CPU time (user + system) per job over the slice, µs. */
  cpuUsPerJob: number;
}

export function processorCostSlices(options: BenchOptions): { slices: number; jobsPerSlice: number } {
  return options.quick ? { slices: 4, jobsPerSlice: 4000 } : { slices: 20, jobsPerSlice: 10_000 };
}

export async function runProcessorCost(
  options: BenchOptions,
  redisUrl: string,
  rows: Rows,
  progress: (line: string) => void,
): Promise<void> {
  const { slices, jobsPerSlice } = processorCostSlices(options);
  progress(
    `hits: the processor's CPU per cache hit, one process per mode, ${PROCESSOR_COST_MODES.length} modes x ${slices} slices of ${jobsPerSlice} jobs`,
  );
  const children = new Map<ProcessorCostMode, BenchChild>();
  const perJob = new Map<ProcessorCostMode, number[]>(PROCESSOR_COST_MODES.map((m) => [m, []]));
  try {
    await Promise.all(
      PROCESSOR_COST_MODES.map(async (mode) => {
        const config: ProcessorCostConfig = { redisUrl, keyPrefix: 'bench-processor-cost', mode };
        const [child] = await spawnReady(1, CHILD, () => ({ env: { BENCH_PROCESSOR_COST: JSON.stringify(config) } }));
        children.set(mode, child!);
      }),
    );
    for (let slice = 0; slice < slices; slice++) {
      for (const mode of rotate(PROCESSOR_COST_MODES, slice)) {
        const child = children.get(mode)!;
        child.send(`run ${jobsPerSlice}`);
        const report = await child.next<ProcessorCostReport>(300_000);
        expectType(report as unknown as Record<string, unknown>, 'report', child);
        perJob.get(mode)!.push(report.cpuUsPerJob);
      }
    }
  } finally {
    await Promise.all([...children.values()].map((child) => child.finish()));
  }
  const baseline = perJob.get('events')!;
  for (const mode of PROCESSOR_COST_MODES) {
    const figures = perJob.get(mode)!;
    rows.add(PROCESSOR_COST, mode, 'cpu/job', median(figures), 'µs of CPU per cache-hit job (median of slices)');
    if (mode !== 'events')
      rows.add(
        PROCESSOR_COST,
        mode,
        'cpu/job vs events',
        median(figures.map((v, i) => v - baseline[i]!)),
        'µs per job more than the worker without metrics (median of per-cycle differences)',
      );
  }
}
