import { keyOf, spanKey, type Span } from './span.js';

/**
 * Spans by trace and by id. Span ids are unique only within a trace in principle, so a span
 * is found by both (as a link names it). The first span read under a key wins: an exporter
 * that retried a batch may write a span twice.
 */
export class SpanIndex {
  private readonly byKey = new Map<string, Span>();
  private readonly byTrace = new Map<string, Span[]>();

  constructor(spans: Iterable<Span> = []) {
    for (const span of spans) this.add(span);
  }

  add(span: Span): void {
    const key = keyOf(span);
    if (this.byKey.has(key)) return;
    this.byKey.set(key, span);
    const trace = this.byTrace.get(span.traceId);
    if (trace) trace.push(span);
    else this.byTrace.set(span.traceId, [span]);
  }

  get(traceId: string, spanId: string): Span | undefined {
    return this.byKey.get(spanKey(traceId, spanId));
  }

  /** The spans of one trace, in reading order; empty when none was read. */
  trace(traceId: string): readonly Span[] {
    return this.byTrace.get(traceId.toLowerCase()) ?? [];
  }

  get size(): number {
    return this.byKey.size;
  }
}
