import { renderTable } from '../report/index.js';
import type { WarmRow } from './warm-scenario.js';

/** The warm-key table: how many requests waited for a recomputation, per strategy. */
export function formatWarmTable(rows: readonly WarmRow[], windows: number, computeMs: number): string {
  const table = renderTable(
    [
      { header: 'strategy', align: 'left', value: (r: WarmRow) => r.strategy },
      { header: 'jobs', align: 'right', value: (r) => String(r.load.jobs) },
      { header: 'completed', align: 'right', value: (r) => String(r.load.completed) },
      { header: 'recomputations', align: 'right', value: (r) => String(r.logs?.recomputations ?? '?') },
      // A job waited for a computation when it ran one or waited on another's.
      { header: 'waited on a compute', align: 'right', value: (r) => String(r.load.sources.computed + r.load.sources.waited) },
      { header: 'served stale', align: 'right', value: (r) => String(r.load.sources.stale) },
      { header: 'cache hits', align: 'right', value: (r) => String(r.load.sources.cache) },
      { header: 'p50 ms', align: 'right', value: (r) => String(r.load.latencyMs.p50) },
      { header: 'p99 ms', align: 'right', value: (r) => String(r.load.latencyMs.p99) },
      { header: 'max ms', align: 'right', value: (r) => String(r.load.latencyMs.max) },
    ],
    rows,
  );
  return [`a warm key under steady load across ${windows} expiries (compute ${computeMs} ms):`, '', table].join('\n');
}
