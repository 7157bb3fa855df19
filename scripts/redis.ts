import { existsSync } from 'node:fs';
import { loadConfig } from './common/config.js';
import { isClusterUrl } from './redis/cluster-url.js';
import {
  describeClusterStatus,
  localClusterDir,
  localClusterStatus,
  localClusterTargets,
  startLocalCluster,
  stopLocalCluster,
} from './redis/local-cluster.js';
import { describeStatus, localTargetFromUrl, serverStatus, startLocalServer, stopLocalServer } from './redis/local-server.js';
import { intArg, newCommand, runCli } from './common/cli.js';
import { ConfigError } from './common/errors.js';

/**
 * `npm run redis -- start|stop|status [--cluster]`: a local redis-server on the REDIS_URL port,
 * data in .redis/; or, with --cluster (or when REDIS_CLUSTER_NODES names a cluster), a local
 * 3-master Redis Cluster (`--replicas N`: and N replicas of each master) on the ports of
 * REDIS_CLUSTER_NODES (default 7000 and up), data in .redis/cluster/.
 */
const EXIT_NOT_RUNNING = 3;

await runCli(async () => {
  let exitCode = 0;
  // Read lazily so `--help` works whatever the environment says.
  const redisUrl = () => loadConfig().redisUrl;
  const wantsCluster = (flag: boolean | undefined) => flag === true || isClusterUrl(redisUrl());
  const target = () => localTargetFromUrl(redisUrl());
  const clusterTargets = (replicas = 0) => localClusterTargets(redisUrl(), process.cwd(), 'REDIS_CLUSTER_NODES', replicas);
  const say = (line: string) => console.log(line);

  const program = newCommand(
    'redis',
    'a local redis-server (on the port of REDIS_URL, default 6379, data in .redis/) or a local 3-master Redis Cluster (--cluster: ports of REDIS_CLUSTER_NODES, default 7000 and up, data in .redis/cluster/)',
  );

  program
    .command('start')
    .description('start redis-server in the background (AOF on, noeviction); nothing to do when one already answers')
    .option('--cluster', 'start a Redis Cluster of 3 masters instead (created with redis-cli --cluster create), and print its nodes')
    .option(
      '--replicas <n>',
      'with --cluster: replicas per master, which take over when a master fails (default 0; 1 needs 6 nodes: 7000-7005)',
      intArg(0, 5),
    )
    .option(
      '--node-timeout <ms>',
      'with --cluster: cluster-node-timeout, how long a master may be silent before its replica takes over (default 5000)',
      intArg(100, 3_600_000),
    )
    .action(async (opts: { cluster?: boolean; replicas?: number; nodeTimeout?: number }) => {
      if (!wantsCluster(opts.cluster) && (opts.replicas !== undefined || opts.nodeTimeout !== undefined)) {
        throw new ConfigError('--replicas and --node-timeout are for a cluster: add --cluster');
      }
      if (wantsCluster(opts.cluster)) {
        const replicas = opts.replicas ?? 0;
        const targets = clusterTargets(replicas);
        const { alreadyRunning, nodes } = await startLocalCluster(targets, {
          log: say,
          replicas,
          ...(opts.nodeTimeout !== undefined && { nodeTimeoutMs: opts.nodeTimeout }),
        });
        say(`${alreadyRunning ? 'already running' : 'Redis Cluster running'}: cluster_state:ok, data in .redis/cluster/`);
        for (const line of nodes) say(`  ${line}`);
        say(`use it with: REDIS_CLUSTER_NODES=${targets.map((t) => t.where).join(',')}`);
        return;
      }
      const t = target();
      const { alreadyRunning, status } = await startLocalServer(t);
      if (alreadyRunning) say(`already running: ${describeStatus(t, status)}`);
      else say(`redis-server running on ${t.where} (pid ${status.running ? status.pid : '?'}, data in .redis/)`);
    });

  program
    .command('stop')
    .description('shut down the redis-server and the Redis Cluster started here (their data stays in .redis/)')
    .option('--cluster', 'stop only the Redis Cluster')
    .option('--force', 'stop whatever answers on the ports, even servers not started from this directory')
    .action(async (opts: { cluster?: boolean; force?: boolean }) => {
      const force = opts.force === true;
      const cluster = wantsCluster(opts.cluster);
      // Without --cluster, a cluster started here is stopped too (when there is one).
      if (cluster || existsSync(localClusterDir())) {
        const targets = clusterTargets();
        const results = await stopLocalCluster(targets, { force });
        const stopped = results.filter((r) => r.wasRunning);
        if (stopped.length > 0)
          say(`Redis Cluster stopped: ${stopped.map((r) => `${r.target.where}${r.pid ? ` (pid ${r.pid})` : ''}`).join(', ')}`);
        else if (cluster) say(`no Redis Cluster running on ${targets.map((t) => t.where).join(', ')}`);
      }
      if (cluster) return;
      const t = target();
      const { wasRunning, pid } = await stopLocalServer(t, { force });
      say(wasRunning ? `redis-server on ${t.where} stopped${pid ? ` (pid ${pid})` : ''}` : `no redis-server running on ${t.where}`);
    });

  program
    .command('status')
    .description(`say whether a redis-server (or the cluster) answers; exit code 0 when it does, ${EXIT_NOT_RUNNING} when not`)
    .option('--cluster', 'report the Redis Cluster only; exit code 0 only when cluster_state is ok')
    .action(async (opts: { cluster?: boolean }) => {
      const cluster = wantsCluster(opts.cluster);
      if (cluster || existsSync(localClusterDir())) {
        const targets = clusterTargets();
        const status = await localClusterStatus(targets);
        say(describeClusterStatus(targets, status));
        if (cluster && status.state !== 'ok') exitCode = EXIT_NOT_RUNNING;
      }
      if (cluster) return;
      const t = target();
      const status = await serverStatus(t);
      say(describeStatus(t, status));
      if (!status.running) exitCode = EXIT_NOT_RUNNING;
    });

  await program.parseAsync(process.argv);
  return exitCode;
});
