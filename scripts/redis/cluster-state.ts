import { RedisServerStartError } from '../common/errors.js';
import { hostPort } from './cluster-url.js';
import { parseInfo, RespErrorReply, sendCommands, type ProbeTarget } from './probe.js';

/**
 * Reading and waiting on a cluster's state through the small RESP probe (no ioredis: the
 * launchers talk to nodes that are not a working cluster yet). Used by the embedded cluster of
 * tests and the demo, and by `npm run redis -- start --cluster`.
 */

export interface ClusterNodeState {
  target: ProbeTarget;
  /** `CLUSTER INFO` fields (cluster_state, cluster_known_nodes, cluster_slots_assigned, ...). */
  info: Map<string, string>;
  /** `INFO replication` fields (role, master_link_status, ...). */
  replication: Map<string, string>;
}

export async function clusterInfo(target: ProbeTarget, timeoutMs = 1000): Promise<Map<string, string>> {
  const [reply] = await sendCommands(target, [['CLUSTER', 'INFO']], timeoutMs);
  if (reply instanceof RespErrorReply) throw new Error(`${hostPort(target)}: CLUSTER INFO: ${reply.message}`);
  if (typeof reply !== 'string') throw new Error(`${hostPort(target)}: no answer to CLUSTER INFO`);
  return parseInfo(reply);
}

/** `INFO replication` of one node: its role and, for a replica, whether it is in sync with its master. */
export async function replicationInfo(target: ProbeTarget, timeoutMs = 1000): Promise<Map<string, string>> {
  const [reply] = await sendCommands(target, [['INFO', 'replication']], timeoutMs);
  if (typeof reply !== 'string') throw new Error(`${hostPort(target)}: no answer to INFO replication`);
  return parseInfo(reply);
}

/**
 * A cluster is ready when every node says `cluster_state:ok` and knows all the others, and every
 * replica has its master's data (a replica that never synced cannot take over).
 */
function isReady(states: readonly ClusterNodeState[]): boolean {
  return states.every(
    (s) =>
      s.info.get('cluster_state') === 'ok' &&
      Number(s.info.get('cluster_known_nodes')) >= states.length &&
      (s.replication.get('role') !== 'slave' || s.replication.get('master_link_status') === 'up'),
  );
}

/** Wait until every node says `cluster_state:ok` and knows the others (gossip takes a moment), and replicas are in sync. */
export async function waitForClusterOk(targets: readonly ProbeTarget[], timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const states = await Promise.all(
        targets.map(async (target) => ({ target, info: await clusterInfo(target), replication: await replicationInfo(target) })),
      );
      if (isReady(states)) return;
      last = states
        .map(
          (s) =>
            `${hostPort(s.target)} ${s.info.get('cluster_state')}, knows ${s.info.get('cluster_known_nodes')}` +
            (s.replication.get('role') === 'slave' ? `, replica link ${s.replication.get('master_link_status')}` : ''),
        )
        .join('; ');
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) {
      throw new RedisServerStartError(`the cluster did not reach cluster_state:ok within ${timeoutMs / 1000} s (${last})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** `CLUSTER NODES` of one node, one summary line per node: address, role, slots (or whose replica it is). */
export async function describeClusterNodes(target: ProbeTarget): Promise<string[]> {
  const [reply] = await sendCommands(target, [['CLUSTER', 'NODES']], 1000);
  if (typeof reply !== 'string') return [];
  // <id> <ip:port@bus[,hostname]> <flags> <master> <ping> <pong> <epoch> <link> <slot ranges...>
  const lines = reply
    .trim()
    .split('\n')
    .map((line) => line.split(' '));
  const addressOf = new Map(lines.map(([id = '', address = '']) => [id, address.split('@')[0]]));
  return lines
    .map(([id = '', address = '', flags = '', master = '', , , , link = '', ...slots]) => {
      const role = flags.includes('master') ? 'master' : flags.includes('slave') ? 'replica' : flags;
      const serves = role === 'replica' ? `of ${addressOf.get(master) ?? master.slice(0, 8)}` : `slots ${slots.join(' ') || '(none)'}`;
      const failed = /\bfail\b/.test(flags) ? '  failed' : '';
      return `${address.split('@')[0]}  ${role}  ${serves}  ${link}${failed}  id ${id.slice(0, 8)}`;
    })
    .sort();
}
