import type { Span } from './span.js';

/**
 * A trace as a tree under one root, in the order a waterfall draws it: children by start time.
 * Spans are written by several processes that may not all have flushed (a worker killed before
 * its exporter wrote its batch), so a span's parent can be missing: such a span is put under the
 * root and marked `orphan`, rather than dropped, so what was recorded is all shown.
 */
export interface TraceNode {
  span: Span;
  /** 0 for the root. */
  depth: number;
  children: TraceNode[];
  /** Its parent is not among the spans read (or it is a second root of the trace). */
  orphan: boolean;
}

/** `spans` are one trace's spans; `root` one of them (the job's root span). */
export function buildTraceTree(spans: readonly Span[], root: Span): TraceNode {
  const childrenOf = new Map<string, Span[]>();
  for (const span of spans) {
    if (span.spanId === root.spanId || span.parentSpanId === undefined) continue;
    const siblings = childrenOf.get(span.parentSpanId);
    if (siblings) siblings.push(span);
    else childrenOf.set(span.parentSpanId, [span]);
  }

  // Walk from the root; a span seen twice (duplicate ids, a parent cycle) is placed once.
  const placed = new Set<string>([root.spanId]);
  const grow = (span: Span, depth: number, orphan: boolean): TraceNode => {
    const node: TraceNode = { span, depth, children: [], orphan };
    for (const child of byStart(childrenOf.get(span.spanId) ?? [])) {
      if (placed.has(child.spanId)) continue;
      placed.add(child.spanId);
      node.children.push(grow(child, depth + 1, false));
    }
    return node;
  };
  const tree = grow(root, 0, false);

  // What the walk did not reach hangs under the root: the top of each unreached branch (its
  // parent is not placed and not reachable) as an orphan, with its own descendants below it.
  const unreached = spans.filter((s) => !placed.has(s.spanId));
  const ids = new Set(unreached.map((s) => s.spanId));
  const tops = unreached.filter((s) => s.parentSpanId === undefined || !ids.has(s.parentSpanId));
  for (const span of byStart(tops)) {
    placed.add(span.spanId);
    tree.children.push(grow(span, 1, true));
  }
  // Spans in a parent cycle have no top: each one still unplaced hangs under the root too.
  for (const span of byStart(spans.filter((s) => !placed.has(s.spanId)))) {
    if (placed.has(span.spanId)) continue;
    placed.add(span.spanId);
    tree.children.push(grow(span, 1, true));
  }
  tree.children.sort((a, b) => a.span.startTime - b.span.startTime);
  return tree;
}

/** Depth first, parents before children: the rows of a waterfall. */
export function* walkTree(node: TraceNode): Generator<TraceNode> {
  yield node;
  for (const child of node.children) yield* walkTree(child);
}

function byStart(spans: readonly Span[]): Span[] {
  return [...spans].sort((a, b) => a.startTime - b.startTime || a.endTime - b.endTime);
}
