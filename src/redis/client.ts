/**
 * The Redis clients the guard accepts, as TypeScript sees them: what tells each library's client
 * apart, written here rather than imported, so that a project with one client installed does not
 * need the others' types (each library is an optional peer dependency). A TypeScript user who
 * passes anything else is told at compile time.
 */

// biome-ignore lint/suspicious/noExplicitAny: each library types its methods its own way; only their presence matters here
type AnyMethod = (...args: any[]) => unknown;

/** An ioredis (5 or 6) or iovalkey client: `new Redis(...)` or `new Cluster(...)`. */
export interface IoRedisClient {
  readonly status: string;
  readonly options: object;
  evalsha: AnyMethod;
  defineCommand: AnyMethod;
  duplicate: AnyMethod;
}

/**
 * A node-redis (`redis` 5 or 6) client from `createClient(...)` or cluster from `createCluster(...)`,
 * connected (`await client.connect()`), speaking RESP2 or RESP3.
 */
export interface NodeRedisClient {
  readonly isOpen: boolean;
  /** A cluster has it from @redis/client 6.2 on. */
  readonly isReady?: boolean;
  evalSha: AnyMethod;
  sendCommand: AnyMethod;
  duplicate: AnyMethod;
}

/** Any client the guard, `cache-stampede/lock` and the get-value client accept. */
export type SupportedRedisClient = IoRedisClient | NodeRedisClient;

/** An ioredis (or iovalkey) `Cluster`, as it says of itself. */
export function isIoRedisCluster(client: unknown): boolean {
  return (client as { isCluster?: boolean }).isCluster === true;
}
