import { join } from 'node:path';
import { writeHtmlReportFromLogs } from '../report/index.js';
import type { DemoRow } from './run-demo.js';

/** The demo's HTML report: every strategy's burst from its own log directory, in `<logDir>/report.html`. */
export async function writeDemoReport(rows: readonly DemoRow[], logDir: string): Promise<string> {
  const { file } = await writeHtmlReportFromLogs(
    rows.map((r) => r.logDir),
    join(logDir, 'report.html'),
    { title: 'cache-stampede demo: one cold burst per strategy' },
  );
  return file;
}
