import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { Redis as Valkey } from 'iovalkey';
import { createClient } from 'redis';
import type { createGuard } from '../../../src/cache/guard.js';
import { redisOptionsFor } from '../../redis/connection.js';

/** What createGuard's `redis` (and `subscriber`) option takes, whatever the library's own type. */
type GuardClient = Parameters<typeof createGuard>[0]['redis'];

/**
 * One Redis client library as the clients scenario uses it: a connected command client and
 * subscriber for a guard, and the claim script sent straight through the library's own EVALSHA
 * (the seam's baseline). Each is set up the way its users write it: ioredis and iovalkey with the
 * project's connection options, node-redis with `createClient` and a `duplicate()` subscriber.
 */
export interface BenchClient {
  readonly redis: GuardClient;
  readonly subscriber: GuardClient;
  /** SCRIPT LOAD through this client: the sha Redis answers. */
  scriptLoad(source: string): Promise<string>;
  /** EVALSHA through this client's own method, nothing in between. */
  evalsha(sha: string, keys: readonly string[], args: readonly string[]): Promise<unknown>;
  close(): Promise<void>;
}

export type ClientId = 'ioredis' | 'iovalkey' | 'node-redis';

export interface ClientKind {
  id: ClientId;
  /** The package and the version installed, e.g. `ioredis 5.11.1`. */
  label: string;
  connect(redisUrl: string): Promise<BenchClient>;
}

/** The baseline of the ratios: the client the guard was written against. */
export const BASELINE_CLIENT: ClientId = 'ioredis';

export function clientKinds(): ClientKind[] {
  return [
    { id: 'ioredis', label: `ioredis ${versionOf('ioredis')}`, connect: connectIoredis },
    { id: 'iovalkey', label: `iovalkey ${versionOf('iovalkey')}`, connect: connectIovalkey },
    { id: 'node-redis', label: `node-redis (redis ${versionOf('redis')})`, connect: connectNodeRedis },
  ];
}

async function connectIoredis(redisUrl: string): Promise<BenchClient> {
  const redis = new Redis(redisUrl, redisOptionsFor('cache'));
  const subscriber = new Redis(redisUrl, redisOptionsFor('subscriber'));
  await Promise.all([redis.ping(), subscriber.ping()]);
  return {
    redis,
    subscriber,
    scriptLoad: async (source) => String(await redis.script('LOAD', source)),
    evalsha: (sha, keys, args) => redis.evalsha(sha, keys.length, ...keys, ...args),
    close: async () => {
      await Promise.all([redis.quit(), subscriber.quit()]);
    },
  };
}

// iovalkey is a fork of ioredis 5: the same options and methods, so the same connection options.
async function connectIovalkey(redisUrl: string): Promise<BenchClient> {
  const redis = new Valkey(redisUrl, redisOptionsFor('cache') as object);
  const subscriber = new Valkey(redisUrl, redisOptionsFor('subscriber') as object);
  await Promise.all([redis.ping(), subscriber.ping()]);
  return {
    redis: redis as unknown as GuardClient,
    subscriber: subscriber as unknown as GuardClient,
    scriptLoad: async (source) => String(await redis.script('LOAD', source)),
    evalsha: (sha, keys, args) => redis.evalsha(sha, keys.length, ...keys, ...args),
    close: async () => {
      await Promise.all([redis.quit(), subscriber.quit()]);
    },
  };
}

// RESP2 said explicitly: node-redis 6 speaks RESP3 unless told otherwise (its DEFAULT_RESP is 3),
// and the guard takes a node-redis client on RESP2.
async function connectNodeRedis(redisUrl: string): Promise<BenchClient> {
  const redis = createClient({ url: redisUrl, RESP: 2 });
  const subscriber = redis.duplicate();
  // A client that cannot connect would retry forever without a listener's say; the first
  // connect's failure rejects connect() all the same.
  for (const client of [redis, subscriber]) client.on('error', () => {});
  await Promise.all([redis.connect(), subscriber.connect()]);
  return {
    redis: redis as unknown as GuardClient,
    subscriber: subscriber as unknown as GuardClient,
    scriptLoad: (source) => redis.scriptLoad(source),
    evalsha: (sha, keys, args) => redis.evalSha(sha, { keys: [...keys], arguments: [...args] }),
    close: async () => {
      await Promise.all([redis.close(), subscriber.close()]);
    },
  };
}

/** The version installed, from its package.json (the label must say what was measured). */
function versionOf(name: string): string {
  try {
    const file = new URL(`../../../node_modules/${name}/package.json`, import.meta.url);
    return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    return '(version unknown)';
  }
}
