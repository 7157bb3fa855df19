/**
 * npm run invalidate -- --tags a,b | --namespace users[/eu] [--json]
 * Invalidate for the whole fleet: every value carrying one of the tags (a job's `tags`, `npm run
 * burst -- --tags`), or every value of a namespace (a service's `guard.namespace('users')`),
 * counts as missing from now on, in every process. Writes one small record per tag on the
 * cache's Redis (CACHE_REDIS_URL, else REDIS_URL) under KEY_PREFIX; prints what it invalidated
 * and how long it took.
 */
import { InvalidArgumentError } from 'commander';
import { checkNamespaceName, checkTags } from '../src/cache/tags.js';
import { errorMessage } from '../src/errors.js';
import { newCommand, runCli } from './common/cli.js';
import { loadConfig } from './common/config.js';
import { UserError } from './common/errors.js';
import { createInvalidator, type InvalidationTarget } from './invalidate/invalidator.js';
import { assertRedisReachable, createRedisClient, describeRedisUrl } from './redis/connection.js';
import { assertKeyPrefixAllowed } from './redis/key-access.js';

await runCli(async () => {
  const opts = newCommand('invalidate', 'Invalidate values for the whole fleet: by tag, or a namespace, lazily (one record per tag).')
    .option('--tags <list>', 'invalidate every value carrying one of these tags, comma-separated like user:42,catalogue', parseTagList)
    .option('--namespace <path>', 'invalidate every value of this namespace (users, or users/eu for one inside another)', parseNamespace)
    .option('--json', 'print what was invalidated as JSON')
    .parse()
    .opts<{ tags?: string[]; namespace?: string; json?: boolean }>();
  if ((opts.tags === undefined) === (opts.namespace === undefined)) {
    throw new UserError('E_USAGE', 'give --tags or --namespace (one of them): what to invalidate');
  }
  const target: InvalidationTarget = opts.tags !== undefined ? { tags: opts.tags } : { namespace: opts.namespace! };

  const config = loadConfig();
  for (const warning of await assertRedisReachable(config.cacheRedisUrl, config.tls)) process.stderr.write(`warning: ${warning}\n`);
  // The workers' own start-up check: a user whose ACL leaves out KEY_PREFIX is one line, not NOPERM.
  await assertKeyPrefixAllowed(config.cacheRedisUrl, config.tls, config.keyPrefix);
  const redis = createRedisClient(config.cacheRedisUrl, 'producer', config.tls);
  const invalidator = createInvalidator(redis, config.keyPrefix);
  try {
    const started = performance.now();
    await invalidator.invalidate(target);
    const ms = Math.round((performance.now() - started) * 10) / 10;
    const where = describeRedisUrl(config.cacheRedisUrl);
    if (opts.json) {
      process.stdout.write(`${JSON.stringify({ ...target, keyPrefix: config.keyPrefix, redis: where, ms })}\n`);
    } else {
      const what =
        'tags' in target
          ? `${target.tags.length === 1 ? 'tag' : 'tags'} ${target.tags.join(', ')}`
          : `namespace ${target.namespace} (its keys ${target.namespace.split('/').join(':')}:*)`;
      process.stdout.write(`invalidated ${what} under key prefix ${config.keyPrefix} on ${where} in ${ms} ms\n`);
    }
    return 0;
  } finally {
    await invalidator.close();
    await redis.quit().catch(() => redis.disconnect());
  }
});

/** `--tags a,b`: the guard's own check (1 to 256 characters each, at most 64); `a,,b` names the empty one. */
function parseTagList(raw: string): string[] {
  try {
    return checkTags(
      raw.split(',').map((tag) => tag.trim()),
      '--tags',
    );
  } catch (err) {
    throw new InvalidArgumentError(errorMessage(err).replace(/^--tags: /, ''));
  }
}

/** `--namespace users/eu`: each name as the guard checks it (1 to 64 of A-Z a-z 0-9 _ . -). */
function parseNamespace(raw: string): string {
  try {
    return raw
      .split('/')
      .map((name) => checkNamespaceName(name))
      .join('/');
  } catch (err) {
    throw new InvalidArgumentError(errorMessage(err));
  }
}
