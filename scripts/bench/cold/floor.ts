import type { ColdAdapterFactory } from './adapter.js';

/**
 * Not a cache: every call just runs the computation. Its latency is the harness's floor on
 * this machine (timers firing late, processes waiting for a CPU), to read the others against.
 */
export const create: ColdAdapterFactory = async () => ({
  get: (_key, compute) => compute(),
  close: async () => {},
});
