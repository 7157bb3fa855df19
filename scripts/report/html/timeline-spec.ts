import { binTimes, niceBucketSize } from './bins.js';
import { packIntervals } from './pack.js';
import type { ColorDef, MarkPropDef, PositionFieldDef } from 'vega-lite/build/src/channeldef.js';
import type { ExprRef } from 'vega-lite/build/src/expr.js';
import type { Legend } from 'vega-lite/build/src/legend.js';
import type { VegaLiteSpec } from './render-svg.js';
import { CHART_CONFIG, LEGEND, legendEntry, type MarkKind } from './style.js';
import type { Bar, Lane, TimelinePanel } from './timeline.js';

/**
 * One timeline panel as a Vega-Lite spec. Time runs left to right (ms since the burst
 * started); each worker process is a lane, top to bottom. Inside a lane, four bands:
 *
 *   recomputations (and refreshes): thick bars, overlapping ones stacked in rows
 *   waits on another process's lock holder: a thinner band of bars
 *   callers that joined a flight in this process: a hairline band, merged into stretches
 *   cache hits / stale values served: ticks, or a histogram per time bucket when many
 *
 * and lost locks / rejected writes as symbols on top. The y scale is quantitative in
 * "lane units" (lane i spans i..i+1) so the bands can be laid out exactly; the axis puts
 * each lane's label at its middle.
 *
 * Every recomputation is its own mark in the layer named `recompute_bars` (Vega's SVG:
 * `<g class="mark-rect role-mark recompute_bars_marks">`, one `<path>` each): never
 * aggregated, so the picture can be checked against the logs' `recompute.start` count.
 */

/** The Vega-Lite layer (and so the SVG class `<name>_marks`) of the recomputation bars. */
export const RECOMPUTE_LAYER = 'recompute_bars';

export interface TimelineSpecOptions {
  /** Plot width in px. @default 760 */
  width?: number;
  /** Height of one lane in px. @default 48 */
  laneHeight?: number;
  /** End of the x axis in ms; give several panels the same one to compare them. @default the panel's duration */
  xMaxMs?: number;
  /** Legend entries to show (one legend for the whole report reads best). @default the kinds in this panel */
  kinds?: readonly MarkKind[];
  /** Above this many ticks in a panel, ticks are binned per lane and time bucket. @default 400 */
  maxTicks?: number;
  /** Buckets across the x axis when binning. @default 150 */
  buckets?: number;
}

/** Where each band sits inside a lane, as fractions of the lane from its top. */
const BANDS = {
  bars: [0.08, 0.52],
  waits: [0.56, 0.7],
  joins: [0.72, 0.79],
  ticks: [0.82, 0.96],
} as const;
/** Thinnest bar drawn, in px, however many overlap: they then overlap a little, still all drawn. */
const MIN_BAR_PX = { bars: 1.5, waits: 1 } as const;
const MIN_BAR_WIDTH_PX = 2;

interface BarDatum {
  x: number;
  x2: number;
  y: number;
  y2: number;
  kind: string;
  /** aria-label of the SVG mark: what a screen reader (or a test) reads. */
  d: string;
  open: boolean;
}

