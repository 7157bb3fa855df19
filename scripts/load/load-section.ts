import { escapeHtml } from '../report/html/escape.js';
import { renderChartSvg } from '../report/html/render-svg.js';
import { describeTraffic, formatLoadTable } from './format-load.js';
import { latencyOverTimeSpec, loadAxisSeconds, originSpec } from './load-charts.js';
import type { LoadRun } from './load-run-file.js';

/**
 * One load run as an HTML section, the same in `npm run load`'s own page and in the log report
 * (`npm run logs -- --html`, the demo's report.html): what reached the origin per second,
 * strategy beside strategy; below it the callers' latency p50/p99 per second on the same time
 * axis; the timeline's flush, burst and invalidation as vertical rules in both; then the load table.
 *
 * DOM contract: `section.load[data-strategies]` (the strategies drawn, comma-separated) holding
 * `figure.origin svg`, `figure.latency svg` and `pre.table` (the text table).
 */
export async function renderLoadSection(run: LoadRun, options: { heading?: string } = {}): Promise<string> {
  const { rows, traffic, workers } = run;
  const xMaxS = loadAxisSeconds(rows, traffic.durationMs);
  const origin = await renderChartSvg(originSpec(rows, { xMaxS }));
  const latency = await renderChartSvg(latencyOverTimeSpec(rows, { xMaxS }));
  const heading = options.heading === undefined ? '' : `<h2>${escapeHtml(options.heading)}</h2>\n`;
  return `<section class="load" data-strategies="${escapeHtml(rows.map((r) => r.strategy).join(','))}">
${heading}<p class="traffic">${escapeHtml(describeTraffic(traffic, workers))}</p>
<figure class="origin">
<figcaption>Requests that reached the origin, per second, as the origin counted them (each strategy ran alone, on a fresh fleet and an empty cache, with the same traffic). Dashed rules: the timeline's events.</figcaption>
${origin}
</figure>
<figure class="latency">
<figcaption>What the callers waited, from each job's scheduled arrival: p99 (solid) and p50 (dashed) of the jobs due in each second.</figcaption>
${latency}
</figure>
<pre class="table">${escapeHtml(formatLoadTable(rows, traffic, workers))}</pre>
</section>`;
}

/** The section's own styles, for a page that does not already style figures and tables alike. */
export const LOAD_SECTION_CSS = `
section.load .traffic { font-size: 14px; margin: 2px 0; }
section.load figure { margin: 10px 0 18px; }
section.load figcaption { max-width: 70em; }
section.load pre.table { font-size: 12px; overflow-x: auto; margin: 0; }
`;
