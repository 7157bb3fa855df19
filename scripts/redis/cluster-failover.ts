import { setTimeout as delay } from 'node:timers/promises';
import { replicationInfo } from './cluster-state.js';
import { RespErrorReply, sendCommands, type ProbeTarget } from './probe.js';
import type { EmbeddedRedis } from './redis-server.js';

/**
 * Failing a local cluster's master over on purpose, for the tests and the faults: which node
 * owns a key, kill it (SIGKILL: no goodbye, as a crashed host) or hand its slots to its replica
 * (`CLUSTER FAILOVER`, a planned switch-over), and wait until the cluster is ok again with the
 * slot on another node. Through the small RESP probe, not ioredis: the state read here must not
 * depend on the client whose behaviour is being measured.
 */

export interface Shard {
  slot: number;
  /** The slot ranges of the shard (`5461-10922`): they stay while its master changes. */
  ranges: string;
  master: EmbeddedRedis;
  replicas: EmbeddedRedis[];
}

const target = (server: EmbeddedRedis): ProbeTarget => ({ host: '127.0.0.1', port: server.port });

/** The shard that owns `name`'s slot now. */
export async function shardOf(servers: readonly EmbeddedRedis[], name: string): Promise<Shard> {
  for (const server of servers) {
    const [slot] = await sendCommands(target(server), [['CLUSTER', 'KEYSLOT', name]]).catch(() => []);
    if (typeof slot !== 'number') continue;
    const shard = await shardOfSlot(servers, slot);
    if (shard) return shard;
  }
  throw new Error(`no node of the cluster says who owns ${name}`);
}

/** The shard that owns `slot`, as the first node of `asked` that answers sees it; null when none says. */
export async function shardOfSlot(servers: readonly EmbeddedRedis[], slot: number, asked = servers): Promise<Shard | null> {
  for (const server of asked) {
    const [nodes] = await sendCommands(target(server), [['CLUSTER', 'NODES']]).catch(() => []);
    if (typeof nodes !== 'string') continue;
    // <id> <ip:port@bus> <flags> <master id> <ping> <pong> <epoch> <link> <slot ranges...>
    const lines = nodes
      .trim()
      .split('\n')
      .map((line) => line.split(' '));
    const serverAt = (address = '') => servers.find((s) => `127.0.0.1:${s.port}` === address.split('@')[0]);
    const owner = lines.find(
      ([, , flags = '', , , , , , ...ranges]) =>
        flags.includes('master') &&
        !/\bfail\b/.test(flags) &&
        ranges.some((range) => {
          const [from = -1, to = from] = range.split('-').map(Number);
          return slot >= from && slot <= to;
        }),
    );
    const master = serverAt(owner?.[1]);
    if (!owner || !master) return null;
    const replicas = lines.filter(([, , , of]) => of === owner[0]).flatMap(([, address]) => serverAt(address) ?? []);
    return { slot, ranges: owner.slice(8).join(' '), master, replicas };
  }
  return null;
}

/** SIGKILL a node: it stops answering at once, without closing anything. */
export function killNode(server: EmbeddedRedis): void {
  process.kill(server.pid, 'SIGKILL');
}

/**
 * Make a replica of `shard` take its master's slots over, with the master's agreement (nothing is
 * lost); resolves with that replica. First waits until one is in sync and its master counts it
 * as its replica: right after an earlier failover the former master may not be either yet, and
 * the master would ignore the request (the switch then times out without a word).
 */
export async function planFailover(servers: readonly EmbeddedRedis[], shard: Shard, timeoutMs = 30_000): Promise<EmbeddedRedis> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const known = (await shardOfSlot(servers, shard.slot, [shard.master]))?.replicas ?? [];
    for (const replica of known) {
      if ((await replicationInfo(target(replica)).catch(() => null))?.get('master_link_status') !== 'up') continue;
      const [reply] = await sendCommands(target(replica), [['CLUSTER', 'FAILOVER']], 5000);
      if (reply instanceof RespErrorReply) throw new Error(`CLUSTER FAILOVER on 127.0.0.1:${replica.port}: ${reply.message}`);
      return replica;
    }
    if (Date.now() > deadline) throw new Error(`127.0.0.1:${shard.master.port} has no replica in sync after ${timeoutMs} ms`);
    await delay(50);
  }
}

/**
 * Wait until every node that still answers says `cluster_state:ok` and `shard`'s slot is owned
 * by another node than its former master; resolves with the new master. Polls (a lab helper:
 * nothing the guard does polls) and fails after `timeoutMs` saying what it saw last.
 */
export async function waitForNewOwner(servers: readonly EmbeddedRedis[], shard: Shard, timeoutMs = 60_000): Promise<EmbeddedRedis> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const infos = await Promise.all(servers.map((server) => sendCommands(target(server), [['CLUSTER', 'INFO']]).catch(() => [])));
    const states = infos.flatMap(([info]) => (typeof info === 'string' ? [/^cluster_state:(\w+)/m.exec(info)?.[1] ?? '?'] : []));
    const now = await shardOfSlot(servers, shard.slot);
    if (states.length > 0 && states.every((s) => s === 'ok') && now && now.master !== shard.master) return now.master;
    if (Date.now() > deadline) {
      throw new Error(
        `slot ${shard.slot} did not move off 127.0.0.1:${shard.master.port} within ${timeoutMs} ms (cluster_state ${states.join(', ')}; owner ${now ? `127.0.0.1:${now.master.port}` : 'none'})`,
      );
    }
    await delay(50);
  }
}
