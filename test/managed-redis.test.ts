/**
 * Managed Redis, as a team on one would run the lab: a TLS-only redis-server (no plain-text port)
 * with a CA and server certificate made by openssl for this file, the `default` user off, and
 * least-privilege ACL users: the one from issue 18 (`+@all -@dangerous +info`) and the ones
 * docs/managed-redis.md shows, applied exactly as written. Every command runs as a real process
 * with the CA through REDIS_TLS_CA_FILE; ACL LOG then shows what Redis refused, and no output or
 * log line may contain a password.
 *
 * The page's users name their commands one by one (issue 23: `+@write` let the cache's user run
 * FUNCTION FLUSH): each line must be exactly what the code sends (test/support/documented-acl.ts
 * derives it from the guard's and BullMQ's scripts and what is sent outside them), ACL DRYRUN
 * must allow each user exactly its line, and commands outside it, sent, must be refused.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createGuard } from '../src/cache/guard.js';
import { STRATEGIES } from '../src/cache/strategy.js';
import { assertRedisReachable } from '../scripts/redis/connection.js';
import { startEmbeddedRedis, type EmbeddedRedis } from '../scripts/redis/redis-server.js';
import {
  BULLMQ_VERSION,
  LAB_BULLMQ_SCRIPTS,
  aclLog,
  applyAcl,
  bullmqScriptShas,
  clusterCommands,
  commandsOf,
  demoAddition,
  derivedCommands,
  documentedAcl,
  documentedUser,
  serverCommands,
} from './support/documented-acl.js';
import { runTaggedCalls } from './support/tagged-calls.js';
import { makeTestCertificates, type TestCertificates } from './support/tls-certs.js';
import { sleep } from './support/wait.js';
import { projectPath, runEntry, spawnEntry } from './support/worker-process.js';

const ADMIN_PASSWORD = `admin-${randomBytes(6).toString('hex')}`;
/** The issue's user, with a password no other text contains, so that a leak cannot hide. */
const APP_PASSWORD = `pw-${randomBytes(6).toString('hex')}`;
const ISSUE_USER = ['on', `>${APP_PASSWORD}`, '~cs:*', '~bull:*', '&cs:*', '+@all', '-@dangerous', '+info'];

let certs: TestCertificates;
let server: EmbeddedRedis;
let admin: Redis;
let ca: Buffer;
const logDirs: string[] = [];

/** `rediss://user:password@127.0.0.1:<port>` of the TLS-only server. */
function url(user: string, password: string): string {
  return `rediss://${user}:${password}@127.0.0.1:${server.port}`;
}

/** The environment every command gets: no Redis named but the ones given, the CA by file. */
async function labEnv(redis: Record<string, string>): Promise<Record<string, string>> {
  const logDir = await mkdtemp(join(tmpdir(), 'cs-managed-'));
  logDirs.push(logDir);
  return {
    REDIS_URL: '',
    QUEUE_REDIS_URL: '',
    CACHE_REDIS_URL: '',
    REDIS_CLUSTER_NODES: '',
    REDIS_TLS_CA_FILE: certs.caFile,
    REDIS_TLS_SERVERNAME: '',
    NODE_EXTRA_CA_CERTS: '',
    LOG_DIR: logDir,
    ...redis,
  };
}

/**
 * Every line that contains one of the passwords: of the outputs, and of every file the commands
 * wrote under the log directory (the workers' NDJSON logs; the demo's fleet output and report).
 */
async function linesWithPassword(outputs: string[], logDir: string, passwords: string[]): Promise<string[]> {
  const files = (await readdir(logDir, { recursive: true, withFileTypes: true })).filter((entry) => entry.isFile());
  expect(files.filter((file) => file.name.endsWith('.ndjson')).length).toBeGreaterThan(0);
  const written = await Promise.all(files.map((file) => readFile(join(file.parentPath, file.name), 'utf8')));
  const lines = [...outputs, ...written].flatMap((text) => text.split('\n'));
  return lines.filter((line) => passwords.some((password) => line.includes(password)));
}

