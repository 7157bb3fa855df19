import { OptionsError } from '../errors.js';
import { keySlot } from './key-slot.js';
import { NodeRedisSubscriber } from './node-redis-subscriber.js';
import { isNodeRedisCluster, type NodeRedisCluster, type NodeRedisConnection } from './node-redis-types.js';
import type { RedisPort, ScriptArg, SubscriberPort } from './port.js';

/**
 * The seam for node-redis (`redis` 5 and 6): a client from `createClient` or a cluster from
 * `createCluster`, connected (node-redis-types.ts says what of it is used).
 */

/** How often, and how far apart, a command is sent again after its node was dropped (see send). */
const RESEND_ATTEMPTS = 5;
const RESEND_PAUSE_MS = 200;

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
    return this.send(() => this.client.evalSha(sha, { keys: [...keys], arguments: strings(args) }));
  }

  eval(source: string, keys: readonly string[], args: readonly ScriptArg[]): Promise<unknown> {
    return this.send(() => this.client.eval(source, { keys: [...keys], arguments: strings(args) }));
  }

  hmget(key: string, fields: readonly string[]): Promise<(string | null)[]> {
    return this.send(() => this.client.hmGet(key, [...fields]));
  }

  mget(keys: readonly string[]): Promise<(string | null)[]> {
    return this.send(() => this.client.mGet([...keys]));
  }

  hexists(key: string, field: string): Promise<unknown> {
    return this.send(() => this.client.hExists(key, field));
  }

  /**
   * A command, sent again when a cluster dropped the node it was queued for: node-redis fails
   * what waits on a dead master's connection ("Disconnects client") once its slot map names the
   * promoted replica, where ioredis sends it on by itself (its offline queue, and the commands a
   * closed connection left unanswered). The guard's scripts are written to be sent twice (a claim
   * resent after its reply was lost finds its own lease: acquire-resend.test.ts). The gate's
   * deadline bounds the whole, as it bounds ioredis's retries.
   */
  private async send<T>(command: () => Promise<T>): Promise<T> {
    if (!this.isCluster) return command();
    for (let attempt = 1; ; attempt++) {
      try {
        return await command();
      } catch (err) {
        if (!this.client.isOpen || !isDroppedNode(err) || attempt >= RESEND_ATTEMPTS) throw err;
        await new Promise((resolve) => setTimeout(resolve, RESEND_PAUSE_MS));
      }
    }
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

/** node-redis's DisconnectsClientError: the command's connection was destroyed (its node left the slot map). */
function isDroppedNode(err: unknown): boolean {
  return err instanceof Error && err.message === 'Disconnects client';
}
