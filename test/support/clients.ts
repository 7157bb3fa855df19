import { Redis as IoRedis, Cluster as IoCluster } from 'ioredis';
import { Redis as ValkeyRedis, Cluster as ValkeyCluster } from 'iovalkey';
import { createClient, createCluster } from 'redis';
import type { SupportedRedisClient } from '../../src/redis/client.js';

/**
 * The client libraries the guard accepts, for tests that run the same behaviour on each: a test
 * opens its clients through `openClient`/`openClusterClient` and closes them with `closeClients`,
 * and asserts through an ioredis connection of its own (the libraries' APIs differ; the guard's
 * do not).
 */
export const CLIENT_LIBRARIES = ['ioredis', 'iovalkey', 'node-redis'] as const;
export type ClientLibrary = (typeof CLIENT_LIBRARIES)[number];

/** TEST_REDIS_CLIENT picks one library for a test that runs on one (the model checker). */
export function clientLibraryFromEnv(): ClientLibrary {
  const value = process.env.TEST_REDIS_CLIENT ?? 'ioredis';
  if (!(CLIENT_LIBRARIES as readonly string[]).includes(value))
    throw new Error(`TEST_REDIS_CLIENT must be one of ${CLIENT_LIBRARIES.join(', ')}`);
  return value as ClientLibrary;
}

export interface OpenOptions {
  /** CLIENT SETNAME, so a test can find (and kill) the connection. */
  name?: string;
  /** How long a reconnect waits, ms. @default 100 */
  reconnectMs?: number;
  /** ioredis's maxRetriesPerRequest. @default 2 */
  retries?: number | null;
}

const opened: Array<() => Promise<void>> = [];

/** A client of `library` to the Redis at `url`, connecting (node-redis: connect() called, not awaited). */
export function openClient(library: ClientLibrary, url: string, options: OpenOptions = {}): SupportedRedisClient {
  const reconnectMs = options.reconnectMs ?? 100;
  if (library === 'node-redis') {
    const client = createClient({
      url,
      ...(options.name && { name: options.name }),
      socket: { reconnectStrategy: () => reconnectMs },
    });
    client.on('error', () => {});
    client.connect().catch(() => {});
    opened.push(async () => {
      if (client.isOpen) client.destroy();
    });
    return client;
  }
  const Library = library === 'ioredis' ? IoRedis : ValkeyRedis;
  const client = new Library(url, {
    maxRetriesPerRequest: options.retries === undefined ? 2 : options.retries,
    retryStrategy: () => reconnectMs,
    ...(options.name && { connectionName: options.name }),
  });
  client.on('error', () => {});
  opened.push(async () => client.disconnect());
  return client as unknown as SupportedRedisClient;
}

/** A cluster client of `library` from `nodes` (host:port strings); node-redis's once connected. */
export async function openClusterClient(library: ClientLibrary, nodes: readonly string[]): Promise<SupportedRedisClient> {
  const hosts = nodes.map((node) => {
    const [host, port] = node.split(':');
    return { host: host!, port: Number(port) };
  });
  if (library === 'node-redis') {
    const cluster = createCluster({ rootNodes: hosts.map(({ host, port }) => ({ url: `redis://${host}:${port}` })) });
    cluster.on('error', () => {});
    opened.push(async () => {
      if (cluster.isOpen) cluster.destroy();
    });
    await cluster.connect();
    return cluster as unknown as SupportedRedisClient;
  }
  const Library = library === 'ioredis' ? IoCluster : ValkeyCluster;
  const cluster = new Library(hosts, { redisOptions: { maxRetriesPerRequest: 2 } });
  cluster.on('error', () => {});
  opened.push(async () => cluster.disconnect());
  return cluster as unknown as SupportedRedisClient;
}

/** Close every client opened since the last call. */
export async function closeClients(): Promise<void> {
  await Promise.all(opened.splice(0).map((close) => close().catch(() => {})));
}
