import { createInterface } from 'node:readline';

/**
 * The child's half of the line protocol (see child-process.ts): `say` writes one JSON line,
 * `commands` yields the parent's lines; the stream ends when the parent closes stdin.
 */
export function say(message: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

export function commands(): AsyncIterator<string> {
  return createInterface({ input: process.stdin })[Symbol.asyncIterator]();
}

/** Wait for the line `expected`; false when stdin closed first. */
export async function waitFor(lines: AsyncIterator<string>, expected: string): Promise<boolean> {
  for (;;) {
    const { value, done } = await lines.next();
    if (done) return false;
    if (String(value).trim() === expected) return true;
  }
}

/** The `run <n>` lines of the parent, as n, until it closes stdin; other lines are skipped. */
export async function* runRequests(lines: AsyncIterator<string>): AsyncGenerator<number> {
  for (;;) {
    const { value, done } = await lines.next();
    if (done) return;
    const match = /^run (\d+)$/.exec(String(value).trim());
    if (match) yield Number(match[1]);
  }
}

/** Wait until the parent closes stdin. */
export async function untilClosed(lines: AsyncIterator<string>): Promise<void> {
  for (;;) if ((await lines.next()).done) return;
}

/** Report a failure as a line the parent understands, then exit non-zero. */
export function failChild(err: unknown): never {
  const message = err instanceof Error ? err.message : String(err);
  say({ type: 'error', message });
  process.stderr.write(`${err instanceof Error && err.stack ? err.stack : message}\n`);
  process.exit(1);
}

/** Peak resident set of this process so far, in MB (`maxRSS` is in KB). */
export function peakRssMb(): number {
  return process.resourceUsage().maxRSS / 1024;
}
