import type { LogRecord } from '../read-logs.js';
import { ReportBuilder, type Report, type SummarizeOptions } from '../summarize.js';
import { TimelineBuilder, type TimelinePanel } from './timeline.js';

/** What the HTML report is drawn from: the text report's numbers and the timelines. */
export interface HtmlReportData {
  report: Report;
  timelines: TimelinePanel[];
}

/**
 * One pass over the records for both the counts and the timelines, so a log directory is
 * read once (`npm run logs -- --html` streams it; nothing else holds the lines in memory).
 */
export async function summarizeWithTimelines(
  records: AsyncIterable<LogRecord> | Iterable<LogRecord>,
  options: SummarizeOptions = {},
): Promise<HtmlReportData> {
  const report = new ReportBuilder(options);
  const timelines = new TimelineBuilder({ runId: options.runId });
  for await (const record of records) {
    report.add(record);
    timelines.add(record);
  }
  return { report: report.build(), timelines: timelines.build() };
}
