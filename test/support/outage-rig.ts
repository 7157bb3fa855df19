import { Redis } from 'ioredis';
import { subscribeEvents, type GuardEvent } from '../../src/events.js';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../scripts/redis/redis-server.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';
import { waitUntil } from './wait.js';

/** The three ways a Redis goes away: it refuses (killed), it stops answering (paused), the network drops everything (blackholed). */
export const OUTAGES = ['killed', 'paused', 'blackholed'] as const;
export type OutageKind = (typeof OUTAGES)[number];

/**
 * A private redis-server that a test can take away and bring back, the real way: SIGKILL and a
 * new server on the same port, SIGSTOP and SIGCONT, or a TCP proxy in front of it that stops
 * passing bytes. Guards connect to `url`; `direct` always reaches the server (when it runs).
 */
export interface OutageRig {
  readonly kind: OutageKind;
  readonly url: string;
  /** host:port as the guard's gate names the node behind `url`. */
  readonly node: string;
  /** A client on the server itself, not through the proxy: the rest of the fleet in a partition. */
  readonly direct: Redis;
  /** Take the server away (no-op when it is away). */
  down(): Promise<void>;
  /** Bring it back (no-op when it is there), resolving once it answers. */
  up(): Promise<void>;
  /** The guard events of this rig's node (redis.unavailable / redis.available) so far. */
  transitions(): GuardEvent[];
  stop(): Promise<void>;
}

export async function startOutageRig(kind: OutageKind): Promise<OutageRig> {
  let server: EmbeddedRedis = await startEmbeddedRedis({ log: () => {} });
  const port = server.port;
  const proxy: TcpProxy | null = kind === 'blackholed' ? await startTcpProxy({ host: '127.0.0.1', port }) : null;
  const url = proxy?.url ?? server.url;
  const node = `127.0.0.1:${proxy?.port ?? port}`;
  const direct = new Redis(server.url, { maxRetriesPerRequest: null, lazyConnect: true });
  direct.on('error', () => {});
  await direct.connect();
  const seen: GuardEvent[] = [];
  const unsubscribe = subscribeEvents((event) => {
    if ((event.event === 'redis.unavailable' || event.event === 'redis.available') && event.fields.node === node) seen.push(event);
  });
  let isDown = false;

  return {
    kind,
    url,
    node,
    direct,
    async down() {
      if (isDown) return;
      isDown = true;
      if (kind === 'killed') process.kill(server.pid, 'SIGKILL');
      else if (kind === 'paused') process.kill(server.pid, 'SIGSTOP');
      else proxy!.blackhole();
    },
    async up() {
      if (!isDown) return;
      isDown = false;
      if (kind === 'killed') {
        await server.stop();
        server = await startEmbeddedRedis({ port, log: () => {} });
      } else if (kind === 'paused') process.kill(server.pid, 'SIGCONT');
      else proxy!.heal();
      await waitUntil('the server answers', async () => (await direct.ping().catch(() => '')) === 'PONG');
    },
    transitions: () => [...seen],
    async stop() {
      unsubscribe();
      if (isDown && kind === 'paused') process.kill(server.pid, 'SIGCONT');
      direct.disconnect();
      await proxy?.close();
      await server.stop();
    },
  };
}

/** A client as BullMQ asks for them (`maxRetriesPerRequest: null`: it queues a command as long as Redis is away), counting what it sends. */
export function countingClient(url: string): { redis: Redis; sent: string[] } {
  const redis = new Redis(url, { maxRetriesPerRequest: null });
  redis.on('error', () => {});
  const sent: string[] = [];
  const send = redis.sendCommand.bind(redis);
  redis.sendCommand = ((command: { name: string }, ...rest: unknown[]) => {
    sent.push(command.name);
    return (send as (...args: unknown[]) => unknown)(command, ...rest);
  }) as typeof redis.sendCommand;
  return { redis, sent };
}

/** How one call ended, and how long it took. */
export interface Settled {
  ok: boolean;
  value?: unknown;
  source?: string;
  code?: string;
  ms: number;
}

/** Run `call` and say how it ended and when: a rejection is a result here, with its code. */
export async function timed(call: () => Promise<{ value: unknown; source: string }>): Promise<Settled> {
  const started = performance.now();
  try {
    const { value, source } = await call();
    return { ok: true, value, source, ms: performance.now() - started };
  } catch (err) {
    return { ok: false, code: (err as { code?: string }).code, ms: performance.now() - started };
  }
}
