import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, RedisServerMissingError, RedisServerStartError } from '../common/errors.js';
import { hostPort, isClusterUrl, parseClusterUrl } from './cluster-url.js';
import { clusterInfo, describeClusterNodes, waitForClusterOk } from './cluster-state.js';
import { ensureRedisServerBinary, findOnPath } from './install.js';
import {
  isLoopback,
  localPaths,
  serverStatus,
  startLocalServer,
  stopLocalServer,
  type LocalPaths,
  type LocalTarget,
} from './local-server.js';

/**
 * The long-lived local Redis Cluster behind `npm run redis -- start --cluster`: three (or more)
 * daemonized redis-servers in cluster mode on loopback ports, each with its own directory under
 * `.redis/cluster/<port>/` (AOF, nodes.conf, pid file, log), made into a cluster of masters
 * without replicas by `redis-cli --cluster create`. Like the single local server it outlives the
 * command and keeps its data; started again after a stop, the nodes find each other again from
 * their nodes.conf.
 */

/** The nodes when no cluster is named: 127.0.0.1:7000, 7001, 7002 (the usual example ports). */
export const DEFAULT_LOCAL_CLUSTER_PORTS = [7000, 7001, 7002] as const;
const CREATE_TIMEOUT_MS = 60_000;

/**
 * The local cluster's nodes: those of a cluster URL (REDIS_CLUSTER_NODES or REDIS_URL
 * `redis+cluster://`), which must be on this machine; else the ports of the cluster that lives
 * in `.redis/cluster/` (one directory per port); else the default ports.
 */
export function localClusterTargets(redisUrl: string, cwd: string = process.cwd(), name = 'REDIS_CLUSTER_NODES'): LocalTarget[] {
  if (!isClusterUrl(redisUrl)) {
    const dir = localClusterDir(cwd);
    const existing = existsSync(dir) ? readdirSync(dir).filter((d) => /^\d{1,5}$/.test(d)).map(Number).sort((a, b) => a - b) : [];
    const ports = existing.length >= 3 ? existing : DEFAULT_LOCAL_CLUSTER_PORTS;
    return ports.map((port) => ({ host: '127.0.0.1', port, where: `127.0.0.1:${port}` }));
  }
  const cluster = parseClusterUrl(name, redisUrl);
  if (cluster.tls) throw new ConfigError(`${name}: the local cluster speaks plain redis only, not TLS`);
  if (cluster.nodes.length < 3) {
    throw new ConfigError(`${name} names ${cluster.nodes.length} node(s); a local cluster needs at least 3 (its masters)`);
  }
  return cluster.nodes.map((node) => {
    if (!isLoopback(node.host)) {
      throw new ConfigError(`${name} names ${hostPort(node)}, not this machine; a local cluster needs loopback hosts such as 127.0.0.1:7000`);
    }
    return { host: node.host, port: node.port, where: hostPort(node) };
  });
}

export function localClusterDir(cwd: string = process.cwd()): string {
  return path.join(localPaths(cwd).dir, 'cluster');
}

function nodePaths(target: LocalTarget, cwd: string): LocalPaths {
  const dir = path.join(localClusterDir(cwd), String(target.port));
  return { dir, pidFile: path.join(dir, 'redis.pid'), logFile: path.join(dir, 'redis.log') };
}

export interface LocalClusterStart {
  /** Every node already answered and the cluster was ok: nothing was done. */
  alreadyRunning: boolean;
  /** `redis-cli --cluster create` ran (first start in this directory). */
  created: boolean;
  /** One line per node (address, role, slots), from CLUSTER NODES. */
  nodes: string[];
}

