/**
 * `npm run redis -- start|status|stop --cluster --replicas 1`: a real local cluster of 3 masters
 * and 3 replicas in a temporary directory, created with redis-cli --cluster create, stopped, and
 * started again from its nodes.conf.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRedisClient } from '../scripts/redis/connection.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tsx = path.join(root, 'node_modules', '.bin', 'tsx');
const script = path.join(root, 'scripts', 'redis.ts');
const cwd = mkdtempSync(path.join(os.tmpdir(), 'cs-local-cluster-'));

afterAll(() => {
  // A test that failed half-way may have left daemonized nodes running.
  const dir = path.join(cwd, '.redis', 'cluster');
  for (const port of existsSync(dir) ? readdirSync(dir) : []) {
    try {
      process.kill(Number(readFileSync(path.join(dir, port, 'redis.pid'), 'utf8')), 'SIGKILL');
    } catch {
      // not running
    }
  }
  rmSync(cwd, { recursive: true, force: true });
});

function cli(args: string[], nodes: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      tsx,
      [script, ...args],
      { cwd, env: { ...process.env, REDIS_URL: '', REDIS_CLUSTER_NODES: nodes }, timeout: 90_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
      },
    );
  });
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Ports whose cluster bus port (port + 10000, the default) is free and valid too. */
async function clusterPorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < count) {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    if (!ports.includes(port) && (await isFree(port)) && (await isFree(port + 10_000))) ports.push(port);
  }
  return ports;
}

describe('npm run redis -- start|status|stop --cluster', () => {
  it('creates a cluster of 3 masters with a replica each, reports it, stops it, and starts it again from its own files', async () => {
    const ports = await clusterPorts(6);
    const nodes = ports.map((p) => `127.0.0.1:${p}`).join(',');

    const tooFew = await cli(['start', '--cluster', '--replicas', '1'], nodes.split(',').slice(0, 4).join(','));
    expect(tooFew).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^error: .*names 4 node\(s\); .*at least 6 \(3 masters and 1 replica of each\)\n$/),
    });
    expect(await cli(['start', '--replicas', '1'], '')).toMatchObject({
      code: 2,
      stderr: 'error: --replicas and --node-timeout are for a cluster: add --cluster\n',
    });

    const start = await cli(['start', '--cluster', '--replicas', '1', '--node-timeout', '2000'], nodes);
    expect(start, start.stderr).toMatchObject({ code: 0 });
    expect(start.stdout).toContain('redis-cli --cluster create');
    expect(start.stdout).toContain('--cluster-replicas 1');
    expect(start.stdout.match(/ master {2}slots \d+-\d+/g)).toHaveLength(3);
    expect(start.stdout.match(/ replica {2}of 127\.0\.0\.1:\d+/g)).toHaveLength(3);
    expect(start.stdout).toContain(`REDIS_CLUSTER_NODES=${nodes}`);
    for (const port of ports) expect(existsSync(path.join(cwd, '.redis', 'cluster', String(port), 'nodes.conf'))).toBe(true);

    const client = createRedisClient(`redis+cluster://${nodes}`, 'producer');
    try {
      await Promise.all(Array.from({ length: 20 }, (_, i) => client.set(`k${i}`, String(i))));
      expect(await client.get('k7')).toBe('7');
    } finally {
      await client.quit();
    }

    const status = await cli(['status', '--cluster'], nodes);
    expect(status, status.stderr).toMatchObject({ code: 0 });
    expect(status.stdout).toContain('cluster_state:ok');

    const stop = await cli(['stop'], nodes);
    expect(stop, stop.stderr).toMatchObject({ code: 0 });
    expect(stop.stdout).toContain('Redis Cluster stopped');
    const stopped = await cli(['status', '--cluster'], nodes);
    expect(stopped.code).toBe(3);
    expect(stopped.stdout).toContain('no Redis Cluster running');

    // Started again, the nodes find each other from nodes.conf; the data came back from the AOF.
    const again = await cli(['start', '--cluster'], nodes);
    expect(again, again.stderr).toMatchObject({ code: 0 });
    expect(again.stdout).not.toContain('redis-cli --cluster create');
    const back = createRedisClient(`redis+cluster://${nodes}`, 'producer');
    try {
      expect(await back.get('k7')).toBe('7');
    } finally {
      await back.quit();
    }
    const last = await cli(['stop', '--cluster'], nodes);
    expect(last, last.stderr).toMatchObject({ code: 0 });
  }, 180_000);
});
