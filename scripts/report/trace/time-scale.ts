/**
 * Where a span falls in the trace's window, as a fraction of it: the one scale the text bars and
 * the HTML bars are drawn on, so they agree. A linked span from another trace may begin before
 * the window or end after it: it is clipped, and said to be.
 */
export interface Extent {
  /** 0..1 of the window, clipped. */
  from: number;
  to: number;
  clippedStart: boolean;
  clippedEnd: boolean;
}

const EPSILON = 1e-6;

export function extentIn(windowMs: number, offsetMs: number, durationMs: number): Extent {
  // A window of 0 ms (one instant span): everything fills it.
  if (windowMs <= 0) return { from: 0, to: 1, clippedStart: false, clippedEnd: false };
  const from = offsetMs / windowMs;
  const to = (offsetMs + durationMs) / windowMs;
  // A span's own duration (from a finer clock) may pass its end time by a hair: not "beyond".
  return { from: clamp(from), to: clamp(to), clippedStart: from < -EPSILON, clippedEnd: to > 1 + EPSILON };
}

/** "1597 ms", "2.4 ms", "-12 ms": whole milliseconds from 10 ms on, a decimal below. */
export function formatMs(ms: number): string {
  const text = Math.abs(ms) < 10 ? ms.toFixed(1).replace(/\.0$/, '') : String(Math.round(ms));
  return `${text === '-0' ? '0' : text} ms`;
}

function clamp(x: number): number {
  return Math.min(1, Math.max(0, x));
}
