import { loadConfig } from '../src/config.js';
import {
  describeStatus,
  localTargetFromUrl,
  serverStatus,
  startLocalServer,
  stopLocalServer,
} from '../src/redis/local-server.js';
import { newCommand, runCli } from './cli.js';

/** `npm run redis -- start|stop|status`: a local redis-server on the REDIS_URL port, data in .redis/. */
const EXIT_NOT_RUNNING = 3;

await runCli(async () => {
  let exitCode = 0;
  // Read lazily so `--help` works whatever the environment says.
  const target = () => localTargetFromUrl(loadConfig().redisUrl);

  const program = newCommand(
    'redis',
    'a local redis-server for fleet and burst sessions, on the port of REDIS_URL (default redis://127.0.0.1:6379), data in .redis/',
  );

  program
    .command('start')
    .description('start redis-server in the background (AOF on, noeviction); nothing to do when one already answers')
    .action(async () => {
      const t = target();
      const { alreadyRunning, status } = await startLocalServer(t);
      if (alreadyRunning) console.log(`already running: ${describeStatus(t, status)}`);
      else console.log(`redis-server running on ${t.where} (pid ${status.running ? status.pid : '?'}, data in .redis/)`);
    });

  program
    .command('stop')
    .description('shut down the redis-server started here (its data stays in .redis/)')
    .option('--force', 'stop whatever redis-server answers on the port, even one not started from this directory')
    .action(async (opts: { force?: boolean }) => {
      const t = target();
      const { wasRunning, pid } = await stopLocalServer(t, { force: opts.force === true });
      console.log(wasRunning ? `redis-server on ${t.where} stopped${pid ? ` (pid ${pid})` : ''}` : `no redis-server running on ${t.where}`);
    });

  program
    .command('status')
    .description(`say whether a redis-server answers on the port; exit code 0 when it does, ${EXIT_NOT_RUNNING} when not`)
    .action(async () => {
      const t = target();
      const status = await serverStatus(t);
      console.log(describeStatus(t, status));
      if (!status.running) exitCode = EXIT_NOT_RUNNING;
    });

  await program.parseAsync(process.argv);
  return exitCode;
});
