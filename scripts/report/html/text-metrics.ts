import * as vega from 'vega';

/**
 * Better text widths for Vega in Node. Without the optional `canvas` package Vega guesses
 * every character at 0.8 em, so labels come out far wider than a browser draws them: legend
 * entries get truncated ("waiting on another proce…") and axis titles float away from
 * their labels. Vega supports replacing `textMetrics.width` for exactly this case (vl-convert
 * does the same); here with the character widths of Helvetica/Arial (AFM units, 1/1000 em),
 * a little widened for the wider system sans-serif fonts the report names first.
 */

// Printable ASCII, from space (32) to tilde (126).
const ASCII_WIDTHS = [
  278,
  278,
  355,
  556,
  556,
  889,
  667,
  191,
  333,
  333,
  389,
  584,
  278,
  333,
  278,
  278, // space to /
  556,
  556,
  556,
  556,
  556,
  556,
  556,
  556,
  556,
  556,
  278,
  278,
  584,
  584,
  584,
  556, // 0 to ?
  1015,
  667,
  667,
  722,
  722,
  667,
  611,
  778,
  722,
  278,
  500,
  667,
  556,
  833,
  722,
  778, // @ to O
  667,
  778,
  722,
  667,
  611,
  722,
  667,
  944,
  667,
  667,
  611,
  278,
  278,
  278,
  469,
  556, // P to _
  333,
  556,
  556,
  500,
  556,
  556,
  278,
  556,
  556,
  222,
  222,
  500,
  222,
  833,
  556,
  556, // ` to o
  556,
  556,
  333,
  500,
  278,
  556,
  500,
  722,
  500,
  500,
  500,
  334,
  260,
  334,
  584, // p to ~
];
const OTHER_WIDTH = 600;
const SAFETY = 1.1;
const BOLD = 1.07;

interface TextItem {
  fontSize?: number;
  fontWeight?: string | number;
  limit?: number;
}

/** Width in px of `text` drawn with the item's font size and weight. */
export function estimateTextWidth(item: TextItem, text: unknown): number {
  const line = text == null ? '' : String(text).trim();
  const size = item.fontSize != null ? Number(item.fontSize) || 0 : 11;
  let units = 0;
  for (const ch of line) {
    const code = ch.codePointAt(0)!;
    units += code >= 32 && code <= 126 ? ASCII_WIDTHS[code - 32]! : OTHER_WIDTH;
  }
  const weight = item.fontWeight;
  const bold = weight === 'bold' || (typeof weight === 'number' && weight >= 600) || (typeof weight === 'string' && Number(weight) >= 600);
  const width = (units / 1000) * size * SAFETY * (bold ? BOLD : 1);
  // Vega truncates text to `limit`; never report more than that.
  return item.limit && item.limit > 0 ? Math.min(width, item.limit) : width;
}

interface TextMetrics {
  width: (item: TextItem, text: unknown) => number;
  estimateWidth: (item: TextItem, text: unknown) => number;
}

let installed = false;

/** Use `estimateTextWidth` in Vega, unless a real canvas already measures text. Idempotent. */
export function installTextMetrics(): void {
  if (installed) return;
  installed = true;
  const metrics = (vega as unknown as { textMetrics?: TextMetrics }).textMetrics;
  if (metrics && metrics.width === metrics.estimateWidth) metrics.width = estimateTextWidth;
}
