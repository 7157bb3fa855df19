/**
 * What the lab's commands check at start about the Redis they are given, at its edges (issue 23):
 *
 * - a database in REDIS_URL: `/abc` once ended burst, fleet and worker with an uncaught
 *   ReplyError (SELECT NaN); `/99` on a server with 16 databases printed a bare stack, then
 *   enqueued into database 0 and the workers said "ready" there. Both are configuration errors
 *   now: one line naming the host and the cause, exit code 2, nothing enqueued in any database;
 * - KEY_PREFIX outside the key pattern of the user's ACL: a worker said "ready" and then failed
 *   every job after its attempts with NOPERM. It now stops at start, naming the prefix and the user.
 *
 * Every command runs as a real process on a private redis-server (databases 0-15).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../scripts/common/config.js';
import { startEmbeddedRedis, type EmbeddedRedis } from '../scripts/redis/redis-server.js';
import { sleep } from './support/wait.js';
import { spawnEntry } from './support/worker-process.js';

const PASSWORD = `pw-${randomBytes(6).toString('hex')}`;
const BURST = 'scripts/burst.ts';
const FLEET = 'scripts/fleet.ts';
const WORKER = 'workers/worker.ts';

let server: EmbeddedRedis;
let admin: Redis;
let logDir: string;

beforeAll(async () => {
  server = await startEmbeddedRedis();
  admin = new Redis(server.url, { maxRetriesPerRequest: 1 });
  // A user for the guard's default prefix (and BullMQ's), and one with the keys of `app` but none of its channels.
  await admin.acl('SETUSER', 'cache-user', 'on', `>${PASSWORD}`, '~cs:*', '&cs:*', '~bull:*', '+@all', '-@dangerous', '+info');
  await admin.acl('SETUSER', 'keys-only', 'on', `>${PASSWORD}`, '~app:*', '~bull:*', '+@all', '-@dangerous', '+info');
  logDir = await mkdtemp(join(tmpdir(), 'cs-start-up-'));
});

afterAll(async () => {
  await admin?.quit();
  await server?.stop();
  await rm(logDir, { recursive: true, force: true });
});

/** `redis://[user:password@]127.0.0.1:<port><rest>` of the private server. */
function url(rest = '', user?: string): string {
  return `redis://${user ? `${user}:${PASSWORD}@` : ''}127.0.0.1:${server.port}${rest}`;
}

interface Run {
  code: number | string;
  stdout: string;
  stderr: string;
}

/**
 * Run a command to its end. A command that does not end (today's worker on a bad database says
 * "ready" and consumes) is stopped after `timeoutMs` as a user would, SIGTERM (a fleet passes it
 * on to its workers), then SIGKILL: its code is then that signal's name, never 2.
 */
async function run(entry: string, args: string[], env: Record<string, string>, timeoutMs = 25_000): Promise<Run> {
  const lab = spawnEntry(entry, args, {
    REDIS_URL: '',
    QUEUE_REDIS_URL: '',
    CACHE_REDIS_URL: '',
    REDIS_CLUSTER_NODES: '',
    LOG_DIR: logDir,
    NO_COLOR: '1',
    ...env,
  });
  const timer = setTimeout(() => {
    lab.child.kill('SIGTERM');
    setTimeout(() => lab.child.kill('SIGKILL'), 10_000).unref();
  }, timeoutMs);
  const code = await lab.exit;
  clearTimeout(timer);
  return { code, stdout: lab.stdout(), stderr: lab.stderr() };
}

/** Exit code 2 and exactly one line, `error: ...`, matching `expected`; no stack, no password. */
function expectOneErrorLine(result: Run, expected: RegExp): void {
  const context = JSON.stringify(result);
  expect(result.code, context).toBe(2);
  const lines = result.stderr.split('\n').filter((line) => line.trim() !== '');
  expect(lines, context).toHaveLength(1);
  expect(lines[0], context).toMatch(expected);
  expect(result.stdout + result.stderr, context).not.toMatch(/\n\s+at |ReplyError|ready:/);
  expect(result.stdout + result.stderr).not.toContain(PASSWORD);
}

/** The keys of BullMQ's queue `queue` in every database of the server. */
async function queueKeys(queue: string): Promise<Record<number, string[]>> {
  const found: Record<number, string[]> = {};
  const probe = new Redis(server.url, { maxRetriesPerRequest: 1 });
  try {
    for (let db = 0; db < 16; db++) {
      await probe.select(db);
      const keys = await probe.keys(`bull:${queue}:*`);
      if (keys.length > 0) found[db] = keys;
    }
  } finally {
    await probe.quit();
  }
  return found;
}

