import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseLine } from '../report/read-logs.js';

/**
 * Follows the NDJSON log files of a directory while workers write them, so a fault can be
 * injected at the moment a given event appears (`lock.acquired`, `recompute.start`, ...)
 * rather than after a fixed sleep. A short poll of the appended bytes: this is a test harness,
 * and a poll behaves the same on every file system (fs.watch does not).
 */
export interface TailedRecord extends Record<string, unknown> {
  event?: string;
  pid?: number;
  workerId?: string;
  runId?: string;
  key?: string;
  jobId?: string;
  fence?: number;
  time?: number;
}

interface Waiter {
  what: string;
  match: (record: TailedRecord) => boolean;
  resolve: (record: TailedRecord) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

interface FileState {
  offset: number;
  /** Bytes after the last newline: a line still being written (may end mid-character). */
  partial: Buffer;
}

export class LogTail {
  /** Every line read so far, in the order read (per file, in file order). */
  readonly records: TailedRecord[] = [];
  private readonly files = new Map<string, FileState>();
  private readonly waiters = new Set<Waiter>();
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;

  constructor(
    private readonly dir: string,
    private readonly intervalMs = 25,
  ) {}

  start(): this {
    this.timer ??= setInterval(() => void this.poll().catch(() => {}), this.intervalMs);
    this.timer.unref();
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(new Error(`stopped following logs while waiting for ${waiter.what}`));
    }
    this.waiters.clear();
  }

  /** Read everything appended since the last read; concurrent callers share one read. */
  poll(): Promise<void> {
    this.reading ??= this.readAppended().finally(() => (this.reading = undefined));
    return this.reading;
  }

  /** A read that starts after this call (not one already under way): for the final count. */
  async refresh(): Promise<void> {
    await this.poll();
    await this.poll();
  }

  /** The first record, already read or still to come, that `match`es; rejects after `timeoutMs`. */
  waitFor(what: string, match: (record: TailedRecord) => boolean, timeoutMs = 30_000): Promise<TailedRecord> {
    const seen = this.records.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        what,
        match,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          reject(new Error(`no ${what} in the workers' logs after ${timeoutMs} ms (${this.describe()})`));
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  /** Resolves once `count` records match (e.g. "10 job.completed"). */
  async waitForCount(what: string, match: (record: TailedRecord) => boolean, count: number, timeoutMs = 30_000): Promise<void> {
    let seen = 0;
    await this.waitFor(`${count} x ${what}`, (record) => match(record) && ++seen >= count, timeoutMs);
  }

  where(match: (record: TailedRecord) => boolean): TailedRecord[] {
    return this.records.filter(match);
  }

  count(match: (record: TailedRecord) => boolean): number {
    return this.records.reduce((n, record) => (match(record) ? n + 1 : n), 0);
  }

  private describe(): string {
    const events = new Map<string, number>();
    for (const r of this.records) events.set(String(r.event), (events.get(String(r.event)) ?? 0) + 1);
    return `${this.records.length} lines read: ${[...events].map(([e, n]) => `${e} x${n}`).join(', ') || 'none'}`;
  }

  private async readAppended(): Promise<void> {
    let names: string[];
    try {
      names = (await readdir(this.dir)).filter((name) => name.endsWith('.ndjson')).sort();
    } catch {
      return; // not created yet
    }
    for (const name of names) {
      const path = join(this.dir, name);
      const state = this.files.get(path) ?? { offset: 0, partial: Buffer.alloc(0) };
      this.files.set(path, state);
      const handle = await open(path, 'r');
      try {
        const { size } = await handle.stat();
        if (size <= state.offset) continue;
        const chunk = Buffer.alloc(size - state.offset);
        const { bytesRead } = await handle.read(chunk, 0, chunk.length, state.offset);
        state.offset += bytesRead;
        const data = Buffer.concat([state.partial, chunk.subarray(0, bytesRead)]);
        const end = data.lastIndexOf(0x0a);
        state.partial = end === -1 ? data : data.subarray(end + 1);
        if (end === -1) continue;
        for (const line of data.subarray(0, end).toString('utf8').split('\n')) {
          const record = parseLine(line) as TailedRecord | null;
          if (record) this.add(record);
        }
      } finally {
        await handle.close();
      }
    }
  }

  private add(record: TailedRecord): void {
    this.records.push(record);
    for (const waiter of this.waiters) {
      if (!waiter.match(record)) continue;
      this.waiters.delete(waiter);
      clearTimeout(waiter.timer);
      waiter.resolve(record);
    }
  }
}
