import { createGuard, type StampedeGuard } from '../../../src/cache/guard.js';
import type { BenchClient, ClientKind } from './clients.js';

/**
 * One client library's guards: `size` guards, each on connections of its own (a command client
 * and a subscriber), standing for that many processes. Guards of one process share nothing but
 * Redis (no local flight, no shared subscriber), so a burst across them is coordinated by Redis
 * alone, as across processes.
 */
export interface Fleet {
  kind: ClientKind;
  members: Array<{ client: BenchClient; guard: StampedeGuard }>;
  prefix: string;
}

export const LOCK_TTL_MS = 10_000;

export async function startFleet(kind: ClientKind, redisUrl: string, size: number, prefix: string): Promise<Fleet> {
  const fleet: Fleet = { kind, members: [], prefix };
  try {
    for (let i = 0; i < size; i++) {
      const client = await kind.connect(redisUrl);
      try {
        const guard = createGuard({
          redis: client.redis,
          subscriber: client.subscriber,
          keyPrefix: prefix,
          valueTtlMs: 600_000,
          lockTtlMs: LOCK_TTL_MS,
        });
        fleet.members.push({ client, guard });
      } catch (err) {
        await client.close().catch(() => {});
        throw err;
      }
    }
    return fleet;
  } catch (err) {
    await stopFleet(fleet);
    throw err;
  }
}

export async function stopFleet(fleet: Fleet): Promise<void> {
  for (const { client, guard } of fleet.members) {
    await guard.close().catch(() => {});
    await client.close().catch(() => {});
  }
  fleet.members.length = 0;
}
