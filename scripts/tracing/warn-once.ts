import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { errorMessage } from '../../src/errors.js';

/**
 * An exporter that says once, through `warn`, that its spans could not be exported (a collector
 * out of reach, a file that cannot be written), and otherwise behaves as the exporter it wraps:
 * the batch processor drops the spans of a failed export and goes on, so a misconfigured
 * exporter costs spans, never a job. Without it the SDK's failures go to its diagnostic logger,
 * silent unless set up.
 */
export function warnOnce(exporter: SpanExporter, describe: string, warn: (line: string) => void): SpanExporter {
  let warned = false;
  const failed = (error: unknown) => {
    if (warned) return;
    warned = true;
    warn(`tracing: cannot export spans to ${describe} (${errorMessage(error)}); spans are dropped, jobs go on`);
  };
  return {
    export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void) {
      try {
        exporter.export(spans, (result) => {
          if (result.code !== ExportResultCode.SUCCESS) failed(result.error ?? 'export failed');
          resultCallback(result);
        });
      } catch (err) {
        failed(err);
        resultCallback({ code: ExportResultCode.FAILED, error: err as Error });
      }
    },
    forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
    shutdown: () => exporter.shutdown(),
  };
}
