/** The trace report: the slowest job of a run, from the lab's span files, as a waterfall (text, HTML, JSON). */
export {
  parseSpanLine,
  toSpan,
  spanKey,
  keyOf,
  shortId,
  type Span,
  type SpanLink,
  type SpanEvent,
  type SpanKind,
  type Attributes,
} from './span.js';
export {
  findSpanFiles,
  readSpanFiles,
  isSpanFileName,
  emptySpanReadStats,
  formatSpanInput,
  type SpanReadStats,
  type ReadSpan,
} from './read-spans.js';
export { SpanIndex } from './span-index.js';
export { buildTraceTree, walkTree, type TraceNode } from './tree.js';
export { SlowestJobPicker, runIdOf, RUN_ID_ATTRIBUTE, type RunJobs } from './slowest-job.js';
export { LinkCollector, type IncomingLinks } from './links.js';
export { buildWaterfall, type Waterfall, type WaterfallRow, type WaterfallLink, type WaterfallMeta } from './waterfall.js';
export { loadSlowestJobTrace, traceAbsentLine, formatTraceReport, type TraceResult } from './load-trace.js';
export { formatWaterfall, waterfallHeading, type TextWaterfallOptions } from './format-waterfall.js';
export { renderTraceSection, TRACE_SECTION_CSS } from './html-section.js';
export { traceToJson, waterfallToJson, type TraceJson } from './json.js';
export { processLabel } from './process.js';
