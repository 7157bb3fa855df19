/**
 * Interval packing: give each interval the lowest row ("slot") free at its start, so bars
 * that overlap in time sit one above the other instead of hiding each other. Greedy over
 * intervals sorted by start, which uses the fewest rows possible (the largest number of
 * intervals overlapping at one instant).
 */

export interface Interval {
  start: number;
  end: number;
}

/** `slots[i]` is the row of `intervals[i]`; `rows` how many rows were used. Input in any order. */
export function packIntervals(intervals: readonly Interval[]): { slots: number[]; rows: number } {
  const order = intervals.map((_, i) => i).sort((a, b) => intervals[a]!.start - intervals[b]!.start || a - b);
  const slots = new Array<number>(intervals.length).fill(0);
  // End of the last interval in each row. A linear scan is plenty: thousands of bars in a
  // lane cost a few milliseconds, and the lowest free row keeps the picture compact.
  const rowEnds: number[] = [];
  for (const i of order) {
    const { start, end } = intervals[i]!;
    let row = rowEnds.findIndex((rowEnd) => rowEnd <= start);
    if (row === -1) row = rowEnds.push(end) - 1;
    else rowEnds[row] = end;
    slots[i] = row;
  }
  return { slots, rows: rowEnds.length };
}
