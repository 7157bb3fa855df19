import type { Queue } from 'bullmq';
import type { Fleet } from './fleet.js';

/**
 * Wait until `count` workers are registered on the queue (BullMQ names its connections), so a
 * burst starts against the whole fleet rather than whichever worker booted first. Polling is
 * fine here: it is a start-up wait, not the cache's hot path. Fails fast if a worker exits.
 */
export interface WaitOptions {
  /** @default 60000 */
  timeoutMs?: number;
  /** Where the fleet's output went, for the error message. */
  outputAt?: string;
}

export async function waitForWorkers(queue: Queue, fleet: Fleet, count: number, options: WaitOptions = {}): Promise<void> {
  const { timeoutMs = 60_000, outputAt = 'the fleet output' } = options;
  const giveUpAt = Date.now() + timeoutMs;
  for (;;) {
    const exited = fleet.commands.filter((c) => c.state === 'exited' || c.state === 'errored');
    if (exited.length > 0) {
      throw new Error(`${exited.map((c) => c.name).join(', ')} exited during start-up (see ${outputAt})`);
    }
    if ((await queue.getWorkersCount()) >= count) return;
    if (Date.now() > giveUpAt) throw new Error(`only ${await queue.getWorkersCount()} of ${count} workers ready after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
