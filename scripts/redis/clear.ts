import type { RedisClient } from './connection.js';
import { isCluster, masterNodes } from './cluster.js';
import { allKeysPattern } from '../../src/keys.js';
import { RedisConnectionError } from '../common/errors.js';
import { refusal } from './refused.js';
import { scanBatches } from './scan.js';

/**
 * Delete every key the guard wrote under `prefix` (values, locks, fences): SCAN, not KEYS,
 * so a large Redis is not blocked; UNLINK frees memory off the main thread. Returns the count.
 *
 * On a cluster each master holds only its own slots' keys and SCAN sees one node, so every
 * master is scanned. The keys one master returns may lie in different slots, which one
 * multi-key UNLINK refuses (CROSSSLOT): there they are unlinked one by one through the cluster
 * client, which sends each to the node owning its slot (all at once, not one round trip each).
 */
export async function clearCacheKeys(redis: RedisClient, prefix: string): Promise<number> {
  try {
    return await clearKeys(redis, prefix);
  } catch (err) {
    // docs/managed-redis.md's users lack SCAN, which lists every key of the database, and UNLINK,
    // which nothing else needs: the demo alone does, and says what to add.
    const refused = refusal(err);
    if (refused === undefined) throw err;
    throw new RedisConnectionError(
      `cannot clear the guard's keys (${allKeysPattern(prefix)}) before a run: ${refused}; the demo needs SCAN and UNLINK (add +scan +unlink to the cache's user for the demo; see docs/managed-redis.md)`,
      { cause: err },
    );
  }
}

async function clearKeys(redis: RedisClient, prefix: string): Promise<number> {
  let deleted = 0;
  for (const node of await masterNodes(redis)) {
    for await (const keys of scanBatches(node, allKeysPattern(prefix))) {
      if (isCluster(redis)) {
        const counts = await Promise.all(keys.map((key) => redis.unlink(key)));
        deleted += counts.reduce((sum, n) => sum + n, 0);
      } else {
        deleted += await redis.unlink(...keys);
      }
    }
  }
  return deleted;
}
