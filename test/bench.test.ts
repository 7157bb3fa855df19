/**
 * Smoke test of `npm run bench` (benchmarks are not tests: this only checks the bench still
 * works). Its quickest form: the cold burst, 2 processes x 10 requests, one round, a short
 * soak, one slice of cache-hit jobs per system (with and without metrics), and two rounds of
 * the batch of 50 cold keys. The bench starts
 * its own redis-server (INFO commandstats must see only its traffic).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BATCH, BATCH_CROSS, BATCH_KEYS, CROSS_OFFSET, ORIGIN_MS } from '../scripts/bench/batch/batch-bench.js';
import { BATCH_SYSTEMS } from '../scripts/bench/batch/systems.js';
import { BASELINE_CLIENT, clientKinds } from '../scripts/bench/clients/clients.js';
import { CLIENTS, hitMetric } from '../scripts/bench/clients/hits.js';
import { coldSystems } from '../scripts/bench/cold/systems.js';
import { PROCESSOR_COST_LABELS, PROCESSOR_COST_MODES } from '../scripts/bench/hits/processor-cost.js';
import type { BenchResult } from '../scripts/bench/run-bench.js';
import { runCommand } from './support/run-command.js';

// Long enough that no call of the cold burst starts after the first value was written, even on a
// loaded machine: `none` then recomputes for every request.
const COMPUTE_MS = 500;

describe('npm run bench (smoke)', () => {
  let dir: string;
  let stdout = '';
  let stderr = '';
  let code: number | string | null = null;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cache-stampede-bench-test-'));
    const args = [
      '--quick',
      '--scenarios',
      'cold,soak,hits,batch,tags',
      '--tags-values',
      '500',
      '--tags-reads',
      '100',
      '--batch-rounds',
      '2',
      '--soak-recomputations',
      '500',
      '--hit-jobs',
      '1000',
      '--processes',
      '2',
      '--concurrency',
      '10',
      '--compute-ms',
      String(COMPUTE_MS),
      '--json',
      path.join(dir, 'bench.json'),
    ];
    ({ code, stdout, stderr } = await runCommand('scripts/bench.ts', args, {}, 170_000));
  }, 180_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('exits 0 and prints the cold-burst table and the targets', () => {
    expect(code, stderr).toBe(0);
    expect(stdout).toContain('### 1. Cold burst: 2 processes x 10 concurrent requests');
    expect(stdout).toContain('### Targets');
    expect(stderr).toContain('cold burst, round 1/1');
  });

  it('writes JSON rows for every system with sane values', async () => {
    const result = JSON.parse(await readFile(path.join(dir, 'bench.json'), 'utf8')) as Omit<BenchResult, 'markdown' | 'svg'>;
    const value = (system: string, metric: string) => {
      const row = result.rows.find((r) => r.scenario === 'cold' && r.system === system && r.metric === metric);
      expect(row, `${system} ${metric}`).toBeDefined();
      expect(Object.keys(row!).sort()).toEqual(['metric', 'scenario', 'system', 'unit', 'value']);
      return row!.value;
    };
    for (const { id } of coldSystems()) {
      expect(value(id, 'errors'), id).toBe(0);
      expect(value(id, 'recomputations'), id).toBeGreaterThanOrEqual(1);
      expect(value(id, 'latency.p50'), id).toBeGreaterThanOrEqual(COMPUTE_MS * 0.9);
      expect(value(id, 'latency.p99'), id).toBeGreaterThanOrEqual(value(id, 'latency.p50'));
      expect(value(id, 'latency.max'), id).toBeLessThan(30_000);
      if (id !== 'floor') {
        expect(value(id, 'redis.commands/request'), id).toBeGreaterThan(0);
        expect(value(id, 'sent.commands/request'), id).toBeGreaterThan(0);
      }
      expect(value(id, 'peak.rss'), id).toBeGreaterThan(10);
    }
    // The stampede, and the fix: every request computes, or exactly one in the fleet does.
    expect(value('none', 'recomputations')).toBe(20);
    expect(value('redis-lock', 'recomputations')).toBe(1);
    expect(value('redis-lock', 'distinct.values')).toBe(1);
    expect(result.targets.map((t) => t.target)).toContain('exactly 1 recomputation per cold key (redis-lock, worst round)');
  });

  it('soaks one process and finds none of its keys left once they expired', async () => {
    const result = JSON.parse(await readFile(path.join(dir, 'bench.json'), 'utf8')) as Omit<BenchResult, 'markdown' | 'svg'>;
    const soak = (metric: string) => result.rows.find((r) => r.scenario === 'soak' && r.metric === metric)?.value;
    expect(soak('recomputations')).toBeGreaterThanOrEqual(500);
    expect(soak('keys.left')).toBe(0);
    expect(soak('heap.growth')).toBeTypeOf('number');
    expect(stdout).toContain('### 5. Soak: one process, 500 recomputations');
  });

  it('runs cache-hit jobs through BullMQ for every system, and the processor with and without metrics and spans', async () => {
    const result = JSON.parse(await readFile(path.join(dir, 'bench.json'), 'utf8')) as Omit<BenchResult, 'markdown' | 'svg'>;
    const value = (scenario: string, system: string, metric: string) =>
      result.rows.find((r) => r.scenario === scenario && r.system === system && r.metric === metric)?.value;
    for (const system of ['raw', 'get-value', 'get-value-metrics', 'get-value-silent', 'get-value-l1']) {
      expect(value('hits', system, 'jobs/s'), system).toBeGreaterThan(0);
      expect(value('hits', system, 'failed'), system).toBe(0);
    }
    expect(value('hits', 'get-value-metrics', 'vs metrics off')).toBeGreaterThan(0);
    // Every mode, the OpenTelemetry ones (no SDK; an SDK with a no-op exporter) among them.
    expect(PROCESSOR_COST_MODES).toEqual(expect.arrayContaining(['silent', 'logger', 'events', 'metrics', 'tracing-api', 'tracing-sdk']));
    for (const mode of PROCESSOR_COST_MODES) expect(value('hits/processor', mode, 'cpu/job'), mode).toBeGreaterThan(0);
    expect(stdout).toContain("### 3b. The processor's own CPU per cache hit");
    for (const mode of PROCESSOR_COST_MODES) expect(stdout, mode).toContain(PROCESSOR_COST_LABELS[mode]);
  });

  it('asks 50 cold keys of one origin by every system: one origin call for the batches, one per key for the single calls, each key once across two processes with the guard', async () => {
    const result = JSON.parse(await readFile(path.join(dir, 'bench.json'), 'utf8')) as Omit<BenchResult, 'markdown' | 'svg'>;
    const value = (scenario: string, system: string, metric: string) => {
      const row = result.rows.find((r) => r.scenario === scenario && r.system === system && r.metric === metric);
      expect(row, `${scenario} ${system} ${metric}`).toBeDefined();
      return row!.value;
    };
    for (const { id, cross } of BATCH_SYSTEMS) {
      expect(value(BATCH, id, 'errors'), id).toBe(0);
      expect(value(BATCH, id, 'rounds'), id).toBe(2);
      expect(value(BATCH, id, 'origin.keys.max'), id).toBe(BATCH_KEYS);
      expect(value(BATCH, id, 'latency.p50'), id).toBeGreaterThanOrEqual(ORIGIN_MS * 0.9);
      expect(value(BATCH, id, 'latency.max'), id).toBeLessThan(30_000);
      if (id !== 'floor') expect(value(BATCH, id, 'sent.requests'), id).toBeGreaterThan(0);
      if (cross) expect(value(BATCH_CROSS, id, 'errors'), id).toBe(0);
    }
    // One request to the origin for the batch APIs, one per key without one.
    expect(value(BATCH, 'guard-many', 'origin.calls.max')).toBe(1);
    expect(value(BATCH, 'cachified-batch', 'origin.calls.max')).toBe(1);
    expect(value(BATCH, 'guard-single', 'origin.calls.max')).toBe(BATCH_KEYS);
    expect(value(BATCH, 'bentocache-single', 'origin.calls.max')).toBe(BATCH_KEYS);
    // The claims of the batch in one request, not one per key.
    expect(value(BATCH, 'guard-many', 'sent.requests')).toBeLessThan(value(BATCH, 'guard-single', 'sent.requests'));
    // Two processes, overlapping batches: every distinct key asked of the origin once with the guard.
    const distinct = CROSS_OFFSET + BATCH_KEYS;
    expect(value(BATCH_CROSS, 'guard-many', 'origin.keys.max')).toBe(distinct);
    expect(value(BATCH_CROSS, 'guard-many', 'origin.calls.max')).toBeLessThanOrEqual(2);
    expect(value(BATCH_CROSS, 'guard-single', 'origin.keys.max')).toBe(distinct);
    // Its section comes before the targets.
    expect(stdout).toContain('### 6. Batch: 50 cold keys at once');
    expect(stdout.indexOf('### 6. Batch')).toBeLessThan(stdout.indexOf('### Targets'));
  });

  it('writes the cold-burst chart next to the JSON', async () => {
    const svg = await readFile(path.join(dir, 'bench.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('recomputations_marks');
    expect(svg).toContain('p99_marks');
  });

  it('prices tags: a tagged or namespaced hit is one more round trip than an untagged one; an invalidation covers every value at once, and the keys are gone after', async () => {
    const result = JSON.parse(await readFile(path.join(dir, 'bench.json'), 'utf8')) as Omit<BenchResult, 'markdown' | 'svg'>;
    const value = (scenario: string, system: string, metric: string) =>
      result.rows.find((r) => r.scenario === scenario && r.system === system && r.metric === metric)?.value;
    const reads = result.rows.filter((r) => r.scenario === 'tags/reads' && r.metric === 'round-trips/read');
    expect(reads.map((r) => [r.system, r.value])).toEqual(
      expect.arrayContaining([
        ['untagged', 1],
        ['tagged', 2],
        ['namespaced', 2],
      ]),
    );
    // Its script, and its announcement on the L1 bus (sent by a guard without a tier too, not awaited).
    expect(value('tags/invalidation', 'invalidateTags', 'round-trips')).toBe(2);
    expect(value('tags/invalidation', 'first read after invalidateTags', 'recomputations')).toBeGreaterThan(0);
    expect(value('tags/invalidation', 'second read', 'recomputations')).toBe(0);
    expect(value('tags/invalidation', 'cleanup', 'keys.left')).toBe(0);
    expect(stdout).toContain('### 7. Tags');
  });
});

/**
 * The clients scenario on its own run (small: 100 hits per client and callers, 2 guards x 10
 * calls in the cold burst): every client set up and measured, each hit a hit, the guard sending
 * the same Redis work as the direct EVALSHA, one computation per cold burst whichever the client.
 */
