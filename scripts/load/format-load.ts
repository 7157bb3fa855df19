import { renderTable } from '../report/index.js';
import type { LoadRow } from './run-load.js';
import type { TrafficSpec } from './traffic-options.js';
import { groupTag, keysInGroup } from './tag-groups.js';

const ms = (v: number | null) => (v === null ? '-' : String(v));

/** One line of what the traffic was, for the table's title. */
export function describeTraffic(spec: TrafficSpec, workers: number): string {
  const compute =
    spec.computeTime.kind === 'fixed'
      ? `${spec.computeTime.ms} ms`
      : `log-normal, median ${spec.computeTime.medianMs} ms, sigma ${spec.computeTime.sigma}`;
  const events = spec.events.map((e) => {
    const at = `at ${e.atMs / 1000} s`;
    if (e.kind === 'flush') return `flush ${at}`;
    if (e.kind === 'burst') return `burst of ${e.jobs} ${at}`;
    return `invalidate ${groupTag(e.group)} (${keysInGroup(spec, e.group)} keys) ${at}`;
  });
  // Runs written before tag groups have no tagGroups.
  const groups = (spec.tagGroups ?? 0) > 0 ? ` in ${spec.tagGroups} tag groups` : '';
  return (
    `${workers} workers, ${spec.rate} jobs/s for ${spec.durationMs / 1000} s over ${spec.keys} keys${groups} (Zipf s ${spec.zipfS}, seed ${spec.seed}), ` +
    `computing ${compute}; ${spec.start} start${events.length > 0 ? `, ${events.join(', ')}` : ''}`
  );
}

/** The load table: what each strategy sent to the origin, and what the callers waited. */
export function formatLoadTable(rows: readonly LoadRow[], spec: TrafficSpec, workers: number): string {
  const invalidation = rows.find((r) => r.invalidation)?.invalidation;
  const table = renderTable(
    [
      { header: 'strategy', align: 'left', value: (r: LoadRow) => r.strategy },
      { header: 'jobs', align: 'right', value: (r) => String(r.jobs) },
      { header: 'completed', align: 'right', value: (r) => String(r.completed) },
      { header: 'failed', align: 'right', value: (r) => String(r.failed) },
      { header: 'origin req', align: 'right', value: (r) => String(r.origin.requests) },
      { header: 'req/s mean', align: 'right', value: (r) => String(r.origin.perSecond.mean) },
      { header: 'req/s peak', align: 'right', value: (r) => String(r.origin.perSecond.peak) },
      { header: 'peak at once', align: 'right', value: (r) => String(r.origin.peakInFlight) },
      { header: 'p50 ms', align: 'right', value: (r) => ms(r.latencyMs.p50) },
      { header: 'p99 ms', align: 'right', value: (r) => ms(r.latencyMs.p99) },
      { header: 'p99.9 ms', align: 'right', value: (r) => ms(r.latencyMs.p999) },
      { header: 'max ms', align: 'right', value: (r) => ms(r.latencyMs.max) },
      { header: 'stale', align: 'right', value: (r) => `${(r.staleShare * 100).toFixed(1)}%` },
      { header: 'stale age p99', align: 'right', value: (r) => ms(r.staleAgeMs.p99) },
      { header: 'cmds/job', align: 'right', value: (r) => (r.commandsPerJob === null ? '-' : r.commandsPerJob.toFixed(1)) },
      // Only when the timeline invalidated a group: the table of a run without one is as it was.
      ...(invalidation ? INVALIDATION_COLUMNS : []),
    ],
    rows,
  );
  const fromLogs = rows.some((r) => r.origin.countedBy === 'logs')
    ? ' (origin requests counted from the logs: your module is the origin)'
    : '';
  const lines = [`${describeTraffic(spec, workers)}${fromLogs}:`, '', table];
  if (invalidation)
    lines.push(
      '',
      `group recomp: computations of the ${invalidation.groupKeys} keys tagged ${invalidation.tag} from its invalidation at ${invalidation.atMs / 1000} s on; ` +
        'other group: the same for each other group, their mean; covered: reads that found an invalidated value',
    );
  return lines.join('\n');
}

const INVALIDATION_COLUMNS = [
  { header: 'group recomp', align: 'right', value: (r: LoadRow) => String(r.invalidation?.recomputed ?? '-') },
  { header: 'other group', align: 'right', value: (r: LoadRow) => String(r.invalidation?.otherGroupsMean ?? '-') },
  { header: 'covered', align: 'right', value: (r: LoadRow) => String(r.invalidation?.coveredReads ?? '-') },
] as const;
