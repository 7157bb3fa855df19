import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { escapeHtml } from '../report/html/escape.js';
import { FONT } from '../report/html/style.js';
import type { WrittenReport } from '../report/html/write.js';
import { LOAD_SECTION_CSS, renderLoadSection } from './load-section.js';
import type { LoadRow } from './run-load.js';
import type { TrafficSpec } from './traffic-options.js';

/**
 * The load lab's HTML report: one self-contained page (inline CSS and SVG, no script, no
 * network) holding the run's section (load-section.ts: origin load and latency per second,
 * strategy beside strategy, and the table). `npm run logs -- --html` on the run's logs draws the
 * same section (from the load.json beside them) under the burst timelines.
 *
 * DOM contract: the section's (`section.load`, `figure.origin svg`, `figure.latency svg`,
 * `pre.table`); `body[data-strategies]`: the strategies drawn, comma-separated.
 */

export interface LoadReportOptions {
  /** Worker processes per strategy (for the title line and the table). */
  workers: number;
  /** @default 'cache-stampede: load' */
  title?: string;
  /** @default now */
  generatedAt?: Date;
}

export async function renderLoadReport(rows: readonly LoadRow[], traffic: TrafficSpec, options: LoadReportOptions): Promise<string> {
  const title = options.title ?? 'cache-stampede: load';
  const section = await renderLoadSection({ rows: [...rows], traffic, workers: options.workers });
  const generated = (options.generatedAt ?? new Date()).toISOString();
  const strategies = rows.map((r) => r.strategy).join(',');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="cache-stampede npm run load">
<title>${escapeHtml(title)}</title>
<style>${CSS}${LOAD_SECTION_CSS}</style>
</head>
<body data-strategies="${escapeHtml(strategies)}">
<header>
<h1>${escapeHtml(title)}</h1>
<p class="meta">generated ${escapeHtml(generated)}</p>
</header>
<main>
${section}
</main>
</body>
</html>
`;
}

/** Render the page and write it, creating the directory; returns the absolute path to print. */
export async function writeLoadReport(
  rows: readonly LoadRow[],
  traffic: TrafficSpec,
  file: string,
  options: LoadReportOptions,
): Promise<WrittenReport> {
  const html = await renderLoadReport(rows, traffic, options);
  const path = resolve(file);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, html, 'utf8');
  return { file: path, bytes: Buffer.byteLength(html) };
}

const CSS = `
:root { color-scheme: light; }
body { font-family: ${FONT}; margin: 0; color: #1d2329; background: #fafbfc; }
header { padding: 18px 28px 8px; border-bottom: 1px solid #e1e5ea; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; }
main { padding: 12px 28px 40px; }
section { background: #fff; border: 1px solid #e1e5ea; border-radius: 6px; padding: 14px 18px; margin: 14px 0; }
.meta, figcaption { color: #58626d; font-size: 13px; margin: 2px 0; }
figcaption { margin-bottom: 4px; }
svg { max-width: 100%; height: auto; display: block; }
`;
