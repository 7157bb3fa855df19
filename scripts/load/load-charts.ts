import type { ColorDef, PositionFieldDef } from 'vega-lite/build/src/channeldef.js';
import type { LayerSpec, UnitSpec } from 'vega-lite/build/src/spec/index.js';
import type { Strategy } from '../../src/cache/strategy.js';
import type { VegaLiteSpec } from '../report/html/render-svg.js';
import { CHART_CONFIG } from '../report/html/style.js';
import type { LoadRow } from './run-load.js';

/**
 * The load lab's two pictures, as Vega-Lite specs (drawn by the HTML report's renderChartSvg):
 *
 * - what reached the origin, requests per second, one line per strategy;
 * - the callers' latency (from each job's scheduled arrival), p50 and p99 per second, per strategy;
 *
 * both on the same x axis (seconds since the traffic started) with the timeline's events
 * (flush, burst, invalidate) as vertical rules. A second's value is drawn at its middle (second 4 covers
 * 4..5 s, its point is at 4.5), so a spike right after a flush sits right of the flush's rule.
 *
 * Named layers (Vega's SVG class `<name>_marks`): `origin_lines` / `origin_points`,
 * `latency_lines` / `latency_points`, `event_rules`, `event_labels`. Every point and rule has an
 * aria-label saying what it is (`none: 38 origin requests in second 10`).
 */

export const ORIGIN_LINES = 'origin_lines';
export const LATENCY_LINES = 'latency_lines';
export const EVENT_RULES = 'event_rules';

/** One colour per strategy, the same in every chart and every run (tableau10 hues). */
export const STRATEGY_COLORS: Readonly<Record<Strategy, string>> = {
  none: '#e45756',
  'local-lock': '#f58518',
  'redis-lock': '#4c78a8',
  swr: '#54a24b',
  xfetch: '#b279a2',
};

/** Width of the y axis (labels and title), px, the same in both charts. */
const Y_AXIS_PX = 48;

export interface LoadChartOptions {
  /** Plot width in px. @default 760 */
  width?: number;
  /** Plot height in px. @default 260 */
  height?: number;
  /** End of the x axis, seconds; give both charts the same. @default loadAxisSeconds(rows) */
  xMaxS?: number;
}

/** The shared x axis: the traffic's duration, or longer when the origin was still busy after it. */
export function loadAxisSeconds(rows: readonly LoadRow[], durationMs: number): number {
  let end = Math.max(durationMs / 1000, 1);
  for (const row of rows) {
    for (const bin of row.origin.bins) if (bin.requests > 0) end = Math.max(end, bin.second + 1);
    for (const bin of row.bins) end = Math.max(end, bin.second + 1);
    for (const event of row.events) end = Math.max(end, event.at / 1000);
  }
  return Math.ceil(end);
}

/** Origin requests per second, one line per strategy, events as rules. */
export function originSpec(rows: readonly LoadRow[], options: LoadChartOptions = {}): VegaLiteSpec {
  const values = rows.flatMap((row) =>
    row.origin.bins.map((bin) => ({
      strategy: row.strategy,
      t: bin.second + 0.5,
      v: bin.requests,
      d: `${row.strategy}: ${bin.requests} origin requests in second ${bin.second} (at most ${bin.peakInFlight} at once)`,
    })),
  );
  return lineChart(rows, values, { ...options, name: 'origin', yTitle: 'origin requests per second' });
}

/** Latency p50 (dashed) and p99 (solid) per second of scheduled arrival, per strategy, events as rules. */
export function latencyOverTimeSpec(rows: readonly LoadRow[], options: LoadChartOptions = {}): VegaLiteSpec {
  const values = rows.flatMap((row) =>
    row.bins.flatMap((bin) =>
      (['p50', 'p99'] as const).flatMap((stat) => {
        const ms = bin[stat];
        if (ms === null) return [];
        return [
          {
            strategy: row.strategy,
            stat,
            series: `${row.strategy} ${stat}`,
            t: bin.second + 0.5,
            v: ms,
            d: `${row.strategy}: ${stat} ${ms} ms for the jobs due in second ${bin.second} (${bin.jobs} jobs, ${bin.failed} failed)`,
          },
        ];
      }),
    ),
  );
  return lineChart(rows, values, { ...options, name: 'latency', yTitle: 'latency, ms (p99 solid, p50 dashed)', dashByStat: true });
}

