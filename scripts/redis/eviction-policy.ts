import type { Redis } from 'ioredis';
import { masterNodes } from './cluster.js';
import { isNodeRedis, type LabRedis } from './lab-redis.js';

/**
 * BullMQ needs `maxmemory-policy noeviction` on the queue's Redis: under memory pressure an
 * evicting policy silently deletes job keys. Returns a warning to show, or null when fine.
 * Reads INFO rather than CONFIG GET, which managed Redis services often disable. On a cluster
 * every master is asked (the queue lives on one of them, and which one depends on its name);
 * a node-redis connection is one node.
 */
export async function evictionPolicyWarning(redis: LabRedis): Promise<string | null> {
  if (isNodeRedis(redis)) return policyWarning(await redis.info('memory'), '');
  for (const node of await masterNodes(redis)) {
    const warning = policyWarning(await node.info('memory'), where(redis, node));
    if (warning) return warning;
  }
  return null;
}

function where(redis: LabRedis, node: Redis): string {
  return node === redis ? '' : ` (node ${node.options.host}:${node.options.port})`;
}

function policyWarning(info: string, where: string): string | null {
  const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
  if (!policy || policy === 'noeviction') return null;
  return `the queue's Redis${where} has maxmemory-policy ${policy}; BullMQ needs noeviction or jobs can be lost (fix: CONFIG SET maxmemory-policy noeviction, or maxmemory-policy noeviction in redis.conf)`;
}
