import type { Cluster, Redis } from 'ioredis';
import { OptionsError } from '../errors.js';
import { isIoRedisCluster } from './client.js';
import { keySlot } from './key-slot.js';
import type { RedisPort, ScriptArg, SubscriberEvents, SubscriberPort } from './port.js';
import { quietStoppedShards } from './quiet-shards.js';
import { confirmMasters, lostNode, refreshSlotMap, SHARD_LOST_EVENTS } from './shard-events.js';
import { closeSubscriber, duplicateAsSubscriber } from './subscriber.js';

/**
 * The seam for ioredis (5, 6) and iovalkey (its fork, the same API): the guard's commands are the
 * client's own methods, one to one. Its types come from ioredis at compile time only: at run time
 * nothing here loads ioredis, so a project with iovalkey alone runs it.
 */
export class IoRedisPort implements RedisPort {
  readonly library = 'ioredis';
  readonly isCluster: boolean;
  readonly database: number;
  /** A single Redis's name, computed once (every call asks). */
  private readonly single: string | null;

  constructor(private readonly client: Redis | Cluster) {
    this.isCluster = isIoRedisCluster(client);
    // Waiters on a cluster need sharded subscribers (ioredis 5.5+'s option, with its default in
    // every Cluster's options); iovalkey 0.4's Cluster has none, and its SSUBSCRIBEs would go to
    // any node, where the shard's messages never arrive: refused rather than waiting out lock TTLs.
    if (this.isCluster && !('shardedSubscribers' in (client as Cluster).options)) {
      throw new OptionsError(
        'redis',
        'this Cluster client has no sharded subscribers (iovalkey 0.4): use ioredis or node-redis for a Redis Cluster',
      );
    }
    if (this.isCluster) {
      this.single = null;
      this.database = 0;
    } else {
      const { host, port, path, db } = (client as Redis).options;
      this.single = path ?? `${host ?? '127.0.0.1'}:${port ?? 6379}`;
      this.database = db ?? 0;
    }
  }

  evalsha(sha: string, keys: readonly string[], args: readonly ScriptArg[]): Promise<unknown> {
    return this.client.evalsha(sha, keys.length, ...keys, ...args);
  }

  eval(source: string, keys: readonly string[], args: readonly ScriptArg[]): Promise<unknown> {
    return this.client.eval(source, keys.length, ...keys, ...args);
  }

  hmget(key: string, fields: readonly string[]): Promise<(string | null)[]> {
    return this.client.hmget(key, ...fields);
  }

  mget(keys: readonly string[]): Promise<(string | null)[]> {
    return this.client.mget(...keys);
  }

  hexists(key: string, field: string): Promise<unknown> {
    return this.client.hexists(key, field);
  }

  publish(channel: string, message: string): Promise<unknown> {
    return this.isCluster ? (this.client as Cluster).spublish(channel, message) : this.client.publish(channel, message);
  }

  nodeOf(key: string): string {
    if (this.single !== null) return this.single;
    return (this.client as Cluster).slots[keySlot(key)]?.[0] ?? 'cluster';
  }

  createSubscriber(onError: (err: unknown) => void): SubscriberPort {
    const connection = duplicateAsSubscriber(this.client);
    // It reconnects by itself; without a listener an error event (a cluster's sharded subscriber
    // that failed to connect, say) would crash the process.
    connection.on('error', onError);
    return new IoRedisSubscriber(connection, true);
  }
}

/** A subscriber connection of ioredis or iovalkey: the guard's own duplicate, or the caller's. */
export class IoRedisSubscriber implements SubscriberPort {
  readonly sharded: boolean;

  constructor(
    private readonly connection: Redis | Cluster,
    private readonly owned: boolean,
  ) {
    this.sharded = isIoRedisCluster(connection);
    if (this.sharded && !(connection as Cluster).options.shardedSubscribers) {
      throw new OptionsError('subscriber', "a cluster subscriber needs ioredis's shardedSubscribers: true (or let the guard create it)");
    }
    // The guard's unsubscribes must not crash the process through a shard ioredis stopped.
    if (this.sharded) quietStoppedShards(connection as Cluster);
  }

  get ready(): boolean {
    return this.connection.status === 'ready';
  }

  subscribe(channels: readonly string[]): Promise<unknown> {
    return this.sharded ? (this.connection as Cluster).ssubscribe(...channels) : this.connection.subscribe(...channels);
  }

  unsubscribe(channels: readonly string[]): Promise<unknown> {
    return this.sharded ? (this.connection as Cluster).sunsubscribe(...channels) : this.connection.unsubscribe(...channels);
  }

  async beforeResubscribe(lostNodes: ReadonlySet<string>): Promise<void> {
    if (!this.sharded) return;
    const cluster = this.connection as Cluster;
    // Whatever told us may have come before the subscriber's own slot map changed.
    await refreshSlotMap(cluster);
    // And the node that answered may not know of the failover yet: a map naming the former master
    // would send our SSUBSCRIBEs where the new master's messages do not reach yet.
    await confirmMasters(cluster, lostNodes);
  }

  attach(events: SubscriberEvents): () => void {
    // biome-ignore lint/suspicious/noExplicitAny: ioredis event handlers take what each event passes
    const handlers: Array<[string, (...args: any[]) => void]> = [
      [this.sharded ? 'smessage' : 'message', (channel: string, message: string) => events.message(channel, message)],
      ['close', () => events.down()],
      ['ready', () => events.ready()],
      // A cluster's subscriber stays ready while one of its masters fails over.
      ...(this.sharded
        ? SHARD_LOST_EVENTS.map((event) => [event, (...args: unknown[]) => events.lost(lostNode(args))] as [string, () => void])
        : []),
    ];
    for (const [event, handler] of handlers) this.connection.on(event, handler);
    return () => {
      for (const [event, handler] of handlers) this.connection.off(event, handler);
    };
  }

  close(): Promise<void> {
    return this.owned ? closeSubscriber(this.connection) : Promise.resolve();
  }
}
