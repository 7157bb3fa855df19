import { join } from 'node:path';
import { writeHtmlReportFromLogs } from '../report/index.js';
import type { LoadRun } from '../load/load-run-file.js';
import { WARM_UP_SUFFIX, type DemoRow } from './run-demo.js';

/**
 * The demo's HTML report, in `<logDir>/report.html`: every strategy's cold burst from its own log
 * directory, the warm-key runs from theirs (`extraDirs`), and the load run drawn from its
 * figures (its thousands of jobs are not read back into the burst timelines).
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
  });
  return file;
}
