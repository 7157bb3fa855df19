import type { AttributeValue, Span } from './span.js';

/**
 * The attributes worth a place on a waterfall row: the lab's and the library's
 * (`cache_stampede.*`), named without their prefix, the ones that explain a wait first.
 * BullMQ's and OpenTelemetry's own (`messaging.*`, ...) stay in the span files: the span's
 * name already says what they would.
 */

const PREFIX = 'cache_stampede.';
/** Said once, in the waterfall's heading. */
const LEFT_OUT = new Set(['cache_stampede.run_id']);
const FIRST = ['source', 'strategy', 'tier', 'wait.outcome', 'wait.ms', 'fence', 'key', 'job.key', 'job.index'];

export function keyAttributes(span: Pick<Span, 'attributes'>): [name: string, value: string][] {
  const out: [string, string][] = [];
  for (const [name, value] of Object.entries(span.attributes)) {
    if (!name.startsWith(PREFIX) || LEFT_OUT.has(name)) continue;
    out.push([name.slice(PREFIX.length), formatValue(value)]);
  }
  const rank = (name: string) => (FIRST.includes(name) ? FIRST.indexOf(name) : FIRST.length);
  return out.sort(([a], [b]) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
}

function formatValue(value: AttributeValue): string {
  if (typeof value === 'number' && !Number.isInteger(value)) return String(Math.round(value * 10) / 10);
  return String(value);
}
