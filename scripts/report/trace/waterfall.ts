import { keyAttributes } from './attributes.js';
import type { IncomingLinks, LinkCollector } from './links.js';
import { processLabel } from './process.js';
import type { Span, SpanLink } from './span.js';
import { walkTree, type TraceNode } from './tree.js';

/**
 * A trace laid out for drawing, once, for the text and the HTML waterfall alike: one row per
 * span in tree order with its time relative to the trace's start, and its links resolved.
 */

export interface Waterfall {
  traceId: string;
  /** The run the job belongs to, and how many job roots the run had. */
  runId: string;
  jobsInRun: number;
  root: Span;
  /** The window drawn: from the earliest start to the latest end of the trace's spans. */
  startTime: number;
  durationMs: number;
  rows: WaterfallRow[];
  /** Distinct processes among the rows. */
  processes: number;
  /**
   * The worker that answered the job (the root's `cache_stampede.worker_id`) when none of the
   * trace's spans is its: its spans were dropped or not flushed, or the job's context was lost.
   */
  absentWorker?: string;
}

export interface WaterfallRow {
  span: Span;
  depth: number;
  orphan: boolean;
  /** From the window's start. */
  offsetMs: number;
  process: string;
  attributes: [name: string, value: string][];
  links: WaterfallLink[];
  /** Spans (of any trace) that link to this one. */
  linkedFrom?: IncomingLinks;
}

export interface WaterfallLink {
  link: SpanLink;
  /** The span linked to, when it was in the span files read. */
  target?: Span;
  /** Its start from the window's start (negative when it began before the trace). */
  offsetMs?: number;
  process?: string;
  /** Spans (this one included) that link to the same target. */
  linkedFrom?: IncomingLinks;
}

export interface WaterfallMeta {
  runId: string;
  jobsInRun: number;
}

export function buildWaterfall(tree: TraceNode, links: LinkCollector, meta: WaterfallMeta): Waterfall {
  const nodes = [...walkTree(tree)];
  const startTime = Math.min(...nodes.map((n) => n.span.startTime));
  const endTime = Math.max(...nodes.map((n) => n.span.endTime));
  const rows = nodes.map((node): WaterfallRow => {
    const { span } = node;
    const linkedFrom = links.linksTo(span);
    return {
      span,
      depth: node.depth,
      orphan: node.orphan,
      offsetMs: span.startTime - startTime,
      process: processLabel(span),
      attributes: keyAttributes(span),
      links: span.links.map((link) => resolveLink(link, links, startTime)),
      ...(linkedFrom && { linkedFrom }),
    };
  });
  const worker = tree.span.attributes['cache_stampede.worker_id'];
  const absentWorker = worker !== undefined && !rows.some((r) => r.span.workerId === String(worker)) ? String(worker) : undefined;
  return {
    traceId: tree.span.traceId,
    runId: meta.runId,
    jobsInRun: meta.jobsInRun,
    root: tree.span,
    startTime,
    durationMs: endTime - startTime,
    rows,
    processes: new Set(rows.map((r) => r.process)).size,
    ...(absentWorker !== undefined && { absentWorker }),
  };
}

function resolveLink(link: SpanLink, links: LinkCollector, startTime: number): WaterfallLink {
  const target = links.target(link);
  if (!target) return { link };
  const linkedFrom = links.linksTo(target);
  return { link, target, offsetMs: target.startTime - startTime, process: processLabel(target), ...(linkedFrom && { linkedFrom }) };
}
