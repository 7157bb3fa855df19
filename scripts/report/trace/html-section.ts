import { escapeHtml } from '../html/escape.js';
import { legendEntry } from '../html/style.js';
import { absentWorkerLine, waterfallHeading } from './format-waterfall.js';
import type { IncomingLinks } from './links.js';
import { processLabel } from './process.js';
import { shortId, type Span } from './span.js';
import { extentIn, formatMs } from './time-scale.js';
import type { Waterfall, WaterfallLink, WaterfallRow } from './waterfall.js';

/**
 * The waterfall in the HTML report: a table, one row per span, each with an inline SVG bar on
 * the trace's time scale (no script, no network, like the rest of the page). Colours are the
 * timelines' (style.ts): a computation blue, a wait orange, a refresh purple.
 *
 * DOM contract:
 * - `section.trace[data-trace-id][data-run][data-spans]`;
 * - `tr.span[data-span-id][data-depth]` per span, in tree order (`[data-parent-span-id]` when it
 *   has one, `[data-orphan]` when its parent was not read), its bar `svg rect.bar`;
 * - `tr.link[data-linked-span-id][data-linked-trace-id][data-from-span-id]` under the span that
 *   links, `[data-resolved]` when the linked span was read (then its bar `rect.linked`), and
 *   `[data-linked-from-spans]`: how many spans link to that span.
 */

const BAR_WIDTH = 480;
const BAR_HEIGHT = 14;

export function renderTraceSection(w: Waterfall): string {
  const absent = absentWorkerLine(w);
  const rows = w.rows.flatMap((row) => [spanRow(w, row), ...row.links.map((l) => linkRow(w, row, l))]);
  return `<section class="trace" id="trace" data-trace-id="${escapeHtml(w.traceId)}" data-run="${escapeHtml(w.runId)}" data-spans="${w.rows.length}">
<h2>Trace of the slowest job</h2>
<p class="facts">${escapeHtml(waterfallHeading(w))}</p>
${absent === undefined ? '' : `<p class="facts absent-worker">${escapeHtml(absent)}</p>`}
<p class="how">One row per span of the job's trace (from the span files beside the logs), indented under its parent, drawn on the
trace's time scale. A row starting with → is a link: the span it names ran in another trace, usually another process
(a waiting request links to the one computation whose value it waited for), drawn hatched on the same scale.</p>
${HATCHES}
<div class="scroll"><table class="waterfall">
<thead><tr><th>span</th><th>process</th><th class="num">start</th><th class="num">duration</th><th class="scale"><span>0 ms</span><span>${escapeHtml(formatMs(w.durationMs))}</span></th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody></table></div>
</section>`;
}

function spanRow(w: Waterfall, row: WaterfallRow): string {
  const { span } = row;
  const attrs = [
    `data-span-id="${escapeHtml(span.spanId)}"`,
    span.parentSpanId ? `data-parent-span-id="${escapeHtml(span.parentSpanId)}"` : '',
    `data-depth="${row.depth}"`,
    row.orphan ? 'data-orphan' : '',
    span.status.code === 'ERROR' ? 'data-error' : '',
  ].filter(Boolean);
  const notes = [
    row.attributes.length > 0 ? row.attributes.map(([n, v]) => `${n}=${v}`).join(' ') : '',
    span.status.code === 'ERROR' ? `ERROR${span.status.message ? `: ${span.status.message}` : ''}` : '',
    row.orphan
      ? span.parentSpanId
        ? `orphan: parent span ${shortId(span.parentSpanId)} is not in the span files read`
        : 'orphan: a second root in this trace'
      : '',
    row.linkedFrom ? `← linked from ${incoming(row.linkedFrom)}` : '',
  ].filter(Boolean);
  return `<tr class="span" ${attrs.join(' ')}>${nameCell(row.depth, `${row.orphan ? '(orphan) ' : ''}${span.name}`, notes)}<td>${escapeHtml(row.process)}</td><td class="num">${formatMs(row.offsetMs)}</td><td class="num">${formatMs(span.durationMs)}</td><td>${barSvg(w, row.offsetMs, span, 'bar')}</td></tr>`;
}

function linkRow(w: Waterfall, from: WaterfallRow, l: WaterfallLink): string {
  const where = l.link.traceId === w.traceId ? 'this trace' : `trace ${shortId(l.link.traceId)}`;
  const attrs = [
    `data-linked-span-id="${escapeHtml(l.link.spanId)}"`,
    `data-linked-trace-id="${escapeHtml(l.link.traceId)}"`,
    `data-from-span-id="${escapeHtml(from.span.spanId)}"`,
    l.target ? 'data-resolved' : '',
    l.linkedFrom ? `data-linked-from-spans="${l.linkedFrom.spans}"` : '',
  ].filter(Boolean);
  if (!l.target) {
    return `<tr class="link" ${attrs.join(' ')}>${nameCell(from.depth + 1, `→ linked: span ${shortId(l.link.spanId)}`, [`in ${where}, not in the span files read`])}<td></td><td></td><td></td><td></td></tr>`;
  }
  const by =
    l.linkedFrom && l.linkedFrom.spans > 1 ? `; ${l.linkedFrom.spans} spans in ${processes(l.linkedFrom.processes)} link to it` : '';
  return `<tr class="link" ${attrs.join(' ')}>${nameCell(from.depth + 1, `→ linked: ${l.target.name}`, [`in ${where}${by}`])}<td>${escapeHtml(l.process ?? processLabel(l.target))}</td><td class="num">${formatMs(l.offsetMs ?? 0)}</td><td class="num">${formatMs(l.target.durationMs)}</td><td>${barSvg(w, l.offsetMs ?? 0, l.target, 'linked')}</td></tr>`;
}

