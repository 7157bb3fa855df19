/**
 * What of node-redis (`redis` 5 and 6) the guard uses, written out rather than imported, so that
 * nothing of the library loads or needs node-redis's types.
 */

export type Listener = (message: string, channel: string) => void;
type Args = { keys: string[]; arguments: string[] };

/** The part of a node-redis client (or cluster) the guard uses. */
export interface NodeRedisConnection {
  readonly isOpen: boolean;
  /** A cluster has it from @redis/client 6.2 on; before, an open cluster counts as ready. */
  readonly isReady?: boolean;
  readonly options?: {
    database?: number;
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

export interface ShardNode {
  host: string;
  port: number;
}

/** What a node-redis cluster has beyond a client's commands. */
export interface NodeRedisCluster extends NodeRedisConnection {
  readonly masters: ShardNode[];
  getSlotMaster(slot: number): ShardNode | undefined;
  nodeClient(node: ShardNode): Promise<{ sendCommand(args: string[]): Promise<unknown> }>;
  /** Internal to node-redis (no public way to refresh the slot map); used only when present. */
  readonly _slots?: { rediscover?(startWith: undefined, excluded: Set<string>): Promise<void> };
}

export function isNodeRedisCluster(client: NodeRedisConnection): client is NodeRedisCluster {
  return typeof (client as Partial<NodeRedisCluster>).getSlotMaster === 'function';
}
