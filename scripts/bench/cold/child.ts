/**
 * One process of the cold-burst fleet. Env BENCH_COLD (JSON): adapter, variant, settings,
 * key, calls. Connects and warms up (one call on a key of its own, so scripts are loaded), says
 * `ready`; on `warm` runs an unmeasured burst with the rest of the fleet on a warm-up key, says
 * `warmed`; on `go` runs `calls` concurrent gets of the cold key; reports; exits when stdin closes.
 */
import type { ColdAdapterFactory, ColdSettings } from './adapter.js';
import { installCommandCounter, startCounting, stopCounting } from './command-counter.js';
import { commands, failChild, peakRssMb, say, untilClosed, waitFor } from '../child-protocol.js';

export interface ColdChildConfig {
  adapter: string;
  variant?: string;
  settings: ColdSettings;
  key: string;
  calls: number;
  computeMs: number;
}

export interface ColdChildReport {
  type: 'report';
  pid: number;
  computations: number;
  latenciesMs: number[];
  errors: string[];
  /** The distinct values this process's callers got. */
  values: string[];
  sentCommands: number;
  peakRssMb: number;
}

try {
  const config = JSON.parse(process.env.BENCH_COLD ?? '') as ColdChildConfig;
  installCommandCounter();
  const { create } = (await import(`./${config.adapter}.js`)) as { create: ColdAdapterFactory };
  const adapter = await create(config.settings, config.variant);

  await adapter.get(`warm-up-${process.pid}`, async () => 'warm');
  const lines = commands();
  say({ type: 'ready' });
  // A warm-up burst of the whole fleet on a key of its own, unmeasured: the code of every path
  // (waiting, notification, polling) is compiled before the measured burst, as in a fleet that
  // has been up for a while; a fresh process pays milliseconds for a path's first run.
  if (!(await waitFor(lines, 'warm'))) process.exit(0);
  const slow = async () => {
    await new Promise((resolve) => setTimeout(resolve, config.computeMs));
    return 'warm';
  };
  await Promise.all(Array.from({ length: config.calls }, () => adapter.get(`${config.key}-warm`, slow).catch(() => undefined)));
  say({ type: 'warmed' });
  if (!(await waitFor(lines, 'go'))) process.exit(0);

  let computations = 0;
  const compute = async () => {
    const seq = ++computations;
    await new Promise((resolve) => setTimeout(resolve, config.computeMs));
    return `${process.pid}:${seq}`;
  };
  const latencies: number[] = [];
  const errors: string[] = [];
  const values = new Set<string>();
  startCounting();
  await Promise.all(
    Array.from({ length: config.calls }, async () => {
      const started = performance.now();
      try {
        values.add(await adapter.get(config.key, compute));
        latencies.push(performance.now() - started);
      } catch (err) {
        errors.push(err instanceof Error ? err.message : String(err));
      }
    }),
  );
  const sentCommands = stopCounting();
  const report: ColdChildReport = {
    type: 'report',
    pid: process.pid,
    computations,
    latenciesMs: latencies,
    errors,
    values: [...values],
    sentCommands,
    peakRssMb: peakRssMb(),
  };
  say(report as unknown as Record<string, unknown>);
  await untilClosed(lines);
  await adapter.close();
  process.exit(0);
} catch (err) {
  failChild(err);
}
