/** The load lab's accounting of what the producer saw and how old the stale answers were. */
import { describe, expect, it } from 'vitest';
import { outcomeStats, staleAges } from '../scripts/load/load-stats.js';

async function* lines(records: Array<Record<string, unknown>>) {
  yield* records;
}

describe('outcomeStats', () => {
  it('counts, sources, percentiles from the scheduled arrival, and the same per second', () => {
    const stats = outcomeStats([
      { at: 10, latencyMs: 5, source: 'cache' },
      { at: 20, latencyMs: 300, source: 'computed' },
      { at: 1_500, latencyMs: 40, source: 'stale' },
      { at: 1_600, latencyMs: 900, error: 'gave up' },
    ]);
    expect(stats).toMatchObject({ jobs: 4, completed: 3, failed: 1, failures: { 'gave up': 1 } });
    expect(stats.sources).toEqual({ cache: 1, computed: 1, stale: 1 });
    expect(stats.staleShare).toBeCloseTo(1 / 3);
    expect(stats.latencyMs).toEqual({ p50: 40, p99: 300, p999: 300, max: 300 });
    expect(stats.bins).toEqual([
      { second: 0, jobs: 2, failed: 0, p50: 5, p99: 300 },
      { second: 1, jobs: 2, failed: 1, p50: 40, p99: 40 },
    ]);
  });
});

describe('staleAges', () => {
  it("takes each stale.served line's time minus its value's computedAt, for the run only", async () => {
    const ages = await staleAges(
      lines([
        { event: 'stale.served', runId: 'r', time: 10_000, computedAt: 4_000 },
        { event: 'stale.served', runId: 'r', time: 10_500, computedAt: 9_500 },
        { event: 'stale.served', runId: 'r', time: 11_000 }, // a coalesced line names no value
        { event: 'stale.served', runId: 'other', time: 99_000, computedAt: 0 },
        { event: 'cache.hit', runId: 'r', time: 12_000, computedAt: 0 },
      ]),
      'r',
    );
    expect(ages).toEqual({ served: 2, p50: 1_000, p99: 6_000 });
    expect(await staleAges(lines([]), 'r')).toEqual({ served: 0, p50: null, p99: null });
  });
});
