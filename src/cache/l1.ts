import { isFresh, type Envelope } from './envelope.js';

/** How big the in-process tier may grow. */
export interface L1Options {
  /** Most values kept; the least recently read go first. */
  maxEntries: number;
  /** Most bytes of values kept (their JSON size), when given. */
  maxBytes?: number;
}

interface Entry {
  envelope: Envelope;
  bytes: number;
}

/**
 * The values of the in-process tier: a least-recently-used map, bounded in entries (and bytes
 * when asked), that never answers `get` with a value past its fresh time. A value stays until
 * its grace ends, for `peek` (what a call may serve while Redis is unavailable). A Map keeps
 * insertion order, so moving an entry to the end on a read makes the first entry the least
 * recently used.
 */
export class L1Store {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;

  constructor(
    private readonly options: L1Options,
    /** How long a value is kept past its fresh time (for `peek`). */
    private readonly graceMs = 0,
  ) {}

  /** The value of `key` while it is fresh, else null. */
  get(key: string, now = Date.now()): Envelope | null {
    const envelope = this.peek(key, now);
    return envelope && isFresh(envelope, now) ? envelope : null;
  }

  /** The value of `key`, fresh or within its grace; null when there is none or its grace ended. */
  peek(key: string, now = Date.now()): Envelope | null {
    const entry = this.entries.get(key);
    if (!entry) return null;
    this.entries.delete(key);
    if (entry.envelope.freshUntil + (entry.envelope.graceMs ?? this.graceMs) <= now) {
      this.bytes -= entry.bytes;
      return null;
    }
    this.entries.set(key, entry);
    return entry.envelope;
  }

  set(key: string, envelope: Envelope, bytes: number): void {
    this.delete(key);
    if (this.options.maxBytes !== undefined && bytes > this.options.maxBytes) return;
    this.entries.set(key, { envelope, bytes });
    this.bytes += bytes;
    for (const [oldest, entry] of this.entries) {
      if (this.entries.size <= this.options.maxEntries && (this.options.maxBytes === undefined || this.bytes <= this.options.maxBytes))
        break;
      this.entries.delete(oldest);
      this.bytes -= entry.bytes;
    }
  }

  delete(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.bytes -= entry.bytes;
  }

  /** Drop every value `covered` says to (an invalidation's): a pass over at most `maxEntries`. */
  deleteWhere(covered: (envelope: Envelope) => boolean): void {
    for (const [key, entry] of this.entries) if (covered(entry.envelope)) this.delete(key);
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Whether sizes matter (maxBytes given): measuring a value costs a JSON encoding. */
  get countsBytes(): boolean {
    return this.options.maxBytes !== undefined;
  }
}
