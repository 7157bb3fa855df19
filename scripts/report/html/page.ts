import { formatInput, formatReport } from '../format.js';
import type { ReadStats } from '../read-logs.js';
import type { GroupSummary, Verdict } from '../summarize.js';
import type { HtmlReportData } from './collect.js';
import { escapeHtml } from './escape.js';
import { latencySpec } from './latency-spec.js';
import { renderChartSvg } from './render-svg.js';
import { FONT } from './style.js';
import { kindsIn, tickBinning, timelineSpec } from './timeline-spec.js';
import type { LoadRun } from '../../load/load-run-file.js';
import { LOAD_SECTION_CSS, renderLoadSection } from '../../load/load-section.js';
import type { TimelinePanel } from './timeline.js';
import { TRACE_SECTION_CSS, renderTraceSection } from '../trace/html-section.js';
import type { Waterfall } from '../trace/waterfall.js';

/**
 * The HTML report: one self-contained page (inline CSS, inline SVG, no script, no network),
 * so it opens from disk in any browser and can be mailed or attached to CI as one file.
 *
 * DOM contract (what tests and people with devtools can rely on):
 * - `section.strategy[data-strategy][data-recomputations]`: one per strategy, its
 *   `recompute.start` count across runs;
 * - inside it `figure.panel[data-strategy][data-run][data-recomputations][data-lanes]`: one
 *   timeline per run, whose SVG has one `path` per recomputation under
 *   `g.recompute_bars_marks`;
 * - `table.summary`: the text report's per-strategy numbers; `.latency svg`: p50/p99/max;
 * - `section.load`: one per load run (`loadRuns`), as scripts/load/load-section.ts describes;
 * - `section.trace[data-trace-id]`: the slowest job's trace (`trace`), one `tr[data-span-id]` per
 *   span and `tr[data-linked-span-id]` per link, as scripts/report/trace/html-section.ts describes.
 */

export interface HtmlPageOptions {
  /** @default 'cache-stampede: burst timelines' */
  title?: string;
  /** What was read, as printed by the text report. */
  input?: ReadStats | null;
  /** Shown in the header. @default now */
  generatedAt?: Date;
  /**
   * Load runs to draw after the bursts (origin load and latency per second, strategy beside
   * strategy): what `npm run load` wrote beside its logs (load-run-file.ts), or the demo's own.
   */
  loadRuns?: readonly LoadRun[];
  /** The slowest job's trace as a waterfall, drawn last (scripts/report/trace/); none when absent. */
  trace?: Waterfall | null;
}

/** Panels whose durations differ by more than this factor get their own x axis; else they share one. */
const SHARED_AXIS_MAX_RATIO = 4;

