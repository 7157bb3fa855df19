import type { Redis } from 'ioredis';
import { connect } from './redis.js';
import { deferred } from './wait.js';

/**
 * Resolves once `client` has run `scripts` Lua scripts (EVALSHA or EVAL), as the server's
 * MONITOR sees them. A waiter claims once on its miss and once more after its SUBSCRIBE is
 * confirmed, so after its second script it is parked for a message: a test that fails the
 * holder then knows the waiter hears of it. Watching for the subscription alone (PUBSUB NUMSUB)
 * leaves a race: a holder that gives up before the second claim has its lock taken by it.
 * Call before the waiter starts; the returned promise ends the MONITOR connection either way.
 */
export async function afterScripts(client: Redis, scripts: number, timeoutMs = 20_000): Promise<() => Promise<void>> {
  const id = await client.client('ID');
  const monitorClient = connect();
  const list = String(await monitorClient.client('LIST', 'ID', String(id)));
  const addr = /\baddr=(\S+)/.exec(list)?.[1];
  if (!addr) throw new Error(`no address for client ${id}: ${list}`);
  const monitor = await monitorClient.monitor();
  const reached = deferred();
  let seen = 0;
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (source === addr && /^eval(sha)?$/i.test(String(args[0])) && ++seen >= scripts) reached.resolve();
  });
  return async () => {
    const timer = setTimeout(
      () => reached.reject(new Error(`client ${addr} ran ${seen} of ${scripts} scripts in ${timeoutMs} ms`)),
      timeoutMs,
    );
    try {
      await reached.promise;
    } finally {
      clearTimeout(timer);
      monitor.disconnect();
      monitorClient.disconnect();
    }
  };
}
