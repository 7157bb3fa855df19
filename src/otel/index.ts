// 'cache-stampede/otel': the guard's spans on OpenTelemetry. Re-exports only. Needs the optional
// peer dependency @opentelemetry/api; the root entry never imports this one.
export { openTelemetry, type OpenTelemetryOptions } from './open-telemetry.js';
export { ATTR, SPAN, type StartSpanOptions, type TraceAttributes, type TraceSpan, type Tracing } from '../telemetry/tracing.js';
