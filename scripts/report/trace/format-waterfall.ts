import type { IncomingLinks } from './links.js';
import { processLabel } from './process.js';
import { shortId } from './span.js';
import { extentIn, formatMs } from './time-scale.js';
import type { Waterfall, WaterfallLink, WaterfallRow } from './waterfall.js';

/**
 * The waterfall as plain text, one line per span: its name indented by depth, the process that
 * ended it, its start from the trace's start, its duration, and a bar showing where in the trace
 * it ran. Under a span: its key attributes, who links to it (`<-`), and the spans it links to
 * as rows of their own (`->`, drawn `░` on the same scale, so a wait and the computation it
 * waited for line up). About 110 columns for a
 * job's trace; no colours, so it survives pipes and CI logs like the rest of the report.
 */

export interface TextWaterfallOptions {
  /** Bar width in characters. @default 40 */
  barWidth?: number;
  /** Rows past this many are counted, not drawn. @default 100 */
  maxRows?: number;
}

const NAME_MAX = 44;
const PROCESS_MAX = 24;

interface Line {
  name: string;
  process: string;
  offset: string;
  duration: string;
  bar: string;
}

/** Said under the heading when the worker that answered the job left no span in its trace. */
export function absentWorkerLine(w: Waterfall): string | undefined {
  if (w.absentWorker === undefined) return undefined;
  return `no span of ${w.absentWorker} (which answered this job) in its trace: not written (dropped, not flushed yet), or the job's trace context did not reach it`;
}

/** The heading line: which job, which run, how big its trace is. */
export function waterfallHeading(w: Waterfall): string {
  const key = w.root.attributes['cache_stampede.job.key'];
  const job = `${w.root.name}${key === undefined ? '' : ` ${key}`}`;
  return `slowest of ${w.jobsInRun} job${w.jobsInRun === 1 ? '' : 's'} in run ${w.runId}: ${job}, ${formatMs(w.root.durationMs)} (trace ${shortId(w.traceId)}, ${w.rows.length} span${w.rows.length === 1 ? '' : 's'} in ${w.processes} process${w.processes === 1 ? '' : 'es'})`;
}

export function formatWaterfall(w: Waterfall, options: TextWaterfallOptions = {}): string {
  const barWidth = options.barWidth ?? 40;
  const maxRows = options.maxRows ?? 100;
  const shown = w.rows.slice(0, maxRows);

  // Each entry is a table line or a free line (attributes, notes) indented under a name.
  const entries: (Line | string)[] = [];
  for (const row of shown) {
    const indent = '  '.repeat(row.depth);
    entries.push({
      name: `${indent}${row.orphan ? '(orphan) ' : ''}${row.span.name}`,
      process: row.process,
      offset: formatMs(row.offsetMs),
      duration: formatMs(row.span.durationMs),
      bar: bar(w.durationMs, row.offsetMs, row.span.durationMs, barWidth, '█'),
    });
    for (const note of rowNotes(row)) entries.push(`${indent}  ${note}`);
    for (const link of row.links) entries.push(...linkEntries(w, link, `${indent}  `, barWidth));
  }

  const lines = entries.filter((e): e is Line => typeof e !== 'string');
  const nameWidth = Math.min(NAME_MAX, Math.max(4, ...lines.map((l) => l.name.length)));
  const processWidth = Math.min(PROCESS_MAX, Math.max(7, ...lines.map((l) => l.process.length)));
  const offsetWidth = Math.max(5, ...lines.map((l) => l.offset.length));
  const durationWidth = Math.max(8, ...lines.map((l) => l.duration.length));
  const cells = (l: Line) =>
    `${fitTo(l.name, nameWidth)}  ${fitTo(l.process, processWidth)}  ${l.offset.padStart(offsetWidth)}  ${l.duration.padStart(durationWidth)}  ${l.bar}`;
  const header = cells({
    name: 'span',
    process: 'process',
    offset: 'start',
    duration: 'duration',
    bar: scaleHeader(w.durationMs, barWidth),
  });

  const out = [header, ...entries.map((e) => (typeof e === 'string' ? e : cells(e)).trimEnd())];
  if (w.rows.length > shown.length) out.push(`... ${w.rows.length - shown.length} more spans not shown`);
  return `${out.join('\n')}\n`;
}

/** What is said under a span: its attributes, an error, why it is an orphan, who links to it. */
function rowNotes(row: WaterfallRow): string[] {
  const notes: string[] = [];
  if (row.attributes.length > 0) notes.push(row.attributes.map(([name, value]) => `${name}=${value}`).join(' '));
  if (row.span.status.code === 'ERROR') notes.push(`ERROR${row.span.status.message ? `: ${row.span.status.message}` : ''}`);
  if (row.orphan) {
    notes.push(
      row.span.parentSpanId === undefined
        ? 'orphan: a second root in this trace'
        : `orphan: parent span ${shortId(row.span.parentSpanId)} is not in the span files read`,
    );
  }
  if (row.linkedFrom) notes.push(`<- linked from ${incoming(row.linkedFrom)}`);
  return notes;
}

function linkEntries(w: Waterfall, l: WaterfallLink, indent: string, barWidth: number): (Line | string)[] {
  const where = l.link.traceId === w.traceId ? 'this trace' : `trace ${shortId(l.link.traceId)}`;
  if (!l.target) return [`${indent}-> linked: span ${shortId(l.link.spanId)} of ${where}, not in the span files read`];
  const line: Line = {
    name: `${indent}-> ${l.target.name}`,
    process: l.process ?? processLabel(l.target),
    offset: formatMs(l.offsetMs ?? 0),
    duration: formatMs(l.target.durationMs),
    bar: bar(w.durationMs, l.offsetMs ?? 0, l.target.durationMs, barWidth, '░'),
  };
  const by =
    l.linkedFrom && l.linkedFrom.spans > 1
      ? `; ${l.linkedFrom.spans} spans in ${plural(l.linkedFrom.processes, 'process', 'processes')} link to it`
      : '';
  return [line, `${indent}   linked span, in ${where}${by}`];
}

function incoming(from: IncomingLinks): string {
  if (from.spans === 1) return `${from.first.name} (${processLabel(from.first)}, trace ${shortId(from.first.traceId)})`;
  return `${from.spans} spans in ${plural(from.processes, 'process', 'processes')}`;
}

/** `|   ████    |`: cells covered by the span; at least one, so a 0.1 ms span is still seen. */
function bar(windowMs: number, offsetMs: number, durationMs: number, width: number, fill: string): string {
  const e = extentIn(windowMs, offsetMs, durationMs);
  const from = Math.min(width - 1, Math.floor(e.from * width));
  const to = Math.max(from + 1, Math.min(width, Math.ceil(e.to * width)));
  const cells = `${' '.repeat(from)}${fill.repeat(to - from)}${' '.repeat(width - to)}`;
  return `${e.clippedStart ? '<' : '|'}${cells}${e.clippedEnd ? '>' : '|'}`;
}

/** `|0 ms                          1597 ms|` over the bars. */
function scaleHeader(windowMs: number, width: number): string {
  const left = '0 ms';
  const right = formatMs(windowMs);
  return `|${left}${' '.repeat(Math.max(1, width - left.length - right.length))}${right}|`;
}

function fitTo(text: string, width: number): string {
  return text.length <= width ? text.padEnd(width) : `${text.slice(0, width - 1)}…`;
}

function plural(n: number, word: string, many: string): string {
  return `${n} ${n === 1 ? word : many}`;
}
