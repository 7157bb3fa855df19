import { RedisServerStartError } from '../common/errors.js';
import { formatClusterUrl } from './cluster-url.js';
import { formCluster, waitForClusterOk } from './cluster-state.js';
import { findFreePort, startEmbeddedRedis, type EmbeddedRedis, type EmbeddedRedisOptions } from './embedded.js';

/**
 * A private Redis Cluster for tests and the demo: N masters (3 by default, no replicas), each
 * an embedded redis-server in cluster mode with its own temporary directory, on free loopback
 * ports. The cluster bus ports are free ports too, passed with `--cluster-port` (the default,
 * port + 10000, may not exist above port 55535). Whoever starts one stops it.
 */
export interface EmbeddedCluster {
  /** `redis+cluster://127.0.0.1:<port>,...`: what REDIS_URL (or QUEUE_/CACHE_REDIS_URL) takes. */
  url: string;
  nodes: { host: string; port: number }[];
  servers: EmbeddedRedis[];
  /** Stop every node and remove their directories. Idempotent. */
  stop(): Promise<void>;
}

export interface EmbeddedClusterOptions {
  /** @default 3, the fewest a Redis Cluster allows with all slots covered by masters */
  masters?: number;
  allowInstall?: boolean;
  log?: (line: string) => void;
}

const HOST = '127.0.0.1';
const NODE_ATTEMPTS = 3;

export async function startEmbeddedCluster(options: EmbeddedClusterOptions = {}): Promise<EmbeddedCluster> {
  const masters = options.masters ?? 3;
  if (!Number.isInteger(masters) || masters < 3) throw new RedisServerStartError(`a Redis Cluster needs at least 3 masters, got ${masters}`);
  const started = await Promise.allSettled(Array.from({ length: masters }, () => startClusterNode(options)));
  const nodes = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const stop = () => Promise.all(nodes.map(({ server }) => server.stop())).then(() => {});
  try {
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    const targets = nodes.map(({ server }) => ({ host: HOST, port: server.port }));
    await formCluster(nodes.map(({ server, busPort }) => ({ target: { host: HOST, port: server.port }, busPort })));
    await waitForClusterOk(targets);
    let stopping: Promise<void> | undefined;
    return {
      url: formatClusterUrl(targets),
      nodes: targets,
      servers: nodes.map((n) => n.server),
      stop: () => (stopping ??= stop()),
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** One cluster-mode node; a lost race for the bus port is retried with other ports. */
async function startClusterNode(options: EmbeddedClusterOptions): Promise<{ server: EmbeddedRedis; busPort: number }> {
  for (let attempt = 1; ; attempt++) {
    const busPort = await findFreePort();
    const nodeOptions: EmbeddedRedisOptions = {
      extraArgs: [
        '--cluster-enabled', 'yes',
        // Relative to the node's own temporary directory.
        '--cluster-config-file', 'nodes.conf',
        '--cluster-port', String(busPort),
        '--cluster-node-timeout', '5000',
      ],
      ...(options.allowInstall !== undefined && { allowInstall: options.allowInstall }),
      ...(options.log && { log: options.log }),
    };
    try {
      return { server: await startEmbeddedRedis(nodeOptions), busPort };
    } catch (err) {
      if (attempt >= NODE_ATTEMPTS || !(err instanceof RedisServerStartError) || !/in use/i.test(err.message)) throw err;
    }
  }
}
