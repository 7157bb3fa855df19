/**
 * npm run faults -- [--only kill-holder,3,...] [--json] [--keep-logs]
 * Run the fault scenarios, each against its own private redis-server (AOF on) with a fleet of
 * real worker processes, and print one table: what was injected, what completed, what was lost.
 * Progress goes to stderr; the table (or JSON) to stdout.
 * Exit codes: 0 every scenario held, 1 one did not (or could not run), 2 bad usage.
 */
import { FAULTS, formatFaultTable, runFault, selectFaults, type FaultReport } from './faults/index.js';
import { EXIT_FAILED, newCommand, runCli } from './common/cli.js';

await runCli(async () => {
  const opts = newCommand('faults', 'Inject faults into a fleet on a private Redis and check that no job is lost.')
    .option('--only <list>', `comma-separated names or numbers: ${FAULTS.map((f) => `${f.id} ${f.name}`).join(', ')}`)
    .option('--json', 'print the reports as JSON instead of the table')
    .option('--keep-logs', "keep each scenario's worker logs (their directories are printed on stderr)")
    .parse()
    .opts<{ only?: string; json?: boolean; keepLogs?: boolean }>();

  const only = (opts.only ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const scenarios = selectFaults(only);
  const say = (line: string) => process.stderr.write(`${line}\n`);
  const reports: FaultReport[] = [];
  const started = Date.now();
  for (const [i, scenario] of scenarios.entries()) {
    say(`[${i + 1}/${scenarios.length}] ${scenario.id} ${scenario.name}: ${scenario.title}`);
    const report = await runFault(scenario, { say: (line) => say(`  ${line}`), ...(opts.keepLogs && { keepLogs: true }) });
    say(`  ${scenario.name}: ${report.status}${report.ms ? ` in ${(report.ms / 1000).toFixed(1)} s` : ''}`);
    reports.push(report);
  }
  say(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  process.stdout.write(opts.json ? `${JSON.stringify(reports, null, 2)}\n` : `${formatFaultTable(reports)}\n`);
  return reports.some((r) => r.status === 'broken' || r.status === 'error') ? EXIT_FAILED : 0;
});
