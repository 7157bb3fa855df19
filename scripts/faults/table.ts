import { renderTable } from '../report/format.js';
import type { FaultReport } from './index.js';

const HOLDS: Record<FaultReport['status'], string> = { held: 'yes', broken: 'NO', pending: 'pending', error: 'ERROR' };

/**
 * The faults table: one row per scenario, then each scenario's notes and any failed check.
 * A pending scenario (one waiting for its feature) is a row of dashes, marked `pending`.
 */
export function formatFaultTable(reports: readonly FaultReport[]): string {
  const num = (f: (r: NonNullable<FaultReport['row']>) => number | null) => (r: FaultReport) => {
    const v = r.row ? f(r.row) : null;
    return v === null ? '-' : String(v);
  };
  const table = renderTable<FaultReport>(
    [
      { header: 'fault', align: 'left', value: (r) => `${r.id} ${r.name}` },
      { header: 'jobs', align: 'right', value: num((row) => row.jobs) },
      { header: 'completed', align: 'right', value: num((row) => row.completed) },
      { header: 'failed', align: 'right', value: num((row) => row.failed) },
      { header: 'lost', align: 'right', value: num((row) => row.lost) },
      { header: 'recomputations', align: 'right', value: num((row) => row.recomputations) },
      { header: 'stale overwrites', align: 'right', value: num((row) => row.staleOverwrites) },
      { header: 'recovery', align: 'right', value: (r) => (r.row?.recoveryMs == null ? '-' : `${r.row.recoveryMs} ms`) },
      { header: 'holds', align: 'left', value: (r) => HOLDS[r.status] },
    ],
    reports,
  );
  const notes: string[] = [];
  for (const r of reports) {
    notes.push(`${r.id} ${r.name} (${r.title}): ${r.notes.join('; ')}`);
    for (const c of r.checks.filter((c) => !c.ok)) notes.push(`    FAILED: ${c.what} (seen: ${c.seen.slice(0, 500)})`);
  }
  return `${table}\n\n${notes.join('\n')}`;
}
