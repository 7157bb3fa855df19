import { View, parse } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { installTextMetrics } from './text-metrics.js';

/**
 * One Vega-Lite spec in, one standalone SVG string out, entirely in Node: compile to Vega,
 * run a headless View (renderer `none`: no canvas, no DOM) and serialize its scenegraph.
 * The HTML report and the benchmark chart both draw through here, so every picture the
 * project produces comes from the same library with the same look.
 *
 * Vega's SVG gives each mark group `class="mark-<type> role-mark <name>_marks"` when its
 * Vega-Lite layer has a `name`, and one child element per datum: that is how tests (and
 * people with devtools) count what was drawn.
 */
export type VegaLiteSpec = TopLevelSpec;

export async function renderChartSvg(spec: VegaLiteSpec): Promise<string> {
  installTextMetrics();
  const { spec: vegaSpec } = compile(spec);
  const view = new View(parse(vegaSpec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    // Frees the dataflow and its timers; a report renders many views in one process.
    view.finalize();
  }
}
