/**
 * The package as a user gets it: `npm pack`, then the tarball and ioredis installed into an empty
 * project, a getOrCompute there with plain `node` (no tsx) against the test Redis, and a
 * TypeScript consumer that type-checks. Nothing of the lab may come along.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisUrl, uniquePrefix } from './support/redis.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const manifest = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };

/** The lab's tooling: none of it belongs in a user's node_modules. */
const LAB_TOOLING = [
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

let dir: string;
let tarball: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'cache-stampede-consumer-'));
  // prepack builds dist/ first, as it does for a publish.
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: ROOT });
  tarball = path.join(dir, (JSON.parse(stdout) as Array<{ filename: string }>)[0]!.filename);
  await writeFile(path.join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  const versions = ['ioredis', '@types/node'].map((name) => `${name}@${manifest.devDependencies[name]}`);
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball, ...versions], { cwd: dir });
}, 180_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the packed package', () => {
  it('ships the built library only', async () => {
    const { stdout } = await run('tar', ['-tzf', tarball]);
    const files = stdout
      .trim()
      .split('\n')
      .map((f) => f.replace(/^package\//, ''));
    expect(files).toContain('dist/index.js');
    expect(files).toContain('dist/index.d.ts');
    expect(files).toContain('LICENSE');
    expect(files.filter((f) => !/^(dist\/|LICENSE$|README\.md$|package\.json$)/.test(f))).toEqual([]);
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
  });

  it('installs with ioredis and nothing of the lab', async () => {
    const installed = await readdir(path.join(dir, 'node_modules'));
    expect(installed).toContain('cache-stampede');
    expect(installed).toContain('ioredis');
    expect(installed.filter((name) => LAB_TOOLING.includes(name))).toEqual([]);
  });

  it('runs getOrCompute, its events, the lock subpath and the errors with plain node', async () => {
    const script = `
      import { Redis } from 'ioredis';
      import { createGuard, OptionsError, subscribeEvents } from 'cache-stampede';
      import { acquireLock, releaseLock, cacheKeys } from 'cache-stampede/lock';
      const redis = new Redis(process.env.REDIS_URL);
      const guard = createGuard({ redis, keyPrefix: process.env.PREFIX });
      const events = [];
      const unsubscribe = subscribeEvents((e) => e.event !== 'script.not-cached' && events.push([e.event, e.context.id]));
      const first = await guard.getOrCompute('k', async () => ({ answer: 42 }), { context: { id: 1 } });
      const second = await guard.getOrCompute('k', async () => ({ answer: 0 }), { context: { id: 2 } });
      unsubscribe();
      const keys = cacheKeys(process.env.PREFIX, 'lock-me');
      const lease = await acquireLock(redis, keys, 1000);
      const released = await releaseLock(redis, keys, lease);
      let code;
      try { createGuard({ redis, lockTtlMs: -1 }); } catch (err) { code = err instanceof OptionsError && err.code; }
      await guard.close();
      await redis.quit();
      console.log(JSON.stringify({ first, second, events, fence: typeof lease.fence, released, code }));
    `;
    await writeFile(path.join(dir, 'consumer.mjs'), script);
    const { stdout } = await run(process.execPath, ['consumer.mjs'], {
      cwd: dir,
      env: { ...process.env, REDIS_URL: redisUrl(), PREFIX: uniquePrefix('pkg') },
    });
    expect(JSON.parse(stdout)).toEqual({
      first: { value: { answer: 42 }, source: 'computed' },
      second: { value: { answer: 42 }, source: 'cache' },
      events: [
        ['cache.miss', 1],
        ['lock.acquired', 1],
        ['recompute.start', 1],
        ['recompute.end', 1],
        ['cache.write', 1],
        ['lock.released', 1],
        ['cache.hit', 2],
      ],
      fence: 'number',
      released: true,
      code: 'E_OPTIONS',
    });
  });

  it('type-checks a TypeScript consumer of createGuard and GuardOptions, and refuses a wrong option type', async () => {
    await writeFile(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2022',
          types: ['node'],
          noEmit: true,
          skipLibCheck: true,
        },
        include: ['*.ts'],
      }),
    );
    const consumer = `
      import { Redis } from 'ioredis';
      import { createGuard, subscribeEvents, type GuardEvent, type GuardOptions, type GuardResult } from 'cache-stampede';
      const options: GuardOptions = { redis: new Redis(), strategy: 'swr', valueTtlMs: 1000 };
      const guard = createGuard(options);
      const result: Promise<GuardResult<number>> = guard.getOrCompute('k', async ({ signal }) => (signal.aborted ? 0 : 1), {
        context: { requestId: 'r-1' },
      });
      void result;
      subscribeEvents((e: GuardEvent) => {
        if (e.event === 'recompute.end') {
          const seconds: number = e.fields.durationMs / 1000;
          void seconds;
        }
      });
    `;
    await writeFile(path.join(dir, 'consumer.ts'), consumer);
    const tsc = path.join(ROOT, 'node_modules', '.bin', 'tsc');
    await run(tsc, ['-p', 'tsconfig.json'], { cwd: dir });

    await writeFile(
      path.join(dir, 'consumer.ts'),
      `${consumer}\nconst bad: GuardOptions = { redis: new Redis(), strategy: 'sometimes' };\nvoid bad;\n`,
    );
    const failed = await run(tsc, ['-p', 'tsconfig.json'], { cwd: dir }).then(
      () => null,
      (err: { stdout: string }) => err.stdout,
    );
    expect(failed).toMatch(/consumer\.ts.*'"sometimes"' is not assignable/);
  });
});