export async function startLocalCluster(
  targets: readonly LocalTarget[],
  options: { cwd?: string; log?: (line: string) => void } = {},
): Promise<LocalClusterStart> {
  const cwd = options.cwd ?? process.cwd();
  const log = options.log ?? (() => {});
  const started = await Promise.all(
    targets.map((target) => {
      const paths = nodePaths(target, cwd);
      return startLocalServer(target, cwd, {
        paths,
        extraArgs: [
          '--cluster-enabled', 'yes',
          '--cluster-config-file', path.join(paths.dir, 'nodes.conf'),
          '--cluster-node-timeout', '5000',
        ],
      });
    }),
  );
  const states = await Promise.all(
    targets.map(async (target) => {
      try {
        return await clusterInfo(target);
      } catch (err) {
        throw new ConfigError(`the redis-server on ${target.where} is not a cluster node (${(err as Error).message}); stop it or pick other ports`);
      }
    }),
  );
  const fresh = states.map((info) => info.get('cluster_known_nodes') === '1' && info.get('cluster_slots_assigned') === '0');
  const ok = states.every((info) => info.get('cluster_state') === 'ok' && Number(info.get('cluster_known_nodes')) >= targets.length);
  const alreadyRunning = started.every((s) => s.alreadyRunning) && ok;
  let created = false;
  if (fresh.every(Boolean)) {
    log(`creating the cluster: redis-cli --cluster create ${targets.map((t) => t.where).join(' ')} --cluster-replicas 0`);
    await redisCliCreate(targets);
    created = true;
  } else if (fresh.some(Boolean)) {
    const newNodes = targets.filter((_, i) => fresh[i]).map((t) => t.where);
    throw new RedisServerStartError(
      `${newNodes.join(', ')} ${newNodes.length === 1 ? 'is' : 'are'} new while the other nodes already belong to a cluster; stop them (npm run redis -- stop --cluster) and remove ${path.relative(cwd, localClusterDir(cwd))}/ to start afresh`,
    );
  }
  await waitForClusterOk(targets, 30_000);
  return { alreadyRunning, created, nodes: await describeClusterNodes(targets[0]!) };
}

/** SHUTDOWN every node started from `.redis/cluster/` (each flushes its AOF). */
export async function stopLocalCluster(
  targets: readonly LocalTarget[],
  options: { cwd?: string; force?: boolean } = {},
): Promise<{ target: LocalTarget; wasRunning: boolean; pid?: number }[]> {
  const cwd = options.cwd ?? process.cwd();
  return Promise.all(
    targets.map(async (target) => ({
      target,
      ...(await stopLocalServer(target, { cwd, force: options.force === true, paths: nodePaths(target, cwd) })),
    })),
  );
}

export interface LocalClusterStatus {
  /** Nodes that answer PING. */
  running: LocalTarget[];
  /** `cluster_state` as the first running node reports it. */
  state?: string;
  nodes: string[];
}

export async function localClusterStatus(targets: readonly LocalTarget[]): Promise<LocalClusterStatus> {
  const statuses = await Promise.all(targets.map((t) => serverStatus(t)));
  const running = targets.filter((_, i) => statuses[i]!.running);
  if (running.length === 0) return { running, nodes: [] };
  const state = await clusterInfo(running[0]!).then((info) => info.get('cluster_state'), () => 'not a cluster node');
  return { running, ...(state !== undefined && { state }), nodes: await describeClusterNodes(running[0]!) };
}

export function describeClusterStatus(targets: readonly LocalTarget[], status: LocalClusterStatus): string {
  const all = targets.map((t) => t.where).join(', ');
  if (status.running.length === 0) return `no Redis Cluster running on ${all}`;
  const head = status.running.length === targets.length
    ? `Redis Cluster on ${all}: cluster_state:${status.state}`
    : `Redis Cluster on ${all}: only ${status.running.map((t) => t.where).join(', ')} running (cluster_state:${status.state})`;
  return [head, ...status.nodes.map((line) => `  ${line}`)].join('\n');
}

/** `redis-cli --cluster create <nodes> --cluster-replicas 0 --cluster-yes`, output kept for errors. */
async function redisCliCreate(targets: readonly LocalTarget[]): Promise<void> {
  const cli = await findRedisCli();
  const args = ['--cluster', 'create', ...targets.map((t) => `${t.host}:${t.port}`), '--cluster-replicas', '0', '--cluster-yes'];
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
    // Strip redis-cli's colour codes from the tail we show.
    const tail = output.replace(/\x1b\[[0-9;]*m/g, '').trim().split('\n').slice(-8).map((l) => `  ${l}`).join('\n');
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
