/**
 * The lab on node-redis (REDIS_CLIENT=node-redis, issue 29): `npm run fleet` of 2 real worker
 * processes and `npm run burst`, BullMQ's queue and workers and the guard all on node-redis
 * connections, against a managed-style Redis: TLS only (rediss:// with the CA by
 * REDIS_TLS_CA_FILE), an ACL user with a password, database 3 named in the URL. A burst on one
 * key under redis-lock is computed once across both processes, counted from the workers' logs as
 * fleet-e2e counts it. And the ways it must refuse: a REDIS_CLIENT that is no client, node-redis
 * on a cluster, a Redis that is not there; each one line and a non-zero exit.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BurstSummary } from '../scripts/burst/burst.js';
import { RedisConnectionError } from '../scripts/common/errors.js';
import { closeNodeRedis, connectNodeRedis } from '../scripts/redis/node-redis-connection.js';
import { startEmbeddedRedis, type EmbeddedRedis } from '../scripts/redis/redis-server.js';
import { closedPort } from './support/ports.js';
import { makeTestCertificates, type TestCertificates } from './support/tls-certs.js';
import { parseLines, readLogDir, runEntry, spawnEntry, type LabProcess, type LogFile } from './support/worker-process.js';

const WORKERS = 2;
const JOBS = 100;
// Long enough that the burst's jobs are in flight on both workers before the computation ends.
const COMPUTE_MS = 800;
const DB = 3;
/** A password no other text contains, so that a leak into an output or a log cannot hide. */
const PASSWORD = `pw-${randomBytes(6).toString('hex')}`;

let certs: TestCertificates;
let server: EmbeddedRedis;
/** As the ACL user, in database 3: what the lab's connections must reach. */
let admin: Redis;

/** `rediss://app:<password>@127.0.0.1:<port>/3` of the TLS-only server. */
const appUrl = () => `rediss://app:${PASSWORD}@127.0.0.1:${server.port}/${DB}`;

/** The environment of every command: this Redis alone, by URL, its CA by file, node-redis. */
const labEnv = (extra: Record<string, string>): Record<string, string> => ({
  REDIS_CLIENT: 'node-redis',
  REDIS_URL: appUrl(),
  QUEUE_REDIS_URL: '',
  CACHE_REDIS_URL: '',
  REDIS_CLUSTER_NODES: '',
  QUEUE_REDIS_CLUSTER_NODES: '',
  CACHE_REDIS_CLUSTER_NODES: '',
  REDIS_TLS_CA_FILE: certs.caFile,
  REDIS_TLS_SERVERNAME: '',
  NODE_EXTRA_CA_CERTS: '',
  COMPUTE_MODULE: '',
  METRICS_PORT: '',
  ...extra,
});

beforeAll(async () => {
  certs = await makeTestCertificates();
  server = await startEmbeddedRedis({ tls: certs });
  const ca = await readFile(certs.caFile);
  const setup = new Redis(server.url, { tls: { ca }, maxRetriesPerRequest: 1 });
  await setup.acl('SETUSER', 'app', 'on', `>${PASSWORD}`, '~*', '&*', '+@all');
  // Only the user with a password from here on: a connection that lost its credentials fails.
  await setup.acl('SETUSER', 'default', 'off');
  await setup.quit();
  admin = new Redis(appUrl(), { tls: { ca }, maxRetriesPerRequest: 1 });
}, 60_000);

afterAll(async () => {
  await admin?.quit();
  await server?.stop();
  await certs?.remove();
});

