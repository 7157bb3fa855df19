import type { Cluster, Redis } from 'ioredis';

interface ShardSubscriber {
  stop(): void;
  getInstance(): Redis | null;
}

/**
 * ioredis 5.11's sharded subscribers (a Cluster with `shardedSubscribers: true`) stop a shard's
 * connection by disconnecting it and removing every listener from it (ShardedSubscriber.stop, on
 * a slot refresh: a failover, a resharding). A reply still on its way (the SUNSUBSCRIBE of a
 * waiter that just left) then finds no command waiting, ioredis emits "Command queue state
 * error" as an `error` event on that connection, and with no listener left the process crashes
 * (seen once in fault 9, a CLUSTER FAILOVER while waiters came and went; ioredis#1981). So every
 * shard connection the group stops keeps one listener that drops what it says: the connection is
 * closed and replaced, and nothing of the guard depends on it any more.
 *
 * Reaches into the group's private map (`shardedSubscribers.shardedSubscribers`): when a future
 * ioredis renames it, this does nothing and says nothing, and the upstream fix is what counts.
 */
const quieted = new WeakSet<Cluster>();

export function quietStoppedShards(cluster: Cluster): void {
  if (quieted.has(cluster)) return;
  quieted.add(cluster);
  const group = (cluster as unknown as { shardedSubscribers?: { shardedSubscribers?: unknown } }).shardedSubscribers;
  const shards = group?.shardedSubscribers;
  if (!(shards instanceof Map)) return;
  const quiet = (shard: ShardSubscriber) => {
    if (typeof shard?.stop !== 'function' || typeof shard.getInstance !== 'function') return;
    const stop = shard.stop.bind(shard);
    shard.stop = () => {
      const connection = shard.getInstance();
      stop();
      connection?.on('error', () => {});
    };
  };
  for (const shard of shards.values()) quiet(shard as ShardSubscriber);
  const set = shards.set.bind(shards);
  shards.set = (key: unknown, shard: unknown) => {
    quiet(shard as ShardSubscriber);
    return set(key, shard);
  };
}
