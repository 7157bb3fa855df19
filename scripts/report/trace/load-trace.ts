import { LinkCollector } from './links.js';
import { absentWorkerLine, formatWaterfall, waterfallHeading, type TextWaterfallOptions } from './format-waterfall.js';
import { emptySpanReadStats, findSpanFiles, formatSpanInput, readSpanFiles, type SpanReadStats } from './read-spans.js';
import { SlowestJobPicker } from './slowest-job.js';
import { SpanIndex } from './span-index.js';
import { buildTraceTree } from './tree.js';
import { buildWaterfall, type Waterfall } from './waterfall.js';

/**
 * The trace of the slowest job of a run, from the span files under some paths. Three streamed
 * passes, each keeping only what it needs, since a load run's span files hold far more spans
 * than the waterfall shows: (1) pick the job, (2) gather its trace, (3) resolve the trace's
 * links and count who links to it (in any file, any trace).
 */

export type TraceResult =
  /** Tracing was off: no `spans-*.jsonl` in the paths. */
  | { status: 'no-spans'; input: SpanReadStats }
  /** Span files, but no job root span (of the run asked for). */
  | { status: 'no-jobs'; input: SpanReadStats; runId?: string; runsSeen: string[] }
  | { status: 'ok'; input: SpanReadStats; waterfall: Waterfall };

export async function loadSlowestJobTrace(paths: readonly string[], options: { runId?: string } = {}): Promise<TraceResult> {
  const input = emptySpanReadStats();
  const files = await findSpanFiles(paths);
  if (files.length === 0) return { status: 'no-spans', input };

  const picker = new SlowestJobPicker();
  for await (const { span } of readSpanFiles(files, input)) picker.add(span);
  const run = picker.pick(options.runId);
  if (!run) return { status: 'no-jobs', input, ...(options.runId !== undefined && { runId: options.runId }), runsSeen: picker.runIds() };

  // Indexed by id, so a span written twice (an exporter's retried batch) is drawn once.
  const trace = new SpanIndex();
  for await (const { span } of readSpanFiles(files, input)) if (span.traceId === run.slowest.traceId) trace.add(span);
  const traceSpans = trace.trace(run.slowest.traceId);

  const links = new LinkCollector(traceSpans);
  for await (const { span } of readSpanFiles(files, input)) links.add(span);

  const tree = buildTraceTree(traceSpans, run.slowest);
  return { status: 'ok', input, waterfall: buildWaterfall(tree, links, { runId: run.runId, jobsInRun: run.jobs }) };
}

/** The one line said when there is no waterfall to draw; `undefined` when there is one. */
export function traceAbsentLine(result: TraceResult): string | undefined {
  if (result.status === 'no-spans') return 'no spans found (the lab writes spans-*.jsonl beside its logs when tracing is on)';
  if (result.status === 'ok') return undefined;
  const seen = result.runsSeen.length === 0 ? 'no span carries cache_stampede.run_id' : `runs with job spans: ${listSome(result.runsSeen)}`;
  return result.runId === undefined ? `no job root spans found (${seen})` : `no job root spans for run ${result.runId} (${seen})`;
}

function listSome(items: readonly string[], max = 5): string {
  return items.length <= max ? items.join(', ') : `${items.slice(0, max).join(', ')}, ... (${items.length} in all)`;
}

/** The trace part of the text report: a heading, what was read, then the waterfall or why there is none. */
export function formatTraceReport(result: TraceResult, options: TextWaterfallOptions = {}): string {
  const out = ['trace of the slowest job'];
  if (result.status !== 'no-spans') out.push(formatSpanInput(result.input));
  const absent = traceAbsentLine(result);
  if (absent !== undefined || result.status !== 'ok') return `${[...out, absent].join('\n')}\n`;
  const absentWorker = absentWorkerLine(result.waterfall);
  out.push(waterfallHeading(result.waterfall), ...(absentWorker === undefined ? [] : [absentWorker]), '');
  return `${out.join('\n')}\n${formatWaterfall(result.waterfall, options)}`;
}
