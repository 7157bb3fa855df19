import type { Redis } from 'ioredis';
import { RedisConnectionError } from '../common/errors.js';
import { hostPort, isClusterUrl, parseClusterUrl } from './cluster-url.js';
import { credentials } from './cluster.js';
import { describeRedisUrl, explainRedisError } from './connection.js';
import { probeRedis } from './probe-client.js';
import { refusal } from './refused.js';
import { tlsConnectionOptions, usesTls, type TlsSettings } from './tls.js';

const CONNECT_TIMEOUT_MS = 3000;

/**
 * A key and a channel of `keyPrefix` that no cache key of the guard can have: a tag starting
 * with `!` is none of a key's (plain names, `#...`, `%...`; src/keys.ts), and `!l1` is the L1
 * bus's. So the check below never touches a value, and nobody listens on the channel.
 */
export function startupCheckName(keyPrefix: string): string {
  return `${keyPrefix}:{!start-up-check}:probe`;
}

/**
 * Whether the user of the cache's Redis may use the guard's keys and channels under
 * `keyPrefix`, asked once at start: a user whose ACL covers `~cs:*` but not the prefix set in
 * KEY_PREFIX would otherwise start a worker that says "ready" and then fails every job after its
 * attempts with NOPERM. One key of the prefix is read (HMGET, MGET) and written (PEXPIRE of a key that
 * does not exist: no effect), and one channel published to (PUBLISH, SPUBLISH on a cluster), with
 * commands the guard itself sends, so the check needs nothing its work does not. On a cluster
 * each seed that answers is asked (ACLs are per node); Redis checks the ACL before it redirects,
 * so a MOVED answer means allowed.
 *
 * Throws one line naming the host, the user and the prefix; never the password. Connection
 * failures are the reachability check's to report (assertRedisReachable, called before this).
 */
export async function assertKeyPrefixAllowed(
  url: string,
  tls: TlsSettings,
  keyPrefix: string,
  timeoutMs = CONNECT_TIMEOUT_MS,
): Promise<void> {
  if (isClusterUrl(url)) {
    const name = parseClusterUrl('url', url);
    const user = name.username ?? 'default';
    const results = await Promise.allSettled(
      name.nodes.map((node) =>
        probeRedis({ ...node, ...credentials(name, tls) }, timeoutMs, (probe) =>
          tryPrefix(probe, { where: hostPort(node), user, keyPrefix, sharded: true }),
        ),
      ),
    );
    const refused = results.find((r) => r.status === 'rejected' && r.reason instanceof RedisConnectionError);
    if (refused) throw (refused as PromiseRejectedResult).reason;
    // Nodes that did not answer: the cluster check said so already; the ones that did were enough.
    return;
  }
  const where = describeRedisUrl(url);
  const user = URL.canParse(url) ? decodeURIComponent(new URL(url).username) || 'default' : 'default';
  try {
    await probeRedis({ url, ...(usesTls(url) && { tls: tlsConnectionOptions(tls) }) }, timeoutMs, (probe) =>
      tryPrefix(probe, { where, user, keyPrefix, sharded: false }),
    );
  } catch (cause) {
    if (cause instanceof RedisConnectionError) throw cause;
    throw new RedisConnectionError(`cannot use Redis at ${where}: ${explainRedisError(cause, url)}`, { cause });
  }
}

interface Attempt {
  where: string;
  user: string;
  keyPrefix: string;
  sharded: boolean;
}

async function tryPrefix(probe: Redis, { where, user, keyPrefix, sharded }: Attempt): Promise<void> {
  const name = startupCheckName(keyPrefix);
  const publish = sharded ? 'SPUBLISH' : 'PUBLISH';
  const attempts: [string[], 'keys' | 'channels'][] = [
    [['HMGET', name, 'envelope'], 'keys'],
    // The records of a tagged value's tags are read with MGET, outside scripts (src/cache/tags.ts).
    [['MGET', name], 'keys'],
    [['PEXPIRE', name, '1'], 'keys'],
    [[publish, name, 'start-up check'], 'channels'],
  ];
  for (const [[command, ...args], what] of attempts) {
    try {
      await probe.call(command!, ...args);
    } catch (err) {
      if (/^MOVED\b|^ASK\b/.test((err as Error)?.message ?? '')) continue; // allowed; another node's slot
      const refused = refusal(err);
      if (refused === undefined) throw err;
      // NOPERM names a command it refuses ("... to run the 'hmget' command"), not a key or channel.
      const hint = /\bto access\b/i.test(refused)
        ? `user ${user} may not use the ${what} of KEY_PREFIX "${keyPrefix}" (${command} ${name}: ${refused}); its ACL needs ~${keyPrefix}:* and &${keyPrefix}:* (see docs/managed-redis.md)`
        : `user ${user} may not run ${command}, which the cache needs (${refused}); see docs/managed-redis.md for the commands to allow`;
      throw new RedisConnectionError(`cannot use Redis at ${where}: ${hint}`, { cause: err });
    }
  }
}
