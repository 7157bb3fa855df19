/**
 * The simulated origin of the batch scenario: a service that answers one request for any number
 * of keys after a fixed latency (the same for 1 key or 50), like a database query with
 * `WHERE id IN (...)` or an HTTP API taking a list of ids. It counts its requests (the "origin
 * calls") and the keys asked, so every system's calls are counted the same way.
 */
export class SimulatedOrigin {
  calls = 0;
  keys = 0;

  constructor(private readonly latencyMs: number) {}

  /** One request for `keys`: a value for each, `v:<key>`, after the origin's latency. */
  async fetch(keys: readonly string[]): Promise<Map<string, string>> {
    this.calls += 1;
    this.keys += keys.length;
    await new Promise((resolve) => setTimeout(resolve, this.latencyMs));
    return new Map(keys.map((key) => [key, originValue(key)]));
  }

  /** One request for one key. */
  async fetchOne(key: string): Promise<string> {
    return (await this.fetch([key])).get(key)!;
  }

  reset(): void {
    this.calls = 0;
    this.keys = 0;
  }
}

/** What the origin answers for `key`: every system must hand this back. */
export function originValue(key: string): string {
  return `v:${key}`;
}