describe('a database in REDIS_URL', () => {
  const commands: [string, string, string[]][] = [
    ['burst', BURST, ['--jobs', '3', '--timeout', '5']],
    ['fleet', FLEET, ['--workers', '2']],
    ['worker', WORKER, ['--worker-id', 'db-check']],
  ];
  const databases: [string, string, RegExp][] = [
    [
      '/abc (not a number)',
      '/abc',
      /^error: REDIS_URL: the database of Redis at 127\.0\.0\.1:\d+ must be a whole number \(redis:\/\/host:port\/<db>, e\.g\. \/0 or \/1\); got "abc"$/,
    ],
    [
      '/99 (the server has 16)',
      '/99',
      /^error: cannot use Redis at 127\.0\.0\.1:\d+: database 99 does not exist there \(SELECT 99: ERR DB index is out of range; .*16 by default: 0-15\)$/,
    ],
    [
      '?db=x (the query form ioredis also reads)',
      '?db=x',
      /^error: REDIS_URL: the database of Redis at 127\.0\.0\.1:\d+ must be a whole number .*; got "x"$/,
    ],
  ];
  const cases = commands.flatMap(([command, entry, args]) =>
    databases.map(([what, rest, expected]) => [`${command}, ${what}`, entry, args, rest, expected] as const),
  );

  it.each(cases)(
    '%s: one line naming the host and the cause, exit 2, nothing enqueued in any database',
    async (_, entry, args, rest, expected) => {
      const queue = `db-${randomBytes(3).toString('hex')}`;
      expectOneErrorLine(await run(entry, args, { REDIS_URL: url(rest), QUEUE_NAME: queue }), expected);
      expect(await queueKeys(queue)).toEqual({});
    },
    60_000,
  );

  it('QUEUE_REDIS_URL and CACHE_REDIS_URL are checked alike, each by its name', () => {
    expect(() => loadConfig({}, { CACHE_REDIS_URL: url('/1x') })).toThrow(
      /^CACHE_REDIS_URL: the database of Redis at 127\.0\.0\.1:\d+ .*got "1x"$/,
    );
    expect(() => loadConfig({}, { QUEUE_REDIS_URL: url('/-1', 'someone') })).toThrow(/^QUEUE_REDIS_URL: .*got "-1"$/);
    expect(loadConfig({}, { REDIS_URL: url('/15') }).redisUrl).toBe(url('/15'));
  });

  it('a database the server has: the worker consumes and the burst enqueues there, and database 0 stays empty', async () => {
    const queue = `db-${randomBytes(3).toString('hex')}`;
    const env = { REDIS_URL: url('/3', 'cache-user'), QUEUE_NAME: queue };
    const worker = spawnEntry(WORKER, ['--worker-id', 'db-3'], {
      QUEUE_REDIS_URL: '',
      CACHE_REDIS_URL: '',
      LOG_DIR: logDir,
      ...env,
    });
    try {
      await worker.waitForLine(/db-3 ready: queue /, 30_000);
      const burst = await run(BURST, ['--jobs', '6', '--keys', '2', '--compute-ms', '100', '--json'], env, 60_000);
      expect(burst.code, burst.stderr).toBe(0);
      expect(JSON.parse(burst.stdout)).toMatchObject({ completed: 6, failed: 0, distinctValues: 2 });
    } finally {
      worker.child.kill('SIGTERM');
      await Promise.race([worker.exit, sleep(20_000)]);
      worker.child.kill('SIGKILL');
    }
    expect(Object.keys(await queueKeys(queue))).toEqual(['3']);
  }, 90_000);
});

describe("KEY_PREFIX outside the user's ACL", () => {
  it('a prefix whose keys the user may not use: the worker stops at start, naming the prefix and the user', async () => {
    const result = await run(WORKER, ['--worker-id', 'prefix-check'], { REDIS_URL: url('', 'cache-user'), KEY_PREFIX: 'app' });
    expectOneErrorLine(
      result,
      /^error: cannot use Redis at 127\.0\.0\.1:\d+: user cache-user may not use the keys of KEY_PREFIX "app" \(HMGET app:\{!start-up-check\}:probe: NOPERM .*\); its ACL needs ~app:\* and &app:\* \(see docs\/managed-redis\.md\)$/,
    );
  }, 60_000);

  it('the fleet checks it once, before starting any worker: one line, exit 2', async () => {
    const result = await run(FLEET, ['--workers', '2'], { REDIS_URL: url('', 'cache-user'), KEY_PREFIX: 'app' });
    expectOneErrorLine(result, /^error: cannot use Redis at 127\.0\.0\.1:\d+: user cache-user may not use the keys of KEY_PREFIX "app"/);
  }, 60_000);

  it("keys but not channels: the line says it is the prefix's channels", async () => {
    const result = await run(WORKER, ['--worker-id', 'prefix-check'], { REDIS_URL: url('', 'keys-only'), KEY_PREFIX: 'app' });
    expectOneErrorLine(
      result,
      /^error: cannot use Redis at 127\.0\.0\.1:\d+: user keys-only may not use the channels of KEY_PREFIX "app" \(PUBLISH .*NOPERM .*channels/,
    );
  }, 60_000);

  it('the cache apart from the queue: the cache URL is the one checked, and its user named', async () => {
    const result = await run(WORKER, ['--worker-id', 'prefix-check'], {
      QUEUE_REDIS_URL: url('', 'keys-only'),
      CACHE_REDIS_URL: url('', 'cache-user'),
      KEY_PREFIX: 'app',
    });
    expectOneErrorLine(result, /^error: cannot use Redis at 127\.0\.0\.1:\d+: user cache-user may not use the keys of KEY_PREFIX "app"/);
  }, 60_000);

  it('a prefix the ACL covers: the worker starts', async () => {
    const worker = spawnEntry(WORKER, ['--worker-id', 'prefix-ok'], {
      REDIS_URL: url('', 'cache-user'),
      QUEUE_REDIS_URL: '',
      CACHE_REDIS_URL: '',
      LOG_DIR: logDir,
      KEY_PREFIX: 'cs',
      QUEUE_NAME: 'prefix-ok',
    });
    try {
      await worker.waitForLine(/prefix-ok ready: queue prefix-ok/, 30_000);
    } finally {
      worker.child.kill('SIGKILL');
      await worker.exit;
    }
  }, 60_000);
});
