import { fileURLToPath } from 'node:url';
import { startBackend, type Backend } from '../../examples/http-backend/backend.js';

/**
 * What the demo's cold bursts compute: by default the HTTP backend example (a real server that
 * counts its requests, so its count can be set beside the logs' recomputations), else the
 * user's own module (`--compute`), which the demo cannot count from outside.
 */
export interface ColdComputation {
  /** The module every worker runs (absolute path). */
  computeModule: string;
  /** Extra environment for the workers. */
  env: Record<string, string>;
  /** The example backend, when the bursts run against it. */
  backend: Backend | undefined;
  /** One line for the person waiting: what a recomputation does. */
  describe: string;
  close(): Promise<void>;
}

/** The example backend's compute module (absolute path), which asks the example HTTP backend for each value. */
export const EXAMPLE_MODULE = fileURLToPath(new URL('../../examples/http-backend/compute.ts', import.meta.url));

export async function coldComputation(options: { computeModule?: string; backendDelayMs: number }): Promise<ColdComputation> {
  if (options.computeModule !== undefined) {
    return {
      computeModule: options.computeModule,
      env: {},
      backend: undefined,
      describe: `your module ${options.computeModule}`,
      close: async () => {},
    };
  }
  const backend = await startBackend({ delayMs: options.backendDelayMs });
  return {
    computeModule: EXAMPLE_MODULE,
    env: { BACKEND_URL: backend.url },
    backend,
    describe: `the example backend at ${backend.url}, answering in ${options.backendDelayMs} ms`,
    close: () => backend.close(),
  };
}
