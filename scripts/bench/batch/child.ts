/**
 * One process of the batch scenario. Env BENCH_BATCH (JSON): adapter, variant, settings,
 * originMs, warmups. Connects, warms up (`warmups` batches of keys of its own, cold then warm,
 * so that scripts are loaded and the code paths compiled), says `ready`; then for each line
 * `run <tag> <from> <count>` asks for the keys `<tag>-k<from>` .. `<tag>-k<from+count-1>` in
 * one batch and reports the batch's time, the origin's requests and keys, and the Redis
 * commands and requests it sent; exits when stdin closes.
 */
import type { BatchAdapterFactory, BatchSettings } from './adapter.js';
import { SimulatedOrigin, originValue } from './origin.js';
import { installRequestCounter, startCounting, stopCounting } from './request-counter.js';
import { commands, failChild, say } from '../child-protocol.js';

export interface BatchChildConfig {
  adapter: string;
  variant?: string;
  settings: BatchSettings;
  originMs: number;
  /** Keys per warm-up batch. */
  keys: number;
  warmups: number;
}

export interface BatchChildReport {
  type: 'report';
  pid: number;
  latencyMs: number;
  originCalls: number;
  originKeys: number;
  /** Commands sent by this process's clients. */
  commands: number;
  /** Of which separate requests (a pipeline counts one). */
  requests: number;
  errors: string[];
  /** Keys answered with something else than the origin's value. */
  wrong: number;
}

/** After the batch answered, how long fire-and-forget writes (cachified's cache.set) get to be sent. */
const SETTLE_MS = 50;

try {
  const config = JSON.parse(process.env.BENCH_BATCH ?? '') as BatchChildConfig;
  installRequestCounter();
  const { create } = (await import(`./${config.adapter}.js`)) as { create: BatchAdapterFactory };
  const adapter = await create(config.settings, config.variant);
  const origin = new SimulatedOrigin(config.originMs);
  const keysOf = (tag: string, from: number, count: number) => Array.from({ length: count }, (_, i) => `${tag}-k${from + i}`);

  const lines = commands();
  for (let i = 0; i < config.warmups; i++) {
    const keys = keysOf(`warm-${process.pid}-${i}`, 0, config.keys);
    await adapter.getMany(keys, origin);
    await adapter.getMany(keys, origin);
  }
  say({ type: 'ready' });

  for (;;) {
    const { value, done } = await lines.next();
    if (done) break;
    const match = /^run (\S+) (\d+) (\d+)$/.exec(String(value).trim());
    if (!match) continue;
    const keys = keysOf(match[1]!, Number(match[2]), Number(match[3]));
    origin.reset();
    const errors: string[] = [];
    let wrong = 0;
    startCounting();
    const started = performance.now();
    try {
      const values = await adapter.getMany(keys, origin);
      values.forEach((v, i) => {
        if (v !== originValue(keys[i]!)) wrong += 1;
      });
    } catch (err) {
      errors.push(err instanceof Error ? err.message : String(err));
    }
    const latencyMs = performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    const sent = stopCounting();
    const report: BatchChildReport = {
      type: 'report',
      pid: process.pid,
      latencyMs,
      originCalls: origin.calls,
      originKeys: origin.keys,
      commands: sent.commands,
      requests: sent.requests,
      errors,
      wrong,
    };
    say(report as unknown as Record<string, unknown>);
  }
  await adapter.close();
  process.exit(0);
} catch (err) {
  failChild(err);
}
