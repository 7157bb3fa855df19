import type { Redis } from 'ioredis';
import { RedisConnectionError } from '../common/errors.js';
import { refusal } from './refused.js';

/**
 * INFO, asked once by the start-up probe. The lab cannot do without it: BullMQ reads the Redis
 * version from it before it runs a queue (and fails on every connection when refused), ioredis's
 * ready check waits on it while Redis loads its data, and the noeviction check reads the policy
 * from it. INFO is in ACL category @dangerous, so a user given `+@all -@dangerous` lacks it:
 * say once what to allow, instead of a worker failing later with BullMQ's error.
 *
 * `redis` names the server for the message: `at host:port`, or `cluster host:port,...`.
 */
export async function startupInfo(client: Redis, section: string, redis: string): Promise<string> {
  try {
    return await client.info(section);
  } catch (err) {
    const refused = refusal(err);
    if (refused === undefined) throw err;
    throw new RedisConnectionError(
      `cannot use Redis ${redis}: ${refused}; BullMQ and ioredis need INFO (add +info to the user's ACL; see docs/managed-redis.md)`,
      { cause: err },
    );
  }
}
