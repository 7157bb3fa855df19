import type { Redis } from 'ioredis';

/**
 * Server-side command counts from `INFO commandstats`. They are server-wide, which is why the
 * bench owns its redis-server: between two snapshots only the system under test talks to it.
 * They also count the commands a Lua script runs (`redis.call` inside EVALSHA), so a script
 * that does SET + INCR + HGET counts 4: the work the server did, not the round trips.
 */
export type CommandCounts = Map<string, number>;

export async function commandCounts(redis: Redis): Promise<CommandCounts> {
  const info = await redis.info('commandstats');
  const counts: CommandCounts = new Map();
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) counts.set(match[1]!, Number(match[2]));
  return counts;
}

export function total(counts: CommandCounts): number {
  let sum = 0;
  for (const n of counts.values()) sum += n;
  return sum;
}

/** `after - before`, per command, without the zeros. */
export function diff(before: CommandCounts, after: CommandCounts): CommandCounts {
  const out: CommandCounts = new Map();
  for (const [name, n] of after) {
    const d = n - (before.get(name) ?? 0);
    if (d !== 0) out.set(name, d);
  }
  return out;
}

/**
 * Measures a window's commands, minus the snapshots' own INFO calls. How many those are is
 * measured once (two snapshots with nothing in between), not assumed: Redis counts a command
 * after it ran, so normally the first snapshot's INFO shows up in the second one.
 */
export class CommandMeter {
  private constructor(
    private readonly redis: Redis,
    readonly overhead: number,
  ) {}

  static async calibrate(redis: Redis): Promise<CommandMeter> {
    const samples: number[] = [];
    for (let i = 0; i < 3; i++) {
      const a = await commandCounts(redis);
      const b = await commandCounts(redis);
      samples.push(total(diff(a, b)));
    }
    return new CommandMeter(redis, Math.min(...samples));
  }

  async start(): Promise<() => Promise<{ total: number; byCommand: CommandCounts }>> {
    const before = await commandCounts(this.redis);
    return async () => {
      const byCommand = diff(before, await commandCounts(this.redis));
      const info = byCommand.get('info') ?? 0;
      if (info > 0) {
        const left = info - this.overhead;
        if (left > 0) byCommand.set('info', left);
        else byCommand.delete('info');
      }
      return { total: total(byCommand), byCommand };
    };
  }
}
