import { OptionsError } from '../errors.js';
import { keySlot } from './key-slot.js';
import type { RedisPort, ScriptArg, SubscriberEvents, SubscriberPort } from './port.js';
import { isReplyError } from './port.js';
import { saysItIsMaster } from './shard-events.js';

/**
 * The seam for node-redis (`redis` 5 and 6): a client from `createClient` or a cluster from
 * `createCluster`, connected. What of node-redis this uses is written out below rather than
 * imported, so that nothing here loads or needs node-redis's types.
 */

type Listener = (message: string, channel: string) => void;
type Args = { keys: string[]; arguments: string[] };

/** The part of a node-redis client (or cluster) the guard uses. */
export interface NodeRedisConnection {
  readonly isOpen: boolean;
  /** A cluster has it from @redis/client 6.2 on; before, an open cluster counts as ready. */
  readonly isReady?: boolean;
  readonly options?: {
    database?: number;
    RESP?: number;
    socket?: { host?: string; port?: number; path?: string };
  };
  evalSha(sha: string, options: Args): Promise<unknown>;
  eval(script: string, options: Args): Promise<unknown>;
  hmGet(key: string, fields: string[]): Promise<(string | null)[]>;
  mGet(keys: string[]): Promise<(string | null)[]>;
  hExists(key: string, field: string): Promise<unknown>;
  publish(channel: string, message: string): Promise<unknown>;
  sPublish(channel: string, message: string): Promise<unknown>;
  subscribe(channels: string | string[], listener: Listener): Promise<unknown>;
  unsubscribe(channels: string | string[], listener: Listener): Promise<unknown>;
  sSubscribe(channels: string | string[], listener: Listener): Promise<unknown>;
  sUnsubscribe(channels: string | string[], listener: Listener): Promise<unknown>;
  duplicate(overrides?: object): NodeRedisConnection;
  connect(): Promise<unknown>;
  close(): Promise<unknown>;
  destroy(): void;
  on(event: string, listener: (...args: never[]) => void): unknown;
  off(event: string, listener: (...args: never[]) => void): unknown;
}

interface ShardNode {
  host: string;
  port: number;
}

/** What a node-redis cluster has beyond a client's commands. */
interface NodeRedisCluster extends NodeRedisConnection {
  readonly masters: ShardNode[];
  getSlotMaster(slot: number): ShardNode | undefined;
  nodeClient(node: ShardNode): Promise<{ sendCommand(args: string[]): Promise<unknown> }>;
  /** Internal to node-redis (no public way to refresh the slot map); used only when present. */
  readonly _slots?: { rediscover?(startWith: undefined, excluded: Set<string>): Promise<void> };
}

export function isNodeRedisCluster(client: NodeRedisConnection): client is NodeRedisCluster {
  return typeof (client as Partial<NodeRedisCluster>).getSlotMaster === 'function';
}

/** Lua scripts' arguments as node-redis wants them: strings. */
function strings(values: readonly ScriptArg[]): string[] {
  return values.map(String);
}

export class NodeRedisPort implements RedisPort {
  readonly library = 'node-redis';
  readonly isCluster: boolean;
  readonly database: number;
  private readonly single: string | null;

  constructor(private readonly client: NodeRedisConnection) {
    if (!client.isOpen) {
      throw new OptionsError('redis', 'a node-redis client must be connected before the guard uses it (await client.connect())');
    }
    this.isCluster = isNodeRedisCluster(client);
    this.database = this.isCluster ? 0 : (client.options?.database ?? 0);
    const socket = client.options?.socket;
    this.single = this.isCluster ? null : (socket?.path ?? `${socket?.host ?? 'localhost'}:${socket?.port ?? 6379}`);
  }

  evalsha(sha: string, keys: readonly string[], args: readonly ScriptArg[]): Promise<unknown> {
    return this.client.evalSha(sha, { keys: [...keys], arguments: strings(args) });
  }

  eval(source: string, keys: readonly string[], args: readonly ScriptArg[]): Promise<unknown> {
    return this.client.eval(source, { keys: [...keys], arguments: strings(args) });
  }

  hmget(key: string, fields: readonly string[]): Promise<(string | null)[]> {
    return this.client.hmGet(key, [...fields]);
  }

  mget(keys: readonly string[]): Promise<(string | null)[]> {
    return this.client.mGet([...keys]);
  }

  hexists(key: string, field: string): Promise<unknown> {
    return this.client.hExists(key, field);
  }

  publish(channel: string, message: string): Promise<unknown> {
    return this.isCluster ? this.client.sPublish(channel, message) : this.client.publish(channel, message);
  }

  nodeOf(key: string): string {
    if (this.single !== null) return this.single;
    const master = (this.client as NodeRedisCluster).getSlotMaster(keySlot(key));
    return master ? `${master.host}:${master.port}` : 'cluster';
  }

