/**
 * The package as a user gets it: `npm pack` (prepack builds dist/), the tarball installed into an
 * empty project, that project's scripts run with plain `node` and its TypeScript checked by the
 * repository's own tsc. Shared by test/package.test.ts and test/package-clients.test.ts.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The repository's package.json: the versions the lab itself runs, which consumers install too. */
export const manifest = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as {
  devDependencies: Record<string, string>;
};

/** The lab's tooling: none of it belongs in a user's node_modules. */
export const LAB_TOOLING = [
  'bullmq',
  'vega',
  'vega-lite',
  'concurrently',
  'tsx',
  'commander',
  'cli-progress',
  'playwright-core',
  'pino',
  'pino-pretty',
  'prom-client',
  'hdr-histogram-js',
  'esbuild',
  'typescript',
];

/**
 * Packs the repository into `dest` and returns the tarball's path. prepack deletes and rebuilds
 * dist/, so two test files packing at once would each pack the other's half-built dist/: a lock
 * (a directory made whole by one rename, holding its owner's pid) lets one pack at a time, and a
 * lock whose owner died is taken over.
 */
export async function packTarball(dest: string): Promise<string> {
  const lock = path.join(ROOT, 'node_modules', '.cache-stampede-pack.lock');
  const mine = await mkdtemp(`${lock}-`);
  await writeFile(path.join(mine, 'pid'), String(process.pid));
  for (;;) {
    try {
      await rename(mine, lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOTEMPTY' && (err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = Number(await readFile(path.join(lock, 'pid'), 'utf8').catch(() => '0'));
    if (owner && !alive(owner)) await rm(lock, { recursive: true, force: true });
    else await new Promise((resolve) => setTimeout(resolve, 200));
  }
  try {
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dest], { cwd: ROOT });
    return path.join(dest, (JSON.parse(stdout) as Array<{ filename: string }>)[0]!.filename);
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface Consumer {
  dir: string;
  /** What npm printed: warnings (a peer-dependency one among them) are the tests' to read. */
  installOutput: string;
}

/** An empty ESM project at `dir` with the tarball and `packages` (exact versions) installed. */
export async function createConsumer(dir: string, tarball: string, packages: string[]): Promise<Consumer> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  // --loglevel=warn: an npm_config_loglevel=silent inherited from the caller would hide the warnings checked.
  const { stdout, stderr } = await run(
    'npm',
    ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=warn', tarball, ...packages],
    { cwd: dir },
  );
  return { dir, installOutput: stdout + stderr };
}

/**
 * Every package installed in the project, at any depth, name to versions, from `npm ls --all`;
 * an optional peer left out is listed there without a version, and is not installed. Rejects if
 * npm ls finds the tree invalid (a peer outside its range, a dependency missing).
 */
export async function installedPackages(dir: string): Promise<Map<string, Set<string>>> {
  const { stdout } = await run('npm', ['ls', '--all', '--json'], { cwd: dir });
  type Node = { version?: string; dependencies?: Record<string, Node> };
  const found = new Map<string, Set<string>>();
  const walk = (deps: Record<string, Node> = {}) => {
    for (const [name, node] of Object.entries(deps)) {
      if (!node.version) continue;
      found.set(name, (found.get(name) ?? new Set()).add(node.version));
      walk(node.dependencies);
    }
  };
  walk((JSON.parse(stdout) as Node).dependencies);
  return found;
}

/** Writes `script` to `file` in the project, runs it with plain node and parses the JSON it prints. */
export async function runNode(dir: string, file: string, script: string, env: Record<string, string> = {}): Promise<unknown> {
  await writeFile(path.join(dir, file), script);
  const { stdout } = await run(process.execPath, [file], { cwd: dir, env: { ...process.env, ...env }, timeout: 30_000 });
  return JSON.parse(stdout);
}

/**
 * Type-checks `files` (name to source) in the project with the repository's tsc, strict, NodeNext,
 * only @types/node global, and returns the error lines. Without skipLibCheck the package's .d.ts
 * files (and the client's) are checked too: an import there that does not resolve is an error
 * rather than an `any` that would let anything pass for a client.
 */
export async function typeCheck(dir: string, files: Record<string, string>): Promise<string[]> {
  const compilerOptions = {
    strict: true,
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    target: 'ES2022',
    types: ['node'],
    noEmit: true,
  };
  await writeFile(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, include: Object.keys(files) }));
  for (const [name, source] of Object.entries(files)) await writeFile(path.join(dir, name), source);
  const tsc = path.join(ROOT, 'node_modules', '.bin', 'tsc');
  const output = await run(tsc, ['-p', 'tsconfig.json'], { cwd: dir }).then(
    () => '',
    (err: { stdout: string }) => err.stdout,
  );
  return output.split('\n').filter((line) => /^\S+\(\d+,\d+\): error/.test(line));
}
