import type { Config } from 'vega-lite';
import type { AlertKind, BarKind, TickKind } from './timeline.js';

/**
 * The look shared by every chart: one palette, one legend vocabulary, one Vega-Lite config.
 * Colours are Vega's default "tableau10" hues, picked so that the two things a reader must
 * tell apart at a glance (recomputing: blue; waiting: orange) contrast most.
 */

export type MarkKind = BarKind | TickKind | AlertKind;

export interface LegendEntry {
  kind: MarkKind;
  /** What the legend says; also the value of the shared colour scale. */
  label: string;
  color: string;
  /** A Vega symbol shape name or an SVG path in a unit square around 0,0. */
  shape: string;
}

/** A thin upright bar, as the ticks look in the lanes. */
const TICK_SHAPE = 'M-0.3,-1h0.6v2h-0.6Z';

/** Legend order: intervals, then instants, then trouble. */
export const LEGEND: readonly LegendEntry[] = [
  { kind: 'recompute', label: 'recomputation', color: '#4c78a8', shape: 'square' },
  { kind: 'refresh', label: 'background refresh', color: '#b279a2', shape: 'square' },
  { kind: 'wait', label: 'waiting on another process', color: '#f58518', shape: 'square' },
  { kind: 'joined', label: 'joined a flight in this process', color: '#eeca3b', shape: 'square' },
  { kind: 'cache.hit', label: 'cache hit', color: '#54a24b', shape: TICK_SHAPE },
  { kind: 'stale.served', label: 'stale value served', color: '#72b7b2', shape: TICK_SHAPE },
  { kind: 'lock.lost', label: 'lock lost', color: '#e45756', shape: 'triangle-down' },
  { kind: 'cache.write.rejected', label: 'write rejected (fenced)', color: '#222222', shape: 'cross' },
];

export function legendEntry(kind: MarkKind): LegendEntry {
  return LEGEND.find((e) => e.kind === kind)!;
}

export const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif';

/** Vega-Lite `config` for every chart of the project (the report's and the benchmark's). */
export const CHART_CONFIG: Config = {
  font: FONT,
  background: '#ffffff',
  padding: 8,
  view: { stroke: '#d0d5db' },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 600, labelColor: '#333', titleColor: '#222', gridColor: '#e6e9ed' },
  legend: { labelFontSize: 11, titleFontSize: 12, symbolOpacity: 1 },
};
