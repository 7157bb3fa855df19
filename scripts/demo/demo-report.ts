import { join } from 'node:path';
import { writeHtmlReportFromLogs } from '../report/index.js';
import { loadSlowestJobTrace } from '../report/trace/load-trace.js';
import type { LoadRun } from '../load/load-run-file.js';
import { WARM_UP_SUFFIX, type DemoRow } from './run-demo.js';

/**
 * The demo's HTML report, in `<logDir>/report.html`: every strategy's cold burst from its own log
 * directory, the warm-key runs from theirs (`extraDirs`), the load run drawn from its figures
 * (its thousands of jobs are not read back into the burst timelines), and, when the lab traced,
 * the slowest job of the `redis-lock` cold burst as a waterfall (its producer spans are in
 * `logDir` itself, its workers' under each strategy's directory).
 */
export async function writeDemoReport(
  rows: readonly DemoRow[],
  logDir: string,
  extraDirs: readonly string[] = [],
  load?: LoadRun,
): Promise<string> {
  const { file } = await writeHtmlReportFromLogs([...rows.map((r) => r.logDir), ...extraDirs], join(logDir, 'report.html'), {
    title: 'cache-stampede demo: a cold burst per strategy, a warm key under steady load, and traffic over many keys',
    // The warm-up bursts that get each fleet going are not part of what the demo shows.
    keep: (record) => !String(record.runId ?? '').endsWith(WARM_UP_SUFFIX),
    ...(load && { loadRuns: [load] }),
    trace: await slowestColdJob(rows, logDir),
  });
  return file;
}

/** The waterfall of the slowest job of the redis-lock cold burst (else the last one), or null. */
async function slowestColdJob(rows: readonly DemoRow[], logDir: string) {
  const row = rows.find((r) => r.strategy === 'redis-lock') ?? rows.at(-1);
  if (!row) return null;
  const found = await loadSlowestJobTrace([logDir], { runId: row.burst.runId });
  return found.status === 'ok' ? found.waterfall : null;
}
