/**
 * How many recomputations one value of a key took. A run that lasts longer than a value's
 * fresh time (the load lab, a warm key under steady load) recomputes a key again and again,
 * once per expiry or flush, and that is no stampede; what a lock promises is that a key is not
 * recomputed again while a computation of it is still running. So the recomputations of a
 * (run, key) are cut into values at the end of each computation (`recompute.end` or
 * `recompute.failed`), in time order, and the verdict judges the most starts between two cuts:
 * fleet-wide for `redis-lock` (any process's end cuts), per process for `local-lock` (only its
 * own ends cut: other processes compute the same key beside it by design).
 *
 * A burst on a key whose value does not expire during it is one value: the count is the run's.
 * A holder killed mid-computation logs no end, so the takeover's start counts against the same
 * value, as it should: two computations of it ran at once.
 */

interface Mark {
  time: number;
  /** true: `recompute.start`; false: an end. */
  start: boolean;
  process: string | null;
}

export class RecomputationsPerValue {
  private readonly marks = new Map<string, Mark[]>();

  /** One keyed `recompute.start`, `recompute.end` or `recompute.failed` line; `id` names its (strategy, run, key). */
  add(id: string, event: string, time: unknown, process: string | null): void {
    const start = event === 'recompute.start';
    if (!start && event !== 'recompute.end' && event !== 'recompute.failed') return;
    let marks = this.marks.get(id);
    if (!marks) {
      marks = [];
      this.marks.set(id, marks);
    }
    // A line without a time sorts last: it cannot cut a value it may not belong to.
    marks.push({ time: typeof time === 'number' && Number.isFinite(time) ? time : Number.POSITIVE_INFINITY, start, process });
  }

  /** The most recomputations of one value of `id`: fleet-wide, and per process. */
  most(id: string): { fleet: number; perProcess: Map<string, number> } {
    const marks = [...(this.marks.get(id) ?? [])];
    // Ends before starts at the same millisecond: a start logged in the millisecond another
    // computation ended came after it (a lock is taken after its release).
    marks.sort((a, b) => a.time - b.time || Number(a.start) - Number(b.start));
    let fleet = 0;
    let fleetMost = 0;
    const running = new Map<string, number>();
    const perProcess = new Map<string, number>();
    for (const mark of marks) {
      const process = mark.process ?? '(unknown)';
      if (!mark.start) {
        fleet = 0;
        running.set(process, 0);
        continue;
      }
      fleet += 1;
      fleetMost = Math.max(fleetMost, fleet);
      const mine = (running.get(process) ?? 0) + 1;
      running.set(process, mine);
      perProcess.set(process, Math.max(perProcess.get(process) ?? 0, mine));
    }
    return { fleet: fleetMost, perProcess };
  }
}