beforeAll(async () => {
  certs = await makeTestCertificates();
  ca = await readFile(certs.caFile);
  server = await startEmbeddedRedis({ tls: certs });
  // As the default user, while it is still on: an admin for the test, then the users.
  const setup = new Redis(server.url, { tls: { ca }, maxRetriesPerRequest: 1 });
  await setup.acl('SETUSER', 'admin', 'on', `>${ADMIN_PASSWORD}`, '~*', '&*', '+@all');
  await setup.quit();
  admin = new Redis(url('admin', ADMIN_PASSWORD), { tls: { ca }, maxRetriesPerRequest: 1 });
  await admin.acl('SETUSER', 'app', ...ISSUE_USER);
  await admin.acl('SETUSER', 'noinfo', 'on', `>${APP_PASSWORD}`, '~cs:*', '~bull:*', '+@all', '-@dangerous');
  // The page's lines for one Redis, as written (the demo's additions are applied by the demo's
  // test alone); the last one switches the default user off.
  const lines = documentedAcl().filter((e) => !e.rules.includes('+cluster|slots') && !e.rules.includes('+scan'));
  for (const entry of lines) await applyAcl(admin, entry);
  const [, flags] = (await admin.acl('GETUSER', 'default')) as [string, string[]];
  expect(flags).toContain('off');
});