function nameCell(depth: number, name: string, notes: readonly string[]): string {
  const list = notes.map((n) => `<div class="note">${escapeHtml(n)}</div>`).join('');
  return `<td class="name" style="padding-left: ${0.5 + depth * 1.1}em"><span>${escapeHtml(name)}</span>${list}</td>`;
}

function barSvg(w: Waterfall, offsetMs: number, span: Span, cls: 'bar' | 'linked'): string {
  const e = extentIn(w.durationMs, offsetMs, span.durationMs);
  const x = e.from * BAR_WIDTH;
  // At least 2 px, so an instant span is still seen.
  const width = Math.max(2, (e.to - e.from) * BAR_WIDTH);
  const color = span.status.code === 'ERROR' ? ERROR_COLOR : colorOf(span.name);
  const fill = cls === 'linked' ? `url(#${hatchId(color)})` : color;
  const title = `${span.name}: ${formatMs(offsetMs)} to ${formatMs(offsetMs + span.durationMs)}${e.clippedStart || e.clippedEnd ? ' (beyond this trace: clipped)' : ''}`;
  return `<svg class="bar" width="${BAR_WIDTH}" height="${BAR_HEIGHT}" viewBox="0 0 ${BAR_WIDTH} ${BAR_HEIGHT}" role="img" aria-label="${escapeHtml(title)}"><title>${escapeHtml(title)}</title><rect class="track" x="0" y="0" width="${BAR_WIDTH}" height="${BAR_HEIGHT}"/><rect class="${cls}" x="${x.toFixed(1)}" y="2" width="${width.toFixed(1)}" height="${BAR_HEIGHT - 4}" fill="${fill}" stroke="${color}"/></svg>`;
}

const ERROR_COLOR = legendEntry('lock.lost').color;
const OTHER_CACHE_STAMPEDE = '#9ecae9';
const OTHER = '#bab0ac';
const COLORS = [
  legendEntry('recompute').color,
  legendEntry('wait').color,
  legendEntry('refresh').color,
  OTHER_CACHE_STAMPEDE,
  OTHER,
  ERROR_COLOR,
];

const hatchId = (color: string) => `trace-hatch-${color.replace('#', '')}`;

/**
 * Diagonal stripes for a linked span (there, on this scale, but not part of this trace), one
 * pattern per colour, defined once for the section: an id must be unique in the page.
 */
const HATCHES = `<svg class="defs" width="0" height="0" aria-hidden="true"><defs>${COLORS.map(
  (c) =>
    `<pattern id="${hatchId(c)}" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/><rect width="3" height="6" fill="${c}"/></pattern>`,
).join('')}</defs></svg>`;

function colorOf(name: string): string {
  if (name === 'cache-stampede compute') return legendEntry('recompute').color;
  if (name === 'cache-stampede wait') return legendEntry('wait').color;
  if (name === 'cache-stampede refresh') return legendEntry('refresh').color;
  if (name.startsWith('cache-stampede ')) return OTHER_CACHE_STAMPEDE;
  return OTHER;
}

function incoming(from: IncomingLinks): string {
  if (from.spans === 1) return `${from.first.name} (${processLabel(from.first)}, trace ${shortId(from.first.traceId)})`;
  return `${from.spans} spans in ${processes(from.processes)}`;
}

function processes(n: number): string {
  return `${n} ${n === 1 ? 'process' : 'processes'}`;
}

export const TRACE_SECTION_CSS = `
table.waterfall { border-collapse: collapse; font-size: 12px; font-variant-numeric: tabular-nums; }
table.waterfall th, table.waterfall td { padding: 2px 8px; border-bottom: 1px solid #eef0f3; text-align: left; vertical-align: top; white-space: nowrap; }
table.waterfall thead th { background: #f3f5f8; font-weight: 600; }
table.waterfall .num { text-align: right; }
table.waterfall th.scale { display: flex; justify-content: space-between; width: ${BAR_WIDTH}px; box-sizing: content-box; }
table.waterfall .note { color: #58626d; font-size: 11px; white-space: normal; max-width: 44em; }
table.waterfall tr.link td { color: #3b4652; background: #fbfcfd; }
table.waterfall tr[data-orphan] .name > span { font-style: italic; }
table.waterfall svg.bar { display: block; }
section.trace svg.defs { position: absolute; }
table.waterfall rect.track { fill: #f6f8fa; }
`;
