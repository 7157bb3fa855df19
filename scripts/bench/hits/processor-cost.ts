import { benchFile, expectType, spawnReady } from '../child-process.js';
import type { BenchOptions } from '../options.js';
import { median, type Rows } from '../rows.js';

/**
 * Part of the hits scenario: the processor's own CPU per cache hit, in one process (see
 * processor-cost-child.ts), beside the jobs/s through BullMQ. Rows: CPU µs per job per mode
 * (median of slices), and each mode against the worker without metrics (`events`), as the
 * median of per-slice differences: the cost of the metrics, and of the hook when unused.
 */
export const PROCESSOR_COST = 'hits/processor';
const CHILD = benchFile('./hits/processor-cost-child.ts');

export const PROCESSOR_COST_MODES = ['silent', 'logger', 'events', 'metrics'] as const;
export type ProcessorCostMode = (typeof PROCESSOR_COST_MODES)[number];

export interface ProcessorCostConfig {
  redisUrl: string;
  keyPrefix: string;
  slices: number;
  jobsPerSlice: number;
}

export interface ProcessorCostReport {
  type: 'report';
  /** CPU µs per job (user + system), one figure per slice. */
  perJobUs: Record<ProcessorCostMode, number[]>;
}

export const PROCESSOR_COST_LABELS: Record<ProcessorCostMode, string> = {
  silent: 'no logger, nobody subscribed to the events',
  logger: "lines through the guard's logger option, nobody subscribed",
  events: 'lines written from the events (the worker)',
  metrics: 'lines and Prometheus metrics from the events (the worker, --metrics-port)',
};

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
    `hits: the processor's CPU per cache hit in one process, ${PROCESSOR_COST_MODES.length} modes x ${slices} slices of ${jobsPerSlice} jobs`,
  );
  const config: ProcessorCostConfig = { redisUrl, keyPrefix: 'bench-processor-cost', slices, jobsPerSlice };
  const [child] = await spawnReady(1, CHILD, () => ({ env: { BENCH_PROCESSOR_COST: JSON.stringify(config) } }));
  let report: ProcessorCostReport;
  try {
    child!.send('run');
    report = await child!.next<ProcessorCostReport>(300_000);
    expectType(report as unknown as Record<string, unknown>, 'report', child!);
  } finally {
    await child!.finish();
  }
  const baseline = report.perJobUs.events;
  for (const mode of PROCESSOR_COST_MODES) {
    const perJob = report.perJobUs[mode];
    rows.add(PROCESSOR_COST, mode, 'cpu/job', median(perJob), 'µs of CPU per cache-hit job (median of slices)');
    if (mode !== 'events')
      rows.add(
        PROCESSOR_COST,
        mode,
        'cpu/job vs events',
        median(perJob.map((v, i) => v - baseline[i]!)),
        'µs per job more than the worker without metrics (median of per-slice differences)',
      );
  }
}