export function timelineSpec(panel: TimelinePanel, options: TimelineSpecOptions = {}): VegaLiteSpec {
  const width = options.width ?? 760;
  const laneHeight = options.laneHeight ?? 48;
  const xMax = Math.max(options.xMaxMs ?? 0, panel.durationMs, 1);
  const maxTicks = options.maxTicks ?? 400;
  const lanes = panel.lanes;
  const msPerPx = xMax / width;
  const kinds = options.kinds ?? kindsIn(panel);

  const recomputes: BarDatum[] = [];
  const waits: BarDatum[] = [];
  lanes.forEach((lane, i) => {
    const byKind = (...wanted: Bar['kind'][]) => lane.bars.filter((b) => wanted.includes(b.kind));
    recomputes.push(...barData(lane, i, byKind('recompute', 'refresh'), 'bars', laneHeight, msPerPx));
    waits.push(...barData(lane, i, byKind('wait'), 'waits', laneHeight, msPerPx));
    // Joins are many and say one thing (callers in this process waited on its flight): one
    // bar per stretch of time in which any caller was waiting, not one bar per caller.
    waits.push(...joinData(lane, i, byKind('joined'), msPerPx));
  });

  const tickCount = lanes.reduce((n, l) => n + l.ticks.length, 0);
  const binned = tickCount > maxTicks;
  const bucketMs = niceBucketSize(xMax, options.buckets ?? 150);
  const ticks = binned ? binnedTicks(lanes, bucketMs, xMax) : singleTicks(lanes);
  const alerts = lanes.flatMap((lane, i) =>
    lane.alerts.map((a) => ({
      x: a.at,
      y: i + (BANDS.bars[0] + BANDS.bars[1]) / 2,
      kind: legendEntry(a.kind).label,
      d: `${lane.label}: ${legendEntry(a.kind).label}${a.key ? ` on ${a.key}` : ''} at ${round(a.at)} ms`,
    })),
  );

  const legend = LEGEND.filter((e) => kinds.includes(e.kind));
  const legendSpec: Legend<ExprRef> = {
    title: null,
    orient: 'bottom',
    direction: 'horizontal',
    columns: legend.length <= 5 ? legend.length : Math.ceil(legend.length / 2),
    columnPadding: 20,
    symbolSize: 110,
    labelLimit: 260,
  };
  const domain = legend.map((e) => e.label);
  const color: ColorDef<string> = {
    field: 'kind',
    type: 'nominal',
    scale: { domain, range: legend.map((e) => e.color) },
    legend: legendSpec,
  };
  const shape: MarkPropDef<string, string> = {
    field: 'kind',
    type: 'nominal',
    scale: { domain, range: legend.map((e) => e.shape) },
    legend: legendSpec,
  };
  const axisX = (field: string): PositionFieldDef<string> => ({
    field,
    type: 'quantitative',
    scale: { domain: [0, xMax], nice: false, zero: true },
    axis: { title: 'ms since burst start', grid: true, tickCount: 10, labelFlush: true },
  });
  const axisY = (field: string): PositionFieldDef<string> => ({
    field,
    type: 'quantitative',
    scale: { domain: [0, Math.max(lanes.length, 1)], reverse: true, nice: false, zero: true },
    axis: {
      title: 'worker process',
      values: lanes.map((_, i) => i + 0.5),
      labelExpr: `${JSON.stringify(lanes.map((l) => l.label))}[floor(datum.value)]`,
      grid: false,
      ticks: false,
      domain: false,
      labelPadding: 6,
      labelLimit: 200,
    },
  });
  const box = { x: axisX('x'), x2: { field: 'x2' }, y: axisY('y'), y2: { field: 'y2' } };

  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    config: CHART_CONFIG,
    width,
    height: Math.max(lanes.length, 1) * laneHeight,
    layer: [
      {
        // Alternate lanes shaded, so a bar is easy to follow to its worker's label.
        name: 'lanes',
        data: { values: lanes.flatMap((_, i) => (i % 2 === 0 ? [{ x: 0, x2: xMax, y: i, y2: i + 1 }] : [])) },
        mark: { type: 'rect', color: '#f3f5f8', aria: false },
        encoding: box,
      },
      {
        name: 'waits',
        data: { values: waits },
        mark: { type: 'rect', aria: false },
        encoding: {
          ...box,
          color,
          opacity: { condition: { test: 'datum.open', value: 0.45 }, value: 0.9 },
        },
      },
      {
        name: RECOMPUTE_LAYER,
        data: { values: recomputes },
        mark: { type: 'rect' },
        encoding: {
          ...box,
          color,
          opacity: { condition: { test: 'datum.open', value: 0.45 }, value: 0.95 },
          description: { field: 'd' },
        },
      },
      {
        name: binned ? 'tick_bins' : 'ticks',
        data: { values: ticks },
        mark: binned ? { type: 'rect', aria: false } : { type: 'rule', strokeWidth: 1.2, aria: false },
        encoding: binned ? { ...box, color } : { x: axisX('x'), y: axisY('y'), y2: { field: 'y2' }, color },
      },
      {
        name: 'alerts',
        data: { values: alerts },
        mark: { type: 'point', filled: true, size: 110, stroke: '#ffffff', strokeWidth: 1, opacity: 1 },
        encoding: { x: axisX('x'), y: axisY('y'), color, shape, description: { field: 'd' } },
      },
    ],
  };
}

/** What the caption says about ticks when they were binned. */
export function tickBinning(panel: TimelinePanel, options: TimelineSpecOptions = {}): { binned: boolean; bucketMs: number } {
  const xMax = Math.max(options.xMaxMs ?? 0, panel.durationMs, 1);
  const ticks = panel.lanes.reduce((n, l) => n + l.ticks.length, 0);
  return { binned: ticks > (options.maxTicks ?? 400), bucketMs: niceBucketSize(xMax, options.buckets ?? 150) };
}

/** The legend kinds that occur in a panel; recomputation, wait and cache hit always, to compare panels. */
export function kindsIn(...panels: TimelinePanel[]): MarkKind[] {
  const seen = new Set<MarkKind>(['recompute', 'wait', 'cache.hit']);
  for (const panel of panels) {
    for (const lane of panel.lanes) {
      for (const b of lane.bars) seen.add(b.kind);
      for (const t of lane.ticks) seen.add(t.kind);
      for (const a of lane.alerts) seen.add(a.kind);
    }
  }
  return LEGEND.map((e) => e.kind).filter((k) => seen.has(k));
}

