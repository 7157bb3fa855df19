import { Cluster, type Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { RedisConnectionError } from '../common/errors.js';
import { describeClusterUrl, hostPort, parseClusterUrl, type ClusterName } from './cluster-url.js';
import { probeRedis } from './probe-client.js';
import { startupInfo } from './startup-info.js';
import type { RedisClient, RedisRole } from './connection.js';
import { tlsConnectionOptions, type TlsSettings } from './tls.js';

/**
 * Redis Cluster connections (ioredis `Cluster`), built from a `redis+cluster://` URL by
 * createRedis in connection.ts. The same roles as a single node; what differs:
 *
 * - ioredis reconnects a cluster as a whole (`clusterRetryStrategy`), never a node alone, so
 *   the role's retry strategy becomes the cluster's;
 * - per-node settings (timeouts, `maxRetriesPerRequest`, credentials, TLS) go in `redisOptions`,
 *   which is also where BullMQ looks for `maxRetriesPerRequest: null` on a worker connection;
 * - the subscriber uses sharded pub/sub, one connection per master (see redis/pubsub.ts).
 */

/** Sharded pub/sub (SSUBSCRIBE, SPUBLISH) came with Redis 7.0. */
const MIN_CLUSTER_MAJOR = 7;

export function isCluster(client: RedisClient): client is Cluster {
  return (client as { isCluster?: boolean }).isCluster === true;
}

export function createCluster(url: string, role: RedisRole, nodeOptions: RedisOptions, tls: TlsSettings): Cluster {
  const name = parseClusterUrl('url', url);
  return new Cluster(name.nodes, clusterOptions(role, { ...nodeOptions, ...credentials(name, tls) }));
}

/** A new cluster connection to the same nodes with the same credentials, for `role`. */
export function duplicateClusterFor(cluster: Cluster, role: RedisRole, nodeOptions: RedisOptions): Cluster {
  const { username, password, tls } = cluster.options.redisOptions ?? {};
  return cluster.duplicate([], clusterOptions(role, { ...nodeOptions, username, password, tls }));
}

/**
 * How every cluster connection rides out a failover, whatever its role.
 *
 * The single-node reasoning (connection.ts: `maxRetriesPerRequest: null` for a worker, ~9 s of
 * reconnects for the cache) does not carry over: a cluster client never reconnects to a lost
 * node, it retries the command elsewhere, and what bounds that is the redirection budget. A
 * master that dies is declared failed after `cluster-node-timeout`, then its replica is elected
 * and promoted; meanwhile commands for its slots meet a closed connection or a MOVED back to the
 * dead node, then `CLUSTERDOWN` (with `cluster-require-full-coverage yes`, the default, on every
 * master). ioredis's defaults (16 redirections, 100 ms apart) gave up after about 1.6 s, while a
 * failover with a 2 s node timeout takes 3.5-4 s: jobs failed by the hundred (issue 17). Here a
 * retry waits 200 ms and refreshes the slot map; a MOVED is retried at once, so 200 redirections
 * come to about 26 s (measured: a master killed with no failover to come). That rides out the
 * failover of a cluster with Redis's default 15 s node timeout (21 s on the loaded development
 * machine) and still bounds it: a cluster that stays down fails a command instead of hanging it.
 */
export const FAILOVER_RETRIES = {
  retryDelayOnFailover: 200,
  retryDelayOnClusterDown: 200,
  maxRedirections: 200,
} as const satisfies ClusterOptions;

function clusterOptions(role: RedisRole, nodeOptions: RedisOptions): ClusterOptions {
  const { retryStrategy, enableOfflineQueue, lazyConnect, ...perNode } = nodeOptions;
  return {
    ...(retryStrategy && { clusterRetryStrategy: (times: number) => retryStrategy(times) }),
    ...(enableOfflineQueue !== undefined && { enableOfflineQueue }),
    ...(lazyConnect !== undefined && { lazyConnect }),
    // ioredis gives CLUSTER SLOTS 1 s by default; on a loaded machine that fails and retries in
    // a loop. The same patience as for connecting.
    slotsRefreshTimeout: perNode.connectTimeout ?? 3000,
    ...FAILOVER_RETRIES,
    shardedSubscribers: role === 'subscriber',
    redisOptions: perNode,
  };
}

/** What every node connection of the cluster takes from its URL (and the TLS settings). */
export function credentials(name: ClusterName, tls: TlsSettings): RedisOptions {
  return {
    ...(name.username !== undefined && { username: name.username }),
    ...(name.password !== undefined && { password: name.password }),
    ...(name.tls && { tls: tlsConnectionOptions(tls) }),
  };
}

/**
 * The nodes that own slots: every master of a cluster (each holds part of the keys, so SCAN
 * and INFO must visit them all), or the one node.
 */
export async function masterNodes(client: RedisClient): Promise<Redis[]> {
  if (!isCluster(client)) return [client];
  // nodes() lists what the client has discovered: wait for the first slot map.
  if (client.status !== 'ready') await client.ping();
  return client.nodes('master');
}

/**
 * Connect to the cluster once, without retries: one seed that answers is enough (the nodes are
 * seeds, the client finds the rest), the cluster must say `cluster_state:ok`, and the masters
 * that answer must run Redis 7 or later (sharded pub/sub). Seeds and masters that do not answer
 * (a node that died and was failed over, a seed list that is out of date) do not stop anything:
 * they come back as one warning line. Turns the usual mistakes into one clear error naming the
 * nodes and the cause, within a few seconds.
 */
export async function assertClusterReachable(
  url: string,
  tls: TlsSettings,
  timeoutMs: number,
  explain: (err: unknown) => string,
): Promise<string[]> {
  const name = parseClusterUrl('url', url);
  const where = describeClusterUrl(url);
  // Each seed on its own first: ioredis's cluster client reports a seed it cannot use only as
  // "Connection is closed.", a plain connection says why (refused, unknown host, password).
  const seeds = await Promise.all(name.nodes.map((node) => probeSeed(node, credentials(name, tls), timeoutMs)));
  const answered = seeds.filter((s) => s.error === undefined);
  if (answered.length === 0) {
    throw new RedisConnectionError(`cannot use Redis ${where}: ${explain(seeds[0]!.error)}`, { cause: seeds[0]!.error });
  }
  const single = answered.find((s) => !s.clusterEnabled);
  if (single) {
    throw new RedisConnectionError(
      `cannot use Redis ${where}: ${hostPort(single.node)} is a single Redis, not a cluster node (name it with redis://${hostPort(single.node)} instead)`,
    );
  }
  // Each seed's own view: during a failover's election the cluster is down for a moment.
  const down = answered.find((s) => s.state !== undefined && s.state !== 'ok');
  if (down) {
    throw new RedisConnectionError(
      `cannot use Redis ${where}: the cluster is not ok (CLUSTER INFO on ${hostPort(down.node)} says cluster_state:${down.state})`,
    );
  }
  const silent = seeds.flatMap((s) => (s.error === undefined ? [] : [{ at: hostPort(s.node), error: s.error }]));

  const probe = new Cluster(
    answered.map((s) => s.node),
    {
      lazyConnect: true,
      clusterRetryStrategy: () => null,
      slotsRefreshTimeout: timeoutMs,
      // No ready checks: the seeds' CLUSTER INFO was read above, and the version check below
      // asks INFO itself. (The cluster's own ready check asks a random master, which may be a
      // dead one still in the slot map, and then hangs until the timeout.)
      enableReadyCheck: false,
      redisOptions: { connectTimeout: timeoutMs, maxRetriesPerRequest: 0, enableReadyCheck: false, ...credentials(name, tls) },
    },
  );
  // The real cause (ECONNREFUSED, WRONGPASS, "cluster support disabled") comes only as an event.
  let firstError: unknown;
  const keep = (err: unknown) => {
    firstError ??= (err as { lastNodeError?: unknown }).lastNodeError ?? err;
  };
  probe.on('error', keep);
  probe.on('node error', keep);
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`connection timed out after ${timeoutMs} ms`)), timeoutMs * 2);
    });
    await Promise.race([probe.connect(), timeout]);
    const masters = probe.nodes('master');
    const infos = await Promise.allSettled(masters.map((node) => startupInfo(node, 'server', where)));
    for (const [i, info] of infos.entries()) {
      const at = hostPort({ host: masters[i]!.options.host ?? '?', port: masters[i]!.options.port ?? 0 });
      if (info.status === 'rejected') {
        // Refused INFO is a mistake to report; a master that does not answer is being failed over.
        if (info.reason instanceof RedisConnectionError) throw info.reason;
        if (!silent.some((s) => s.at === at)) silent.push({ at, error: info.reason });
        continue;
      }
      const version = /^redis_version:(\S+)/m.exec(info.value)?.[1] ?? '0';
      if (Number(version.split('.')[0]) < MIN_CLUSTER_MAJOR) {
        throw new RedisConnectionError(
          `the Redis Cluster ${where} runs Redis ${version} on ${at}; notifications use sharded pub/sub, which needs Redis ${MIN_CLUSTER_MAJOR}.0 or later`,
        );
      }
    }
  } catch (err) {
    if (err instanceof RedisConnectionError) throw err;
    const cause = firstError ?? err;
    const message = (cause as { message?: string })?.message ?? '';
    const why = /cluster.*down|CLUSTERDOWN|ready check failed|None of startup nodes/i.test(message)
      ? 'the cluster is not ok (CLUSTER INFO does not say cluster_state:ok)'
      : explain(cause);
    throw new RedisConnectionError(`cannot use Redis ${where}: ${why}`, { cause });
  } finally {
    clearTimeout(timer);
    probe.disconnect();
  }
  if (silent.length === 0) return [];
  const nodes = silent.map((s) => s.at).join(', ');
  return [
    `Redis cluster node${silent.length === 1 ? '' : 's'} ${nodes} ${silent.length === 1 ? 'does' : 'do'} not answer (${silence(silent[0]!.error, explain)}); the cluster is ok without ${silent.length === 1 ? 'it' : 'them'}, going on`,
  ];
}

