import { renderChartSvg, type VegaLiteSpec } from '../../report/html/render-svg.js';
import { COLD } from '../cold/cold-burst.js';
import type { Row } from '../rows.js';

/**
 * The cold burst as a picture: recomputations per system (symlog scale: 1 and 200 on one axis)
 * next to p99 latency per system, with the compute time as the floor.
 */
export function coldChartSpec(rows: readonly Row[], labels: Record<string, string>, computeMs: number, subtitle: string): VegaLiteSpec {
  const pick = (metric: string) =>
    rows.filter((r) => r.scenario === COLD && r.metric === metric).map((r) => ({ system: labels[r.system] ?? r.system, value: r.value }));
  const order = rows.filter((r) => r.scenario === COLD && r.metric === 'recomputations').map((r) => labels[r.system] ?? r.system);
  const y = { field: 'system', type: 'nominal', sort: order, title: null, axis: { labelLimit: 320 } } as const;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: 'Cold burst: one cold key, every request at once', subtitle },
    background: 'white',
    hconcat: [
      {
        title: 'recomputations (worst round)',
        width: 260,
        data: { values: pick('recomputations') },
        layer: [
          {
            name: 'recomputations',
            mark: { type: 'bar', color: '#d95f02' },
            encoding: {
              y,
              x: {
                field: 'value',
                type: 'quantitative',
                scale: { type: 'symlog' },
                axis: { values: [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] },
                title: 'recomputations (symlog scale)',
              },
            },
          },
          {
            mark: { type: 'text', align: 'left', dx: 4 },
            encoding: { y, x: { field: 'value', type: 'quantitative' }, text: { field: 'value', type: 'quantitative' } },
          },
        ],
      },
      {
        title: `p99 latency, median round (compute = ${computeMs} ms, dashed)`,
        width: 260,
        layer: [
          {
            name: 'p99',
            data: { values: pick('latency.p99') },
            mark: { type: 'bar', color: '#1b9e77' },
            encoding: { y: { ...y, axis: null }, x: { field: 'value', type: 'quantitative', title: 'p99 ms' } },
          },
          {
            data: { values: pick('latency.p99') },
            mark: { type: 'text', align: 'left', dx: 4 },
            encoding: {
              y: { ...y, axis: null },
              x: { field: 'value', type: 'quantitative' },
              text: { field: 'value', type: 'quantitative', format: '.0f' },
            },
          },
          {
            data: { values: [{ compute: computeMs }] },
            mark: { type: 'rule', color: '#555', strokeDash: [4, 3] },
            encoding: { x: { field: 'compute', type: 'quantitative' } },
          },
        ],
      },
    ],
  } as VegaLiteSpec;
}

export function renderColdChart(
  rows: readonly Row[],
  labels: Record<string, string>,
  computeMs: number,
  subtitle: string,
): Promise<string> {
  return renderChartSvg(coldChartSpec(rows, labels, computeMs, subtitle));
}
