/**
 * The line a worker prints on stdout once it consumes the queue. The fleet's start-up wait
 * watches for it: unlike BullMQ's worker count (CLIENT LIST), it needs no command that a
 * managed Redis or a least-privilege ACL user may refuse, and it counts this fleet's workers only.
 */
export function readyLine(workerId: string, detail: string): string {
  return `${workerId} ready: ${detail}`;
}

export function isReadyLine(line: string, workerId: string): boolean {
  return line.startsWith(`${workerId} ready: `);
}