interface Seed {
  node: { host: string; port: number };
  error?: unknown;
  clusterEnabled?: boolean;
  /** `cluster_state` as this node sees it; undefined when CLUSTER INFO was refused. */
  state?: string;
}

/** Connect to one seed without retries: PING, whether it runs in cluster mode, and the cluster's state. */
async function probeSeed(node: Seed['node'], nodeOptions: RedisOptions, timeoutMs: number): Promise<Seed> {
  try {
    return await probeRedis({ ...node, ...nodeOptions }, timeoutMs, async (client) => {
      // Where INFO is refused, let the cluster connection decide (and the version check say so).
      const clusterEnabled = /^cluster_enabled:1/m.test(await client.info('cluster').catch(() => 'cluster_enabled:1'));
      if (!clusterEnabled) return { node, clusterEnabled };
      const info = await client.cluster('INFO').catch(() => '');
      const state = /^cluster_state:(\w+)/m.exec(String(info))?.[1];
      return { node, clusterEnabled, ...(state !== undefined && { state }) };
    });
  } catch (error) {
    return { node, error };
  }
}

/** Why a node does not answer, in a word or two: it is gone, not misconfigured (so no hints). */
function silence(err: unknown, explain: (err: unknown) => string): string {
  const code = (err as { code?: string })?.code;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ECONNRESET') return 'connection reset';
  return explain(err);
}

/**
 * A cluster node named as a single Redis would answer MOVED for most keys: say what to do
 * instead. Called by the single-node check, whose INFO is also the one that tells a user
 * without INFO in their ACL what to allow.
 */
export async function refuseClusterNode(probe: Redis, where: string): Promise<void> {
  const info = await startupInfo(probe, 'cluster', `at ${where}`);
  if (/^cluster_enabled:1/m.test(info)) {
    throw new RedisConnectionError(
      `cannot use Redis at ${where} as a single node: it is a Redis Cluster node; name the cluster with REDIS_CLUSTER_NODES=${where} or redis+cluster://${where}`,
    );
  }
}
