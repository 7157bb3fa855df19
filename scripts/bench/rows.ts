/**
 * The bench's figures: one row per (scenario, system, metric), the same rows the markdown
 * table, the JSON file and the chart are made from.
 */
export interface Row {
  /** `cold`, `locks/distinct-serial`, `locks/distinct-parallel`, `locks/contended`, `hits`, `memory`. */
  scenario: string;
  system: string;
  metric: string;
  value: number;
  unit: string;
}

export class Rows {
  readonly all: Row[] = [];

  add(scenario: string, system: string, metric: string, value: number, unit: string): void {
    this.all.push({ scenario, system, metric, value: round(value), unit });
  }

  get(scenario: string, system: string, metric: string): number | undefined {
    return this.all.find((r) => r.scenario === scenario && r.system === system && r.metric === metric)?.value;
  }

  systems(scenario: string): string[] {
    return [...new Set(this.all.filter((r) => r.scenario === scenario).map((r) => r.system))];
  }
}

/** Four significant decimals at most: enough for ratios, no float noise in the JSON. */
export function round(value: number): number {
  if (!Number.isFinite(value)) return value;
  return Math.round(value * 10_000) / 10_000;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
