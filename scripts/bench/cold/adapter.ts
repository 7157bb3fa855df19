/**
 * One system of the cold burst, as seen from inside one process of the fleet: connect, then
 * answer `get(key, compute)` the way a user of that system would write it. `compute` counts
 * itself, so recomputations are counted the same way for every system.
 */
export interface ColdSettings {
  redisUrl: string;
  /** Namespace for this run's keys. */
  prefix: string;
  /** How long a computed value lives. */
  valueTtlMs: number;
  /** Lock lifetime; also how long a polling waiter waits before contending again. */
  lockTtlMs: number;
  /** How often a polling waiter re-reads the cache (the lock-library adapters). */
  pollMs: number;
}

export interface ColdAdapter {
  get(key: string, compute: () => Promise<string>): Promise<string>;
  close(): Promise<void>;
}

export type ColdAdapterFactory = (settings: ColdSettings, variant: string | undefined) => Promise<ColdAdapter>;
