import type { TraceResult } from './load-trace.js';
import type { Waterfall } from './waterfall.js';

/**
 * The waterfall in `npm run logs -- --json --trace`: under `trace`, `null` when no job trace was
 * found, else the rows in tree order (times in ms from the trace's start):
 * `{ traceId, runId, jobsInRun, durationMs, rootName, absentWorker, rows: [{ spanId, parentSpanId, name, kind,
 * depth, orphan, process, offsetMs, durationMs, status, attributes, linkedFrom, links: [{ traceId,
 * spanId, found, name, process, offsetMs, durationMs, linkedFrom }] }] }`, where `linkedFrom` is
 * `{ spans, processes }` (spans in any trace linking to that span) or `null`.
 */
export type TraceJson = ReturnType<typeof waterfallToJson>;

export function traceToJson(result: TraceResult): TraceJson | null {
  return result.status === 'ok' ? waterfallToJson(result.waterfall) : null;
}

export function waterfallToJson(w: Waterfall) {
  const counted = (from: { spans: number; processes: number } | undefined) =>
    from ? { spans: from.spans, processes: from.processes } : null;
  return {
    traceId: w.traceId,
    runId: w.runId,
    jobsInRun: w.jobsInRun,
    durationMs: w.durationMs,
    rootName: w.root.name,
    absentWorker: w.absentWorker ?? null,
    rows: w.rows.map((row) => ({
      spanId: row.span.spanId,
      parentSpanId: row.span.parentSpanId ?? null,
      name: row.span.name,
      kind: row.span.kind,
      depth: row.depth,
      orphan: row.orphan,
      process: row.process,
      offsetMs: row.offsetMs,
      durationMs: row.span.durationMs,
      status: row.span.status.code,
      attributes: Object.fromEntries(row.attributes),
      linkedFrom: counted(row.linkedFrom),
      links: row.links.map((l) => ({
        traceId: l.link.traceId,
        spanId: l.link.spanId,
        found: l.target !== undefined,
        name: l.target?.name ?? null,
        process: l.process ?? null,
        offsetMs: l.offsetMs ?? null,
        durationMs: l.target?.durationMs ?? null,
        linkedFrom: counted(l.linkedFrom),
      })),
    })),
  };
}
