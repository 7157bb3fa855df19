import { startCounting, stopCounting } from '../batch/request-counter.js';
import type { CommandCounts, CommandMeter } from '../command-stats.js';

/** What one window of work cost: wall time, what this process's clients sent, what the server ran. */
export interface Window<R> {
  result: R;
  ms: number;
  /** Requests sent (a pipeline one): one caller awaiting each call in turn makes each a round trip. */
  requests: number;
  /** Commands sent by the clients. */
  sent: number;
  /** INFO commandstats delta, commands run inside scripts included, the meter's own INFO subtracted. */
  server: number;
  byCommand: CommandCounts;
}

/**
 * Run `work` inside one window of both counters: the request counter wraps ioredis in this
 * process (batch/request-counter.ts, installed by the caller), INFO commandstats is the server's
 * view. The counter starts after the meter's first INFO and stops before its second, so the
 * meter's own commands never count as sent.
 */
export async function measured<R>(meter: CommandMeter, work: () => Promise<R>): Promise<Window<R>> {
  const stop = await meter.start();
  startCounting();
  const started = performance.now();
  let result: R;
  try {
    result = await work();
  } catch (err) {
    // Stopped even when work throws: a counter left on would count the next scenario's commands.
    stopCounting();
    throw err;
  }
  const ms = performance.now() - started;
  const sent = stopCounting();
  const server = await stop();
  return { result, ms, requests: sent.requests, sent: sent.commands, server: server.total, byCommand: server.byCommand };
}

/** `a + b`, per command. */
export function addCounts(a: CommandCounts, b: CommandCounts): CommandCounts {
  const out = new Map(a);
  for (const [name, n] of b) out.set(name, (out.get(name) ?? 0) + n);
  return out;
}

/** `evalsha 1, mget 1, hgetall 1` for `counts` divided by `per`: what one call ran on the server. */
export function describeCounts(counts: CommandCounts, per: number): string {
  return [...counts]
    .sort(([, x], [, y]) => y - x)
    .map(([name, n]) => `${name} ${Number((n / per).toFixed(2))}`)
    .join(', ');
}
