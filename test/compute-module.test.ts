/**
 * `--compute <module>`: loading the user's module, and what a worker (or a fleet) does when it
 * cannot: stop at start with one line naming the path and the cause, exit 2, no stack trace,
 * no password. The worker and fleet cases run the real commands as processes.
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ComputeModuleError, loadComputeModule, resolveModulePath } from '../workers/compute-module.js';
import { redisUrl } from './support/redis.js';
import { nonEmptyLines, runCommand, type CommandRun } from './support/run-command.js';
import { projectPath } from './support/worker-process.js';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cs-compute-module-'));
  await writeFile(join(dir, 'ok.mjs'), 'export default async (key, { params }) => ({ key, params });\n');
  await writeFile(join(dir, 'syntax.ts'), 'const x: number = ;\nexport default async () => x;\n');
  await writeFile(join(dir, 'not-a-function.mjs'), 'export default { compute() {} };\n');
  await mkdir(join(dir, 'folder.mjs'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('loading a compute module', () => {
  it('loads .mjs and .ts modules and returns their default export with the absolute path', async () => {
    const mjs = await loadComputeModule(join(dir, 'ok.mjs'));
    expect(mjs.path).toBe(join(dir, 'ok.mjs'));
    expect(await mjs.compute('k', { params: { a: 1 } } as never)).toEqual({ key: 'k', params: { a: 1 } });
    const ts = await loadComputeModule(projectPath('test/fixtures/compute/behaviours.ts'));
    expect(typeof ts.compute).toBe('function');
  });

  it("the seed's example returns 42 after 5 s, and stops at once when its signal aborts", async () => {
    const { compute } = await loadComputeModule(projectPath('examples/seed/compute.mjs'));
    const abort = new AbortController();
    const started = performance.now();
    const stopped = Promise.resolve(compute('k', { signal: abort.signal } as never)).catch((err: unknown) => err);
    abort.abort(new Error('shutting down'));
    // node:timers/promises rejects as fetch does: an AbortError whose cause is the signal's reason.
    expect(await stopped).toMatchObject({ name: 'AbortError', cause: { message: 'shutting down' } });
    expect(await compute('k', { signal: new AbortController().signal } as never)).toBe(42);
    expect(performance.now() - started).toBeGreaterThanOrEqual(4990);
  }, 30_000);

  it('resolves a relative path from the directory the command was run from (npm run keeps it in INIT_CWD)', () => {
    expect(resolveModulePath('compute.mjs', { INIT_CWD: '/home/me/service' })).toBe('/home/me/service/compute.mjs');
    expect(resolveModulePath('/abs/compute.mjs', { INIT_CWD: '/home/me' })).toBe('/abs/compute.mjs');
    expect(resolveModulePath('compute.mjs', {})).toBe(join(process.cwd(), 'compute.mjs'));
  });

  it.each([
    ['a missing file', 'missing.mjs', (p: string) => `compute module ${p}: no such file`],
    ['a directory', 'folder.mjs', (p: string) => `compute module ${p} is not a file`],
    [
      'a default export that is not a function',
      'not-a-function.mjs',
      (p: string) =>
        `compute module ${p} has no function as default export (export default async (key, { signal, params }) => value); got an object`,
    ],
  ])('refuses %s with one line naming the path and the cause', async (_name, file, message) => {
    const path = join(dir, file);
    const err = await loadComputeModule(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ComputeModuleError);
    expect((err as Error).message).toBe(message(path));
  });
});

describe('a worker or fleet given a module it cannot use stops at start with one line', { timeout: 120_000 }, () => {
  const env = () => ({ REDIS_URL: redisUrl(), QUEUE_NAME: 'q-compute-module-test', LOG_DIR: dir });

  /** Exit 2; stderr is exactly `line`; nothing on stdout (the worker never said it was ready). */
  function expectOneLine(result: CommandRun, line: string): void {
    const context = JSON.stringify(result);
    expect(result.code, context).toBe(2);
    expect(nonEmptyLines(result.stderr), context).toEqual([line]);
    expect(result.stdout, context).toBe('');
  }

  it.concurrent('worker --compute <missing path>, relative to the directory it was run from', async () => {
    const result = await runCommand('workers/worker.ts', ['--compute', 'nope/compute.mjs'], { ...env(), INIT_CWD: dir });
    expectOneLine(result, `error: compute module ${join(dir, 'nope/compute.mjs')}: no such file`);
  });

  it.concurrent('worker --compute <a .ts module with a syntax error>: the line of the loader message that says where', async () => {
    const path = join(dir, 'syntax.ts');
    const result = await runCommand('workers/worker.ts', ['--compute', path], env());
    expectOneLine(result, `error: compute module ${path} failed to load: ${path}:1:18: ERROR: Unexpected ";"`);
  });

  it.concurrent('worker with COMPUTE_MODULE naming a module without a default export', async () => {
    const path = projectPath('test/fixtures/compute/no-default.mjs');
    const result = await runCommand('workers/worker.ts', [], { ...env(), COMPUTE_MODULE: path });
    expectOneLine(
      result,
      `error: compute module ${path} has no function as default export (export default async (key, { signal, params }) => value); got no default export`,
    );
  });

  it.concurrent('worker --compute <a module that throws while loading>: its message, without the password in it', async () => {
    const path = projectPath('test/fixtures/compute/throws-on-load.mjs');
    const result = await runCommand('workers/worker.ts', ['--compute', path], env());
    expectOneLine(result, `error: compute module ${path} failed to load: cannot connect to postgres://app:***@db.internal:5432/reports`);
    expect(result.stderr).not.toContain('s3cret');
  });

  it.concurrent('fleet --compute <missing path>: one line before starting any worker', async () => {
    const result = await runCommand('scripts/fleet.ts', ['--workers', '3', '--compute', 'missing.mjs'], { ...env(), INIT_CWD: dir });
    expectOneLine(result, `error: compute module ${join(dir, 'missing.mjs')}: no such file`);
  });
});
