import { join } from 'node:path';
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { errorMessage } from '../../src/errors.js';
import { redactUrl } from '../common/logging.js';
import { SpanFileExporter } from './span-file-exporter.js';
import { warnOnce } from './warn-once.js';

type Env = Readonly<Record<string, string | undefined>>;

/** Where the lab's spans go, from the standard OpenTelemetry environment; null: tracing is off. */
export type TracingChoice = { exporter: 'otlp'; endpoint: string } | { exporter: 'file' } | null;

/**
 * Off with `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`; OTLP over HTTP when
 * `OTEL_TRACES_EXPORTER=otlp` or an OTLP endpoint is set (the exporter reads the rest of the
 * `OTEL_EXPORTER_OTLP_*` variables itself); else a span file in the log directory.
 */
export function tracingChoice(env: Env = process.env): TracingChoice {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return null;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter(Boolean);
  if (exporters.includes('none')) return null;
  const tracesEndpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  const endpoint = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  if (tracesEndpoint || endpoint || exporters.includes('otlp')) {
    const base = (endpoint || 'http://localhost:4318').replace(/\/+$/, '');
    return { exporter: 'otlp', endpoint: tracesEndpoint || `${base}/v1/traces` };
  }
  return { exporter: 'file' };
}

export interface LabTracingOptions {
  /** `service.name` of the spans, unless `OTEL_SERVICE_NAME` says otherwise. */
  serviceName: string;
  /** The span file goes to `<logDir>/spans-<fileName>.jsonl`. */
  logDir: string;
  fileName: string;
  /** A worker's id: on every line of its span file, and its spans' `service.instance.id`. */
  workerId?: string;
  /** Told once when spans cannot be exported. @default a line on stderr */
  warn?: (line: string) => void;
  env?: Env;
}

export interface LabTracing {
  readonly exporter: 'otlp' | 'file';
  /** The span file's path or the OTLP endpoint (credentials hidden). */
  readonly destination: string;
  /** Export the spans still buffered (bounded: SHUTDOWN_TIMEOUT_MS), then unregister the SDK. */
  shutdown(): Promise<void>;
}

/**
 * The batch processor's queue and batch sizes when the environment does not set them. The SDK's
 * (2048, 512) drop spans in a burst: the 2000 gets of a cache-hit burst end within a few ms, with
 * their `add` spans still queued (measured: a quarter of the producer's spans and half of the
 * workers' lost). 16384 queued spans are some tens of MB at most, held only while a burst is exported.
 */
function batchDefaults(env: Env): { maxQueueSize?: number; maxExportBatchSize?: number } {
  return {
    ...(!env.OTEL_BSP_MAX_QUEUE_SIZE?.trim() && { maxQueueSize: 16_384 }),
    ...(!env.OTEL_BSP_MAX_EXPORT_BATCH_SIZE?.trim() && { maxExportBatchSize: 2048 }),
  };
}

/** The longest a shutdown waits for the last spans to go out: an exporter out of reach must not hold a stopping process. */
export const SHUTDOWN_TIMEOUT_MS = 5000;

/**
 * Start OpenTelemetry for a process of the lab: a tracer provider, an AsyncLocalStorage context
 * manager and the W3C trace-context propagator, registered globally (so the guard's spans, BullMQ's
 * and the producer's find them), exporting in batches. Returns undefined when tracing is off, or
 * when another tracer provider was registered in this process first (that one is left alone).
 */
export function startLabTracing(options: LabTracingOptions): LabTracing | undefined {
  const env = options.env ?? process.env;
  const warn = options.warn ?? ((line: string) => process.stderr.write(`warning: ${line}\n`));
  const choice = tracingChoice(env);
  if (!choice) return undefined;
  let exporter: SpanExporter;
  let destination: string;
  try {
    if (choice.exporter === 'otlp') {
      exporter = new OTLPTraceExporter();
      destination = redactUrl(choice.endpoint);
    } else {
      destination = join(options.logDir, `spans-${options.fileName}.jsonl`);
      exporter = new SpanFileExporter(destination, { ...(options.workerId !== undefined && { workerId: options.workerId }) });
    }
  } catch (err) {
    warn(`tracing: off, its exporter could not be set up (${redactUrl(errorMessage(err))})`);
    return undefined;
  }
  const resource = resourceFromAttributes({
    'service.name': env.OTEL_SERVICE_NAME?.trim() || options.serviceName,
    'process.pid': process.pid,
    ...(options.workerId !== undefined && { 'service.instance.id': options.workerId }),
  });
  const provider = new BasicTracerProvider({
    resource,
    spanProcessors: [new BatchSpanProcessor(warnOnce(exporter, destination, warn), batchDefaults(env))],
  });
  if (!trace.setGlobalTracerProvider(provider)) {
    warn('tracing: off, another tracer provider is registered in this process');
    void exporter.shutdown().catch(() => {});
    return undefined;
  }
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());

  let stopping: Promise<void> | null = null;
  return {
    exporter: choice.exporter,
    destination,
    shutdown() {
      stopping ??= (async () => {
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<void>((resolve) => {
          timer = setTimeout(() => {
            warn(`tracing: the last spans did not reach ${destination} within ${SHUTDOWN_TIMEOUT_MS} ms; they are dropped`);
            resolve();
          }, SHUTDOWN_TIMEOUT_MS);
          timer.unref();
        });
        try {
          await Promise.race([provider.shutdown().catch(() => {}), late]);
        } finally {
          clearTimeout(timer);
          trace.disable();
          context.disable();
          propagation.disable();
        }
      })();
      return stopping;
    },
  };
}
