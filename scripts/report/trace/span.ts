/**
 * One ended span as the lab writes it: one JSON object a line in `spans-<something>.jsonl`
 * (the contract the lab's OpenTelemetry exporter writes to). Span files are evidence like the
 * logs: a line that is not a span is skipped and counted by the reader, never fatal, so
 * `parseSpanLine` checks the fields the waterfall needs and tolerates the rest being absent.
 */

export type SpanKind = 'INTERNAL' | 'SERVER' | 'CLIENT' | 'PRODUCER' | 'CONSUMER';
export type StatusCode = 'UNSET' | 'OK' | 'ERROR';
export type AttributeValue = string | number | boolean;
export type Attributes = Readonly<Record<string, AttributeValue>>;

export interface SpanLink {
  traceId: string;
  spanId: string;
  attributes: Attributes;
}

export interface SpanEvent {
  name: string;
  time: number;
  attributes: Attributes;
}

export interface Span {
  traceId: string;
  spanId: string;
  /** Absent for a root. */
  parentSpanId?: string;
  name: string;
  kind: SpanKind;
  /** Epoch milliseconds (fractional). */
  startTime: number;
  endTime: number;
  durationMs: number;
  status: { code: StatusCode; message?: string };
  attributes: Attributes;
  links: readonly SpanLink[];
  events: readonly SpanEvent[];
  /** The OpenTelemetry `service.name` of the process that ended the span. */
  service: string;
  pid: number;
  workerId?: string;
}

const TRACE_ID = /^[0-9a-f]{32}$/i;
const SPAN_ID = /^[0-9a-f]{16}$/i;
const KINDS: readonly SpanKind[] = ['INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];
const CODES: readonly StatusCode[] = ['UNSET', 'OK', 'ERROR'];

/** Where a span is found: trace and span id together, as a link names it. */
export const spanKey = (traceId: string, spanId: string): string => `${traceId.toLowerCase()}/${spanId.toLowerCase()}`;
export const keyOf = (span: Pick<Span, 'traceId' | 'spanId'>): string => spanKey(span.traceId, span.spanId);

/** The first 8 hex digits of an id: enough to tell spans of one report apart, short enough to read. */
export const shortId = (id: string): string => id.slice(0, 8);

/**
 * One span line parsed, or `null` when the line is not a span (blank, truncated, plain text,
 * ids or times missing). Optional parts of the contract default to empty rather than
 * rejecting the span: a span without attributes still has its place in the waterfall.
 */
export function parseSpanLine(line: string): Span | null {
  const text = line.trim();
  if (!text.startsWith('{') || !text.endsWith('}')) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  return toSpan(raw);
}

/** Check an already parsed object against the contract; `null` when it is not a span. */
export function toSpan(raw: unknown): Span | null {
  if (!isObject(raw)) return null;
  const { traceId, spanId, parentSpanId, name, startTime, endTime } = raw;
  if (typeof traceId !== 'string' || !TRACE_ID.test(traceId)) return null;
  if (typeof spanId !== 'string' || !SPAN_ID.test(spanId)) return null;
  if (
    parentSpanId !== undefined &&
    parentSpanId !== null &&
    parentSpanId !== '' &&
    (typeof parentSpanId !== 'string' || !SPAN_ID.test(parentSpanId))
  ) {
    return null;
  }
  if (typeof name !== 'string' || !isTime(startTime) || !isTime(endTime) || endTime < startTime) return null;
  const status = isObject(raw.status) ? raw.status : {};
  const span: Span = {
    traceId: traceId.toLowerCase(),
    spanId: spanId.toLowerCase(),
    name,
    kind: KINDS.includes(raw.kind as SpanKind) ? (raw.kind as SpanKind) : 'INTERNAL',
    startTime,
    endTime,
    // The writer's own figure when it gave one (it measured with a finer clock), else ours.
    durationMs: isFiniteNumber(raw.durationMs) && raw.durationMs >= 0 ? raw.durationMs : endTime - startTime,
    status: {
      code: CODES.includes(status.code as StatusCode) ? (status.code as StatusCode) : 'UNSET',
      ...(typeof status.message === 'string' && status.message !== '' && { message: status.message }),
    },
    attributes: attributesOf(raw.attributes),
    links: Array.isArray(raw.links) ? raw.links.flatMap(linkOf) : [],
    events: Array.isArray(raw.events) ? raw.events.flatMap(eventOf) : [],
    service: typeof raw.service === 'string' ? raw.service : 'unknown',
    pid: isFiniteNumber(raw.pid) ? raw.pid : 0,
  };
  if (typeof parentSpanId === 'string' && parentSpanId !== '') span.parentSpanId = parentSpanId.toLowerCase();
  if (typeof raw.workerId === 'string' && raw.workerId !== '') span.workerId = raw.workerId;
  return span;
}

function linkOf(raw: unknown): SpanLink[] {
  if (!isObject(raw)) return [];
  const { traceId, spanId } = raw;
  if (typeof traceId !== 'string' || !TRACE_ID.test(traceId) || typeof spanId !== 'string' || !SPAN_ID.test(spanId)) return [];
  return [{ traceId: traceId.toLowerCase(), spanId: spanId.toLowerCase(), attributes: attributesOf(raw.attributes) }];
}

function eventOf(raw: unknown): SpanEvent[] {
  if (!isObject(raw) || typeof raw.name !== 'string' || !isTime(raw.time)) return [];
  return [{ name: raw.name, time: raw.time, attributes: attributesOf(raw.attributes) }];
}

/** Scalar attributes only, as OpenTelemetry allows (arrays are joined, anything else dropped). */
function attributesOf(raw: unknown): Attributes {
  if (!isObject(raw)) return {};
  const out: Record<string, AttributeValue> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (typeof value === 'string' || typeof value === 'boolean' || isFiniteNumber(value)) out[name] = value;
    else if (Array.isArray(value)) out[name] = value.map(String).join(',');
  }
  return out;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function isTime(value: unknown): value is number {
  return isFiniteNumber(value) && value >= 0;
}
