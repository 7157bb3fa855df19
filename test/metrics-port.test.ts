/**
 * A metrics port that cannot be had stops that worker, before it takes any job, with one line
 * and exit code 2 (a configuration problem); in a fleet, the other workers keep serving.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePortRange, occupyPort } from './support/ports.js';
import { scrape } from './support/prometheus.js';
import { redisUrl, uniquePrefix } from './support/redis.js';
import { nonEmptyLines, runCommand } from './support/run-command.js';
import { spawnEntry } from './support/worker-process.js';

let logDir = '';
let env: Record<string, string> = {};
beforeAll(async () => {
  logDir = await mkdtemp(join(tmpdir(), 'cs-metrics-port-'));
  env = { REDIS_URL: redisUrl(), QUEUE_NAME: `q-${uniquePrefix('metrics-port')}`, LOG_DIR: logDir };
});
afterAll(async () => {
  await rm(logDir, { recursive: true, force: true });
});

describe('a metrics port in use', () => {
  it('stops the worker with one line naming it, exit code 2, before it is ready', async () => {
    const taken = await occupyPort();
    try {
      const result = await runCommand('workers/worker.ts', ['--metrics-port', String(taken.port)], env);
      expect(result.code, JSON.stringify(result)).toBe(2);
      expect(nonEmptyLines(result.stderr)).toEqual([
        `error: metrics port ${taken.port} on 127.0.0.1 is in use (choose another with --metrics-port or METRICS_PORT)`,
      ]);
      expect(result.stdout).not.toContain('ready:');
    } finally {
      await taken.close();
    }
  });

  it('is read from METRICS_PORT, and --metrics-port overrides it', async () => {
    const [fromEnv, fromFlag] = [await occupyPort(), await occupyPort()];
    try {
      const byEnv = await runCommand('workers/worker.ts', [], { ...env, METRICS_PORT: String(fromEnv.port) });
      expect(byEnv.stderr).toContain(`error: metrics port ${fromEnv.port} on 127.0.0.1 is in use`);
      const byFlag = await runCommand('workers/worker.ts', ['--metrics-port', String(fromFlag.port)], {
        ...env,
        METRICS_PORT: String(fromEnv.port),
      });
      expect(byFlag.stderr).toContain(`error: metrics port ${fromFlag.port} on 127.0.0.1 is in use`);
      expect(byFlag.code).toBe(2);
    } finally {
      await Promise.all([fromEnv.close(), fromFlag.close()]);
    }
  });

  it('in a fleet, stops only the worker whose port it is; the others serve their metrics', async () => {
    const first = await freePortRange(2);
    const taken = await occupyPort(first + 1);
    const fleet = spawnEntry('scripts/fleet.ts', ['--workers', '2', '--metrics-port', String(first)], env);
    try {
      await fleet.waitForLine(/\[fleet\] worker-2 exited with code 2; the other workers keep serving/, 90_000);
      expect(fleet.output()).toContain(`[worker-2] error: metrics port ${first + 1} on 127.0.0.1 is in use`);
      await fleet.waitForLine(/worker-1 ready: /, 90_000);
      const samples = await scrape(`http://127.0.0.1:${first}/metrics`);
      expect(samples.some((s) => s.name === 'process_cpu_user_seconds_total')).toBe(true);
    } finally {
      fleet.child.kill('SIGINT');
      // A worker failed: the fleet says so with its exit code.
      expect(await fleet.exit).toBe(1);
      await taken.close();
    }
    expect(fleet.output()).toContain('fleet stopped: 1 of 2 workers exited cleanly');
    expect(fleet.output()).not.toMatch(/\n\s+at /);
  });
});
