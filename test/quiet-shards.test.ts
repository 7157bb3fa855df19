/**
 * A shard subscriber that ioredis stops (a slot refresh: a failover, a resharding) loses every
 * listener; a reply still on its way then makes ioredis emit `error` on it, which crashed a
 * worker once in fault 9. The guard's subscriber keeps a listener on every shard it stops. Real
 * cluster, real ioredis objects: the stop is ioredis's own.
 */
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedCluster, type EmbeddedCluster } from '../scripts/redis/redis-cluster.js';
import { quietStoppedShards } from '../src/redis/quiet-shards.js';
import { duplicateAsSubscriber } from '../src/redis/subscriber.js';
import { waitUntil } from './support/wait.js';

interface Shard {
  stop(): void;
  getInstance(): { emit(event: string, err: Error): boolean } | null;
}
const shardsOf = (cluster: Cluster) =>
  (cluster as unknown as { shardedSubscribers: { shardedSubscribers: Map<string, Shard> } }).shardedSubscribers.shardedSubscribers;

describe('sharded subscribers ioredis stops', () => {
  let cluster: EmbeddedCluster;
  const opened: Cluster[] = [];
  beforeAll(async () => {
    cluster = await startEmbeddedCluster();
  }, 120_000);
  afterAll(async () => {
    for (const c of opened) c.disconnect();
    await cluster?.stop();
  });

  /** A subscriber with a live shard connection, and that connection's shard. */
  async function subscribed(make: (redis: Cluster) => Cluster): Promise<Shard> {
    const redis = new Cluster(cluster.nodes);
    const subscriber = make(redis);
    opened.push(redis, subscriber);
    await subscriber.ssubscribe('quiet-shards:{a}');
    await waitUntil('a started shard', () => [...shardsOf(subscriber).values()].some((s) => s.getInstance() !== null));
    return [...shardsOf(subscriber).values()].find((s) => s.getInstance() !== null)!;
  }

  it("the guard's own subscriber: a late error on a stopped shard goes nowhere", async () => {
    const shard = await subscribed((redis) => duplicateAsSubscriber(redis) as Cluster);
    const connection = shard.getInstance()!;
    shard.stop();
    expect(() => connection.emit('error', new Error('Command queue state error (late reply)'))).not.toThrow();
  });

  it("without it, ioredis's stop leaves the connection with no listener: the same error throws (what crashed the worker)", async () => {
    const shard = await subscribed((redis) => redis.duplicate([], { shardedSubscribers: true }));
    const connection = shard.getInstance()!;
    shard.stop();
    expect(() => connection.emit('error', new Error('late reply'))).toThrow('late reply');
  });

  it('a subscriber the caller passes in is made quiet too, once however many guards share it', async () => {
    const shard = await subscribed((redis) => {
      const subscriber = redis.duplicate([], { shardedSubscribers: true });
      quietStoppedShards(subscriber);
      quietStoppedShards(subscriber);
      return subscriber;
    });
    const connection = shard.getInstance()!;
    shard.stop();
    expect(() => connection.emit('error', new Error('late reply'))).not.toThrow();
  });
});
