import type { Fleet } from './fleet.js';

/**
 * Wait until `count` workers of the fleet said they consume the queue, so a burst starts against
 * the whole fleet rather than whichever worker booted first. The workers' own ready lines, not
 * BullMQ's worker count: that one needs CLIENT LIST, which managed Redis services and
 * least-privilege ACL users refuse. Polling is fine here: it is a start-up wait, not the cache's
 * hot path. Fails fast if a worker exits.
 */
export interface WaitOptions {
  /** @default 60000 */
  timeoutMs?: number;
  /** Where the fleet's output went, for the error message. */
  outputAt?: string;
}

export async function waitForWorkers(fleet: Fleet, count: number, options: WaitOptions = {}): Promise<void> {
  const { timeoutMs = 60_000, outputAt = 'the fleet output' } = options;
  const giveUpAt = Date.now() + timeoutMs;
  for (;;) {
    const exited = fleet.commands.filter((c) => c.state === 'exited' || c.state === 'errored');
    if (exited.length > 0) {
      throw new Error(`${exited.map((c) => c.name).join(', ')} exited during start-up (see ${outputAt})`);
    }
    if (fleet.ready.size >= count) return;
    if (Date.now() > giveUpAt) {
      throw new Error(`only ${fleet.ready.size} of ${count} workers ready after ${timeoutMs} ms (see ${outputAt})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
