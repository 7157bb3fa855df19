import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { RedisServerMissingError, RedisServerStartError } from '../common/errors.js';
import { formatClusterUrl } from './cluster-url.js';
import { waitForClusterOk } from './cluster-state.js';
import { ensureRedisServerBinary, findOnPath } from './install.js';
import type { ProbeTarget } from './probe.js';
import { startEmbeddedRedis, type EmbeddedRedis, type ServerTls } from './redis-server.js';

/**
 * The one way this project makes a Redis Cluster, for the embedded cluster of tests, the demo and
 * the faults as for `npm run redis -- start --cluster` (local-cluster.ts): `redis-cli --cluster
 * create` makes fresh cluster-mode nodes into 3 masters sharing the 16384 slots, and the rest into
 * their replicas (`--cluster-replicas`), which take over when a master fails. It is the command
 * the docs show and an operator would type, and it asks each node for its bus port, so nodes
 * whose bus port is not port + 10000 are fine.
 */

export interface EmbeddedCluster {
  /** `redis+cluster://127.0.0.1:<port>,...`: what REDIS_URL (or QUEUE_/CACHE_REDIS_URL) takes. */
  url: string;
  nodes: { host: string; port: number }[];
  servers: EmbeddedRedis[];
  /** Stop every node and remove their directories. Idempotent. */
  stop(): Promise<void>;
}

/** The fewest masters Redis Cluster accepts. */
export const CLUSTER_MASTERS = 3;
const CREATE_TIMEOUT_MS = 60_000;

export interface EmbeddedClusterOptions {
  log?: (line: string) => void;
  tls?: ServerTls;
  /** Replicas per master. @default 0 */
  replicas?: number;
  /** `cluster-node-timeout`: how long before a silent master counts as failed. @default 5000 */
  nodeTimeoutMs?: number;
  /** AOF on every node (`appendfsync everysec`), as a queue's Redis would run. @default false */
  appendOnly?: boolean;
}

/**
 * A private cluster for tests, the demo and the faults: 3 masters and `replicas` replicas of
 * each, every node an embedded redis-server with its own temporary directory. Whoever starts one
 * stops it.
 */
export async function startEmbeddedCluster(options: EmbeddedClusterOptions = {}): Promise<EmbeddedCluster> {
  const replicas = options.replicas ?? 0;
  const node = {
    clusterNode: true,
    ...(options.log && { log: options.log }),
    ...(options.tls && { tls: options.tls }),
    ...(options.nodeTimeoutMs !== undefined && { clusterNodeTimeoutMs: options.nodeTimeoutMs }),
    ...(options.appendOnly && { appendOnly: true, extraArgs: ['--appendfsync', 'everysec'] }),
  };
  const count = CLUSTER_MASTERS * (1 + replicas);
  const started = await Promise.allSettled(Array.from({ length: count }, () => startEmbeddedRedis(node)));
  const servers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const stop = () => Promise.all(servers.map((server) => server.stop())).then(() => {});
  try {
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    const nodes = servers.map((server) => ({ host: '127.0.0.1', port: server.port }));
    const targets = nodes.map((node) => ({ ...node, ...(options.tls && { tls: { caFile: options.tls.caFile } }) }));
    await formCluster(targets, { replicas });
    await waitForClusterOk(targets);
    return { url: formatClusterUrl(nodes, options.tls !== undefined), nodes, servers, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Runs redis-cli (saying so on `log`); its output is kept for the error when it fails. With
 * `replicas`, redis-cli makes masters of the first 3 nodes and replicas of the others.
 */
export async function formCluster(
  nodes: readonly ProbeTarget[],
  options: { log?: (line: string) => void; replicas?: number } = {},
): Promise<void> {
  const cli = await findRedisCli();
  const addresses = nodes.map((n) => `${n.host}:${n.port}`);
  const replicas = String(options.replicas ?? 0);
  options.log?.(`creating the cluster: redis-cli --cluster create ${addresses.join(' ')} --cluster-replicas ${replicas}`);
  // Nodes that speak TLS only are created over TLS, trusting their CA.
  const caFile = nodes[0]?.tls?.caFile;
  const tlsArgs = caFile ? ['--tls', '--cacert', caFile] : [];
  const args = [...tlsArgs, '--cluster', 'create', ...addresses, '--cluster-replicas', replicas, '--cluster-yes'];
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    const child = spawn(cli, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), CREATE_TIMEOUT_MS);
    child.once('error', reject);
    child.once('close', (exitCode) => {
      clearTimeout(timer);
      resolve({ code: exitCode, output });
    });
  });
  if (code !== 0) {
    // redis-cli colours its output even into a pipe.
    const tail = stripVTControlCharacters(output)
      .trim()
      .split('\n')
      .slice(-8)
      .map((l) => `  ${l}`)
      .join('\n');
    throw new RedisServerStartError(`redis-cli --cluster create failed (exit ${code}):\n${tail}`);
  }
}

/** redis-cli next to redis-server (Debian's redis-server depends on redis-tools, which has it), else on PATH. */
async function findRedisCli(): Promise<string> {
  const server = await ensureRedisServerBinary();
  const beside = path.join(path.dirname(server), 'redis-cli');
  const found = existsSync(beside) ? beside : findOnPath('redis-cli', process.env.PATH);
  if (!found) {
    throw new RedisServerMissingError(
      'redis-cli not found on PATH; it comes with redis-server (Debian/Ubuntu: apt-get install redis-tools, brew install redis)',
    );
  }
  return found;
}