  createSubscriber(onError: (err: unknown) => void): SubscriberPort {
    const connection = this.isCluster ? this.client.duplicate() : this.client.duplicate({ name: 'cache-stampede:subscriber' });
    // It reconnects by itself; without a listener its error events would crash the process.
    connection.on('error', onError);
    return new NodeRedisSubscriber(connection, true);
  }
}

/**
 * A node-redis subscriber: the guard's own duplicate, or the caller's (connected) client.
 *
 * node-redis subscribes again by itself after a reconnect and emits `ready` only once Redis
 * confirmed it, so on one node `ready` means every channel is live again (the notifier's own
 * subscribe then sends nothing: node-redis does not subscribe a channel it has a listener for). On
 * a cluster only a fresh SSUBSCRIBE to the slot's new master proves a channel live after a
 * failover, so subscribing a channel again there unsubscribes it first.
 */
export class NodeRedisSubscriber implements SubscriberPort {
  readonly sharded: boolean;
  /** Channels Redis confirmed for us; subscribing one of them again forces a fresh subscription. */
  private readonly subscribed = new Set<string>();
  private readonly connecting: Promise<unknown>;
  private readonly listeners = new Set<SubscriberEvents>();
  private readonly onMessage: Listener = (message, channel) => {
    for (const events of this.listeners) events.message(channel, message);
  };

  constructor(
    private readonly connection: NodeRedisConnection,
    private readonly owned: boolean,
  ) {
    this.sharded = isNodeRedisCluster(connection);
    // Its failure shows as the subscribes' (the notifier recovers) and as error events.
    this.connecting = connection.isOpen ? Promise.resolve() : connection.connect().catch(() => {});
  }

  get ready(): boolean {
    return this.connection.isReady ?? this.connection.isOpen;
  }

  async subscribe(channels: readonly string[]): Promise<unknown> {
    await this.connecting;
    const again = this.sharded ? channels.filter((channel) => this.subscribed.has(channel)) : [];
    if (again.length > 0) await this.send('unsubscribe', again);
    await this.send('subscribe', channels);
    for (const channel of channels) this.subscribed.add(channel);
    return undefined;
  }

  async unsubscribe(channels: readonly string[]): Promise<unknown> {
    for (const channel of channels) this.subscribed.delete(channel);
    await this.connecting;
    return this.send('unsubscribe', channels);
  }

  async beforeResubscribe(lostNodes: ReadonlySet<string>): Promise<void> {
    if (!this.sharded) return;
    const cluster = this.connection as NodeRedisCluster;
    // A fresh slot map, asked of nodes other than the ones that just lost our subscriptions.
    await cluster._slots?.rediscover?.(undefined, new Set(lostNodes));
    // A map that still names a lost node as a master counts only if that node says so itself.
    const named = cluster.masters.filter((node) => lostNodes.has(`${node.host}:${node.port}`));
    await Promise.all(
      named.map(async (node) => {
        const view = await cluster
          .nodeClient(node)
          .then((client) => client.sendCommand(['CLUSTER', 'NODES']))
          .then(String, (err: unknown) => (isReplyError(err) ? null : Promise.reject(err)));
        if (view !== null && !saysItIsMaster(view))
          throw new Error(`the slot map names ${node.host}:${node.port} as a master; it no longer is one`);
      }),
    );
  }

  attach(events: SubscriberEvents): () => void {
    this.listeners.add(events);
    const handlers: Array<[string, (...args: never[]) => void]> = this.sharded
      ? [
          // A node's connection (its shard's subscriber among them) failed or is reconnecting.
          ['node-error', (_err: unknown, node?: ShardNode) => events.lost(node ? `${node.host}:${node.port}` : null)],
          ['node-reconnecting', (node?: ShardNode) => events.lost(node ? `${node.host}:${node.port}` : null)],
        ]
      : [
          ['reconnecting', () => events.down()],
          ['end', () => events.down()],
          ['error', () => !this.ready && events.down()],
          ['ready', () => events.ready()],
        ];
    for (const [event, handler] of handlers) this.connection.on(event, handler);
    return () => {
      this.listeners.delete(events);
      for (const [event, handler] of handlers) this.connection.off(event, handler);
    };
  }

  async close(): Promise<void> {
    if (!this.owned || !this.connection.isOpen) return;
    // One still connecting (a Redis out of reach) would hold a graceful close for ever.
    if (!this.ready) this.connection.destroy();
    else await this.connection.close().catch(() => this.connection.destroy());
  }

  private send(command: 'subscribe' | 'unsubscribe', channels: readonly string[]): Promise<unknown> {
    const list = [...channels];
    // node-redis sends a cluster's (S)SUBSCRIBE to the slot of its first channel: one each.
    if (this.sharded) {
      const send = command === 'subscribe' ? this.connection.sSubscribe : this.connection.sUnsubscribe;
      return Promise.all(list.map((channel) => send.call(this.connection, channel, this.onMessage)));
    }
    return command === 'subscribe' ? this.connection.subscribe(list, this.onMessage) : this.connection.unsubscribe(list, this.onMessage);
  }
}
