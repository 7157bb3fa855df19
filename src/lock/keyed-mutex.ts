/**
 * A per-key mutex inside one process: the `threading.Lock` of the classic Python example.
 * Callers for one key run one at a time, in arrival order; callers for different keys do
 * not wait for each other. Entries are removed when the last holder releases, so the map
 * does not grow with the number of keys ever seen.
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  /** Run `fn` holding the lock for `key`. `waited` says whether another holder had it first. */
  async runExclusive<T>(key: string, fn: (waited: boolean) => Promise<T>): Promise<T> {
    const previous = this.tails.get(key);
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = previous ? previous.then(() => mine) : mine;
    this.tails.set(key, tail);

    if (previous) await previous;
    try {
      return await fn(previous !== undefined);
    } finally {
      release();
      // Only the last in line removes the entry; a later arrival has replaced the tail.
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