describe('a node-redis connection of the lab', () => {
  it("reaches the URL's user and database over TLS, in RESP2, named for its role", async () => {
    const client = await connectNodeRedis(appUrl(), 'cache', { caFile: certs.caFile, ca: await readFile(certs.caFile, 'utf8') });
    try {
      const info = String(await client.sendCommand(['CLIENT', 'INFO']));
      expect(info).toMatch(/ name=cache-stampede:cache /);
      expect(info).toMatch(/ user=app /);
      expect(info).toMatch(new RegExp(` db=${DB} `));
      expect(info).toMatch(/ resp=2/);
    } finally {
      await closeNodeRedis(client);
    }
  });

  it('fails at once with one line naming host and cause: nothing on the port, a wrong password, an untrusted certificate', async () => {
    const port = await closedPort();
    const refused = connectNodeRedis(`redis://127.0.0.1:${port}`, 'cache');
    await expect(refused).rejects.toBeInstanceOf(RedisConnectionError);
    await expect(refused).rejects.toThrow(
      `cannot use Redis at 127.0.0.1:${port}: connection refused (is redis-server running on that port?)`,
    );

    const ca = { caFile: certs.caFile, ca: await readFile(certs.caFile, 'utf8') };
    await expect(connectNodeRedis(`rediss://app:wrong@127.0.0.1:${server.port}`, 'producer', ca)).rejects.toThrow(
      `cannot use Redis at 127.0.0.1:${server.port}: wrong password (or user name, or the user is disabled)`,
    );
    // Without the CA: Node's own list does not trust the test CA.
    await expect(connectNodeRedis(appUrl(), 'producer')).rejects.toThrow(
      /^cannot use Redis at 127\.0\.0\.1:\d+: TLS: the server's certificate is not signed by a CA this process trusts/,
    );
  });
});

describe(`npm run fleet -- --workers ${WORKERS} and npm run burst on node-redis (TLS, ACL user, database ${DB})`, () => {
  const tag = `t-fleet-node-redis-${randomBytes(4).toString('hex')}`;
  const queueName = `q-${tag}`;
  const runId = `${tag}-redis-lock`;
  let logDir = '';
  let fleet: LabProcess | undefined;
  let fleetExit: number | string | undefined;
  let burst: { code: number | string; stdout: string; stderr: string };
  let summary: BurstSummary;
  let queueKeysInDb: string[] = [];
  /** CLIENT LIST once every worker is ready, before any job: name, user and db of each connection. */
  let atStart: { name: string; user: string; db: string }[] = [];
  let files: LogFile[] = [];
  let records: Record<string, unknown>[] = [];

  beforeAll(async () => {
    logDir = await mkdtemp(join(tmpdir(), 'cs-fleet-node-redis-'));
    const env = labEnv({ LOG_DIR: logDir, QUEUE_NAME: queueName, KEY_PREFIX: tag, LOG_LEVEL: 'info' });
    fleet = spawnEntry('scripts/fleet.ts', ['--workers', String(WORKERS), '--concurrency', '20'], env);
    try {
      for (let i = 1; i <= WORKERS; i++) await fleet.waitForLine(new RegExp(`worker-${i} ready: `), 90_000);
      atStart = String(await admin.client('LIST'))
        .trim()
        .split('\n')
        .map((line) => Object.fromEntries(line.split(' ').map((field) => field.split('=', 2))))
        .map(({ name, user, db }) => ({ name, user, db }));
      burst = await runEntry(
        'scripts/burst.ts',
        [
          '--jobs',
          String(JOBS),
          '--keys',
          '1',
          '--strategy',
          'redis-lock',
          '--compute-ms',
          String(COMPUTE_MS),
          '--run-id',
          runId,
          '--json',
        ],
        env,
      );
      summary = JSON.parse(burst.stdout) as BurstSummary;
      queueKeysInDb = await admin.keys(`bull:${queueName}:*`);
    } finally {
      fleet.child.kill('SIGTERM');
      fleetExit = await fleet.exit;
    }
    files = await readLogDir(logDir);
    records = parseLines(files);
  }, 240_000);

  afterAll(async () => {
    // Only reached with a running fleet when beforeAll failed before stopping it.
    if (fleet && fleetExit === undefined) fleet.child.kill('SIGKILL');
    if (logDir && !process.env.KEEP_TEST_LOGS) await rm(logDir, { recursive: true, force: true });
  });

  it('every worker said it runs on node-redis, and stopped cleanly', () => {
    const output = fleet!.output();
    expect(output).toMatch(/^starting 2 workers on queue \S+ at 127\.0\.0\.1:\d+ \(node-redis\), /m);
    for (let i = 1; i <= WORKERS; i++)
      expect(output).toMatch(new RegExp(`worker-${i} ready: queue ${queueName} .*, client node-redis$`, 'm'));
    expect(fleetExit, output).toBe(0);
    expect(output).toContain(`fleet stopped: ${WORKERS} of ${WORKERS} workers exited cleanly`);
    expect(files.map((f) => f.lines.at(-1))).toEqual(files.map(() => expect.stringContaining('"event":"worker.stopped"')));
  });

  it("each worker opened its node-redis connections at start: queue, cache, and the guard's subscriber", () => {
    // The subscriber tells the libraries apart: on ioredis the guard duplicates the cache
    // connection for it on its first wait (none yet here); on node-redis the worker opens it
    // at start and hands it to the guard, connected.
    const named = (name: string) => atStart.filter((c) => c.name === name);
    for (const name of ['cache-stampede:worker', 'cache-stampede:cache', 'cache-stampede:subscriber']) {
      expect(named(name), JSON.stringify(atStart)).toEqual(Array.from({ length: WORKERS }, () => ({ name, user: 'app', db: String(DB) })));
    }
  });

  it(`the burst's ${JOBS} jobs completed with one value, computed once across both processes`, () => {
    expect(burst.code, burst.stderr).toBe(0);
    expect(summary).toMatchObject({ jobs: JOBS, completed: JOBS, failed: 0, notEnqueued: 0, timedOut: false, distinctValues: 1 });
    expect(summary.sources.computed).toBe(1);
    const recomputes = records.filter((r) => r.event === 'recompute.start' && r.runId === runId);
    expect(recomputes).toHaveLength(1);
    const completedBy = new Set(records.filter((r) => r.event === 'job.completed' && r.runId === runId).map((r) => r.workerId));
    expect([...completedBy].sort()).toEqual(['worker-1', 'worker-2']);
  });

  it(`the queue lives in database ${DB} of the URL, and no output or log line holds the password`, async () => {
    expect(queueKeysInDb.length).toBeGreaterThan(0);
    const written = await Promise.all(
      (await readdir(logDir, { recursive: true, withFileTypes: true }))
        .filter((entry) => entry.isFile())
        .map((entry) => readFile(join(entry.parentPath, entry.name), 'utf8')),
    );
    const texts = [fleet!.output(), burst.stdout, burst.stderr, ...written];
    expect(texts.flatMap((t) => t.split('\n')).filter((line) => line.includes(PASSWORD))).toEqual([]);
  });
});

