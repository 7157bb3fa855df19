import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ComputeModuleError } from '../../workers/compute-module.js';

const CHECK_ENTRY = fileURLToPath(new URL('../../workers/check-compute.ts', import.meta.url));
const TSX_LOADER = import.meta.resolve('tsx');

/**
 * Check once, before starting a fleet, that its workers can use the compute module (an absolute
 * path): load it as a worker does, in a process of its own (workers/check-compute.ts), with the
 * workers' environment. Throws ComputeModuleError with the worker's own one line when they could
 * not (missing, no function as default export, throws on load), an Error when the check itself
 * failed.
 */
export async function checkComputeModule(path: string, env: Record<string, string> = {}): Promise<void> {
  const child = spawn(process.execPath, ['--import', TSX_LOADER, CHECK_ENTRY, path], {
    env: { ...process.env, ...env, COMPUTE_MODULE: '', FORCE_COLOR: '0' },
    // The module's own output is not the fleet's; its error line is on stderr.
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (exitCode, exitSignal) => resolve([exitCode, exitSignal]));
  });
  if (code === 0) return;
  const lines = stderr.split('\n').filter((line) => line.trim() !== '');
  const errorLine = lines.filter((line) => line.startsWith('error: ')).pop();
  if (code === 2 && errorLine !== undefined) throw new ComputeModuleError(errorLine.slice('error: '.length));
  throw new Error(
    `could not check compute module ${path} (${code === null ? `signal ${signal}` : `exit code ${code}`})` +
      `${lines.length > 0 ? `: ${(errorLine ?? lines[lines.length - 1])!.replace(/^error: /, '')}` : ''}`,
  );
}
