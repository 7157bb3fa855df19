import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Path of a file of the project, from its root. */
export function projectPath(file: string): string {
  return join(ROOT, file);
}

export interface LabProcess {
  readonly child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far (for failure messages). */
  output(): string;
  /** What it wrote to stdout alone, and to stderr alone. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the first output line (stdout or stderr) matching `pattern`; rejects if the process exits first. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  readonly exit: Promise<number | string>;
}

/** A worker process: see spawnWorker. */
export type WorkerProcess = LabProcess;

/**
 * One real worker process, `node --import tsx workers/worker.ts`, as the fleet starts it but
 * without concurrently in between, so the test holds its pid and sends signals itself.
 */
export function spawnWorker(env: Record<string, string>, args: string[] = []): WorkerProcess {
  return spawnEntry('workers/worker.ts', args, env);
}

/** One of the lab's commands as a user runs it, `node --import tsx <entry> <args>` from the project root. */
export function spawnEntry(entry: string, args: string[], env: Record<string, string>): LabProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', projectPath(entry), ...args], {
    cwd: ROOT,
    env: { ...process.env, FORCE_COLOR: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const streams = { stdout: '', stderr: '' };
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  const lines: string[] = [];
  let partial = '';
  const onData = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
    streams[stream] += chunk.toString('utf8');
    text += chunk.toString('utf8');
    partial += chunk.toString('utf8');
    const parts = partial.split('\n');
    partial = parts.pop()!;
    for (const line of parts) {
      lines.push(line);
      for (const waiter of [...waiters]) {
        if (waiter.pattern.test(line)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
    }
  };
  child.stdout!.on('data', onData('stdout'));
  child.stderr!.on('data', onData('stderr'));
  const exit = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));

  return {
    child,
    output: () => text,
    stdout: () => streams.stdout,
    stderr: () => streams.stderr,
    exit,
    waitForLine(pattern, timeoutMs = 60_000) {
      const seen = lines.find((line) => pattern.test(line));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no line matching ${pattern} after ${timeoutMs} ms; output:\n${text}`)), timeoutMs);
        waiters.push({
          pattern,
          resolve: (line) => {
            clearTimeout(timer);
            resolve(line);
          },
        });
        void exit.then((code) => {
          clearTimeout(timer);
          reject(new Error(`process exited (${code}) before a line matching ${pattern}; output:\n${text}`));
        });
      });
    },
  };
}

/** Run a command to its end; the SIGKILL after `timeoutMs` only bounds a hang. */
export async function runEntry(
  entry: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs = 120_000,
): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const running = spawnEntry(entry, args, env);
  const timer = setTimeout(() => running.child.kill('SIGKILL'), timeoutMs);
  const code = await running.exit;
  clearTimeout(timer);
  return { code, stdout: running.stdout(), stderr: running.stderr() };
}

export interface LogFile {
  file: string;
  /** Non-empty lines, as written. */
  lines: string[];
}

/** The NDJSON files of a log directory, raw: no parsing beyond splitting lines. */
export async function readLogDir(dir: string): Promise<LogFile[]> {
  const names = (await readdir(dir)).filter((name) => name.endsWith('.ndjson')).sort();
  return Promise.all(
    names.map(async (name) => {
      const file = join(dir, name);
      const lines = (await readFile(file, 'utf8')).split('\n').filter((line) => line.trim() !== '');
      return { file, lines };
    }),
  );
}

/** Every line of the files parsed with JSON.parse (a line that is not JSON fails the test loudly). */
export function parseLines(files: LogFile[]): Record<string, unknown>[] {
  return files.flatMap(({ file, lines }) =>
    lines.map((line, i) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new Error(`${file}:${i + 1} is not JSON: ${line.slice(0, 200)}`);
      }
    }),
  );
}