interface Datum {
  strategy: string;
  t: number;
  v: number;
  d: string;
  stat?: string;
  series?: string;
}

function lineChart(
  rows: readonly LoadRow[],
  values: Datum[],
  o: LoadChartOptions & { name: string; yTitle: string; dashByStat?: boolean },
): VegaLiteSpec {
  const xMax = o.xMaxS ?? Math.max(1, ...values.map((v) => Math.ceil(v.t)), ...rows.flatMap((r) => r.events.map((e) => e.at / 1000)));
  const strategies = [...new Set(rows.map((r) => r.strategy))];
  const x: PositionFieldDef<string> = {
    field: 't',
    type: 'quantitative',
    scale: { domain: [0, xMax], nice: false, zero: true },
    axis: { title: 'seconds since the traffic started', grid: true, tickCount: Math.min(xMax, 15), tickMinStep: 1, labelFlush: true },
  };
  const y: PositionFieldDef<string> = {
    field: 'v',
    type: 'quantitative',
    scale: { zero: true, nice: true },
    // The same room for the y axis in both charts, so their plots (and time axes) line up.
    axis: { title: o.yTitle, grid: true, tickCount: 6, minExtent: Y_AXIS_PX, maxExtent: Y_AXIS_PX },
  };
  const color: ColorDef<string> = {
    field: 'strategy',
    type: 'nominal',
    scale: { domain: strategies, range: strategies.map((s) => STRATEGY_COLORS[s] ?? '#888888') },
    legend: { title: 'strategy', orient: 'right', symbolType: 'stroke', symbolStrokeWidth: 3 },
  };
  const events = rows[0]?.events ?? [];
  // An invalidation's rule says which tag: `invalidate group-1`.
  const eventData = events.map((e) => {
    const kind = e.kind === 'invalidate' ? `invalidate ${e.tag}` : e.kind;
    return { t: e.at / 1000, kind, d: `${kind} at ${e.at / 1000} s` };
  });

  // Lines and points are clipped to the plot: the origin's clock runs on (idle seconds) until the
  // fleet has stopped, past the axis, and a point out there would widen the SVG and shrink it on the page.
  const layers: LayerSpec<string>['layer'] = [
    {
      name: `${o.name}_lines`,
      data: { values },
      mark: { type: 'line', strokeWidth: 1.8, interpolate: 'linear', clip: true, aria: false },
      encoding: {
        x,
        y,
        color,
        ...(o.dashByStat && {
          detail: { field: 'series', type: 'nominal' },
          strokeDash: {
            field: 'stat',
            type: 'nominal',
            scale: {
              domain: ['p99', 'p50'],
              range: [
                [1, 0],
                [4, 3],
              ],
            },
            legend: { title: 'latency', symbolType: 'stroke' },
          },
        }),
      },
    },
    {
      name: `${o.name}_points`,
      data: { values },
      mark: { type: 'point', filled: true, size: 14, opacity: 0.9, clip: true },
      encoding: { x, y, color, description: { field: 'd' } },
    },
    {
      name: EVENT_RULES,
      data: { values: eventData },
      mark: { type: 'rule', color: '#222222', strokeWidth: 1.2, strokeDash: [5, 3] },
      encoding: { x: { ...x, field: 't' }, description: { field: 'd' } },
    },
    {
      name: 'event_labels',
      data: { values: eventData },
      mark: { type: 'text', align: 'left', baseline: 'top', dx: 4, y: 2, fontSize: 11, fontWeight: 600, color: '#222222', aria: false },
      encoding: { x: { ...x, field: 't' }, text: { field: 'kind' } },
    },
  ] satisfies UnitSpec<string>[];

  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    config: CHART_CONFIG,
    width: o.width ?? 760,
    height: o.height ?? 260,
    resolve: { scale: { color: 'shared' } },
    layer: layers,
  };
}
