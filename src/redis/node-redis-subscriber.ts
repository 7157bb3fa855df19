import { isNodeRedisCluster, type Listener, type NodeRedisCluster, type NodeRedisConnection, type ShardNode } from './node-redis-types.js';
import type { SubscriberEvents, SubscriberPort } from './port.js';
import { confirmMaster } from './shard-events.js';

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

  /**
   * A cluster counts as ready while open: its `isReady` (6.2+) may be false while one node
   * reconnects, and a recovery must go on then (its commands find their node, or time out).
   */
  get ready(): boolean {
    if (this.sharded) return this.connection.isOpen;
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
    // A dead node's client connects for ever: no answer soon counts as no answer (the recovery tries again).
    const ask = (node: ShardNode) =>
      withDeadline(
        cluster.nodeClient(node).then((client) => client.sendCommand(['CLUSTER', 'NODES'])),
        CONFIRM_MS,
      );
    await Promise.all(named.map((node) => confirmMaster(`${node.host}:${node.port}`, ask(node))));
  }

  attach(events: SubscriberEvents): () => void {
    this.listeners.add(events);
    const lost = (node?: ShardNode) => {
      // A node the slot map no longer names as a master holds none of our subscriptions: a dead
      // former master's connections go on reconnecting (and saying so) long after its replica took
      // over, and counting each as a loss would start the recovery over for as long.
      if (node && !this.namesMaster(node)) return;
      events.lost(node ? `${node.host}:${node.port}` : null);
    };
    const handlers: Array<[string, (...args: never[]) => void]> = this.sharded
      ? [
          // A node's connection (its shard's subscriber among them) failed or is reconnecting.
          ['node-error', (_err: unknown, node?: ShardNode) => lost(node)],
          ['node-reconnecting', (node?: ShardNode) => lost(node)],
          // A node (the promoted replica, say) came up: a recovery that gave up may go on now.
          ['node-ready', () => events.ready()],
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
    if (this.ready) {
      await this.connection.close().catch(() => this.connection.destroy());
      return;
    }
    // Connecting (the first time, or again after a drop): a graceful close would wait for a
    // Redis that may be out of reach. And node-redis 6.3 finishes a connect it had under way
    // when destroyed (the socket it was opening comes up after the destroy and stays, though
    // isOpen says false): one that comes up anyway is destroyed again at once.
    this.connection.destroy();
    const again = () => {
      try {
        this.connection.destroy();
      } catch {
        // Nothing was open after all.
      }
    };
    this.connection.on('connect', again);
    this.connection.on('ready', again);
  }

  private namesMaster(node: ShardNode): boolean {
    return (this.connection as NodeRedisCluster).masters.some((master) => master.host === node.host && master.port === node.port);
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

/** How long a lost node may take to say whether it is still a master. */
const CONFIRM_MS = 1000;

function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
