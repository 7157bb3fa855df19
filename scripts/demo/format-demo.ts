import { renderTable } from '../report/index.js';
import { countsDisagree, type DemoRow } from './run-demo.js';

/** The demo's one comparison table: a row per strategy, numbers from the workers' logs. */
export function formatDemoTable(rows: readonly DemoRow[], workers: number, computing: string): string {
  const table = renderTable(
    [
      { header: 'strategy', align: 'left', value: (r: DemoRow) => r.strategy },
      { header: 'jobs', align: 'right', value: (r) => String(r.burst.jobs) },
      { header: 'completed', align: 'right', value: (r) => String(r.burst.completed) },
      { header: 'recomputations', align: 'right', value: (r) => String(r.logs?.recomputations ?? '?') },
      // Counted by the backend itself: it must agree with the logs' recomputations.
      { header: 'backend requests', align: 'right', value: (r) => (r.backendRequests === undefined ? '-' : String(r.backendRequests)) },
      { header: 'waited', align: 'right', value: (r) => String(r.burst.sources.waited) },
      { header: 'cache hits', align: 'right', value: (r) => String(r.burst.sources.cache) },
      { header: 'distinct values', align: 'right', value: (r) => String(r.burst.distinctValues) },
      { header: 'p50 ms', align: 'right', value: (r) => String(r.logs?.latencyMs.p50 ?? '?') },
      { header: 'p99 ms', align: 'right', value: (r) => String(r.logs?.latencyMs.p99 ?? '?') },
      { header: 'max ms', align: 'right', value: (r) => String(r.logs?.latencyMs.max ?? '?') },
    ],
    rows,
  );
  const verdicts = rows.flatMap((r) => [
    ...(r.verdict ? [`  ${r.verdict.message}`] : []),
    ...(countsDisagree(r)
      ? [
          `  ${r.strategy}: the backend counted ${r.backendRequests} requests, the logs ${r.logs?.recomputations ?? 'no'} recomputations: they must agree`,
        ]
      : []),
  ]);
  return [`${workers} worker processes, one cold burst per strategy, computing with ${computing}:`, '', table, '', ...verdicts].join('\n');
}
