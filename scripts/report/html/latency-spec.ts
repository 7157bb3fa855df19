import type { PositionFieldDef } from 'vega-lite/build/src/channeldef.js';
import type { GroupSummary } from '../summarize.js';
import type { VegaLiteSpec } from './render-svg.js';
import { CHART_CONFIG } from './style.js';

/**
 * A small bar chart of one strategy's job latency (enqueue to completion): p50, p99, max,
 * nearest-rank, exactly the numbers of the text table. Give every strategy the same `xMaxMs`
 * so the charts, stacked down the page, compare at a glance.
 */

export interface LatencySpecOptions {
  /** @default 220 */
  width?: number;
  /** End of the x axis; @default this strategy's max */
  xMaxMs?: number;
}

const STATS = ['p50', 'p99', 'max'] as const;

export function latencySpec(group: GroupSummary, options: LatencySpecOptions = {}): VegaLiteSpec {
  const values = STATS.flatMap((stat) => {
    const ms = group.latencyMs[stat];
    return ms === null ? [] : [{ stat, ms, label: `${Math.round(ms)} ms` }];
  });
  const xMax = Math.max(options.xMaxMs ?? 0, group.latencyMs.max ?? 0, 1);
  const x: PositionFieldDef<string> = {
    field: 'ms',
    type: 'quantitative',
    scale: { domain: [0, xMax], nice: false },
    axis: { title: 'job latency, ms', tickCount: 4, grid: true },
  };
  const y: PositionFieldDef<string> = {
    field: 'stat',
    type: 'nominal',
    sort: [...STATS],
    scale: { domain: [...STATS] },
    axis: { title: null, labelFontWeight: 600 },
  };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    config: CHART_CONFIG,
    width: options.width ?? 220,
    height: { step: 22 },
    data: { values },
    layer: [
      {
        name: 'latency_bars',
        mark: { type: 'bar', color: '#6b7f99' },
        encoding: { x, y, description: { field: 'label' } },
      },
      {
        name: 'latency_labels',
        mark: { type: 'text', align: 'left', dx: 4, fontSize: 11, color: '#222', aria: false },
        encoding: { x, y, text: { field: 'label' } },
      },
    ],
  };
}
