/**
 * The seam between the guard and a Redis client library: everything the guard asks of a client,
 * and nothing more. One adapter per library (ioredis-port.ts for ioredis and iovalkey,
 * node-redis-port.ts for node-redis) implements it; the rest of the library sees only this.
 *
 * Kept to what the guard sends (its Lua scripts, three read commands, PUBLISH) and how it waits
 * (one subscriber connection and what its drops look like), so that a new client library is one
 * file, and so that every guarantee (reconnect rechecks, failover resubscription, the outage
 * policy) is written once, above the seam.
 */

export type ScriptArg = string | number;

export interface RedisPort {
  /** Which library the client is from, for diagnostics (`ioredis` covers iovalkey). */
  readonly library: 'ioredis' | 'node-redis';
  /** A Redis Cluster: sharded pub/sub, one breaker per master, commands grouped per slot. */
  readonly isCluster: boolean;
  /** The database the client selected (pub/sub ignores it, so the channels name it); 0 on a cluster. */
  readonly database: number;
  /** EVALSHA; a missing script rejects with Redis's own NOSCRIPT error (script.ts falls back to eval). */
  evalsha(sha: string, keys: readonly string[], args: readonly ScriptArg[]): Promise<unknown>;
  eval(source: string, keys: readonly string[], args: readonly ScriptArg[]): Promise<unknown>;
  hmget(key: string, fields: readonly string[]): Promise<(string | null)[]>;
  /** Keys of one slot on a cluster (the caller groups them). */
  mget(keys: readonly string[]): Promise<(string | null)[]>;
  /** The gate's probe: any reply of the node's own means it is up. */
  hexists(key: string, field: string): Promise<unknown>;
  /** PUBLISH on one node, SPUBLISH on a cluster (redis/pubsub.ts says why). */
  publish(channel: string, message: string): Promise<unknown>;
  /** host:port (or socket path) of the node that serves `key`: a cluster's master for its slot, once known. */
  nodeOf(key: string): string;
  /** A pub/sub connection of the guard's own, set up for waiting; the guard closes it. Its errors go to `onError`. */
  createSubscriber(onError: (err: unknown) => void): SubscriberPort;
}

/** What a subscriber connection tells the notifier. */
export interface SubscriberEvents {
  message(channel: string, message: string): void;
  /** The connection dropped: every subscription may be gone, and what is published meanwhile is lost. */
  down(): void;
  /**
   * The connection is back. ioredis has re-sent its subscriptions (the notifier's own, sent after
   * them on the same connection, confirm they are answered); node-redis has had them answered.
   */
  ready(): void;
  /** Some subscriptions are gone while the client stays up (a cluster's shard failed over), on `node` if known. */
  lost(node: string | null): void;
}

export interface SubscriberPort {
  /** SSUBSCRIBE (a cluster) rather than SUBSCRIBE. */
  readonly sharded: boolean;
  /** Connected and able to send now; a recovery sends nothing until then (its `ready` comes). */
  readonly ready: boolean;
  /** Resolves once Redis confirmed every channel (on a cluster, each on its slot's master). */
  subscribe(channels: readonly string[]): Promise<unknown>;
  unsubscribe(channels: readonly string[]): Promise<unknown>;
  /**
   * Before subscribing again after subscriptions were lost on `lostNodes` (a cluster's failover):
   * make sure the client's slot map is fresh and names the real masters (shard-events.ts).
   */
  beforeResubscribe(lostNodes: ReadonlySet<string>): Promise<void>;
  /** Start telling `events`; the returned function stops it (the connection may be the caller's). */
  attach(events: SubscriberEvents): () => void;
  /** Close a connection the guard created (never a caller's). */
  close(): Promise<void>;
}

/**
 * Redis answered with an error reply (NOPERM, WRONGTYPE, a script's error...), as opposed to the
 * connection failing. ioredis and iovalkey name theirs ReplyError; node-redis's classes
 * (ErrorReply, SimpleError, BlobError) keep Error's name, so their constructor's name tells.
 */
export function isReplyError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === 'ReplyError') return true;
  const kind = err.constructor?.name;
  return kind === 'ErrorReply' || kind === 'SimpleError' || kind === 'BlobError';
}