/** Pack a lane's bars of one band into rows and turn them into rectangles in lane units. */
function barData(lane: Lane, laneIndex: number, bars: Bar[], band: 'bars' | 'waits', laneHeight: number, msPerPx: number): BarDatum[] {
  if (bars.length === 0) return [];
  const { slots, rows } = packIntervals(bars);
  const [top, bottom] = BANDS[band];
  const span = bottom - top;
  const rowHeight = span / rows;
  const minThickness = MIN_BAR_PX[band] / laneHeight;
  // With few rows a bar leaves a hairline gap to the next; with many they shrink to the
  // minimum and then overlap evenly across the band (all still drawn, a solid block).
  const thickness = Math.min(span, Math.max(rowHeight * (rows > 1 ? 0.85 : 1), minThickness));
  const pitch = rows > 1 ? Math.min(rowHeight, (span - thickness) / (rows - 1)) : 0;
  return bars.map((bar, i) => {
    const y = laneIndex + top + slots[i]! * pitch;
    return {
      x: bar.start,
      x2: Math.max(bar.end, bar.start + MIN_BAR_WIDTH_PX * msPerPx),
      y,
      y2: y + thickness,
      kind: legendEntry(bar.kind).label,
      d: describe(lane, bar),
      open: bar.open,
    };
  });
}

/** Merge a lane's join intervals into stretches of time with at least one caller waiting. */
function joinData(lane: Lane, laneIndex: number, joins: Bar[], msPerPx: number): BarDatum[] {
  const [top, bottom] = BANDS.joins;
  const stretches: { start: number; end: number; callers: number }[] = [];
  for (const join of [...joins].sort((a, b) => a.start - b.start)) {
    const last = stretches.at(-1);
    if (last && join.start <= last.end) {
      last.end = Math.max(last.end, join.end);
      last.callers++;
    } else {
      stretches.push({ start: join.start, end: join.end, callers: 1 });
    }
  }
  return stretches.map((s) => ({
    x: s.start,
    x2: Math.max(s.end, s.start + MIN_BAR_WIDTH_PX * msPerPx),
    y: laneIndex + top,
    y2: laneIndex + bottom,
    kind: legendEntry('joined').label,
    d: `${lane.label}: ${s.callers} ${s.callers === 1 ? 'caller' : 'callers'} joined a flight, ${round(s.start)} to ${round(s.end)} ms`,
    open: false,
  }));
}

function describe(lane: Lane, bar: Bar): string {
  const what = { recompute: 'recomputation', refresh: 'refresh', wait: 'wait', joined: 'joined flight' }[bar.kind];
  const of = bar.key ? ` of ${bar.key}` : '';
  const job = bar.jobId ? ` (job ${bar.jobId})` : '';
  const state = bar.failed ? ', failed' : bar.open ? ', no end logged' : '';
  return `${lane.label}: ${what}${of}${job}, ${round(bar.start)} to ${round(bar.end)} ms${state}`;
}

function singleTicks(lanes: readonly Lane[]) {
  const [top, bottom] = BANDS.ticks;
  return lanes.flatMap((lane, i) => lane.ticks.map((t) => ({ x: t.at, y: i + top, y2: i + bottom, kind: legendEntry(t.kind).label })));
}

/** Per lane, kind and bucket: a bar whose height is the count, relative to the busiest bucket of the panel. */
function binnedTicks(lanes: readonly Lane[], bucketMs: number, xMax: number) {
  const [top, bottom] = BANDS.ticks;
  const perLane = lanes.map((lane) => {
    const kinds = [...new Set(lane.ticks.map((t) => t.kind))];
    return kinds.map((kind) => ({
      kind,
      bins: binTimes(
        lane.ticks.filter((t) => t.kind === kind).map((t) => t.at),
        bucketMs,
      ),
    }));
  });
  const busiest = perLane.flat().reduce((max, k) => k.bins.reduce((m, b) => Math.max(m, b.count), max), 1);
  return perLane.flatMap((kinds, i) =>
    kinds.flatMap(({ kind, bins }) =>
      bins.map((bin) => ({
        x: bin.start,
        // The last bucket may reach past the axis: stop it at the edge.
        x2: Math.min(bin.end, xMax),
        // At least a sliver, so a bucket with one hit among thousands still shows.
        y: i + bottom - Math.max((bottom - top) * (bin.count / busiest), 0.03),
        y2: i + bottom,
        kind: legendEntry(kind).label,
      })),
    ),
  );
}

function round(ms: number): string {
  return ms >= 10 ? String(Math.round(ms)) : ms.toFixed(1);
}
