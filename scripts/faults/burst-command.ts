import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSX = import.meta.resolve('tsx');

export interface CommandRun {
  exitCode: number | string | null;
  stdout: string;
  stderr: string;
}

/**
 * `npm run burst -- <args>` in a process of its own, as an operator would start it: for what
 * only a fresh start shows (its start-up check). SIGKILLed after `timeoutMs`.
 */
export async function runBurstCommand(args: readonly string[], env: Record<string, string>, timeoutMs: number): Promise<CommandRun> {
  const child = spawn(process.execPath, ['--import', TSX, path.join(ROOT, 'scripts/burst.ts'), ...args], {
    cwd: ROOT,
    env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const exitCode = await new Promise<number | string | null>((resolve) => child.once('close', (code, signal) => resolve(code ?? signal)));
  clearTimeout(timer);
  return { exitCode, stdout, stderr };
}