export async function renderHtmlReport(data: HtmlReportData, options: HtmlPageOptions = {}): Promise<string> {
  const { report, timelines } = data;
  const title = options.title ?? 'cache-stampede: burst timelines';
  const kinds = kindsIn(...timelines);
  const xMaxMs = sharedAxis(timelines);
  const latencyMax = report.strategies.reduce((max, s) => Math.max(max, s.latencyMs.max ?? 0), 0);

  const sections: string[] = [];
  // Strategies in the text report's order; a strategy with job lines but no timed line still gets its row.
  for (const group of report.strategies) {
    const panels = timelines.filter((p) => p.strategy === group.strategy);
    const figures: string[] = [];
    for (const panel of panels) {
      const svg = await renderChartSvg(timelineSpec(panel, { xMaxMs, kinds }));
      figures.push(figure(panel, svg, xMaxMs));
    }
    const latency =
      group.latencyMs.max === null
        ? '<p class="none">no completed jobs</p>'
        : await renderChartSvg(latencySpec(group, { xMaxMs: latencyMax }));
    const verdict = report.verdicts.find((v) => v.strategy === group.strategy);
    const recomputations = panels.reduce((n, p) => n + p.recomputations, 0);
    sections.push(`<section class="strategy" id="strategy-${escapeHtml(slug(group.strategy))}" data-strategy="${escapeHtml(group.strategy)}" data-recomputations="${recomputations}" data-panels="${panels.length}">
<h2>${escapeHtml(group.strategy)}</h2>
${verdict ? verdictLine(verdict) : ''}
<p class="facts">${facts(group)}</p>
<div class="row">
<div class="panels">
${figures.join('\n') || '<p class="none">no timed job lines</p>'}
</div>
<aside class="latency"><h3>job latency</h3>${latency}</aside>
</div>
</section>`);
  }

  const loadSections: string[] = [];
  for (const run of options.loadRuns ?? []) loadSections.push(await renderLoadSection(run, { heading: 'Under load' }));

  const generated = (options.generatedAt ?? new Date()).toISOString();
  const runLine = report.runId === null ? '' : `<p class="meta">run ${escapeHtml(report.runId)} only</p>`;
  const bursts =
    report.strategies.length === 0 && loadSections.length > 0
      ? ''
      : report.strategies.length === 0
        ? `<p class="none">${report.runId === null ? 'no job lines found' : `no job lines found for run ${escapeHtml(report.runId)}`}</p>`
        : `<section class="summary">
<h2>Per strategy</h2>
${summaryTable(report.strategies)}
${report.verdicts.length > 0 ? `<ul class="verdicts">${report.verdicts.map((v) => `<li>${verdictLine(v, 'span')}</li>`).join('')}</ul>` : ''}
<p class="how">Each timeline below is one burst: time runs left to right from the first log line of the run, each lane is one worker process.
Thick blue bars are recomputations (overlapping ones stacked); the thinner orange bars below them are waits for another process's
lock holder, and the yellow hairline marks callers that joined a computation already in flight in the same process. Green ticks at the
bottom of a lane are cache hits (a histogram per time bucket when there are many).</p>
<details><summary>text report</summary><pre>${escapeHtml(formatReport(report, options.input))}</pre></details>
</section>
${sections.join('\n')}`;
  const traceSection = options.trace ? renderTraceSection(options.trace) : '';
  const body = [bursts, ...loadSections, traceSection].filter(Boolean).join('\n');

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="cache-stampede npm run logs -- --html">
<title>${escapeHtml(title)}</title>
<style>${CSS}</style>
</head>
<body>
<header>
<h1>${escapeHtml(title)}</h1>
<p class="meta">generated ${escapeHtml(generated)}${options.input ? ` · ${escapeHtml(formatInput(options.input))}` : ''}</p>
${runLine}
</header>
<main>
${body}
</main>
</body>
</html>
`;
}

function figure(panel: TimelinePanel, svg: string, xMaxMs: number | undefined): string {
  const { binned, bucketMs } = tickBinning(panel, { xMaxMs });
  const parts = [
    panel.runId === null ? 'no run id' : `run ${panel.runId}`,
    plural(panel.lanes.length, 'worker process', 'worker processes'),
    plural(panel.jobs, 'job'),
    plural(panel.recomputations, 'recomputation'),
    plural(panel.waits, 'wait'),
    ...(panel.joins > 0 ? [plural(panel.joins, 'flight join')] : []),
    `${formatDuration(panel.durationMs)} from first to last line`,
    `started ${new Date(panel.startedAt).toISOString()}`,
  ];
  if (binned) parts.push(`cache hits counted per ${bucketMs} ms`);
  if (panel.untimed > 0) parts.push(`${panel.untimed} lines without a time not drawn`);
  // As wide as the chart, so a long caption wraps instead of pushing the latency chart down.
  const width = /^<svg[^>]*\swidth="(\d+(?:\.\d+)?)"/.exec(svg)?.[1];
  const style = width ? ` style="max-width: ${width}px"` : '';
  return `<figure class="panel"${style} data-strategy="${escapeHtml(panel.strategy)}" data-run="${escapeHtml(panel.runId ?? '')}" data-recomputations="${panel.recomputations}" data-lanes="${panel.lanes.length}">
<figcaption>${escapeHtml(parts.join(' · '))}</figcaption>
${svg}
</figure>`;
}

interface Column {
  header: string;
  value: (g: GroupSummary) => string;
  numeric?: boolean;
  strong?: boolean;
}

/** The text report's "per strategy" columns (format.ts), as an HTML table. */
const COLUMNS: Column[] = [
  { header: 'strategy', value: (g) => g.strategy },
  { header: 'jobs', value: (g) => String(g.jobs), numeric: true },
  { header: 'failed', value: (g) => String(g.failed), numeric: true },
  { header: 'recomputes', value: (g) => String(g.recomputations), numeric: true, strong: true },
  { header: 'hits', value: (g) => String(g.hits), numeric: true },
  { header: 'misses', value: (g) => String(g.misses), numeric: true },
  { header: 'waits', value: (g) => String(g.waits), numeric: true },
  { header: 'joins', value: (g) => String(g.flightJoins), numeric: true },
  { header: 'writes', value: (g) => String(g.writes), numeric: true },
  { header: 'rejected', value: (g) => String(g.rejectedWrites), numeric: true },
  { header: 'lost', value: (g) => String(g.lostLocks), numeric: true },
  {
    header: 'cache/computed/waited/stale',
    value: (g) => `${g.sources.cache}/${g.sources.computed}/${g.sources.waited}/${g.sources.stale}`,
    numeric: true,
  },
  { header: 'p50 ms', value: (g) => ms(g.latencyMs.p50), numeric: true },
  { header: 'p99 ms', value: (g) => ms(g.latencyMs.p99), numeric: true },
  { header: 'max ms', value: (g) => ms(g.latencyMs.max), numeric: true },
  { header: 'keys', value: (g) => String(g.keys), numeric: true },
  { header: 'runs', value: (g) => String(g.runs), numeric: true },
  { header: 'workers', value: (g) => String(g.workers), numeric: true },
];

function summaryTable(groups: readonly GroupSummary[]): string {
  const cell = (c: Column, text: string, tag: 'td' | 'th') => {
    const cls = [c.numeric ? 'num' : '', c.strong ? 'strong' : ''].filter(Boolean).join(' ');
    return `<${tag}${cls ? ` class="${cls}"` : ''}>${escapeHtml(text)}</${tag}>`;
  };
  const head = `<tr>${COLUMNS.map((c) => cell(c, c.header, 'th')).join('')}</tr>`;
  const rows = groups.map(
    (g) =>
      `<tr data-strategy="${escapeHtml(g.strategy)}">${COLUMNS.map((c, i) => (i === 0 ? `<th scope="row"><a href="#strategy-${escapeHtml(slug(g.strategy))}">${escapeHtml(g.strategy)}</a></th>` : cell(c, c.value(g), 'td'))).join('')}</tr>`,
  );
  return `<div class="scroll"><table class="summary"><thead>${head}</thead><tbody>${rows.join('')}</tbody></table></div>`;
}

function verdictLine(v: Verdict, tag: 'p' | 'span' = 'p'): string {
  return `<${tag} class="verdict ${v.status}"><b>${v.status === 'ok' ? 'OK' : v.status === 'fail' ? 'FAIL' : 'info'}</b> ${escapeHtml(v.message)}</${tag}>`;
}

function facts(g: GroupSummary): string {
  return escapeHtml(
    [
      plural(g.jobs, 'job'),
      plural(g.recomputations, 'recomputation'),
      plural(g.waits, 'wait'),
      plural(g.hits, 'cache hit'),
      `p50 ${ms(g.latencyMs.p50)} ms, p99 ${ms(g.latencyMs.p99)} ms`,
    ].join(' · '),
  );
}

/** One x axis for all panels when their lengths are comparable; `undefined`: each its own. */
function sharedAxis(panels: readonly TimelinePanel[]): number | undefined {
  const durations = panels.map((p) => Math.max(p.durationMs, 1));
  if (durations.length === 0) return undefined;
  const max = Math.max(...durations);
  const min = Math.min(...durations);
  return max / min <= SHARED_AXIS_MAX_RATIO ? max : undefined;
}

function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-');
}

function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}

function ms(value: number | null): string {
  if (value === null) return '-';
  return Number.isInteger(value) || value >= 10 ? String(Math.round(value)) : value.toFixed(1);
}

function formatDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

const CSS = `
:root { color-scheme: light; }
body { font-family: ${FONT}; margin: 0; color: #1d2329; background: #fafbfc; }
header { padding: 18px 28px 8px; border-bottom: 1px solid #e1e5ea; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 0 0 6px; }
h3 { font-size: 13px; margin: 0 0 4px; color: #444; font-weight: 600; }
main { padding: 12px 28px 40px; }
section { background: #fff; border: 1px solid #e1e5ea; border-radius: 6px; padding: 14px 18px; margin: 14px 0; }
.meta, .facts, .how, figcaption { color: #58626d; font-size: 13px; margin: 2px 0; }
.how { max-width: 70em; margin-top: 10px; }
.row { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; }
.panels { flex: 0 1 auto; min-width: 0; }
figure { margin: 10px 0 0; }
figcaption { margin-bottom: 4px; }
svg { max-width: 100%; height: auto; display: block; }
.latency { flex: 0 0 auto; margin-top: 10px; }
.scroll { overflow-x: auto; }
table.summary { border-collapse: collapse; font-size: 13px; font-variant-numeric: tabular-nums; }
table.summary th, table.summary td { padding: 4px 9px; border-bottom: 1px solid #e6e9ed; text-align: left; white-space: nowrap; }
table.summary thead th { background: #f3f5f8; font-weight: 600; }
table.summary .num { text-align: right; }
table.summary .strong { font-weight: 700; }
table.summary a { color: inherit; }
.verdicts { list-style: none; padding: 0; margin: 10px 0 0; font-size: 13px; }
.verdict b { display: inline-block; min-width: 3.2em; padding: 0 4px; margin-right: 6px; border-radius: 3px; text-align: center; font-size: 11px; }
.verdict.ok b { background: #d8f0dc; color: #185c25; }
.verdict.fail b { background: #fbd9d7; color: #8a1c15; }
.verdict.info b { background: #e4e8ee; color: #3b4652; }
p.verdict { font-size: 13px; margin: 2px 0; }
details { margin-top: 10px; font-size: 13px; }
pre { font-size: 12px; overflow-x: auto; background: #f6f8fa; padding: 10px; border-radius: 4px; }
.none { color: #8a939d; font-style: italic; }
${LOAD_SECTION_CSS}
${TRACE_SECTION_CSS}`;
