/**
 * Load a compute module as a worker does, and say whether it can be used: exit 0, or the worker's
 * own one `error:` line and exit code 2. The fleet runs this once before it starts its workers,
 * so a module that is missing, has no function as default export or throws on load gives one
 * line instead of N workers failing alike. A process of its own: the module's top-level code runs
 * here, not in the fleet, and whatever it opens ends with this process.
 * Usage: node --import tsx workers/check-compute.ts MODULE
 */
import { runCli } from '../scripts/common/cli.js';
import { exitOnceFlushed } from '../scripts/common/exit.js';
import { ComputeModuleError, loadComputeModule } from './compute-module.js';

await runCli(async () => {
  const path = process.argv[2];
  if (path === undefined || process.argv.length > 3) throw new ComputeModuleError('usage: check-compute.ts MODULE');
  await loadComputeModule(path);
  return 0;
});

// Whatever the module left open (a timer, a connection) must not keep this check alive.
exitOnceFlushed();
