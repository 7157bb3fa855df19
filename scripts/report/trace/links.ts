import { processKey } from './process.js';
import { keyOf, spanKey, type Span, type SpanLink } from './span.js';

/**
 * Links across traces: a waiting request's `cache-stampede getOrCompute` links to the one
 * `cache-stampede compute` whose value it waited for (in another process's file, another trace),
 * and a `cache-stampede refresh` root links to the request that started it. For one trace, this
 * finds, in one pass over every span read, (1) the spans its links point to and (2) every span
 * that links to one of those or to a span of the trace, counted with their processes: "199 spans
 * in 4 processes link to it" is what shows one computation serving the fleet.
 */

/** Spans linking to one span, counted (the spans themselves are not kept: there may be thousands). */
export interface IncomingLinks {
  spans: number;
  processes: number;
  /** The earliest of them, named when it is the only one. */
  first: Span;
}

export class LinkCollector {
  /** Link targets of the trace's spans. */
  private readonly wanted: Set<string>;
  /** Spans whose incoming links are counted: the trace's and the targets. */
  private readonly counted: Set<string>;
  private readonly targets = new Map<string, Span>();
  private readonly incoming = new Map<string, { spans: number; processes: Set<string>; first: Span }>();

  /** `traceSpans`: the spans of the trace drawn. */
  constructor(traceSpans: readonly Span[]) {
    const targets = traceSpans.flatMap((s) => s.links.map((l) => spanKey(l.traceId, l.spanId)));
    this.wanted = new Set(targets);
    this.counted = new Set([...targets, ...traceSpans.map(keyOf)]);
    for (const span of traceSpans) if (this.wanted.has(keyOf(span))) this.targets.set(keyOf(span), span);
  }

  add(span: Span): void {
    const key = keyOf(span);
    if (this.wanted.has(key) && !this.targets.has(key)) this.targets.set(key, span);
    for (const link of span.links) {
      const to = spanKey(link.traceId, link.spanId);
      if (!this.counted.has(to)) continue;
      const seen = this.incoming.get(to);
      if (!seen) {
        this.incoming.set(to, { spans: 1, processes: new Set([processKey(span)]), first: span });
        continue;
      }
      seen.spans++;
      seen.processes.add(processKey(span));
      if (span.startTime < seen.first.startTime) seen.first = span;
    }
  }

  /** The span a link points to, when it was in the files read. */
  target(link: Pick<SpanLink, 'traceId' | 'spanId'>): Span | undefined {
    return this.targets.get(spanKey(link.traceId, link.spanId));
  }

  /** Who links to this span (a span of the trace, or a link's target). */
  linksTo(span: Pick<Span, 'traceId' | 'spanId'>): IncomingLinks | undefined {
    const seen = this.incoming.get(keyOf(span));
    return seen && { spans: seen.spans, processes: seen.processes.size, first: seen.first };
  }
}
