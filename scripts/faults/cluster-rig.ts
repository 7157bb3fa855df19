import type { Cluster } from 'ioredis';
import { createRedisClient, isCluster } from '../redis/connection.js';
import { startEmbeddedCluster, type EmbeddedCluster } from '../redis/redis-cluster.js';
import { Cleanups, startFleetRig, type FleetRig, type RigSettings } from './harness.js';
import type { FaultOptions } from './types.js';

/**
 * A rig on a private Redis Cluster with replicas, for the faults that fail a master over: 3
 * masters and a replica of each, AOF on every node (`appendfsync everysec`, as a queue's Redis
 * runs), and a `cluster-node-timeout` short enough that a failover takes seconds.
 */
export interface ClusterRig extends FleetRig {
  readonly cluster: EmbeddedCluster;
  /** A cluster connection of its own, for inspecting the cache's keys. */
  readonly admin: Cluster;
}

export async function startClusterRig(
  name: string,
  settings: RigSettings,
  options: FaultOptions & { nodeTimeoutMs: number },
): Promise<ClusterRig> {
  const say = options.say ?? (() => {});
  const cleanups = new Cleanups();
  try {
    const cluster = await startEmbeddedCluster({ replicas: 1, nodeTimeoutMs: options.nodeTimeoutMs, appendOnly: true, log: say });
    cleanups.push(() => cluster.stop());
    const admin = createRedisClient(cluster.url, 'producer');
    if (!isCluster(admin)) throw new Error('expected a cluster connection');
    cleanups.connection(admin);
    say(
      `${name}: Redis Cluster of 3 masters and 3 replicas (cluster-node-timeout ${options.nodeTimeoutMs} ms, AOF); starting ${settings.workers} workers`,
    );
    const rig = await startFleetRig(name, settings, options, cluster.url, cleanups);
    return { ...rig, cluster, admin };
  } catch (err) {
    await cleanups.run();
    throw err;
  }
}
