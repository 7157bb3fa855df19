import { join } from 'node:path';
import { writeHtmlReportFromLogs } from '../report/index.js';
import { WARM_UP_SUFFIX, type DemoRow } from './run-demo.js';

/**
 * The demo's HTML report, in `<logDir>/report.html`: every strategy's cold burst from its own log
 * directory, and the warm-key runs from theirs (`extraDirs`).
 */
export async function writeDemoReport(rows: readonly DemoRow[], logDir: string, extraDirs: readonly string[] = []): Promise<string> {
  const { file } = await writeHtmlReportFromLogs([...rows.map((r) => r.logDir), ...extraDirs], join(logDir, 'report.html'), {
    title: 'cache-stampede demo: a cold burst per strategy, and a warm key under steady load',
    // The warm-up bursts that get each fleet going are not part of what the demo shows.
    keep: (record) => !String(record.runId ?? '').endsWith(WARM_UP_SUFFIX),
  });
  return file;
}
