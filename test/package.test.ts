/**
 * The package as a user gets it: what the tarball holds (the built library only), and
 * cache-stampede/otel in an empty project with ioredis and the OpenTelemetry SDK, with plain
 * `node`. Each client the guard accepts, installed alone, is test/package-clients.test.ts.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConsumer, manifest, packTarball, runNode } from './support/consumer-project.js';
import { redisUrl, uniquePrefix } from './support/redis.js';

const run = promisify(execFile);

let dir: string;
let tarball: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'cache-stampede-consumer-'));
  tarball = await packTarball(dir);
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

describe('the packed package with OpenTelemetry', () => {
  let consumer: string;

  beforeAll(async () => {
    const packages = ['ioredis', '@opentelemetry/api', '@opentelemetry/sdk-trace-base'].map(
      (name) => `${name}@${manifest.devDependencies[name]}`,
    );
    ({ dir: consumer } = await createConsumer(path.join(dir, 'otel'), tarball, packages));
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
    const output = await runNode(consumer, 'traced.mjs', script, { REDIS_URL: redisUrl(), PREFIX: uniquePrefix('pkg-otel') });
    expect(output).toEqual({
      result: { value: 42, source: 'computed' },
      spans: [
        ['cache-stampede compute', null],
        ['cache-stampede getOrCompute', 'computed'],
      ],
    });
  });
});
