import type { RedisClient } from './connection.js';
import { masterNodes } from './cluster.js';

/**
 * BullMQ needs `maxmemory-policy noeviction` on the queue's Redis: under memory pressure an
 * evicting policy silently deletes job keys. Returns a warning to show, or null when fine.
 * Reads INFO rather than CONFIG GET, which managed Redis services often disable. On a cluster
 * every master is asked (the queue lives on one of them, and which one depends on its name).
 */
export async function evictionPolicyWarning(redis: RedisClient): Promise<string | null> {
  for (const node of await masterNodes(redis)) {
    const info = await node.info('memory');
    const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
    if (!policy || policy === 'noeviction') continue;
    const where = node === redis ? '' : ` (node ${node.options.host}:${node.options.port})`;
    return `the queue's Redis${where} has maxmemory-policy ${policy}; BullMQ needs noeviction or jobs can be lost (fix: CONFIG SET maxmemory-policy noeviction, or maxmemory-policy noeviction in redis.conf)`;
  }
  return null;
}
