/** Reading the manual's tables in tests, so a test checks the docs themselves, not a copy of them. */

/** The cells of a markdown table row (a `|` inside backticks is text). */
export function cellsOf(row: string): string[] {
  const out: string[] = [];
  let cell = '';
  let code = false;
  for (const ch of row.trim().slice(1)) {
    if (ch === '`') code = !code;
    if (ch === '|' && !code) {
      out.push(cell.trim());
      cell = '';
    } else cell += ch;
  }
  return out;
}

/** The tables of a markdown page: each a list of rows of cells, header first, separator dropped. */
export function tablesOf(markdown: string): string[][][] {
  const tables: string[][][] = [];
  let current: string[][] | null = null;
  for (const line of markdown.split('\n')) {
    if (!line.startsWith('|')) {
      current = null;
      continue;
    }
    if (!current) {
      current = [];
      tables.push(current);
    }
    if (!/^\|[\s:|-]+\|$/.test(line.trim())) current.push(cellsOf(line));
  }
  return tables;
}

/** The `code` spans of a piece of markdown, in order, without their backticks. */
export function codeSpans(text: string): string[] {
  return [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
}