describe('npm run bench -- --scenarios clients (smoke)', () => {
  let dir: string;
  let stdout = '';
  let stderr = '';
  let code: number | string | null = null;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cache-stampede-bench-clients-test-'));
    const args = ['--quick', '--scenarios', 'clients', '--hit-jobs', '100', '--processes', '2', '--concurrency', '10'];
    ({ code, stdout, stderr } = await runCommand('scripts/bench.ts', [...args, '--json', path.join(dir, 'bench.json')], {}, 110_000));
  }, 120_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('measures every client: hits that hit, the same commands as the direct EVALSHA, one computation per cold burst', async () => {
    expect(code, stderr).toBe(0);
    const result = JSON.parse(await readFile(path.join(dir, 'bench.json'), 'utf8')) as Omit<BenchResult, 'markdown' | 'svg'>;
    const value = (system: string, metric: string) => {
      const row = result.rows.find((r) => r.scenario === CLIENTS && r.system === system && r.metric === metric);
      expect(row, `${system} ${metric}`).toBeDefined();
      return row!.value;
    };
    const kinds = clientKinds();
    expect(kinds.map((k) => k.id)).toEqual(['ioredis', 'iovalkey', 'node-redis']);
    for (const { id, label } of kinds) {
      expect(
        result.rows.some((r) => r.scenario === CLIENTS && r.system === id && r.metric === 'setup.failed'),
        `${id} set up; stderr: ${stderr}`,
      ).toBe(false);
      for (const mode of ['serial', 'concurrent'] as const) {
        for (const path_ of ['guard', 'direct'] as const) {
          expect(value(id, hitMetric(path_, mode, 'hits')), `${id} ${path_} ${mode}`).toBe(100);
          expect(value(id, hitMetric(path_, mode, 'wrong')), `${id} ${path_} ${mode}`).toBe(0);
          expect(value(id, hitMetric(path_, mode, 'errors')), `${id} ${path_} ${mode}`).toBe(0);
          expect(value(id, hitMetric(path_, mode, 'p99')), `${id} ${path_} ${mode}`).toBeGreaterThanOrEqual(
            value(id, hitMetric(path_, mode, 'p50')),
          );
        }
        // A hit through the guard is the direct call's work on the server (one EVALSHA and what
        // it runs), whatever the client: the seam adds no command.
        expect(value(id, hitMetric('guard', mode, 'redis.commands')), `${id} ${mode}`).toBeCloseTo(
          value(id, hitMetric('direct', mode, 'redis.commands')),
          1,
        );
        expect(value(id, hitMetric('guard', mode, 'vs direct')), `${id} ${mode}`).toBeGreaterThan(0);
        if (id !== BASELINE_CLIENT)
          expect(value(id, hitMetric('guard', mode, `vs ${BASELINE_CLIENT}`)), `${id} ${mode}`).toBeGreaterThan(0);
      }
      expect(value(id, 'cold.requests'), id).toBe(20);
      expect(value(id, 'cold.computations'), id).toBe(1);
      expect(value(id, 'cold.distinct.values'), id).toBe(1);
      expect(value(id, 'cold.errors'), id).toBe(0);
      expect(stdout).toContain(`| ${label} |`);
    }
    expect(stdout).toContain('### 8. Clients');
  });
});
