/** The log report: read pino NDJSON logs, count per strategy, judge each strategy, render. */
export {
  readLogs,
  readLogFiles,
  findLogFiles,
  parseLine,
  emptyReadStats,
  LOG_FILE_EXTENSIONS,
  type LogRecord,
  type ReadStats,
} from './read-logs.js';
export {
  summarize,
  summarizeAsync,
  splitsOf,
  verdictsFor,
  failedVerdicts,
  naturalCompare,
  ReportBuilder,
  GROUP_BY,
  type GroupBy,
  type SplitBy,
  type SummarizeOptions,
  type Report,
  type GroupSummary,
  type SourceCounts,
  type LatencySummary,
  type Verdict,
  type VerdictStatus,
  type Offender,
  type PairCount,
} from './summarize.js';
export { formatReport, formatVerdict, formatInput, renderTable, toJSON, type ReportJson } from './format.js';
export { percentile, percentileOfSorted, ascending } from './percentile.js';
