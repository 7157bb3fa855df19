import { spawn } from 'node:child_process';
import { projectPath } from './worker-process.js';

export interface CommandRun {
  code: number | string;
  stdout: string;
  stderr: string;
}

/**
 * Run one of the project's entries (`node --import tsx <entry>`) to its end, from the project's
 * root, and collect its output. `timeoutMs` only bounds a hang (the process is then killed).
 */
export function runCommand(entry: string, args: string[], env: Record<string, string> = {}, timeoutMs = 90_000): Promise<CommandRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', projectPath(entry), ...args], {
      cwd: projectPath(''),
      env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? signal ?? 'unknown', stdout, stderr });
    });
  });
}

export const nonEmptyLines = (text: string) => text.split('\n').filter((line) => line.trim() !== '');
