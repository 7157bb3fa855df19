/**
 * The guard's spans on OpenTelemetry (`cache-stampede/otel`). The only file of the package that
 * imports `@opentelemetry/api` (an optional peer dependency): the rest of the library runs
 * without it.
 *
 * ```ts
 * import { openTelemetry } from 'cache-stampede/otel';
 * const guard = createGuard({ redis, tracing: openTelemetry() });
 * ```
 *
 * Spans go to the tracer provider your OpenTelemetry SDK registered (or the `tracer` given);
 * with none registered, the API hands out spans that record nothing, at the cost of a few
 * objects per call (`npm run bench` measures it).
 */
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  context,
  isSpanContextValid,
  trace,
  type Attributes,
  type Link,
  type Span,
  type SpanContext,
  type Tracer,
} from '@opentelemetry/api';
import type { StartSpanOptions, TraceAttributes, TraceSpan, Tracing } from '../telemetry/tracing.js';
import { ATTR, isTraceparent } from '../telemetry/tracing.js';

export interface OpenTelemetryOptions {
  /** @default trace.getTracer('cache-stampede'): the globally registered provider's */
  tracer?: Tracer;
  /**
   * Record each span's cache key (`cache_stampede.key`), cut to `maxLength` characters. Off by
   * default: keys often hold personal data (a user id, an email address).
   */
  keys?: { maxLength: number };
}

export function openTelemetry(options: OpenTelemetryOptions = {}): Tracing {
  const tracer = options.tracer ?? trace.getTracer('cache-stampede');
  const maxKey = options.keys?.maxLength;
  if (maxKey !== undefined && (!Number.isInteger(maxKey) || maxKey < 1))
    throw new RangeError(`keys.maxLength must be a whole number of characters from 1, got ${String(maxKey)}`);
  return {
    startSpan(name: string, { attributes, key, parent, root, links }: StartSpanOptions): TraceSpan {
      const parentContext = root
        ? ROOT_CONTEXT
        : parent instanceof OtelSpan
          ? trace.setSpan(context.active(), parent.span)
          : context.active();
      const all: Attributes =
        maxKey !== undefined && key !== undefined ? { ...attributes, [ATTR.key]: key.slice(0, maxKey) } : { ...attributes };
      const span = tracer.startSpan(
        name,
        {
          kind: SpanKind.INTERNAL,
          attributes: all,
          links: (links ?? []).map((l) => toLink(l)).filter((l) => l !== null),
          root: root === true,
        },
        parentContext,
      );
      return new OtelSpan(span);
    },
  };
}

class OtelSpan implements TraceSpan {
  constructor(readonly span: Span) {}

  setAttributes(attributes: TraceAttributes): void {
    this.span.setAttributes(attributes);
  }

  addEvent(name: string, attributes?: TraceAttributes): void {
    this.span.addEvent(name, attributes);
  }

  addLink(traceparent: string, attributes?: TraceAttributes): void {
    const link = toLink(traceparent, attributes);
    if (link) this.span.addLink(link);
  }

  run<T>(fn: () => T): T {
    return context.with(trace.setSpan(context.active(), this.span), fn);
  }

  traceparent(): string | undefined {
    const c = this.span.spanContext();
    if (!isSpanContextValid(c)) return undefined;
    return `00-${c.traceId}-${c.spanId}-${(c.traceFlags & TraceFlags.SAMPLED) === TraceFlags.SAMPLED ? '01' : '00'}`;
  }

  end(error?: unknown): void {
    if (error !== undefined) {
      this.span.recordException(error instanceof Error ? error : String(error));
      this.span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
    }
    this.span.end();
  }
}

function toLink(traceparent: string, attributes?: TraceAttributes): Link | null {
  if (!isTraceparent(traceparent)) return null;
  const [, traceId, spanId, flags] = traceparent.split('-') as [string, string, string, string];
  const spanContext: SpanContext = { traceId, spanId, traceFlags: Number.parseInt(flags, 16), isRemote: true };
  return attributes === undefined ? { context: spanContext } : { context: spanContext, attributes };
}
