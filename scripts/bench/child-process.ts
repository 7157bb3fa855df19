import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/**
 * The bench's child processes: `node --import <tsx loader> <file>`, no tsx CLI in between, so
 * the pid is the worker's own (for /proc) and signals reach it once. Children speak JSON lines
 * on stdout and take commands as lines on stdin: the parent starts them all, waits until
 * every one says `ready` (connected, warmed up), then writes `go` to all at once, so their
 * work really overlaps.
 */
const TSX_LOADER = import.meta.resolve('tsx');

/** Children still running, so that an interrupted bench does not leave them behind. */
const live = new Set<ChildProcess>();

/** SIGKILL every child still running (on SIGINT/SIGTERM of the bench). */
export function killAllChildren(): void {
  for (const child of live) child.kill('SIGKILL');
  live.clear();
}

export function benchFile(relative: string): string {
  return fileURLToPath(new URL(relative, import.meta.url));
}

export interface BenchChild {
  readonly process: ChildProcess;
  readonly pid: number;
  /** The next JSON line from the child (lines that are not JSON are skipped). */
  next<T = Record<string, unknown>>(timeoutMs?: number): Promise<T>;
  send(line: string): void;
  /** Close stdin (the child's cue to clean up and exit) and wait for the exit. */
  finish(timeoutMs?: number): Promise<number | null>;
  kill(): void;
}

export interface SpawnOptions {
  env?: Record<string, string>;
  args?: string[];
  /** Node's own flags, before the loader (e.g. --expose-gc). */
  nodeArgs?: string[];
  /** Lines the child writes that are not JSON go here (e.g. a worker's progress). @default dropped */
  onText?: (line: string) => void;
}

export function spawnChild(file: string, options: SpawnOptions = {}): BenchChild {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), '--import', TSX_LOADER, file, ...(options.args ?? [])], {
    env: { ...process.env, ...options.env, FORCE_COLOR: '0' },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  if (child.pid === undefined) throw new Error(`could not start ${file}`);
  live.add(child);
  child.once('exit', () => live.delete(child));
  const queued: unknown[] = [];
  const waiting: Array<(value: unknown) => void> = [];
  let ended = false;
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // A child that already exited must not make stdin writes throw EPIPE in the parent.
  child.stdin!.on('error', () => {});

  createInterface({ input: child.stdout! })
    .on('line', (line) => {
      let message: unknown;
      try {
        message = JSON.parse(line);
      } catch {
        options.onText?.(line);
        return;
      }
      const taker = waiting.shift();
      if (taker) taker(message);
      else queued.push(message);
    })
    .on('close', () => {
      ended = true;
      for (const taker of waiting.splice(0)) taker(undefined);
    });

  return {
    process: child,
    pid: child.pid,
    next<T>(timeoutMs = 60_000): Promise<T> {
      if (queued.length > 0) return Promise.resolve(queued.shift() as T);
      if (ended) return Promise.reject(new Error(`${describe(file)} (pid ${child.pid}) ended without output (exit ${child.exitCode})`));
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          const i = waiting.indexOf(take);
          if (i >= 0) waiting.splice(i, 1);
          reject(new Error(`${describe(file)} (pid ${child.pid}) said nothing for ${timeoutMs / 1000} s`));
        }, timeoutMs);
        const take = (message: unknown) => {
          clearTimeout(timer);
          if (message === undefined)
            reject(new Error(`${describe(file)} (pid ${child.pid}) ended without output (exit ${child.exitCode})`));
          else resolve(message as T);
        };
        waiting.push(take);
      });
    },
    send(line: string) {
      if (child.stdin!.writable) child.stdin!.write(`${line}\n`);
    },
    async finish(timeoutMs = 15_000) {
      child.stdin!.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      try {
        return await exit;
      } finally {
        clearTimeout(timer);
      }
    },
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/** Start several children and wait until each has said `{"type":"ready"}`; kill all if one fails. */
export async function spawnReady(count: number, file: string, options: (index: number) => SpawnOptions): Promise<BenchChild[]> {
  const children = Array.from({ length: count }, (_, i) => spawnChild(file, options(i)));
  try {
    await Promise.all(children.map(async (child) => expectType(await child.next(), 'ready', child)));
    return children;
  } catch (err) {
    for (const child of children) child.kill();
    throw err;
  }
}

export function expectType(message: Record<string, unknown>, type: string, child: BenchChild): void {
  if (message.type === 'error') throw new Error(`child ${child.pid}: ${String(message.message)}`);
  if (message.type !== type) throw new Error(`child ${child.pid}: expected "${type}", got ${JSON.stringify(message)}`);
}

function describe(file: string): string {
  return file.split(/[\\/]/).slice(-2).join('/');
}
