/**
 * One in-flight call per key inside this process, after Go's singleflight: the first caller
 * for a key runs `fn`; callers arriving while it runs get the same promise. `shared` tells a
 * caller whether it ran the work itself (false) or joined another's (true).
 */
export interface FlightResult<T> {
  value: T;
  shared: boolean;
}

export class SingleFlight<T> {
  private readonly inFlight = new Map<string, Promise<T>>();

  async do(key: string, fn: () => Promise<T>): Promise<FlightResult<T>> {
    const existing = this.inFlight.get(key);
    if (existing) return { value: await existing, shared: true };

    const flight: Promise<T> = (async () => fn())().finally(() => {
      // Forget the flight once it settles, so the next miss starts a fresh one (unless it was
      // forgotten already and a newer flight took its place).
      if (this.inFlight.get(key) === flight) this.inFlight.delete(key);
    });
    this.inFlight.set(key, flight);
    return { value: await flight, shared: false };
  }

  /** Callers arriving from now on start a new flight; those already in the running one stay. */
  forget(key: string): void {
    this.inFlight.delete(key);
  }

  /** `forget` of every key. */
  forgetAll(): void {
    this.inFlight.clear();
  }
}
