/**
 * A Redis lock as the lock benchmark drives it: `acquire` waits the way the library waits
 * when the key is held, and resolves with the release.
 */
export interface LockAdapter {
  acquire(key: string): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export interface LockSettings {
  redisUrl: string;
  prefix: string;
  ttlMs: number;
}

export type LockAdapterFactory = (settings: LockSettings) => Promise<LockAdapter>;
