import type { Redis } from 'ioredis';
import type { CommandMeter } from '../command-stats.js';
import type { BenchOptions } from '../options.js';
import type { Rows } from '../rows.js';
import { clientKinds } from './clients.js';
import { measureColdBursts, warmColdBurst } from './cold.js';
import { type Fleet, startFleet, stopFleet } from './fleet.js';
import { CLIENTS, type HitUnit, measureHits, prepareHits } from './hits.js';

/**
 * Scenario: the guard with each Redis client it accepts (ioredis, iovalkey, node-redis; issue
 * 29), side by side in this process on the bench's redis-server:
 * 1. cache hits of a warm key, one caller and `workerConcurrency` at once, and the same hit's
 *    EVALSHA sent straight through the client: what the seam costs per client (hits.ts);
 * 2. the cold burst, `processes` guards x `concurrency` calls of one cold key (cold.ts).
 * A client that cannot be set up (not installed, refused by createGuard, its warm-up failing) is
 * left out with a `setup.failed` row and the reason on stderr; the others still run.
 */
export async function runClientsBench(
  options: BenchOptions,
  redisUrl: string,
  meter: CommandMeter,
  admin: Redis,
  rows: Rows,
  progress: (line: string) => void,
): Promise<void> {
  const fleets: Fleet[] = [];
  const units: HitUnit[] = [];
  try {
    for (const kind of clientKinds()) {
      let fleet: Fleet | undefined;
      try {
        fleet = await startFleet(kind, redisUrl, options.processes, `bench-clients-${kind.id}`);
        units.push(...(await prepareHits(fleet, options.workerConcurrency)));
        await warmColdBurst(fleet, options.concurrency, options.computeMs);
        fleets.push(fleet);
        progress(`clients: ${kind.label}: ${options.processes} guards up, warmed`);
      } catch (err) {
        if (fleet) await stopFleet(fleet);
        // Its hit units, if prepared, go too: a client is measured whole or not at all.
        for (let i = units.length - 1; i >= 0; i--) if (units[i]!.client === kind.id) units.splice(i, 1);
        rows.add(CLIENTS, kind.id, 'setup.failed', 1, 'the client could not be set up: left out of the run');
        progress(`clients: ${kind.label} left out: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (fleets.length === 0) return;
    await measureHits(units, meter, rows, options.hitJobs, progress);
    await measureColdBursts(fleets, rows, options.rounds, options.concurrency, options.computeMs, progress);
  } finally {
    for (const fleet of fleets) await stopFleet(fleet);
    await admin.flushall();
  }
}
