/**
 * Tags and namespaces in the model: the marks each value of a program carries, and what an
 * invalidation (`invalidateTags`, a namespace's `clear()`) promises about them.
 *
 * A value's marks are the program's: a set's `tags` and the namespace it went through; a
 * computation's call's `tags`, what it added (`ctx.addTags`) and its call's namespace (each
 * namespace around it too: `n/m` is marked `n` and `n/m`). The guard's own call of a namespace's
 * key (`under`) marks nothing: the namespace did not write it.
 *
 * When a value was born, as the library dates it (`bornAt`, tags.ts): a computation's fence or
 * the server's clock asked before computing, so no later than when the computation started; a
 * set's, the server's clock asked during the set, so no later than when the set resolved. An
 * invalidation's record is the server's clock while it runs, so no earlier than its call started.
 * A value born before an invalidation started is certainly covered by it; one born while it ran
 * may be ordered either way and is not judged.
 */
import type { CallRecord, ComputeRecord, History } from './model.js';
import { type GetOp, nsChain, type SetOp } from './operations.js';

export interface ValueMarks {
  readonly tags: readonly string[];
  /** The namespaces it was written through, outermost first. */
  readonly ns: readonly string[];
  /** Its `bornAt` is no later than this (the test's clock). */
  readonly bornBy: number;
  /** The call that made it: a set, or the get (or a getMany's read) whose computation it is. */
  readonly maker: CallRecord;
}

/** Each value's marks, by its id; undefined for a value no set or computation of the program made. `h`: with a getMany's reads among its calls. */
export function valueMarks(h: History): (id: number) => ValueMarks | undefined {
  const callOf = new Map(h.calls.map((c) => [c.i, c]));
  const byId = new Map<number, ValueMarks>();
  for (const c of h.calls) {
    if (c.op.kind !== 'set' || c.setValue === undefined) continue;
    const op: SetOp = c.op;
    byId.set(c.setValue, { tags: op.tags ?? [], ns: nsChain(op.ns), bornBy: c.end ?? Number.POSITIVE_INFINITY, maker: c });
  }
  for (const comp of h.computes) {
    const maker = callOf.get(comp.i);
    if (maker?.op.kind !== 'get') continue;
    const op: GetOp = maker.op;
    const tags = [...new Set([...(op.tags ?? []), ...(op.compute.addTags ?? [])])];
    byId.set(comp.id, { tags, ns: nsChain(op.ns), bornBy: comp.start, maker });
  }
  return (id) => byId.get(id);
}

export function isMarked(marks: ValueMarks | undefined): boolean {
  return marks !== undefined && (marks.tags.length > 0 || marks.ns.length > 0);
}

/** What the checker needs of model.ts's report and bounds (passed in: model.ts imports this file). */
export interface InvalidationContext {
  add(invariant: string, text: string): void;
  call(c: CallRecord): string;
  at(t: number): string;
  pauseAllowance(from: number, to: number): number;
  /** The calls that found Redis unavailable (`cache.degraded`). */
  degraded: ReadonlySet<number>;
  /** The L1 bus delivery bound, ms. */
  busMs: number;
}

/** Whether the invalidation `inv` (a resolved invalidateTags or clear) covers a value with `marks`. */
function covers(inv: CallRecord, marks: ValueMarks): boolean {
  if (inv.op.kind === 'invalidate') return inv.op.tags.some((t) => marks.tags.includes(t));
  if (inv.op.kind === 'clear') return marks.ns.includes(inv.op.ns);
  return false;
}

/**
 * - `invalidated`: once an `invalidateTags` or a `clear()` resolved, no read that started after it
 *   answers a value it covers that was born before it started (`cache`, `waited` or `stale`
 *   alike), in any process, at once (pauses aside), a flight it joined included; except that a
 *   read in another process with an L1 tier is allowed the L1 bus bound (what read-your-writes
 *   allows after a set or delete: the tier drops what an announced invalidation covers; every
 *   guard announces its invalidations, with a tier or without). A call that found Redis
 *   unavailable (`cache.degraded`) is held to its own process's invalidations only (the outage
 *   relaxation). No end: a record that expired (`tagRetentionMs`) while a value it covers could
 *   still be read is a breach too.
 * - `ns-foreign`: a read through a namespace answers only a value written through it (not the
 *   guard's own `set` or read of `<ns>:<key>`), whatever its source and its process's state.
 */
export function checkInvalidations(h: History, x: InvalidationContext): void {
  const marksOf = valueMarks(h);
  const computeOf = new Map<number, ComputeRecord>(h.computes.map((c) => [c.id, c]));
  const invalidations = h.calls.filter(
    (c) => (c.op.kind === 'invalidate' || c.op.kind === 'clear') && c.end !== undefined && !c.error && c.proc !== null,
  );

  for (const r of h.calls) {
    if (r.op.kind !== 'get' || r.value === undefined || !r.proc || r.end === undefined) continue;
    const marks = marksOf(r.value);
    if (!marks) continue; // `values` says what it is

    const required = nsChain(r.op.ns);
    if (required.some((ns) => !marks.ns.includes(ns)))
      x.add(
        'ns-foreign',
        `${x.call(r)} returned ${r.value} (${r.source}) through namespace ${r.op.ns}, made by ${x.call(marks.maker)}${marks.ns.length === 0 ? ', not through a namespace' : ` through ${marks.ns.at(-1)}`}`,
      );

    if (computeOf.get(r.value)?.i === r.i) continue; // its own computation began after it started
    for (const inv of invalidations) {
      if (!covers(inv, marks) || !(marks.bornBy < inv.start)) continue;
      const by = inv.proc!;
      if (x.degraded.has(r.i) && by !== r.proc) continue;
      // What another process may still hold a moment: its L1 tier's copy, until the announcement
      // arrives (every guard announces its invalidations, with a tier or without). A read of Redis
      // after the invalidation sees its record, and so does the answer of a flight a call joins.
      const pauses = x.pauseAllowance(inv.end!, r.start);
      const bound = by !== r.proc && r.proc.l1 ? x.busMs + pauses + h.maxLagMs : pauses;
      if (r.start <= inv.end! + bound) continue;
      const what = `${marks.tags.length > 0 ? `tags [${marks.tags.join(', ')}]` : ''}${marks.tags.length > 0 && marks.ns.length > 0 ? ', ' : ''}${marks.ns.length > 0 ? `namespace ${marks.ns.at(-1)}` : ''}`;
      x.add(
        'invalidated',
        `${x.call(r)} started at ${x.at(r.start)} and returned ${r.value} (${r.source}), made by ${x.call(marks.maker)} (${what}) and born by ${x.at(marks.bornBy)}, covered by ${x.call(inv)} over ${x.at(inv.start)}..${x.at(inv.end!)}`,
      );
      break;
    }
  }
}
