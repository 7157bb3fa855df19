import { InvalidArgumentError } from 'commander';
import { UserError } from './common/errors.js';
import {
  GROUP_BY,
  emptyReadStats,
  failedVerdicts,
  formatReport,
  readLogs,
  summarizeAsync,
  summarizeWithTimelines,
  toJSON,
  writeHtmlReport,
  type GroupBy,
} from './report/index.js';
import { checkHtmlTarget, htmlWriteError } from './report/html/target.js';
import { findLoadRuns } from './load/load-run-file.js';
import { formatTraceReport, loadSlowestJobTrace, traceAbsentLine, traceToJson, type TraceResult } from './report/trace/index.js';
import { EXIT_FAILED, newCommand, oneOf, runCli } from './common/cli.js';

/**
 * `npm run logs -- [files or dirs] [--run R] [--by key,run,worker] [--json] [--check] [--html FILE] [--trace]`
 * Thin: flags in, report out; reading, counting and judging live in scripts/report/.
 * Exit codes: 0 report printed, 1 `--check` and a verdict failed, 2 bad usage or unreadable logs.
 */

const parseBy = (raw: string): GroupBy[] => raw.split(',').map((part) => oneOf(GROUP_BY)(part.trim()));

const parseRunId = (raw: string): string => {
  if (raw.trim() === '') throw new InvalidArgumentError('expected a run id, got an empty string');
  return raw;
};

interface Flags {
  run?: string;
  by: GroupBy[];
  json?: boolean;
  check?: boolean;
  html?: string;
  trace?: boolean;
}

async function main(): Promise<number> {
  const program = newCommand('logs', 'read pino NDJSON worker logs and count recomputations per strategy')
    .argument('[paths...]', 'log files, or directories of *.ndjson and *.log files (default: $LOG_DIR or logs)')
    .option('--run <runId>', 'count only the lines of this run', parseRunId)
    .option(
      '--by <fields>',
      `also split each strategy by ${GROUP_BY.filter((b) => b !== 'strategy').join(', ')} (comma-separated)`,
      parseBy,
      [],
    )
    .option('--json', 'print the report as JSON (field names documented in scripts/report/format.ts)')
    .option('--check', 'exit 1 when a strategy breaks its promise (a verdict fails)')
    .option(
      '--html <file>',
      "also write a self-contained HTML report (a timeline of each burst, any load run, the slowest job's trace when spans-*.jsonl files are found), and print its path",
    )
    .option(
      '--trace',
      'also print the trace of the slowest job of the run (--run R, else the latest) as a waterfall, from the spans-*.jsonl files in the paths (with --json: under "trace")',
    )
    .parse(process.argv);

  const flags = program.opts<Flags>();
  // LOG_DIR straight from the environment, not loadConfig(): reading logs needs no Redis,
  // so an unrelated bad REDIS_URL must not stop it. Same default as Config.logDir.
  const paths = program.processedArgs[0] as string[];
  if (paths.length === 0) paths.push(process.env.LOG_DIR?.trim() || 'logs');

  // Before reading a line: a report that cannot be written is one line now, not after the work.
  const htmlPath = flags.html === undefined ? undefined : await checkHtmlTarget(flags.html);

  const input = emptyReadStats();
  const records = readLogs(paths, input);
  const options = { by: flags.by, runId: flags.run };
  // With --html, one pass feeds both the counts and the timelines; without, the counts alone
  // (constant memory: the timelines keep every interval).
  const { report, timelines } =
    htmlPath === undefined
      ? { report: await summarizeAsync(records, options), timelines: [] }
      : await summarizeWithTimelines(records, options);
  if (flags.run !== undefined && report.strategies.length === 0 && report.filteredOut > 0) {
    throw new UserError('E_LOGS', `run ${flags.run} not found in the logs (runs seen: ${listSome(report.runsSeen)})`);
  }

  // The spans are read after the logs: a path that does not exist was already said, as a log path.
  const trace = flags.trace || htmlPath !== undefined ? await loadSlowestJobTrace(paths, { runId: flags.run }) : undefined;
  printReport(flags, formatReport(report, input), toJSON(report, input), trace);
  if (htmlPath !== undefined) {
    // A load run's per-second figures come from the producer and the origin, kept beside its logs.
    const load = await findLoadRuns(paths);
    for (const problem of load.problems) process.stderr.write(`warning: ${problem}\n`);
    const waterfall = trace?.status === 'ok' ? trace.waterfall : null;
    const { file } = await writeHtmlReport(htmlPath, { report, timelines }, { input, loadRuns: load.runs, trace: waterfall }).catch(
      (err: unknown) => {
        throw htmlWriteError(htmlPath, err);
      },
    );
    // With --json, stdout is the JSON document alone: the path goes to stderr.
    (flags.json ? process.stderr : process.stdout).write(`${flags.json ? '' : '\n'}html report: ${file}\n`);
  }

  const failed = failedVerdicts(report);
  if (flags.check && failed.length > 0) {
    process.stderr.write(`check failed: ${failed.map((v) => v.strategy).join(', ')}\n`);
    return EXIT_FAILED;
  }
  return 0;
}

/**
 * The report on stdout, then with `--trace` the waterfall under its heading (or the one line saying
 * why there is none: no spans is no error, tracing is off by default). With `--json` the waterfall
 * is the document's `trace` field (scripts/report/trace/json.ts) and that line goes to stderr.
 */
function printReport(flags: Flags, text: string, json: object, trace: TraceResult | undefined): void {
  const traced = flags.trace === true && trace !== undefined;
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(traced ? { ...json, trace: traceToJson(trace) } : json, null, 2)}\n`);
    const absent = traced ? traceAbsentLine(trace) : undefined;
    if (absent !== undefined) process.stderr.write(`${absent}\n`);
    return;
  }
  process.stdout.write(traced ? `${text}\n${formatTraceReport(trace)}` : text);
}

function listSome(items: readonly string[], max = 5): string {
  return items.length <= max ? items.join(', ') : `${items.slice(0, max).join(', ')}, ... (${items.length} in all)`;
}

await runCli(main);
