import { join } from 'node:path';
import { startBackend } from '../../examples/http-backend/backend.js';
import type { Strategy } from '../../src/cache/strategy.js';
import type { Config } from '../common/config.js';
import { writeLoadRun, type LoadRun } from '../load/load-run-file.js';
import { runLoad } from '../load/run-load.js';
import { checkTraffic, TRAFFIC_DEFAULTS } from '../load/traffic-options.js';
import { EXAMPLE_MODULE } from './cold-computation.js';

/**
 * The demo's third scenario: a short run of the load lab (`npm run load`'s defaults, shorter),
 * so that the demo's report shows real traffic too: 1000 keys of Zipf popularity, 200 jobs/s,
 * computations of about 300 ms, values fresh for 5 s (so the cold start's keys expire together
 * 5 s in) and a flush of the cache two thirds in. `npm run load` runs it at length, with flags.
 */

export interface DemoLoadOptions {
  config: Config;
  strategies: readonly Strategy[];
  workers: number;
  durationS: number;
  /** Your module (absolute path) instead of the example backend, which then counts nothing. */
  computeModule?: string;
  /** The demo's log directory: this scenario writes under `load/`. */
  logDir: string;
  say: (line: string) => void;
}

/** How long a value is fresh in the demo's load run: shorter than the run, so the cold start's keys expire in it. */
export const DEMO_LOAD_VALUE_TTL_MS = 5000;
const COMPUTE_MEDIAN_MS = 300;

export async function runLoadScenario(options: DemoLoadOptions): Promise<LoadRun> {
  const durationMs = options.durationS * 1000;
  const traffic = checkTraffic(
    {
      ...TRAFFIC_DEFAULTS,
      durationMs,
      computeTime: { kind: 'lognormal', medianMs: COMPUTE_MEDIAN_MS, sigma: 0.5 },
      events: [{ kind: 'flush', atMs: Math.round((durationMs * 2) / 3) }],
    },
    { durationMs: '--load-duration' },
  );
  const backend = options.computeModule === undefined ? await startBackend({ delayMs: COMPUTE_MEDIAN_MS }) : undefined;
  const logDir = join(options.logDir, 'load');
  try {
    const rows = await runLoad({
      config: { ...options.config, valueTtlMs: DEMO_LOAD_VALUE_TTL_MS },
      traffic,
      strategies: options.strategies,
      workers: options.workers,
      ...(backend && { backend }),
      computeModule: options.computeModule ?? EXAMPLE_MODULE,
      logDir,
      say: (line) => options.say(`load: ${line}`),
    });
    const run: LoadRun = { traffic, workers: options.workers, rows };
    await writeLoadRun(logDir, run);
    return run;
  } finally {
    await backend?.close();
  }
}
