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
}

export async function clusterInfo(target: ProbeTarget, timeoutMs = 1000): Promise<Map<string, string>> {
  const [reply] = await sendCommands(target, [['CLUSTER', 'INFO']], timeoutMs);
  if (reply instanceof RespErrorReply) throw new Error(`${hostPort(target)}: CLUSTER INFO: ${reply.message}`);
  if (typeof reply !== 'string') throw new Error(`${hostPort(target)}: no answer to CLUSTER INFO`);
  return parseInfo(reply);
}

/** A cluster is ready when every node says `cluster_state:ok` and knows all the others. */
function isReady(states: readonly ClusterNodeState[]): boolean {
  return states.every(
    (s) => s.info.get('cluster_state') === 'ok' && Number(s.info.get('cluster_known_nodes')) >= states.length,
  );
}

/** Wait until every node says `cluster_state:ok` and knows the others (gossip takes a moment). */
export async function waitForClusterOk(targets: readonly ProbeTarget[], timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const states = await Promise.all(targets.map(async (target) => ({ target, info: await clusterInfo(target) })));
      if (isReady(states)) return;
      last = states
        .map((s) => `${hostPort(s.target)} ${s.info.get('cluster_state')}, knows ${s.info.get('cluster_known_nodes')}`)
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

/** `CLUSTER NODES` of one node, one summary line per node: address, role, slots. */
export async function describeClusterNodes(target: ProbeTarget): Promise<string[]> {
  const [reply] = await sendCommands(target, [['CLUSTER', 'NODES']], 1000);
  if (typeof reply !== 'string') return [];
  return reply
    .trim()
    .split('\n')
    .map((line) => {
      // <id> <ip:port@bus[,hostname]> <flags> <master> <ping> <pong> <epoch> <link> <slot ranges...>
      const [id = '', address = '', flags = '', , , , , link = '', ...slots] = line.split(' ');
      const role = flags.includes('master') ? 'master' : flags.includes('slave') ? 'replica' : flags;
      return `${address.split('@')[0]}  ${role}  slots ${slots.join(' ') || '(none)'}  ${link}  id ${id.slice(0, 8)}`;
    })
    .sort();
}

/**
 * Make masters of fresh cluster-mode nodes (each knows only itself and has no slots): a
 * distinct config epoch each, an equal share of the 16384 slots each, then MEET. What
 * `redis-cli --cluster create --cluster-replicas 0` does, without its one-second waits, and
 * with cluster bus ports that are not port + 10000.
 */
export async function formCluster(nodes: readonly { target: ProbeTarget; busPort: number }[]): Promise<void> {
  const count = nodes.length;
  await Promise.all(
    nodes.map(async ({ target }, i) => {
      const first = Math.floor((i * 16384) / count);
      const last = Math.floor(((i + 1) * 16384) / count) - 1;
      const replies = await sendCommands(target, [
        ['CLUSTER', 'SET-CONFIG-EPOCH', String(i + 1)],
        ['CLUSTER', 'ADDSLOTSRANGE', String(first), String(last)],
      ], 2000);
      const error = replies.find((r) => r instanceof RespErrorReply) as RespErrorReply | undefined;
      if (error || replies.length < 2) {
        throw new RedisServerStartError(`could not assign slots on ${hostPort(target)}: ${error?.message ?? 'connection closed'}`);
      }
    }),
  );
  const [first, ...others] = nodes;
  const meets = await sendCommands(
    first!.target,
    others.map(({ target, busPort }) => ['CLUSTER', 'MEET', target.host, String(target.port), String(busPort)]),
    2000,
  );
  const error = meets.find((r) => r instanceof RespErrorReply) as RespErrorReply | undefined;
  if (error) throw new RedisServerStartError(`CLUSTER MEET failed: ${error.message}`);
}
