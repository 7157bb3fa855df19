import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import { SpanKind, SpanStatusCode, type Attributes, type HrTime } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';

/**
 * One line of a span file: the contract the span reader builds on. Times are epoch milliseconds
 * (fractional); `parentSpanId` is absent for a root span, `workerId` for a process that is not a
 * worker (the producer).
 */
export interface SpanLine {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: 'INTERNAL' | 'SERVER' | 'CLIENT' | 'PRODUCER' | 'CONSUMER';
  startTime: number;
  endTime: number;
  durationMs: number;
  status: { code: 'UNSET' | 'OK' | 'ERROR'; message?: string };
  attributes: Attributes;
  links: Array<{ traceId: string; spanId: string; attributes: Attributes }>;
  events: Array<{ name: string; time: number; attributes: Attributes }>;
  service: string;
  pid: number;
  workerId?: string;
}

const KINDS: Record<SpanKind, SpanLine['kind']> = {
  [SpanKind.INTERNAL]: 'INTERNAL',
  [SpanKind.SERVER]: 'SERVER',
  [SpanKind.CLIENT]: 'CLIENT',
  [SpanKind.PRODUCER]: 'PRODUCER',
  [SpanKind.CONSUMER]: 'CONSUMER',
};
const STATUS: Record<SpanStatusCode, SpanLine['status']['code']> = {
  [SpanStatusCode.UNSET]: 'UNSET',
  [SpanStatusCode.OK]: 'OK',
  [SpanStatusCode.ERROR]: 'ERROR',
};

const ms = ([seconds, nanos]: HrTime): number => seconds * 1000 + nanos / 1e6;

/** The line of one ended span, keys in the contract's order. */
export function spanLine(span: ReadableSpan, workerId?: string): SpanLine {
  const { traceId, spanId } = span.spanContext();
  const parentSpanId = span.parentSpanContext?.spanId;
  const service = span.resource.attributes['service.name'];
  return {
    traceId,
    spanId,
    ...(parentSpanId !== undefined && { parentSpanId }),
    name: span.name,
    kind: KINDS[span.kind] ?? 'INTERNAL',
    startTime: ms(span.startTime),
    endTime: ms(span.endTime),
    durationMs: ms(span.duration),
    status: { code: STATUS[span.status.code] ?? 'UNSET', ...(span.status.message && { message: span.status.message }) },
    attributes: span.attributes,
    links: span.links.map((link) => ({
      traceId: link.context.traceId,
      spanId: link.context.spanId,
      attributes: link.attributes ?? {},
    })),
    events: span.events.map((event) => ({ name: event.name, time: ms(event.time), attributes: event.attributes ?? {} })),
    service: typeof service === 'string' ? service : 'unknown_service',
    pid: process.pid,
    ...(workerId !== undefined && { workerId }),
  };
}

/**
 * A SpanExporter that appends one JSON line per ended span to a file (`spans-<name>.jsonl` in the
 * log directory: not `.ndjson`, which the log reader reads). Appends, so a worker restarted with
 * the same id adds to its file; each line carries its pid. Writes are asynchronous and in order:
 * the batch processor waits for one export before the next. A file that cannot be written fails
 * the exports (the processor drops those spans); `onError` hears of it each time.
 */
export class SpanFileExporter implements SpanExporter {
  readonly path: string;
  private readonly stream: WriteStream;
  private readonly workerId: string | undefined;
  private failed: Error | null = null;
  private closed: Promise<void> | null = null;

  constructor(path: string, options: { workerId?: string; onError?: (err: Error) => void } = {}) {
    this.path = path;
    this.workerId = options.workerId;
    mkdirSync(dirname(path), { recursive: true });
    this.stream = createWriteStream(path, { flags: 'a' });
    this.stream.on('error', (err) => {
      this.failed ??= err;
      options.onError?.(err);
    });
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    if (this.failed || this.closed) {
      resultCallback({ code: ExportResultCode.FAILED, error: this.failed ?? new Error('span file exporter is shut down') });
      return;
    }
    let chunk = '';
    for (const span of spans) chunk += `${JSON.stringify(spanLine(span, this.workerId))}\n`;
    this.stream.write(chunk, (err) =>
      resultCallback(err ? { code: ExportResultCode.FAILED, error: err } : { code: ExportResultCode.SUCCESS }),
    );
  }

  /** Every line written so far is handed to the file (each export's callback waits for its write). */
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  /** End the file after its pending writes. */
  shutdown(): Promise<void> {
    this.closed ??= new Promise<void>((resolve) => {
      if (this.stream.destroyed) return resolve();
      this.stream.once('close', () => resolve());
      this.stream.end();
    });
    return this.closed;
  }
}
