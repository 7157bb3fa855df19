import type { Cluster, Redis } from 'ioredis';
import { isReplyError } from './port.js';

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
 *   error ... Last reply: sunsubscribe,<channel>,0"), reports it only as this error, and does not
 *   subscribe again until its slot map changes (older versions never did): SPUBLISH on the new
 *   master then reaches no one (issue 17). Had an SSUBSCRIBE of ours been under way on that
 *   connection, the push is taken for its reply, and its real reply is the error instead ("Last
 *   reply: ssubscribe,<channel>,1"). Reconnect attempts to a dead master report ECONNREFUSED here.
 * - `-subscriber`: ioredis dropped a shard's subscriber connection itself, when a new slot map no
 *   longer names its node as a master; it then subscribes the channels again on the slot's new
 *   master, and again says nothing when it has. Whatever was published in between is lost, so it
 *   counts as a loss like the others (issue 17, finding 12).
 *
 * `-node` also fires when a slot-map refresh drops a node (a replica not yet listed), which costs
 * one needless resubscription: cheap, and only when the topology changes.
 */
export const SHARD_LOST_EVENTS = ['-node', 'nodeError', '-subscriber'] as const;

/**
 * The node (`host:port`, as ioredis keys its nodes) that a SHARD_LOST event is about, if it names
 * one: `nodeError` and a subscriber's `-node` pass its key second, the connection pool's `-node`
 * passes the connection; `-subscriber` names none.
 */
export function lostNode(args: readonly unknown[]): string | null {
  if (typeof args[1] === 'string') return args[1];
  const options = (args[0] as Partial<Redis> | undefined)?.options;
  return options?.host && options.port ? nodeKey(options.host, options.port) : null;
}

/**
 * Ask the cluster client for a fresh slot map and wait until it has one (or the attempt failed:
 * commands then find their way by MOVED). After a planned failover nothing else refreshes a
 * subscriber's map: it sends no command that could be redirected.
 */
export function refreshSlotMap(cluster: Cluster): Promise<void> {
  return new Promise((resolve) => cluster.refreshSlotsCache(() => resolve()));
}

/**
 * Rejects when the client's slot map still names as a master one of `suspects` (nodes that just
 * lost our subscriptions) that, asked itself, is not one any more, or does not answer. A node
 * that refuses CLUSTER NODES (an ACL) cannot be asked: its map counts, as it did before.
 *
 * The node that answered the map's CLUSTER SLOTS may not have heard of a failover yet; its map
 * then names the former master, and our SSUBSCRIBE goes there. The former master, now a replica
 * of the new one, accepts it without a MOVED (a replica serves its master's shard channels), but
 * the new master forwards what it publishes only to the replicas it knows, and learns of this one
 * by the cluster bus within about cluster-node-timeout / 2 (up to 0.85 s measured with a 2 s
 * timeout). A notification published meanwhile is lost after the waiters' recheck (finding 12).
 * So such a map does not count: the recovery tries again.
 */
export async function confirmMasters(cluster: Cluster, suspects: ReadonlySet<string>): Promise<void> {
  if (suspects.size === 0) return;
  const named = cluster.nodes('master').filter((node) => suspects.has(nodeKey(node.options.host, node.options.port)));
  await Promise.all(named.map((node) => confirmMaster(nodeKey(node.options.host, node.options.port), node.cluster('NODES'))));
}

/**
 * Rejects when `node`'s own answer to CLUSTER NODES (`asked`) says it is no master, or it did not
 * answer. An error reply (NOPERM: an ACL) cannot be asked again: the map counts as it is.
 */
export async function confirmMaster(node: string, asked: Promise<unknown>): Promise<void> {
  const view = await asked.then(String, (err: unknown) => (isReplyError(err) ? null : Promise.reject(err)));
  if (view !== null && !saysItIsMaster(view)) throw new Error(`the slot map names ${node} as a master; it no longer is one`);
}

/** CLUSTER NODES, as the node itself answers it: its own line carries `myself` and its role. */
export function saysItIsMaster(clusterNodes: string): boolean {
  for (const line of clusterNodes.split('\n')) {
    const flags = (line.split(' ')[2] ?? '').split(',');
    if (flags.includes('myself')) return flags.includes('master');
  }
  return false;
}

/** ioredis's key of a node (cluster/util.ts getNodeKey). */
function nodeKey(host = '127.0.0.1', port = 6379): string {
  return `${host}:${port}`;
}