describe('refused with one line and a non-zero exit', () => {
  /** The command's whole output, which must be exactly one line on stderr. */
  const oneLine = (result: { code: number | string; stdout: string; stderr: string }) => {
    expect(result.stdout).toBe('');
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    return result.stderr.trimEnd();
  };

  it('a REDIS_CLIENT that is neither client: the worker and the fleet (which starts no worker)', async () => {
    const [worker, fleet] = await Promise.all([
      runEntry('workers/worker.ts', [], labEnv({ REDIS_CLIENT: 'redis-py' })),
      runEntry('scripts/fleet.ts', ['--workers', '2'], labEnv({ REDIS_CLIENT: 'ioredis6' })),
    ]);
    expect(oneLine(worker)).toBe('error: REDIS_CLIENT must be one of ioredis, node-redis; got "redis-py"');
    expect(worker.code).toBe(2);
    expect(oneLine(fleet)).toBe('error: REDIS_CLIENT must be one of ioredis, node-redis; got "ioredis6"');
    expect(fleet.code).toBe(2);
  }, 60_000);

  it('node-redis on a Redis Cluster: BullMQ cannot', async () => {
    const burst = await runEntry(
      'scripts/burst.ts',
      ['--jobs', '1'],
      labEnv({ REDIS_URL: '', REDIS_CLUSTER_NODES: '127.0.0.1:7000,127.0.0.1:7001', REDIS_TLS_CA_FILE: '' }),
    );
    expect(oneLine(burst)).toBe(
      "error: REDIS_CLIENT=node-redis runs on a single Redis only (BullMQ has no node-redis cluster support), but the queue's Redis is a Redis Cluster (cluster 127.0.0.1:7000,127.0.0.1:7001); use REDIS_CLIENT=ioredis for a cluster",
    );
    expect(burst.code).toBe(2);
  }, 60_000);

  it('node-redis and nothing on the port: the worker names host and cause', async () => {
    const port = await closedPort();
    const worker = await runEntry('workers/worker.ts', [], labEnv({ REDIS_URL: `redis://127.0.0.1:${port}`, REDIS_TLS_CA_FILE: '' }));
    expect(oneLine(worker)).toBe(
      `error: cannot use Redis at 127.0.0.1:${port}: connection refused (is redis-server running on that port?)`,
    );
    expect(worker.code).toBe(2);
  }, 60_000);
});
