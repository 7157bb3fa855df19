import type { SimulatedOrigin } from './origin.js';

/**
 * One system of the batch scenario, inside one process: the values of a list of keys, asking
 * the origin for the missing ones the way a user of that system would write it (one batch
 * request where the system has a batch API, one request per key where it has not).
 */
export interface BatchSettings {
  redisUrl: string;
  /** Namespace for this system's keys. */
  prefix: string;
  /** How long a computed value lives. */
  valueTtlMs: number;
  /** Lock lifetime (the systems that lock). */
  lockTtlMs: number;
}

export interface BatchAdapter {
  /** The values of `keys`, in their order. */
  getMany(keys: string[], origin: SimulatedOrigin): Promise<string[]>;
  close(): Promise<void>;
}

export type BatchAdapterFactory = (settings: BatchSettings, variant: string | undefined) => Promise<BatchAdapter>;
