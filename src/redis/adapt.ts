import type { Cluster, Redis } from 'ioredis';
import { OptionsError } from '../errors.js';
import type { SupportedRedisClient } from './client.js';
import { IoRedisPort, IoRedisSubscriber } from './ioredis-port.js';
import { NodeRedisPort } from './node-redis-port.js';
import type { NodeRedisConnection } from './node-redis-types.js';
import { NodeRedisSubscriber } from './node-redis-subscriber.js';
import type { RedisPort, SubscriberPort } from './port.js';

/**
 * Which library a client is from, by what only it has (no library is imported): ioredis and
 * iovalkey define commands with `defineCommand`; node-redis has `sendCommand` and `isOpen`.
 */
export function clientLibrary(client: unknown): 'ioredis' | 'node-redis' | null {
  if (typeof client !== 'object' || client === null) return null;
  const methods = client as Record<string, unknown>;
  if (typeof methods.defineCommand === 'function' && typeof methods.evalsha === 'function') return 'ioredis';
  if (typeof methods.sendCommand === 'function' && typeof methods.evalSha === 'function' && 'isOpen' in methods) return 'node-redis';
  return null;
}

export const ACCEPTED_CLIENTS = 'an ioredis or iovalkey client (Redis or Cluster) or a node-redis client (createClient or createCluster)';

/** One port per client, so that everything keyed by a client (a shared notifier, say) stays one. */
const ports = new WeakMap<object, RedisPort>();
const subscribers = new WeakMap<object, SubscriberPort>();

/** The seam for `client` (the guard's `redis` option); an OptionsError names `option` when it is not a client. */
export function toPort(client: SupportedRedisClient, option = 'redis'): RedisPort {
  const known = ports.get(client);
  if (known) return known;
  const library = clientLibrary(client);
  if (library === null) throw new OptionsError(option, `${option} must be ${ACCEPTED_CLIENTS}`);
  const port =
    library === 'ioredis'
      ? new IoRedisPort(client as unknown as Redis | Cluster)
      : new NodeRedisPort(client as unknown as NodeRedisConnection);
  ports.set(client, port);
  return port;
}

/** The seam for a caller's subscriber connection (the guard's `subscriber` option), of the same library as `redis`. */
export function toSubscriberPort(client: SupportedRedisClient, redis: RedisPort): SubscriberPort {
  const known = subscribers.get(client);
  if (known) return known;
  const library = clientLibrary(client);
  if (library === null) throw new OptionsError('subscriber', `subscriber must be ${ACCEPTED_CLIENTS}`);
  if (library !== redis.library) throw new OptionsError('subscriber', `subscriber must be a ${redis.library} client, as redis is`);
  const port =
    library === 'ioredis'
      ? new IoRedisSubscriber(client as unknown as Redis | Cluster, false)
      : new NodeRedisSubscriber(client as unknown as NodeRedisConnection, false);
  subscribers.set(client, port);
  return port;
}
