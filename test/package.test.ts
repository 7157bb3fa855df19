/**
 * The package as a user gets it: `npm pack`, then the tarball and ioredis installed into an empty
 * project, a getOrCompute there with plain `node` (no tsx) against the test Redis, and a
 * TypeScript consumer that type-checks. Nothing of the lab may come along.
 *
 * The peer range admits ioredis 5 and 6, so every check runs against both: one tarball, one
 * consumer project per ioredis major, each installed without a peer-dependency warning.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisUrl, uniquePrefix } from './support/redis.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const manifest = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };

/**
 * The ioredis versions a consumer installs, exact: the lab's own (5) and the newest 6. Each must
 * sit inside the peer range in package.json; a new major goes here when the range admits it.
 */
const IOREDIS = [manifest.devDependencies.ioredis!, '6.1.0'];

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
}, 120_000);

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
});

describe.each(IOREDIS)('the packed package with ioredis %s', (ioredis) => {
  let consumer: string;
  let installOutput: string;

  beforeAll(async () => {
    consumer = path.join(dir, `ioredis-${ioredis}`);
    await mkdir(consumer);
    await writeFile(path.join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    const packages = [`ioredis@${ioredis}`, `@types/node@${manifest.devDependencies['@types/node']}`];
    // --loglevel=warn: an npm_config_loglevel=silent inherited from the caller would hide the warnings checked below.
    const { stdout, stderr } = await run(
      'npm',
      ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=warn', tarball, ...packages],
      { cwd: consumer },
    );
    installOutput = stdout + stderr;
  }, 180_000);

  it('installs with that ioredis, no peer-dependency warning, and nothing of the lab', async () => {
    expect(installOutput).not.toMatch(/ERESOLVE|peer|conflicting/i);
    const installed = await readdir(path.join(consumer, 'node_modules'));
    expect(installed).toContain('cache-stampede');
    const { version } = JSON.parse(await readFile(path.join(consumer, 'node_modules', 'ioredis', 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(version.split('.')[0]).toBe(ioredis.split('.')[0]);
    expect(version).toBe(ioredis);
    expect(installed.filter((name) => LAB_TOOLING.includes(name))).toEqual([]);
    // Tracing is optional: no OpenTelemetry package comes with the guard.
    expect(installed.filter((name) => name.startsWith('@opentelemetry'))).toEqual([]);
  });

  it('runs getOrCompute, its events, a waiter on its own subscriber, the lock subpath and the errors with plain node', async () => {
    // Database 1: the guard reads it from redis.options.db and names the channel after it, so a
    // waiter is only woken if that still works; the waiter's guard subscribes on a duplicate()
    // of the client, which the holder sees through PUBSUB NUMSUB.
    const script = `
      import { Redis } from 'ioredis';
      import { createGuard, OptionsError, subscribeEvents } from 'cache-stampede';
      import { acquireLock, releaseLock, cacheKeys } from 'cache-stampede/lock';
      const prefix = process.env.PREFIX;
      const redis = new Redis(process.env.REDIS_URL, { db: 1 });
      const guard = createGuard({ redis, keyPrefix: prefix });
      const warnings = [];
      const unwatch = subscribeEvents((e) => (e.level === 'warn' || e.level === 'error') && e.event !== 'script.not-cached' && warnings.push(e.event));
      const events = [];
      const unsubscribe = subscribeEvents((e) => e.event !== 'script.not-cached' && events.push([e.event, e.context.id]));
      const first = await guard.getOrCompute('k', async () => ({ answer: 42 }), { context: { id: 1 } });
      const second = await guard.getOrCompute('k', async () => ({ answer: 0 }), { context: { id: 2 } });
      unsubscribe();
      const other = createGuard({ redis, keyPrefix: prefix });
      const channel = cacheKeys(prefix, 'w', 1).channel;
      let waiter;
      let subscribed = false;
      const held = await guard.getOrCompute('w', async () => {
        waiter = other.getOrCompute('w', async () => 'not the holder');
        for (let i = 0; i < 500 && !subscribed; i++) {
          subscribed = (await redis.pubsub('NUMSUB', channel))[1] === 1;
          if (!subscribed) await new Promise((resolve) => setTimeout(resolve, 10));
        }
        return 'the holder';
      });
      const waited = await waiter;
      const keys = cacheKeys(prefix, 'lock-me');
      const lease = await acquireLock(redis, keys, 1000);
      const released = await releaseLock(redis, keys, lease);
      let code;
      try { createGuard({ redis, lockTtlMs: -1 }); } catch (err) { code = err instanceof OptionsError && err.code; }
      await Promise.all([guard.close(), other.close()]);
      await redis.quit();
      unwatch();
      console.log(JSON.stringify({ first, second, events, held, subscribed, waited, fence: typeof lease.fence, released, code, warnings }));
    `;
    await writeFile(path.join(consumer, 'consumer.mjs'), script);
    const { stdout } = await run(process.execPath, ['consumer.mjs'], {
      cwd: consumer,
      env: { ...process.env, REDIS_URL: redisUrl(), PREFIX: uniquePrefix('pkg') },
      timeout: 30_000,
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
      held: { value: 'the holder', source: 'computed' },
      subscribed: true,
      waited: { value: 'the holder', source: 'waited' },
      fence: 'number',
      released: true,
      code: 'E_OPTIONS',
      warnings: [],
    });
  });

  it('without @opentelemetry/api, the guard runs and cache-stampede/otel names what is missing', async () => {
    const script = `
      import { createGuard } from 'cache-stampede';
      let missing;
      try { await import('cache-stampede/otel'); } catch (err) { missing = [err.code, err.message.includes("'@opentelemetry/api'")]; }
      console.log(JSON.stringify({ guard: typeof createGuard, missing }));
    `;
    await writeFile(path.join(consumer, 'no-otel.mjs'), script);
    const { stdout } = await run(process.execPath, ['no-otel.mjs'], { cwd: consumer, timeout: 30_000 });
    expect(JSON.parse(stdout)).toEqual({ guard: 'function', missing: ['ERR_MODULE_NOT_FOUND', true] });
  });

  it('type-checks a TypeScript consumer of createGuard and GuardOptions, and refuses a wrong option type or a non-client', async () => {
    await writeFile(
      path.join(consumer, 'tsconfig.json'),
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
    await writeFile(
      path.join(consumer, 'consumer.ts'),
      `
      import { Cluster, Redis } from 'ioredis';
      import { createGuard, subscribeEvents, type GuardEvent, type GuardOptions, type GuardResult } from 'cache-stampede';
      const options: GuardOptions = { redis: new Redis(), strategy: 'swr', valueTtlMs: 1000 };
      const guard = createGuard(options);
      const result: Promise<GuardResult<number>> = guard.getOrCompute('k', async ({ signal }) => (signal.aborted ? 0 : 1), {
        context: { requestId: 'r-1' },
      });
      void result;
      const onCluster: GuardOptions = {
        redis: new Cluster([{ host: 'localhost', port: 7000 }], { lazyConnect: true }),
        subscriber: new Cluster([{ host: 'localhost', port: 7000 }], { lazyConnect: true, shardedSubscribers: true }),
      };
      void onCluster;
      subscribeEvents((e: GuardEvent) => {
        if (e.event === 'recompute.end') {
          const seconds: number = e.fields.durationMs / 1000;
          void seconds;
        }
      });
    `,
    );
    // skipLibCheck hides errors inside dist/*.d.ts: were its `import type { Cluster, Redis } from
    // 'ioredis'` no longer to resolve, RedisClient would be 'any' and a string would pass for a client.
    await writeFile(
      path.join(consumer, 'wrong.ts'),
      `
      import { Redis } from 'ioredis';
      import type { GuardOptions } from 'cache-stampede';
      const badStrategy: GuardOptions = { redis: new Redis(), strategy: 'sometimes' };
      const notAClient: GuardOptions = { redis: 'redis://localhost:6379' };
      void badStrategy;
      void notAClient;
    `,
    );
    const tsc = path.join(ROOT, 'node_modules', '.bin', 'tsc');
    const output = await run(tsc, ['-p', 'tsconfig.json'], { cwd: consumer }).then(
      () => '',
      (err: { stdout: string }) => err.stdout,
    );
    const errors = output.split('\n').filter((line) => /^\S+\(\d+,\d+\): error/.test(line));
    expect(errors.filter((line) => !line.startsWith('wrong.ts'))).toEqual([]);
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatch(/'"sometimes"' is not assignable/);
    expect(errors[1]).toMatch(/'string' is not assignable to type 'RedisClient'/);
  });
});

describe('the packed package with OpenTelemetry', () => {
  let consumer: string;
  const api = manifest.devDependencies['@opentelemetry/api']!;
  const sdk = manifest.devDependencies['@opentelemetry/sdk-trace-base']!;

  beforeAll(async () => {
    consumer = path.join(dir, 'otel');
    await mkdir(consumer);
    await writeFile(path.join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    const packages = [`ioredis@${manifest.devDependencies.ioredis}`, `@opentelemetry/api@${api}`, `@opentelemetry/sdk-trace-base@${sdk}`];
    await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=warn', tarball, ...packages], {
      cwd: consumer,
    });
  }, 180_000);

  it('cache-stampede/otel: spans through the SDK the user registered, with plain node', async () => {
    const script = `
      import { Redis } from 'ioredis';
      import { trace } from '@opentelemetry/api';
      import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
      import { createGuard } from 'cache-stampede';
      import { openTelemetry } from 'cache-stampede/otel';
      const exporter = new InMemorySpanExporter();
      trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
      const redis = new Redis(process.env.REDIS_URL);
      const guard = createGuard({ redis, keyPrefix: process.env.PREFIX, tracing: openTelemetry() });
      const result = await guard.getOrCompute('k', async () => 42);
      await guard.close();
      await redis.quit();
      const spans = exporter.getFinishedSpans().map((s) => [s.name, s.attributes['cache_stampede.source'] ?? null]);
      console.log(JSON.stringify({ result, spans }));
    `;
    await writeFile(path.join(consumer, 'traced.mjs'), script);
    const { stdout } = await run(process.execPath, ['traced.mjs'], {
      cwd: consumer,
      env: { ...process.env, REDIS_URL: redisUrl(), PREFIX: uniquePrefix('pkg-otel') },
      timeout: 30_000,
    });
    expect(JSON.parse(stdout)).toEqual({
      result: { value: 42, source: 'computed' },
      spans: [
        ['cache-stampede compute', null],
        ['cache-stampede getOrCompute', 'computed'],
      ],
    });
  });
});
