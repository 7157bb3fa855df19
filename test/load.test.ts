/**
 * The load lab (issue 25) on a small seeded traffic: real worker processes, the real example
 * backend, the test suite's Redis. For every strategy the producer's, the logs' and the origin's
 * counts agree; on a cold start and a flush, `none` sends more requests to the origin than
 * `redis-lock`, which sends at most one per key and expiry.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackend, type Backend } from '../examples/http-backend/backend.js';
import { STRATEGIES } from '../src/cache/strategy.js';
import { loadConfig } from '../scripts/common/config.js';
import { countsDisagree, runLoad, type LoadRow } from '../scripts/load/run-load.js';
import { checkTraffic } from '../scripts/load/traffic-options.js';
import { redisUrl, uniquePrefix } from './support/redis.js';

const EXAMPLE_MODULE = fileURLToPath(new URL('../examples/http-backend/compute.ts', import.meta.url));
const traffic = checkTraffic({
  seed: 7,
  keys: 20,
  zipfS: 1,
  rate: 40,
  durationMs: 3000,
  computeTime: { kind: 'fixed', ms: 300 },
  events: [{ kind: 'flush', atMs: 1500 }],
});

let backend: Backend;
let logDir: string;
let rows: LoadRow[];
beforeAll(async () => {
  backend = await startBackend({ delayMs: 300 });
  logDir = await mkdtemp(join(tmpdir(), 'cs-load-'));
  const prefix = uniquePrefix('load');
  const config = loadConfig({ redisUrl: redisUrl(), keyPrefix: prefix, queueName: `q-${prefix}`, logDir, valueTtlMs: 10_000 });
  rows = await runLoad({
    config,
    traffic,
    strategies: STRATEGIES,
    workers: 2,
    backend,
    computeModule: EXAMPLE_MODULE,
    logDir,
    say: () => {},
  });
}, 180_000);
afterAll(async () => {
  await backend?.close();
  if (logDir) await rm(logDir, { recursive: true, force: true });
});

const row = (strategy: string) => rows.find((r) => r.strategy === strategy)!;

describe('npm run load on a small seeded traffic', () => {
  it('plays the same traffic for every strategy, and every job completes', () => {
    expect(rows.map((r) => r.strategy)).toEqual([...STRATEGIES]);
    const jobs = rows[0]!.jobs;
    expect(jobs).toBeGreaterThan(80); // about 40 jobs/s for 3 s
    for (const r of rows) {
      expect(r.jobs, r.strategy).toBe(jobs);
      expect(r.failed, `${r.strategy}: ${JSON.stringify(r.failures)}`).toBe(0);
      expect(r.events, r.strategy).toEqual([{ at: 1500, kind: 'flush' }]);
    }
  });

  it("the producer's, the logs' and the origin's counts agree, for each strategy", () => {
    for (const r of rows) {
      expect(countsDisagree(r), r.strategy).toBeNull();
      expect(r.origin.requests, r.strategy).toBeGreaterThan(0);
    }
  });

  it('on a cold start and a flush, none sends more requests to the origin than redis-lock, which sends at most one per key and fill', () => {
    const none = row('none');
    const lock = row('redis-lock');
    expect(none.origin.requests).toBeGreaterThan(lock.origin.requests);
    expect(none.origin.peakInFlight).toBeGreaterThan(lock.origin.peakInFlight);
    // Two fills (the cold start, the flush) of at most 20 keys; values stay fresh 10 s.
    expect(lock.origin.requests).toBeLessThanOrEqual(2 * traffic.keys);
  });
});

describe('npm run load with your own compute module as the origin', () => {
  it('counts what reached the origin from the logs: requests per second and at once, agreeing with the recomputations', async () => {
    const module = fileURLToPath(new URL('./fixtures/compute/behaviours.ts', import.meta.url));
    const dir = await mkdtemp(join(tmpdir(), 'cs-load-module-'));
    try {
      const prefix = uniquePrefix('load-module');
      const config = loadConfig({ redisUrl: redisUrl(), keyPrefix: prefix, queueName: `q-${prefix}`, logDir: dir, valueTtlMs: 10_000 });
      // `nap-<rank>` keys: the fixture answers them after 200 ms.
      const spec = checkTraffic({
        seed: 3,
        keys: 10,
        rate: 30,
        durationMs: 2000,
        keyPrefix: 'nap',
        events: [{ kind: 'flush', atMs: 1000 }],
      });
      const [none] = await runLoad({
        config,
        traffic: spec,
        strategies: ['none'],
        workers: 2,
        computeModule: module,
        logDir: dir,
        say: () => {},
      });
      expect(none!.failed, JSON.stringify(none!.failures)).toBe(0);
      expect(none!.origin.countedBy).toBe('logs');
      expect(countsDisagree(none!)).toBeNull();
      expect(none!.origin.requests).toBe(none!.logs!.recomputations);
      expect(none!.origin.bins.reduce((sum, b) => sum + b.requests, 0)).toBe(none!.origin.requests);
      // A cold start on 10 keys at 30 jobs/s with 200 ms computations: some run side by side.
      expect(none!.origin.peakInFlight).toBeGreaterThanOrEqual(2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
