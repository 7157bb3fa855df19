import { connect as connectTcp } from 'node:net';
import type { Redis } from 'ioredis';
import { connect, redisUrl } from './redis.js';
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
 *
 * MONITOR is read from a plain socket: an ioredis client that is disconnected while monitor
 * lines are still arriving throws "Command queue state error" from its socket handler.
 */
export async function afterScripts(client: Redis, scripts: number, timeoutMs = 20_000): Promise<(() => Promise<void>) & { stop(): void }> {
  const id = await client.client('ID');
  const lister = connect();
  const list = String(await lister.client('LIST', 'ID', String(id)));
  lister.disconnect();
  const addr = /\baddr=(\S+)/.exec(list)?.[1];
  if (!addr) throw new Error(`no address for client ${id}: ${list}`);

  const { hostname, port } = new URL(redisUrl());
  const socket = connectTcp(Number(port), hostname);
  socket.on('error', () => {});
  const monitoring = deferred();
  const reached = deferred();
  let seen = 0;
  let buffered = '';
  socket.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('latin1');
    const lines = buffered.split('\r\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      if (line === '+OK') monitoring.resolve();
      // +1796157121.913675 [0 127.0.0.1:56210] "evalsha" "..."
      const match = /^\+[\d.]+ \[\d+ (\S+)\] "([^"]+)"/.exec(line);
      if (match?.[1] === addr && match[2]!.toLowerCase() === 'evalsha' && ++seen >= scripts) reached.resolve();
    }
  });
  socket.write('MONITOR\r\n');
  await monitoring.promise;

  const stop = () => socket.destroy();
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
