import type { Redis } from 'ioredis';
import { connect } from './redis.js';
import { deferred } from './wait.js';

/**
 * Resolves once `client` has run `scripts` Lua scripts, as the server's MONITOR sees them: each
 * run starts with one EVALSHA (an EVAL follows only when the script was not cached), so EVALSHAs
 * are what is counted. A waiter claims once on its miss and once more after its SUBSCRIBE is
 * confirmed, so after its second script it is parked for a message: a test that fails the
 * holder then knows the waiter hears of it. Watching for the subscription alone (PUBSUB NUMSUB)
 * leaves a race: a holder that gives up before the second claim has its lock taken by it.
 * Call before the waiter starts; awaiting the returned function ends the MONITOR connection
 * either way, and `stop()` ends it for a watch no longer needed.
 */
export async function afterScripts(client: Redis, scripts: number, timeoutMs = 20_000): Promise<(() => Promise<void>) & { stop(): void }> {
  const id = await client.client('ID');
  const monitorClient = connect();
  const list = String(await monitorClient.client('LIST', 'ID', String(id)));
  const addr = /\baddr=(\S+)/.exec(list)?.[1];
  if (!addr) throw new Error(`no address for client ${id}: ${list}`);
  const monitor = await monitorClient.monitor();
  const reached = deferred();
  let seen = 0;
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (source === addr && String(args[0]).toLowerCase() === 'evalsha' && ++seen >= scripts) reached.resolve();
  });
  const stop = () => {
    monitor.disconnect();
    monitorClient.disconnect();
  };
  const wait = async () => {
    const timer = setTimeout(
      () => reached.reject(new Error(`client ${addr} ran ${seen} of ${scripts} scripts in ${timeoutMs} ms`)),
      timeoutMs,
    );
    try {
      await reached.promise;
    } finally {
      clearTimeout(timer);
      stop();
    }
  };
  return Object.assign(wait, { stop });
}
