/**
 * rediss+cluster://: a Redis Cluster of 3 TLS-only masters (the cluster bus over TLS too), the
 * `default` user off and docs/managed-redis.md's cluster user on every node, exactly as written.
 * A fleet of real worker processes and `npm run burst` run through it with the CA through
 * REDIS_TLS_CA_FILE; every node's ACL LOG then shows what it refused.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { REDIS_NAMED_BY_URL } from '../scripts/demo/fleet-env.js';
import { startFleet } from '../scripts/fleet/fleet.js';
import { waitForWorkers } from '../scripts/fleet/wait-ready.js';
import { startEmbeddedCluster, type EmbeddedCluster } from '../scripts/redis/redis-cluster.js';
import { readLogs, summarizeAsync } from '../scripts/report/index.js';
import { recordKey } from '../src/cache/tags.js';
import { keySlot } from '../src/redis/key-slot.js';
import { createRedisClient } from '../scripts/redis/connection.js';
import { aclLog, applyAcl, documentedAcl, documentedUser } from './support/documented-acl.js';
import { TAGS, runTaggedCalls } from './support/tagged-calls.js';
import { makeTestCertificates, type TestCertificates } from './support/tls-certs.js';
import { runEntry } from './support/worker-process.js';

const ADMIN_PASSWORD = 'cluster-admin-pw';

let certs: TestCertificates;
let cluster: EmbeddedCluster;
/** One admin connection per node: ACLs and their logs are per node. */
let admins: Redis[] = [];
let logDir: string;

beforeAll(async () => {
  certs = await makeTestCertificates();
  cluster = await startEmbeddedCluster({ tls: certs });
  const ca = await readFile(certs.caFile);
  const user = documentedUser('cs-app', 'a cluster');
  const defaultOff = documentedAcl().find((entry) => entry.user === 'default')!;
  admins = await Promise.all(
    cluster.servers.map(async (server) => {
      const setup = new Redis(server.url, { tls: { ca }, maxRetriesPerRequest: 1 });
      await setup.acl('SETUSER', 'admin', 'on', `>${ADMIN_PASSWORD}`, '~*', '&*', '+@all');
      await setup.quit();
      const admin = new Redis(server.url.replace('rediss://', `rediss://admin:${ADMIN_PASSWORD}@`), {
        tls: { ca },
        maxRetriesPerRequest: 1,
      });
      await applyAcl(admin, user);
      await applyAcl(admin, defaultOff);
      await admin.acl('LOG', 'RESET');
      return admin;
    }),
  );
  logDir = await mkdtemp(join(tmpdir(), 'cs-managed-cluster-'));
}, 60_000);

afterAll(async () => {
  await Promise.all(admins.map((admin) => admin.quit()));
  await cluster?.stop();
  await certs?.remove();
  await rm(logDir, { recursive: true, force: true });
});

it('a fleet and npm run burst over rediss+cluster:// as the documented user: one recomputation per key, no password anywhere', async () => {
  const user = documentedUser('cs-app', 'a cluster');
  const nodes = cluster.nodes.map((node) => `${node.host}:${node.port}`).join(',');
  const env = {
    ...REDIS_NAMED_BY_URL,
    REDIS_URL: `rediss+cluster://${user.user}:${user.password}@${nodes}`,
    QUEUE_REDIS_URL: '',
    CACHE_REDIS_URL: '',
    REDIS_TLS_CA_FILE: certs.caFile,
    REDIS_TLS_SERVERNAME: '',
    NODE_EXTRA_CA_CERTS: '',
    LOG_DIR: logDir,
    QUEUE_NAME: 'tls-cluster',
  };
  let fleetOutput = '';
  const output = new PassThrough();
  output.on('data', (chunk: Buffer) => (fleetOutput += chunk.toString('utf8')));
  const fleet = startFleet({ workers: 3, env, outputStream: output });
  let burst: Awaited<ReturnType<typeof runEntry>>;
  try {
    await waitForWorkers(fleet, 3, { timeoutMs: 90_000 });
    burst = await runEntry(
      'scripts/burst.ts',
      ['--jobs', '150', '--keys', '6', '--strategy', 'redis-lock', '--compute-ms', '500', '--run-id', 'tls-cluster', '--json'],
      env,
    );
  } finally {
    const exits = await fleet.stop('SIGTERM');
    expect(
      exits.map((exit) => exit.exitCode),
      fleetOutput,
    ).toEqual([0, 0, 0]);
  }
  expect(burst.code, burst.stderr).toBe(0);
  expect(JSON.parse(burst.stdout)).toMatchObject({ completed: 150, failed: 0, distinctValues: 6, sources: { computed: 6 } });
  expect(burst.stderr).toMatch(/^note: not checking for workers on queue tls-cluster: Redis refused CLIENT LIST \(NOPERM/m);

  const report = await summarizeAsync(readLogs([logDir]), { runId: 'tls-cluster', by: ['key'] });
  expect(report.groups.map((group) => group.recomputations)).toEqual([1, 1, 1, 1, 1, 1]);

  // Each node refused the burst's CLIENT LIST (it asks every node), and nothing else.
  for (const admin of admins) {
    expect(new Set((await aclLog(admin)).map((entry) => `${entry.username} ${entry.object}`))).toEqual(new Set(['cs-app client|list']));
  }

  const files = (await readdir(logDir)).filter((name) => name.endsWith('.ndjson'));
  const logLines = (await Promise.all(files.map((name) => readFile(join(logDir, name), 'utf8')))).flatMap((text) => text.split('\n'));
  expect(logLines.length).toBeGreaterThan(files.length);
  const lines = [...logLines, ...fleetOutput.split('\n'), ...burst.stdout.split('\n'), ...burst.stderr.split('\n')];
  expect(lines.filter((line) => line.includes(user.password!))).toEqual([]);
}, 180_000);

it('the library as the documented user: tags and namespaces (issue 28), their records on all three masters; no node refuses anything', async () => {
  await Promise.all(admins.map((admin) => admin.acl('LOG', 'RESET')));
  const user = documentedUser('cs-app', 'a cluster');
  const nodes = cluster.nodes.map((node) => `${node.host}:${node.port}`).join(',');
  const url = `rediss+cluster://${user.user}:${user.password}@${nodes}`;
  const keyPrefix = 'cs:tags-cluster';
  // Each master holds some of the tags' records: each one's ACL meets the invalidation script and the MGET.
  const owners = (await admins[0]!.cluster('SLOTS')).map(([from, to]) => ({ from, to }));
  const ownerOf = (name: string) => owners.findIndex((o) => keySlot(name) >= o.from && keySlot(name) <= o.to);
  expect(new Set(TAGS.map((tag) => ownerOf(recordKey(keyPrefix, `tag:${tag}`)))).size).toBe(3);
  const ca = await readFile(certs.caFile, 'utf8');
  const [redis, other] = [createRedisClient(url, 'cache', { ca }), createRedisClient(url, 'cache', { ca })];
  try {
    await runTaggedCalls(redis, other, keyPrefix);
  } finally {
    await Promise.all([redis.quit(), other.quit()]);
  }
  for (const admin of admins) expect(await aclLog(admin)).toEqual([]);
}, 60_000);
