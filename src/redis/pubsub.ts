import type { RedisPort } from './port.js';

/**
 * Which pub/sub carries the guard's notifications (the Lua scripts publish, waiters subscribe).
 *
 * One Redis: classic PUBLISH/SUBSCRIBE, as always (works on every Redis version).
 *
 * A Redis Cluster: sharded pub/sub, SPUBLISH/SSUBSCRIBE (Redis 7.0+). Classic PUBLISH would
 * work too, and correctly: a cluster forwards every PUBLISH over the cluster bus to every node,
 * masters and replicas, so a SUBSCRIBE on any node receives it. But that broadcast is the cost
 * that grows as a cluster grows: each notification is sent N times, to nodes that hold nothing
 * of the key. A shard channel lives in a hash slot like a key, and only the shard that owns the
 * slot sees its messages. The guard's channel carries its key's hash tag (`<prefix>:{tag}:ready`,
 * keys.ts), so it is in the same slot as the value and lock keys: the scripts may SPUBLISH it
 * (inside a script on a cluster, SPUBLISH of a channel in another slot than the script's keys is
 * an error), and the message stays on the one shard that just wrote the value. Waiters'
 * SSUBSCRIBEs go to that shard's master through one subscriber connection per master (ioredis's
 * `shardedSubscribers`, see redis/subscriber.ts; node-redis's cluster does the same by itself).
 *
 * Either way a waiter re-reads the cache after its subscription is confirmed, and waits at most
 * the lock TTL, so a notification lost in a failover delays a waiter but never misleads it.
 */
export function usesShardedPubSub(client: RedisPort): boolean {
  return client.isCluster;
}

/** The scripts' argument that makes them SPUBLISH ('1') instead of PUBLISH ('0'). */
export function shardedPublishArg(client: RedisPort): '1' | '0' {
  return usesShardedPubSub(client) ? '1' : '0';
}
