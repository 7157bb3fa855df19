import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** Run a TypeScript file in a fresh Node process (through tsx's loader). */
export function spawnTs(file: string, env: Record<string, string>): ChildProcess {
  const path = fileURLToPath(new URL(`../${file}`, import.meta.url));
  return spawn(process.execPath, ['--import', 'tsx', path], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
}

export interface ChildReport {
  pid: number;
  computations: number;
  values: string[];
  sources: string[];
}

/**
 * Start `count` guard children, wait until every one is connected, then release them at once,
 * so their calls really overlap; collect each child's report.
 */
export async function runGuardChildren(count: number, env: Record<string, string>): Promise<ChildReport[]> {
  const children = Array.from({ length: count }, () => spawnTs('fixtures/guard-child.ts', env));
  const outputs = children.map((child) => lineReader(child));
  await Promise.all(outputs.map((next) => next().then((line) => expectLine(line, 'ready'))));
  for (const child of children) child.stdin!.end('go\n');
  const reports = await Promise.all(outputs.map((next) => next()));
  await Promise.all(children.map((child) => exited(child)));
  return reports.map((line) => JSON.parse(line) as ChildReport);
}

function lineReader(child: ChildProcess): () => Promise<string> {
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return async () => {
    const { value, done } = await lines.next();
    if (done) throw new Error(`child ${child.pid} ended without output (exit ${child.exitCode})`);
    return value as string;
  };
}

function expectLine(line: string, expected: string): void {
  if (line !== expected) throw new Error(`expected "${expected}" from child, got "${line}"`);
}

export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}
