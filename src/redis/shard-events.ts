import type { Cluster } from 'ioredis';

/**
 * How a cluster's sharded subscriber (ioredis 5, `shardedSubscribers: true`: one connection per
 * master) shows that subscriptions on one shard are gone, while the client as a whole stays
 * `ready` and emits no `close`:
 *
 * - `-node`: a shard's subscriber connection ended (its master died). ioredis subscribes again
 *   once its slot map names the promoted replica, but says nothing when it has, and what was
 *   published on the new master before that is lost.
 * - `nodeError`: an error on a shard's subscriber connection. After a planned failover
 *   (`CLUSTER FAILOVER`) the former master, now a replica, unsubscribes its shard channels with
 *   an `sunsubscribe` push; ioredis takes it for a reply nobody asked for ("Command queue state
 *   error ... Last reply: sunsubscribe,<channel>,0"), reports it only as this error, and never
 *   subscribes again: SPUBLISH on the new master then reaches no one (issue 17). Reconnect
 *   attempts to a dead master report ECONNREFUSED here too.
 *
 * `-node` also fires when a slot-map refresh drops a node (a replica not yet listed), which costs
 * one needless resubscription: cheap, and only when the topology changes.
 */
export const SHARD_LOST_EVENTS = ['-node', 'nodeError'] as const;

/**
 * Ask the cluster client for a fresh slot map and wait until it has one (or the attempt failed:
 * commands then find their way by MOVED). After a planned failover nothing else refreshes a
 * subscriber's map: it sends no command that could be redirected.
 */
export function refreshSlotMap(cluster: Cluster): Promise<void> {
  return new Promise((resolve) => cluster.refreshSlotsCache(() => resolve()));
}
