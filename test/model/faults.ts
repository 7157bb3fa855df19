/**
 * The faults a program injects, and the server they are injected into.
 *
 * The checker runs its own redis-server, not the test suite's shared one: `CLIENT KILL TYPE pubsub`
 * kills every pub/sub connection of the server and `DEBUG SLEEP` stops every client, so on the
 * shared server they would hit the test files running alongside. DEBUG is refused unless the server
 * enables it (`enable-debug-command`), which this one does for local connections.
 */
import { Redis } from 'ioredis';
import { type EmbeddedRedis, startEmbeddedRedis } from '../../scripts/redis/redis-server.js';

export function startModelRedis(): Promise<EmbeddedRedis> {
  return startEmbeddedRedis({ extraArgs: ['--enable-debug-command', 'local'] });
}

/** An admin connection of the checker (never killed by CLIENT KILL TYPE pubsub: it is a normal client). */
export function adminConnection(url: string, name: string): Redis {
  return new Redis(url, { connectionName: `model:${name}`, maxRetriesPerRequest: null });
}

/** Drop every pub/sub connection of the server (every guard's subscriber); ioredis reconnects them. */
export async function killSubscribers(admin: Redis): Promise<number> {
  return Number(await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub'));
}

/** The whole server stops answering for `ms`: every client's commands wait. */
export async function pauseServer(admin: Redis, ms: number): Promise<void> {
  await admin.call('DEBUG', 'SLEEP', String(ms / 1000));
}

export interface ClientInfo {
  id: number;
  name: string;
  flags: string;
}

export async function clientList(admin: Redis): Promise<ClientInfo[]> {
  const text = String(await admin.call('CLIENT', 'LIST'));
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const fields = new Map(line.split(' ').map((pair) => pair.split('=', 2) as [string, string]));
      return { id: Number(fields.get('id')), name: fields.get('name') ?? '', flags: fields.get('flags') ?? '' };
    });
}
