import { renderTable } from '../report/index.js';
import type { XfetchSweepResult, XfetchSweepRow } from './xfetch-sweep.js';

/** Whole ms from 10 up, a tenth below. */
const ms = (v: number | undefined) => (v === undefined ? '-' : v >= 10 ? String(Math.round(v)) : v.toFixed(1));
/** "measured / model". */
const pair = (measured: number | undefined, model: number) => `${ms(measured)} / ${ms(model)}`;
const pct = (v: number) => `${(v * 100).toFixed(0)}%`;

/** The sweep's table: per β, the measured earliness beside the model's, and the expiries missed. */
export function formatXfetchSweep(result: XfetchSweepResult): string {
  const table = renderTable(
    [
      { header: 'β', align: 'right', value: (r: XfetchSweepRow) => String(r.beta) },
      { header: 'expiries', align: 'right', value: (r) => String(r.expiries) },
      { header: 'early', align: 'right', value: (r) => String(r.early) },
      { header: 'missed (model)', align: 'right', value: (r) => `${r.misses} = ${pct(r.missRate)} (${pct(r.model.missProbability)})` },
      { header: 'mean ms', align: 'right', value: (r) => pair(r.measured?.mean, r.model.mean) },
      { header: 'sd', align: 'right', value: (r) => pair(r.measured?.sd, r.model.sd) },
      { header: 'p10', align: 'right', value: (r) => pair(r.measured?.p10, r.model.p10) },
      { header: 'p50', align: 'right', value: (r) => pair(r.measured?.p50, r.model.p50) },
      { header: 'p90', align: 'right', value: (r) => pair(r.measured?.p90, r.model.p90) },
      { header: 'landed late (model)', align: 'right', value: (r) => `${r.lateLandings} (${pct(r.model.lateShare)})` },
      { header: 'δ ms', align: 'right', value: (r) => r.computeMs.toFixed(1) },
      { header: 'coalesced', align: 'right', value: (r) => `${r.coalesced}/${r.reads}` },
      { header: 'lag p99', align: 'right', value: (r) => ms(r.lagMs.p99) },
    ],
    result.rows,
  );
  return [
    `XFetch earliness, ms before expiry, measured / model: one key, ${result.ratePerSecond} reads/s (Poisson, seed ${result.seed}, ` +
      `${result.guards} guards), δ ${result.computeMs} ms, T ${result.freshMs} ms, ttlJitter 0`,
    '',
    table,
    '',
    'early: expiries ended by an early refresh (earliness given one happened); missed: a read found the value stale and refreshed it',
    '(or decided its "early" refresh with no fresh time left);',
    'landed late: decided with less time left than the refresh took; the model at the measured δ (the envelopes carry it).',
  ].join('\n');
}