afterAll(async () => {
  await admin?.quit();
  await server?.stop();
  await certs?.remove();
  await Promise.all(logDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

beforeEach(async () => {
  await admin.acl('LOG', 'RESET');
});

describe("a TLS-only Redis with the issue's ACL user (+@all -@dangerous +info), default user off", () => {
  it('runs npm run fleet, burst and logs end to end: one recomputation per key, the refused CLIENT LIST a note, no password anywhere', async () => {
    const env = await labEnv({ REDIS_URL: url('app', APP_PASSWORD), QUEUE_NAME: 'tls-fleet' });
    const fleet = spawnEntry('scripts/fleet.ts', ['--workers', '3'], env);
    try {
      await Promise.all(
        [1, 2, 3].map((i) => fleet.waitForLine(new RegExp(`worker-${i} ready: queue tls-fleet on 127\\.0\\.0\\.1:${server.port}`))),
      );
      const burst = await runEntry(
        'scripts/burst.ts',
        ['--jobs', '150', '--keys', '3', '--strategy', 'redis-lock', '--compute-ms', '500', '--run-id', 'tls-burst', '--json'],
        env,
      );
      expect(burst.code, burst.stderr).toBe(0);
      const summary = JSON.parse(burst.stdout) as {
        completed: number;
        failed: number;
        distinctValues: number;
        sources: { computed: number };
      };
      expect(summary).toMatchObject({ completed: 150, failed: 0, distinctValues: 3, sources: { computed: 3 } });
      // The check for a consuming worker needs CLIENT LIST: refused, so it steps aside in one line.
      const notes = burst.stderr.split('\n').filter((line) => /^(note|warning|error):/.test(line));
      expect(notes).toEqual([
        "note: not checking for workers on queue tls-fleet: Redis refused CLIENT LIST (NOPERM this user has no permissions to run the 'client|list' command)",
      ]);

      fleet.child.kill('SIGINT');
      expect(await fleet.exit, fleet.output()).toBe(0);
      expect(fleet.output()).toContain('fleet stopped: 3 of 3 workers exited cleanly');

      const logs = await runEntry('scripts/logs.ts', [env.LOG_DIR!, '--run', 'tls-burst', '--by', 'key', '--check', '--json'], env);
      expect(logs.code, logs.stderr).toBe(0);
      const report = JSON.parse(logs.stdout) as { groups: { key: string; recomputations: number }[] };
      expect(Object.fromEntries(report.groups.map((g) => [g.key, g.recomputations]))).toEqual({ 'key-1': 1, 'key-2': 1, 'key-3': 1 });

      const outputs = [fleet.output(), burst.stdout, burst.stderr, logs.stdout, logs.stderr];
      expect(await linesWithPassword(outputs, env.LOG_DIR!, [APP_PASSWORD])).toEqual([]);
      // Every command the fleet and the burst sent was allowed, but the one the check stepped aside for.
      expect(new Set((await aclLog(admin)).map((entry) => `${entry.username} ${entry.object}`))).toEqual(new Set(['app client|list']));
    } finally {
      // After a failure: a SIGKILL would leave the workers running; concurrently passes SIGTERM on.
      if (fleet.child.exitCode === null && fleet.child.signalCode === null) {
        fleet.child.kill('SIGTERM');
        await Promise.race([fleet.exit, sleep(20_000)]);
        fleet.child.kill('SIGKILL');
      }
    }
  }, 180_000);
});

/** The page's users: the queue's and the cache's apart, or one for both. */
const SETUPS: [string, Record<string, string>][] = [
  ['the queue user and the cache user, apart', { QUEUE_REDIS_URL: 'cs-queue', CACHE_REDIS_URL: 'cs-cache' }],
  ['one user for both', { REDIS_URL: 'cs-app' }],
];

/** The environment naming each documented user's URL, and their passwords. */
async function documentedEnv(users: Record<string, string>, extra: Record<string, string> = {}) {
  const named = Object.entries(users).map(([variable, user]) => [variable, documentedUser(user, 'one Redis')] as const);
  const env = await labEnv({
    ...Object.fromEntries(named.map(([variable, entry]) => [variable, url(entry.user, entry.password!)])),
    ...extra,
  });
  return { env, passwords: named.map(([, entry]) => entry.password!) };
}

/** The BullMQ scripts the server has loaded (SCRIPT EXISTS by their SHA): those some command ran. */
async function loadedBullmqScripts(): Promise<string[]> {
  const shas = [...bullmqScriptShas()];
  const exists = (await admin.call('SCRIPT', 'EXISTS', ...shas.map(([, sha]) => sha))) as number[];
  return shas.filter((_, i) => exists[i] === 1).map(([name]) => name);
}

describe('the ACL users of docs/managed-redis.md, as written', () => {
  const SIDES = [
    ['cs-cache', 'cache'],
    ['cs-queue', 'queue'],
    ['cs-app', 'app'],
  ] as const;

  it('each line names exactly the commands its side sends, one by one after -@all, and the cluster line its cluster variant', async () => {
    // The lists were read in this BullMQ: another one must be read again (documented-acl.ts).
    expect(JSON.parse(await readFile(projectPath('node_modules/bullmq/package.json'), 'utf8')).version).toBe(BULLMQ_VERSION);
    const { all } = await serverCommands(admin);
    for (const [user, side] of SIDES) {
      const line = documentedUser(user, 'one Redis');
      expect([...commandsOf(line)].sort(), line.line).toEqual([...derivedCommands(side, all)].sort());
    }
    const app = documentedUser('cs-app', 'a cluster');
    expect([...commandsOf(app)].sort()).toEqual([...clusterCommands(derivedCommands('app', all), 'app')].sort());
    expect(app.rules.filter((rule) => /^[~&]/.test(rule))).toEqual(['~cs:*', '~{bull}:*', '&cs:*']);
    for (const user of ['cs-cache', 'cs-app']) expect(demoAddition(user).rules).toEqual(['+scan', '+unlink']);
    // What each side's user may touch: its keys and channels, no more.
    expect(documentedUser('cs-cache', 'one Redis').rules.filter((rule) => /^[~&]/.test(rule))).toEqual(['~cs:*', '&cs:*']);
    expect(documentedUser('cs-queue', 'one Redis').rules.filter((rule) => /^[~&]/.test(rule))).toEqual(['~bull:*']);
  });

  it.each(SIDES)('%s: ACL DRYRUN allows exactly its line of every command this Redis knows', async (user) => {
    const { all, noAuth } = await serverCommands(admin);
    const entry = documentedUser(user, 'one Redis');
    // The arguments a command needs at least, each a key of the user's (and a channel: `cs:` for both).
    const arg = entry.rules
      .find((rule) => rule.startsWith('~'))!
      .slice(1)
      .replace('*', 'dry-run');
    const allowed: string[] = [];
    const unclear: string[] = [];
    for (const [command, arity] of all) {
      const args = command.split('|');
      while (args.length < Math.abs(arity)) args.push(arg);
      const answer = await admin.call('ACL', 'DRYRUN', user, ...args).then(String, (err: Error) => err.message);
      if (answer === 'OK') allowed.push(command);
      else if (!/no permissions to run/.test(answer)) unclear.push(`${command}: ${answer}`);
    }
    expect(unclear).toEqual([]);
    // AUTH, HELLO, QUIT and RESET: Redis lets every user run them.
    expect(allowed.sort()).toEqual([...commandsOf(entry), ...noAuth].sort());
  });

  it.each(SIDES)('%s: FUNCTION, SCRIPT FLUSH, FLUSHALL, KEYS, CONFIG, SCAN and more, sent, are refused', async (user) => {
    // Another application's function, which a user with +@write could flush (issue 23).
    await admin.call(
      'FUNCTION',
      'LOAD',
      'REPLACE',
      "#!lua name=otherapp\nredis.register_function('otherapp_ping', function() return 'pong' end)",
    );
    const dump = (await admin.callBuffer('FUNCTION', 'DUMP')) as Buffer;
    const entry = documentedUser(user, 'one Redis');
    const redis = new Redis(url(entry.user, entry.password!), { tls: { ca }, maxRetriesPerRequest: 1 });
    const refused: [string, ...(string | Buffer)[]][] = [
      ['FUNCTION', 'FLUSH'],
      ['FUNCTION', 'DELETE', 'otherapp'],
      ['FUNCTION', 'LOAD', 'REPLACE', "#!lua name=otherapp\nredis.register_function('otherapp_ping', function() return 'mine' end)"],
      ['FUNCTION', 'RESTORE', dump, 'REPLACE'],
      ['FCALL', 'otherapp_ping', '0'],
      ['SCRIPT', 'FLUSH'],
      ['SCRIPT', 'LOAD', 'return 1'],
      ['FLUSHALL'],
      ['FLUSHDB'],
      ['KEYS', '*'],
      ['SCAN', '0'],
      ['RANDOMKEY'],
      ['CONFIG', 'GET', 'maxmemory'],
      ['CONFIG', 'SET', 'maxmemory', '1'],
      ['CLIENT', 'LIST'],
      ['CLIENT', 'KILL', 'USER', 'admin'],
      ['ACL', 'LIST'],
      ['SWAPDB', '0', '1'],
      ['MOVE', 'cs:k', '1'],
      ['OBJECT', 'ENCODING', 'cs:k'],
      ['PUBSUB', 'CHANNELS'],
      ['SLOWLOG', 'GET'],
    ];
    try {
      const answers = await Promise.all(
        refused.map(([command, ...args]) =>
          redis.call(command, ...args).then(
            () => 'OK',
            (err: Error) => err.message,
          ),
        ),
      );
      expect(answers.filter((answer) => !/^NOPERM this user has no permissions to run the '[a-z|]+' command$/.test(answer))).toEqual([]);
    } finally {
      await redis.quit();
    }
    const libraries = (await admin.call('FUNCTION', 'LIST')) as unknown[][];
    expect(libraries.map((library) => library[1])).toEqual(['otherapp']);
    await admin.call('FUNCTION', 'FLUSH');
  });

  it.each(SETUPS)(
    '%s: a fleet with the L1 tier and npm run burst complete, Redis refuses nothing but the CLIENT LIST check, no password shows',
    async (_, users) => {
      // A prefix of its own under the users' `cs:*`: the keys of the runs before are not this run's.
      const prefix = `cs:${users.REDIS_URL ?? 'apart'}`;
      const { env, passwords } = await documentedEnv(users, { QUEUE_NAME: 'acl-fleet', L1_MAX_ENTRIES: '100', KEY_PREFIX: prefix });
      const fleet = spawnEntry('scripts/fleet.ts', ['--workers', '2'], env);
      try {
        await Promise.all([1, 2].map((i) => fleet.waitForLine(new RegExp(`worker-${i} ready: queue acl-fleet`))));
        const burst = await runEntry(
          'scripts/burst.ts',
          ['--jobs', '100', '--keys', '3', '--strategy', 'redis-lock', '--compute-ms', '300', '--run-id', 'acl-burst', '--json'],
          env,
        );
        expect(burst.code, burst.stderr).toBe(0);
        expect(JSON.parse(burst.stdout)).toMatchObject({ completed: 100, failed: 0, distinctValues: 3, sources: { computed: 3 } });
        fleet.child.kill('SIGINT');
        expect(await fleet.exit, fleet.output()).toBe(0);
        expect(await linesWithPassword([fleet.output(), burst.stdout, burst.stderr], env.LOG_DIR!, passwords)).toEqual([]);
      } finally {
        if (fleet.child.exitCode === null && fleet.child.signalCode === null) {
          fleet.child.kill('SIGTERM');
          await Promise.race([fleet.exit, sleep(20_000)]);
          fleet.child.kill('SIGKILL');
        }
      }
      const queueUser = users.QUEUE_REDIS_URL ?? users.REDIS_URL;
      expect(new Set((await aclLog(admin)).map((entry) => `${entry.username} ${entry.object}`))).toEqual(
        new Set([`${queueUser} client|list`]),
      );
      // The BullMQ scripts that ran are among those the lists were derived from.
      const loaded = await loadedBullmqScripts();
      expect(loaded).toEqual(expect.arrayContaining(['addStandardJob', 'moveToActive', 'moveToFinished']));
      expect(loaded.filter((name) => !(LAB_BULLMQ_SCRIPTS as readonly string[]).includes(name))).toEqual([]);
    },
    180_000,
  );

  it.each(SETUPS)(
    "%s, with the demo's addition: npm run demo completes with 1 recomputation, Redis refuses nothing, no password shows",
    async (_, users) => {
      const cacheUser = users.CACHE_REDIS_URL ?? users.REDIS_URL!;
      await applyAcl(admin, demoAddition(cacheUser));
      try {
        const { env, passwords } = await documentedEnv(users);
        const demo = await runEntry(
          'scripts/demo.ts',
          ['--workers', '2', '--jobs', '40', '--compute-ms', '300', '--strategies', 'redis-lock', '--no-warm', '--json'],
          env,
        );
        expect(demo.code, demo.stderr).toBe(0);
        const { cold } = JSON.parse(demo.stdout) as { cold: { burst: { completed: number }; logs: { recomputations: number } }[] };
        expect(cold).toMatchObject([{ burst: { completed: 40 }, logs: { recomputations: 1 } }]);
        expect(await aclLog(admin)).toEqual([]);
        expect(await linesWithPassword([demo.stdout, demo.stderr], env.LOG_DIR!, passwords)).toEqual([]);
        const loaded = await loadedBullmqScripts();
        expect(loaded.filter((name) => !(LAB_BULLMQ_SCRIPTS as readonly string[]).includes(name))).toEqual([]);
      } finally {
        await applyAcl(admin, documentedUser(cacheUser, 'one Redis'));
      }
    },
    180_000,
  );

  it('the cache user is all the library needs: every strategy, set, delete, contended locks and the L1 tier over TLS', async () => {
    const user = documentedUser('cs-cache', 'one Redis');
    const redis = new Redis(url(user.user, user.password!), { tls: { ca }, maxRetriesPerRequest: 1 });
    const other = new Redis(url(user.user, user.password!), { tls: { ca }, maxRetriesPerRequest: 1 });
    const guard = createGuard({ redis, valueTtlMs: 60_000, l1: { maxEntries: 100 } });
    const peer = createGuard({ redis: other, valueTtlMs: 60_000, l1: { maxEntries: 100 } });
    try {
      for (const strategy of STRATEGIES) {
        const key = `library-${strategy}`;
        await expect(guard.getOrCompute(key, async () => strategy, { strategy })).resolves.toEqual({ value: strategy, source: 'computed' });
        await expect(guard.getOrCompute(key, async () => 'again', { strategy })).resolves.toEqual({ value: strategy, source: 'cache' });
      }
      await guard.set('library-set', 'written');
      await expect(guard.getOrCompute('library-set', async () => 'computed')).resolves.toEqual({ value: 'written', source: 'cache' });
      await guard.delete('library-set');
      await expect(guard.getOrCompute('library-set', async () => 'computed')).resolves.toEqual({ value: 'computed', source: 'computed' });
      // A lock held by one guard, waited for by the other (its release notification), then handed on.
      const held = await guard.lock('library-lock', { ttlMs: 5000, watchdog: true });
      const waiting = peer.lock('library-lock', { ttlMs: 5000, waitMs: 10_000 });
      await sleep(100);
      await expect(held.extend()).resolves.toBe(true);
      await held.release();
      await (await waiting).release();
    } finally {
      await guard.close();
      await peer.close();
      await Promise.all([redis.quit(), other.quit()]);
    }
    // (Waiting on another holder's notification for a value ran in the fleets above.)
    expect(await aclLog(admin)).toEqual([]);
  });

  it.each(['cs-cache', 'cs-app'])(
    '%s: tags and namespaces (issue 28): tagged calls of every strategy, invalidateTags, a namespace clear, tagged reads, the L1 bus; Redis refuses nothing',
    async (name) => {
      const user = documentedUser(name, 'one Redis');
      const connect = () => new Redis(url(user.user, user.password!), { tls: { ca }, maxRetriesPerRequest: 1 });
      const [redis, other] = [connect(), connect()];
      try {
        await runTaggedCalls(redis, other, `cs:tags-${name}`);
      } finally {
        await Promise.all([redis.quit(), other.quit()]);
      }
      expect(await aclLog(admin)).toEqual([]);
    },
  );
});

describe('TLS settings: a mistake is one line naming the host and the cause', () => {
  const oneLine = (result: { code: number | string; stdout: string; stderr: string }): string => {
    expect(result.code, JSON.stringify(result)).toBe(2);
    const lines = result.stderr.split('\n').filter((line) => line.trim() !== '');
    expect(lines, result.stderr).toHaveLength(1);
    expect(result.stdout + result.stderr).not.toContain(APP_PASSWORD);
    return lines[0]!;
  };

  // Each case: what it changes in a working environment, and the line it must print.
  const cases: [string, () => Record<string, string>, RegExp][] = [
    [
      'a CA file that does not exist',
      () => ({ REDIS_TLS_CA_FILE: '/nonexistent/ca.pem' }),
      /^error: REDIS_TLS_CA_FILE: cannot read \/nonexistent\/ca\.pem: no such file$/,
    ],
    [
      'no CA: the private CA is not trusted',
      () => ({ REDIS_TLS_CA_FILE: '' }),
      /^error: cannot use Redis at 127\.0\.0\.1:\d+: TLS: the server's certificate is not signed by a CA this process trusts .*REDIS_TLS_CA_FILE$/,
    ],
    [
      'a server name the certificate does not carry',
      () => ({ REDIS_TLS_SERVERNAME: 'redis.example.com' }),
      /^error: cannot use Redis at 127\.0\.0\.1:\d+: TLS: the server's certificate is not for this host .*REDIS_TLS_SERVERNAME$/,
    ],
    [
      'redis:// to the TLS-only port',
      () => ({ REDIS_URL: url('app', APP_PASSWORD).replace('rediss:', 'redis:'), REDIS_TLS_CA_FILE: '' }),
      /^error: cannot use Redis at 127\.0\.0\.1:\d+: connection reset by the server \(a TLS-only port\? use rediss:\/\/\)$/,
    ],
    [
      'a user without INFO (+@all -@dangerous)',
      () => ({ REDIS_URL: url('noinfo', APP_PASSWORD) }),
      /^error: cannot use Redis at 127\.0\.0\.1:\d+: NOPERM .*'info'.*add \+info to the user's ACL/,
    ],
  ];
  it.concurrent.each(cases)('%s', async (_, change, expected) => {
    const env = await labEnv({ REDIS_URL: url('app', APP_PASSWORD), ...change() });
    expect(oneLine(await runEntry('scripts/burst.ts', ['--jobs', '1'], env, 60_000))).toMatch(expected);
  });

  it('REDIS_TLS_SERVERNAME: the name the certificate carries, when connecting by IP address', async () => {
    await expect(assertRedisReachable(url('app', APP_PASSWORD), { ca: ca.toString(), servername: 'localhost' })).resolves.toEqual([]);
  });
});
