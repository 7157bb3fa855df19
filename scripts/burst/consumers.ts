import type { Queue } from 'bullmq';
import { refusal } from '../redis/refused.js';

/**
 * Before a burst: does any worker consume the queue? BullMQ counts workers by their connection
 * names (CLIENT LIST), a command that managed services and least-privilege ACL users often
 * refuse. The check only helps, so where it is refused it steps aside and says so; the burst
 * goes on either way. Returns the line to show, or null when a worker is there.
 */
export async function consumerCheck(queue: Queue, queueName: string): Promise<string | null> {
  let workers: number;
  try {
    workers = await queue.getWorkersCount();
  } catch (err) {
    const refused = refusal(err);
    if (refused === undefined) throw err;
    return `note: not checking for workers on queue ${queueName}: Redis refused CLIENT LIST (${refused})`;
  }
  return workers === 0 ? `warning: no worker is consuming queue ${queueName}; jobs will wait (start some with: npm run fleet)` : null;
}
