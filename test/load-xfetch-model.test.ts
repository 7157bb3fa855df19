import { afterAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../src/cache/envelope.js';
import { shouldRefreshEarly } from '../src/cache/strategies/xfetch.js';
import {
  type XfetchKey,
  xfetchEarlinessCdf,
  xfetchEarlinessModel,
  xfetchEarlinessQuantile,
  xfetchGumbel,
} from '../scripts/load/xfetch-model.js';
import { mulberry32 } from '../scripts/load/random.js';

/**
 * Many expiries of one key, played through the real rule: the value is written at time 0, fresh
 * until T; Poisson reads follow (exponential gaps) and each asks `shouldRefreshEarly`; the first
 * yes gives the earliness T - now, and a key read to its expiry without a yes is a miss.
 */
function simulate(key: XfetchKey, expiries: number, seed: number): { earliness: number[]; misses: number } {
  const random = mulberry32(seed);
  const perMs = key.ratePerSecond / 1000;
  const envelope: Envelope = { value: 0, fence: 1, computedAt: 0, computeMs: key.computeMs, ttlMs: key.freshMs, freshUntil: key.freshMs };
  const earliness: number[] = [];
  let misses = 0;
  for (let i = 0; i < expiries; i++) {
    let now = 0;
    for (;;) {
      now += -Math.log(1 - random()) / perMs;
      if (now >= key.freshMs) {
        misses++;
        break;
      }
      if (shouldRefreshEarly(envelope, now, key.beta, random())) {
        earliness.push(key.freshMs - now);
        break;
      }
    }
  }
  return { earliness, misses };
}

const EXPIRIES = 4000;
/** Four standard errors: a deterministic seed, but a tolerance a correct model passes for almost any seed. */
const Z = 4;
const COMPUTE_MS = 100;
const rows: string[] = [];

const cases: { lambdaDelta: number; beta: number; freshMs: number }[] = [];
for (const lambdaDelta of [1, 10]) for (const beta of [0.5, 1, 2, 4]) cases.push({ lambdaDelta, beta, freshMs: 3000 });
// T shorter than the Gumbel's location (s·ln(λs) ≈ 1,475 ms): refreshes pile up just after the write.
cases.push({ lambdaDelta: 10, beta: 4, freshMs: 1000 });

const keyOf = (c: (typeof cases)[number]): XfetchKey => ({
  ratePerSecond: (c.lambdaDelta / COMPUTE_MS) * 1000,
  computeMs: COMPUTE_MS,
  beta: c.beta,
  freshMs: c.freshMs,
});

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

describe('the XFetch earliness model against the real rule, simulated', () => {
  afterAll(() => {
    console.log(
      ['λδ  β    T     | mean sim/model (Gumbel) | p10 sim/model | p50 sim/model | p90 sim/model | miss sim/model', ...rows].join('\n'),
    );
  });

  cases.forEach((c, index) => {
    it(`λδ ${c.lambdaDelta}, β ${c.beta}, T ${c.freshMs} ms: mean, deciles and misses within ${Z} standard errors of ${EXPIRIES} expiries`, () => {
      const key = keyOf(c);
      const model = xfetchEarlinessModel(key);
      const { earliness, misses } = simulate(key, EXPIRIES, 0x5eed + index);
      const n = earliness.length;
      const sorted = [...earliness].sort((x, y) => x - y);
      const mean = earliness.reduce((sum, x) => sum + x, 0) / n;
      const missRate = misses / EXPIRIES;
      const gumbel = xfetchGumbel(key).mean;
      const f = (x: number) => x.toFixed(0).padStart(5);
      rows.push(
        `${String(c.lambdaDelta).padEnd(3)} ${String(c.beta).padEnd(4)} ${String(c.freshMs).padEnd(5)} | ${f(mean)}/${f(model.mean)} (${f(gumbel)}) ` +
          `| ${f(quantile(sorted, 0.1))}/${f(model.p10)} | ${f(quantile(sorted, 0.5))}/${f(model.p50)} | ${f(quantile(sorted, 0.9))}/${f(model.p90)} ` +
          `| ${missRate.toFixed(3)}/${model.missProbability.toFixed(3)}`,
      );

      // The mean: its standard error is the model's sd over √n.
      expect(Math.abs(mean - model.mean)).toBeLessThanOrEqual((Z * model.sd) / Math.sqrt(n));
      // Each decile: the share of simulated earliness at or below the model's quantile is a binomial proportion.
      for (const [q, x] of [
        [0.1, model.p10],
        [0.5, model.p50],
        [0.9, model.p90],
      ] as const) {
        const below = earliness.filter((e) => e <= x).length / n;
        expect(Math.abs(below - q), `share below p${q * 100}`).toBeLessThanOrEqual(Z * Math.sqrt((q * (1 - q)) / n));
      }
      // Misses: a binomial proportion of all expiries (half an expiry's slack for a probability near 0).
      const m = model.missProbability;
      expect(Math.abs(missRate - m)).toBeLessThanOrEqual(Z * Math.sqrt((m * (1 - m)) / EXPIRIES) + 0.5 / EXPIRIES);
    });
  });

  it("shows the truncation is needed: when T is short, the issue's untruncated Gumbel mean is far from the simulation", () => {
    const key = keyOf({ lambdaDelta: 10, beta: 4, freshMs: 1000 });
    const { earliness } = simulate(key, EXPIRIES, 0x5eed + cases.length - 1);
    const mean = earliness.reduce((sum, x) => sum + x, 0) / earliness.length;
    const model = xfetchEarlinessModel(key);
    expect(xfetchGumbel(key).mean - mean).toBeGreaterThan((20 * model.sd) / Math.sqrt(earliness.length));
    expect(xfetchGumbel(key).mean).toBeGreaterThan(key.freshMs); // an earliness the key cannot have
  });
});

describe('the XFetch earliness model on its own', () => {
  it("is the issue's Gumbel law when T is unbounded and λδβ large (no mass below 0): mean s(ln(λs) + γ), median location - s·ln(ln 2)", () => {
    const key: XfetchKey = { ratePerSecond: 2000, computeMs: 50, beta: 2, freshMs: Number.POSITIVE_INFINITY }; // λs = 200
    const model = xfetchEarlinessModel(key);
    const gumbel = xfetchGumbel(key);
    expect(model.missProbability).toBeLessThan(1e-80);
    expect(model.mean).toBeCloseTo(gumbel.mean, 6);
    expect(model.p50).toBeCloseTo(gumbel.location - gumbel.scale * Math.log(Math.log(2)), 6);
    expect(model.sd).toBeCloseTo((gumbel.scale * Math.PI) / Math.sqrt(6), 4);
  });

  it('has a quantile function that inverts its CDF, on [0, T]', () => {
    const key: XfetchKey = { ratePerSecond: 10, computeMs: 100, beta: 1, freshMs: 2000 };
    for (const q of [0.01, 0.1, 0.5, 0.9, 0.99]) expect(xfetchEarlinessCdf(key, xfetchEarlinessQuantile(key, q))).toBeCloseTo(q, 10);
    expect(xfetchEarlinessQuantile(key, 0)).toBe(0);
    expect(xfetchEarlinessQuantile(key, 1)).toBeCloseTo(2000, 9);
    expect(xfetchEarlinessCdf(key, -1)).toBe(0);
    expect(xfetchEarlinessCdf(key, 2000)).toBe(1);
  });

  it('gives the miss probability exp(-λδβ(1 - e^(-T/(δβ))))', () => {
    const model = xfetchEarlinessModel({ ratePerSecond: 5, computeMs: 100, beta: 1, freshMs: 300 }); // λs = 0.5, T/s = 3
    expect(model.missProbability).toBeCloseTo(Math.exp(-0.5 * (1 - Math.exp(-3))), 12);
  });

  it('rejects a rate, computation time, β or fresh time that is not positive', () => {
    const ok: XfetchKey = { ratePerSecond: 1, computeMs: 1, beta: 1, freshMs: 1 };
    for (const bad of [{ ratePerSecond: 0 }, { computeMs: -1 }, { beta: Number.NaN }, { freshMs: 0 }]) {
      expect(() => xfetchEarlinessModel({ ...ok, ...bad })).toThrow(RangeError);
    }
  });
});
