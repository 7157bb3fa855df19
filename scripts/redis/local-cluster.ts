import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, RedisServerStartError } from '../common/errors.js';
import { hostPort, isClusterUrl, parseClusterUrl } from './cluster-url.js';
import { clusterInfo, describeClusterNodes, waitForClusterOk } from './cluster-state.js';
import { CLUSTER_MASTERS, formCluster } from './redis-cluster.js';
import { isLoopback, localDir, serverStatus, startLocalServer, stopLocalServer, type LocalTarget } from './local-server.js';

/**
 * The long-lived local Redis Cluster behind `npm run redis -- start --cluster [--replicas N]`:
 * local redis-servers in cluster mode on loopback ports, each with its own directory under
 * `.redis/cluster/<port>/` (AOF, nodes.conf, pid file, log), made into a cluster of 3 masters
 * (and N replicas of each) by `redis-cli --cluster create` (redis-cluster.ts). Like the single
 * local server it outlives the command and keeps its data; started again after a stop, the nodes
 * find each other again from their nodes.conf.
 */

/** The first port when no cluster is named: 127.0.0.1:7000, 7001, ... (the usual example ports). */
const FIRST_DEFAULT_PORT = 7000;

/** How many nodes a cluster of 3 masters with `replicas` replicas each has. */
function clusterSize(replicas: number): number {
  return CLUSTER_MASTERS * (1 + replicas);
}

/**
 * The local cluster's nodes: those of a cluster URL (REDIS_CLUSTER_NODES or REDIS_URL
 * `redis+cluster://`), which must be on this machine; else the ports of the cluster that lives
 * in `.redis/cluster/` (one directory per port); else the default ports, as many as a cluster
 * with `replicas` needs.
 */
export function localClusterTargets(
  redisUrl: string,
  cwd: string = process.cwd(),
  name = 'REDIS_CLUSTER_NODES',
  replicas = 0,
): LocalTarget[] {
  const needed = clusterSize(replicas);
  if (!isClusterUrl(redisUrl)) {
    const dir = localClusterDir(cwd);
    const existing = existsSync(dir)
      ? readdirSync(dir)
          .filter((d) => /^\d{1,5}$/.test(d))
          .map(Number)
          .sort((a, b) => a - b)
      : [];
    if (existing.length >= CLUSTER_MASTERS && existing.length < needed) {
      throw new ConfigError(
        `the cluster in ${path.relative(cwd, dir)}/ has ${existing.length} nodes, too few for ${replicas} replica(s) per master; stop it and remove that directory to create a new one`,
      );
    }
    const ports = existing.length >= CLUSTER_MASTERS ? existing : Array.from({ length: needed }, (_, i) => FIRST_DEFAULT_PORT + i);
    return ports.map((port) => ({ host: '127.0.0.1', port, where: `127.0.0.1:${port}` }));
  }
  const cluster = parseClusterUrl(name, redisUrl);
  if (cluster.tls) throw new ConfigError(`${name}: the local cluster speaks plain redis only, not TLS`);
  if (cluster.nodes.length < needed) {
    const what = replicas === 0 ? 'its masters' : `3 masters and ${replicas} replica${replicas === 1 ? '' : 's'} of each`;
    throw new ConfigError(`${name} names ${cluster.nodes.length} node(s); a local cluster needs at least ${needed} (${what})`);
  }
  return cluster.nodes.map((node) => {
    if (!isLoopback(node.host)) {
      throw new ConfigError(
        `${name} names ${hostPort(node)}, not this machine; a local cluster needs loopback hosts such as 127.0.0.1:7000`,
      );
    }
    return { host: node.host, port: node.port, where: hostPort(node) };
  });
}

export function localClusterDir(cwd: string = process.cwd()): string {
  return path.join(localDir(cwd), 'cluster');
}

function nodeDir(target: LocalTarget, cwd: string): string {
  return path.join(localClusterDir(cwd), String(target.port));
}

export interface LocalClusterStart {
  /** Every node already answered and the cluster was ok: nothing was done. */
  alreadyRunning: boolean;
  /** One line per node (address, role, slots), from CLUSTER NODES. */
  nodes: string[];
}

export interface LocalClusterOptions {
  cwd?: string;
  log?: (line: string) => void;
  /** Replicas per master when the cluster is created (an existing cluster keeps its own). @default 0 */
  replicas?: number;
  /** `cluster-node-timeout` of every node. @default 5000 */
  nodeTimeoutMs?: number;
}

export async function startLocalCluster(targets: readonly LocalTarget[], options: LocalClusterOptions = {}): Promise<LocalClusterStart> {
  const cwd = options.cwd ?? process.cwd();
  const node = { clusterNode: true, ...(options.nodeTimeoutMs !== undefined && { clusterNodeTimeoutMs: options.nodeTimeoutMs }) };
  const started = await Promise.all(targets.map((target) => startLocalServer(target, { ...node, dir: nodeDir(target, cwd) })));
  const states = await Promise.all(
    targets.map(async (target) => {
      try {
        return await clusterInfo(target);
      } catch (err) {
        throw new ConfigError(
          `the redis-server on ${target.where} is not a cluster node (${(err as Error).message}); stop it or pick other ports`,
        );
      }
    }),
  );
  const fresh = states.map((info) => info.get('cluster_known_nodes') === '1' && info.get('cluster_slots_assigned') === '0');
  const ok = states.every((info) => info.get('cluster_state') === 'ok' && Number(info.get('cluster_known_nodes')) >= targets.length);
  const alreadyRunning = started.every((s) => s.alreadyRunning) && ok;
  if (fresh.every(Boolean)) {
    await formCluster(targets, { ...(options.log && { log: options.log }), replicas: options.replicas ?? 0 });
  } else if (fresh.some(Boolean)) {
    const newNodes = targets.filter((_, i) => fresh[i]).map((t) => t.where);
    throw new RedisServerStartError(
      `${newNodes.join(', ')} ${newNodes.length === 1 ? 'is' : 'are'} new while the other nodes already belong to a cluster; stop them (npm run redis -- stop --cluster) and remove ${path.relative(cwd, localClusterDir(cwd))}/ to start afresh`,
    );
  }
  await waitForClusterOk(targets, 30_000);
  return { alreadyRunning, nodes: await describeClusterNodes(targets[0]!) };
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
      ...(await stopLocalServer(target, { force: options.force === true, dir: nodeDir(target, cwd) })),
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
  const state = await clusterInfo(running[0]!).then(
    (info) => info.get('cluster_state'),
    () => 'not a cluster node',
  );
  return { running, ...(state !== undefined && { state }), nodes: await describeClusterNodes(running[0]!) };
}

export function describeClusterStatus(targets: readonly LocalTarget[], status: LocalClusterStatus): string {
  const all = targets.map((t) => t.where).join(', ');
  if (status.running.length === 0) return `no Redis Cluster running on ${all}`;
  const head =
    status.running.length === targets.length
      ? `Redis Cluster on ${all}: cluster_state:${status.state}`
      : `Redis Cluster on ${all}: only ${status.running.map((t) => t.where).join(', ')} running (cluster_state:${status.state})`;
  return [head, ...status.nodes.map((line) => `  ${line}`)].join('\n');
}
