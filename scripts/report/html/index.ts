/** The HTML report: timelines of each burst, drawn with Vega-Lite to inline SVG, in one self-contained page. */
export { renderChartSvg, type VegaLiteSpec } from './render-svg.js';
export {
  buildTimelines,
  TimelineBuilder,
  type TimelineOptions,
  type TimelinePanel,
  type Lane,
  type Bar,
  type BarKind,
  type Tick,
  type TickKind,
  type Alert,
  type AlertKind,
} from './timeline.js';
export { timelineSpec, kindsIn, RECOMPUTE_LAYER, type TimelineSpecOptions } from './timeline-spec.js';
export { latencySpec, type LatencySpecOptions } from './latency-spec.js';
export { summarizeWithTimelines, type HtmlReportData } from './collect.js';
export { renderHtmlReport, type HtmlPageOptions } from './page.js';
export { writeHtmlReport, writeHtmlReportFromLogs, type WrittenReport } from './write.js';
export { CHART_CONFIG, LEGEND, type LegendEntry, type MarkKind } from './style.js';
export { packIntervals, type Interval } from './pack.js';
export { binTimes, niceBucketSize, type Bin } from './bins.js';
