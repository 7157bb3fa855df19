import { ascending, percentileOfSorted } from '../report/percentile.js';
import type { JobOutcome } from './play.js';

/** Latency percentiles from the scheduled arrival, ms (null when no job completed). */
export interface LoadLatency {
  p50: number | null;
  p99: number | null;
  p999: number | null;
  max: number | null;
}

/** One second of a run, from the producer's side: jobs due in it and how long they took. */
export interface LatencyBin {
  second: number;
  jobs: number;
  failed: number;
  p50: number | null;
  p99: number | null;
}

export interface OutcomeStats {
  jobs: number;
  completed: number;
  failed: number;
  /** Why jobs failed, reason -> count. */
  failures: Record<string, number>;
  latencyMs: LoadLatency;
  /** Completed jobs per source (cache, computed, waited, stale). */
  sources: Record<string, number>;
  /** Share of completed jobs answered with a stale value. */
  staleShare: number;
  bins: LatencyBin[];
}

/** What the producer saw, summed up: counts, sources, latency percentiles, and the same per second. */
export function outcomeStats(outcomes: readonly JobOutcome[]): OutcomeStats {
  const failures: Record<string, number> = {};
  const sources: Record<string, number> = {};
  const latencies: number[] = [];
  const perSecond = new Map<number, { latencies: number[]; failed: number }>();
  for (const o of outcomes) {
    const second = Math.floor(o.at / 1000);
    let bin = perSecond.get(second);
    if (!bin) {
      bin = { latencies: [], failed: 0 };
      perSecond.set(second, bin);
    }
    if (o.error !== undefined) {
      failures[o.error] = (failures[o.error] ?? 0) + 1;
      bin.failed += 1;
      continue;
    }
    sources[o.source ?? 'unknown'] = (sources[o.source ?? 'unknown'] ?? 0) + 1;
    latencies.push(o.latencyMs);
    bin.latencies.push(o.latencyMs);
  }
  latencies.sort(ascending);
  const completed = latencies.length;
  const round = (v: number | undefined) => (v === undefined ? null : Math.round(v));
  const bins = [...perSecond.entries()]
    .sort(([a], [b]) => a - b)
    .map(([second, bin]) => {
      bin.latencies.sort(ascending);
      return {
        second,
        jobs: bin.latencies.length + bin.failed,
        failed: bin.failed,
        p50: round(percentileOfSorted(bin.latencies, 50)),
        p99: round(percentileOfSorted(bin.latencies, 99)),
      };
    });
  return {
    jobs: outcomes.length,
    completed,
    failed: outcomes.length - completed,
    failures,
    latencyMs: {
      p50: round(percentileOfSorted(latencies, 50)),
      p99: round(percentileOfSorted(latencies, 99)),
      p999: round(percentileOfSorted(latencies, 99.9)),
      max: round(latencies.at(-1)),
    },
    sources,
    staleShare: completed === 0 ? 0 : (sources.stale ?? 0) / completed,
    bins,
  };
}

/**
 * How old the stale values served in a run were, ms: for each `stale.served` line of the run that
 * names its value's `computedAt` (a caller that shared another's flight does not), the line's time
 * minus it. Nearest-rank p50 and p99; null when nothing stale was served.
 */
export async function staleAges(
  records: AsyncIterable<Readonly<Record<string, unknown>>>,
  runId: string,
): Promise<{ served: number; p50: number | null; p99: number | null }> {
  const ages: number[] = [];
  for await (const r of records) {
    if (r.event !== 'stale.served' || r.runId !== runId) continue;
    if (typeof r.time === 'number' && typeof r.computedAt === 'number') ages.push(r.time - r.computedAt);
  }
  ages.sort(ascending);
  const round = (v: number | undefined) => (v === undefined ? null : Math.round(v));
  return { served: ages.length, p50: round(percentileOfSorted(ages, 50)), p99: round(percentileOfSorted(ages, 99)) };
}
