/**
 * An OpenTelemetry SDK that builds, processes and drops every span, for the processor-cost
 * child's `tracing-sdk` mode: a BasicTracerProvider (default sampler: every root span recorded)
 * with a BatchSpanProcessor over an exporter whose export() reports success at once, and the
 * AsyncLocalStorage context manager, both registered globally. What the spans cost a process
 * with an SDK, without the network or serialization an exporter adds.
 */
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { BasicTracerProvider, BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';

class NoopExporter implements SpanExporter {
  exported = 0;

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    this.exported += spans.length;
    resultCallback({ code: ExportResultCode.SUCCESS });
  }

  async shutdown(): Promise<void> {}
}

/** Registers the SDK; the returned function flushes and shuts it down and says how many spans it exported. */
export function registerNoopSdk(): () => Promise<number> {
  const exporter = new NoopExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter)] });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  if (!trace.setGlobalTracerProvider(provider)) throw new Error('a tracer provider was already registered');
  return async () => {
    await provider.shutdown();
    return exporter.exported;
  };
}
