import { describe, expect, it } from 'vitest';
import { ConfigError } from '../scripts/common/errors.js';
import { poissonArrivals } from '../scripts/load/arrivals.js';
import { computeTimeSampler } from '../scripts/load/compute-time.js';
import { mulberry32 } from '../scripts/load/random.js';
import { type TrafficItem, type TrafficJob, traffic } from '../scripts/load/traffic.js';
import { checkTraffic, type TrafficOptions } from '../scripts/load/traffic-options.js';
import { zipf } from '../scripts/load/zipf.js';

const jobsOf = (items: Iterable<TrafficItem>): TrafficJob[] => [...items].filter((i): i is TrafficJob => i.kind === 'job');
const small = (options: TrafficOptions = {}) => checkTraffic({ keys: 50, rate: 500, durationMs: 2000, ...options });

describe('load traffic: reproducibility', () => {
  it('the same seed gives the same stream, another seed another one', () => {
    const a = [...traffic(small({ seed: 7 }))];
    const b = [...traffic(small({ seed: 7 }))];
    const c = [...traffic(small({ seed: 8 }))];
    expect(a.length).toBeGreaterThan(500);
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
    // Not merely a shifted count: the first arrivals differ in time and key.
    expect(
      jobsOf(c)
        .slice(0, 20)
        .map((j) => [j.at, j.key]),
    ).not.toEqual(
      jobsOf(a)
        .slice(0, 20)
        .map((j) => [j.at, j.key]),
    );
  });

  it('adding a burst or a flush leaves the Poisson arrivals, their keys and computation times as they were', () => {
    const plain = jobsOf(traffic(small({ seed: 3 })));
    const withEvents = jobsOf(
      traffic(
        small({
          seed: 3,
          events: [
            { kind: 'flush', atMs: 500 },
            { kind: 'burst', atMs: 900, jobs: 40 },
          ],
        }),
      ),
    );
    const strip = ({ seq: _seq, ...job }: TrafficJob) => job;
    expect(withEvents.filter((j) => !j.burst).map(strip)).toEqual(plain.map(strip));
    expect(withEvents.filter((j) => j.burst)).toHaveLength(40);
  });
});

describe('load traffic: Zipf popularity', () => {
  it('a large sample matches the theoretical shares', () => {
    const s = 1;
    const model = zipf(1000, s);
    const rand = mulberry32(42);
    const n = 200_000;
    const counts = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      const rank = model.rank(rand());
      counts.set(rank, (counts.get(rank) ?? 0) + 1);
    }
    const share = (rank: number) => (counts.get(rank) ?? 0) / n;
    // Rank 1's share within 4 binomial standard deviations of its probability (about 13.4%).
    const p1 = model.probability(1);
    expect(p1).toBeCloseTo(1 / 7.485470860550345, 9); // H(1000, 1)
    expect(Math.abs(share(1) - p1)).toBeLessThan(4 * Math.sqrt((p1 * (1 - p1)) / n));
    // Rank 1 over rank 2 is 2^s, within the noise of two counts (relative error about sqrt(1/c1 + 1/c2)).
    const ratio = counts.get(1)! / counts.get(2)!;
    expect(Math.abs(ratio - 2 ** s)).toBeLessThan(4 * 2 ** s * Math.sqrt(1 / counts.get(1)! + 1 / counts.get(2)!));
    // Every rank in range, and the tail reached.
    expect(Math.min(...counts.keys())).toBe(1);
    expect(Math.max(...counts.keys())).toBeLessThanOrEqual(1000);
    expect(counts.size).toBeGreaterThan(950);
  });

  it('follows the exponent: s = 2 makes rank 1 four times rank 2; s = 0 is uniform', () => {
    const steep = zipf(100, 2);
    expect(steep.probability(1) / steep.probability(2)).toBeCloseTo(4, 12);
    const flat = zipf(4, 0);
    expect([0, 0.24, 0.25, 0.49, 0.5, 0.99].map((u) => flat.rank(u))).toEqual([1, 1, 2, 2, 3, 4]);
  });

  it('maps the edges of [0, 1) to the first and last ranks', () => {
    const model = zipf(1000, 1);
    expect(model.rank(0)).toBe(1);
    expect(model.rank(1 - 2 ** -53)).toBe(1000);
    expect(zipf(1, 1).rank(0.999)).toBe(1);
  });
});

describe('load traffic: Poisson arrivals', () => {
  it('counts about R * D jobs, with exponential gaps of mean 1/R (coefficient of variation about 1)', () => {
    const rate = 1000;
    const durationMs = 100_000;
    const times = [...poissonArrivals(rate, durationMs, mulberry32(5))];
    const expected = (rate * durationMs) / 1000; // 100,000; a Poisson count's sd is its square root
    expect(Math.abs(times.length - expected)).toBeLessThan(4 * Math.sqrt(expected));
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
    const sd = Math.sqrt(gaps.reduce((a, g) => a + (g - mean) ** 2, 0) / (gaps.length - 1));
    expect(mean).toBeGreaterThan(0.98); // 1 ms expected
    expect(mean).toBeLessThan(1.02);
    expect(sd / mean).toBeGreaterThan(0.97);
    expect(sd / mean).toBeLessThan(1.03);
    expect(times.every((t, i) => t >= 0 && t < durationMs && (i === 0 || t >= times[i - 1]!))).toBe(true);
  });
});

describe('load traffic: computation times', () => {
  it("a log-normal's sample median is the given median, and its spread follows sigma", () => {
    const sample = (sigma: number) => {
      const draw = computeTimeSampler({ kind: 'lognormal', medianMs: 200, sigma }, mulberry32(9));
      return Float64Array.from({ length: 20_001 }, draw).sort();
    };
    const wide = sample(1);
    // The median of 20,001 draws is within about 2% of the true one (sd of the sample median ~ 1.25 sigma / sqrt(n)).
    expect(wide[10_000]).toBeGreaterThanOrEqual(190);
    expect(wide[10_000]).toBeLessThanOrEqual(210);
    // The 90th percentile is median * e^(1.2816 sigma): 720 ms for sigma = 1, 381 for sigma = 0.5.
    expect(wide[18_000]! / 720).toBeGreaterThan(0.93);
    expect(wide[18_000]! / 720).toBeLessThan(1.07);
    const narrow = sample(0.5);
    expect(narrow[18_000]! / 381).toBeGreaterThan(0.95);
    expect(narrow[18_000]! / 381).toBeLessThan(1.05);
    expect(wide.every((ms) => Number.isInteger(ms) && ms >= 0)).toBe(true);
  });

  it('a fixed time is the same for every job', () => {
    const jobs = jobsOf(traffic(small({ computeTime: { kind: 'fixed', ms: 250 } })));
    expect(new Set(jobs.map((j) => j.computeMs))).toEqual(new Set([250]));
  });
});

describe('load traffic: the timeline', () => {
  it('merges the start, flushes and bursts with the arrivals in time order, events first at equal times', () => {
    const spec = small({
      seed: 11,
      start: 'cold',
      // Given out of order: the model sorts them.
      events: [
        { kind: 'burst', atMs: 1500, jobs: 30, keys: 'hottest' },
        { kind: 'flush', atMs: 1000 },
        { kind: 'burst', atMs: 1000, jobs: 20 },
      ],
    });
    const items = [...traffic(spec)];
    expect(items[0]).toEqual({ at: 0, kind: 'start', cache: 'cold' });
    expect(items.every((item, i) => i === 0 || item.at >= items[i - 1]!.at)).toBe(true);
    const markers = items.filter((i) => i.kind !== 'job');
    expect(markers.map((m) => [m.kind, m.at])).toEqual([
      ['start', 0],
      ['flush', 1000],
      ['burst', 1000],
      ['burst', 1500],
    ]);
    // A burst's jobs follow its marker, all due at its time; the 'hottest' one is all on rank 1.
    const second = items.indexOf(markers[3]!);
    const burstJobs = items.slice(second + 1, second + 31) as TrafficJob[];
    expect(burstJobs.every((j) => j.kind === 'job' && j.burst && j.at === 1500 && j.key === 'key-1')).toBe(true);
    const first = items.indexOf(markers[2]!);
    const zipfBurst = items.slice(first + 1, first + 21) as TrafficJob[];
    expect(zipfBurst.every((j) => j.burst && j.at === 1000)).toBe(true);
    expect(new Set(zipfBurst.map((j) => j.rank)).size).toBeGreaterThan(1); // spread by popularity
    // Every job once, numbered in stream order; Poisson jobs about rate * duration.
    const jobs = jobsOf(items);
    expect(jobs.map((j) => j.seq)).toEqual(jobs.map((_, i) => i));
    expect(jobs.filter((j) => j.burst)).toHaveLength(50);
  });

  it('puts a flush due exactly at an arrival before that arrival', () => {
    const at = jobsOf(traffic(small({ seed: 4 })))[10]!.at;
    const items = [...traffic(small({ seed: 4, events: [{ kind: 'flush', atMs: at }] }))];
    const flush = items.findIndex((i) => i.kind === 'flush');
    expect(items[flush + 1]).toMatchObject({ kind: 'job', at, seq: 10 });
  });

  it('a warm start is announced as such', () => {
    expect(traffic(small({ start: 'warm' })).next().value).toEqual({ at: 0, kind: 'start', cache: 'warm' });
  });
});

describe('load traffic: parameters', () => {
  it.each<[TrafficOptions, RegExp]>([
    [{ keys: 0 }, /^keys must be between 1 and 1000000, got 0$/],
    [{ keys: 2.5 }, /^keys must be a whole number, got 2.5$/],
    [{ zipfS: -1 }, /^zipfS must be between 0 and 10, got -1$/],
    [{ rate: 0 }, /^rate must be above 0, got 0$/],
    [{ rate: Number.NaN }, /^rate must be a number, got NaN$/],
    [{ durationMs: 0 }, /^durationMs must be between 1 and 86400000, got 0$/],
    [{ seed: -1 }, /^seed must be between 0 and 4294967295, got -1$/],
    [{ computeTime: { kind: 'lognormal', medianMs: 0, sigma: 1 } }, /^computeTime\.medianMs must be above 0, got 0$/],
    [{ computeTime: { kind: 'lognormal', medianMs: 100, sigma: -0.1 } }, /^computeTime\.sigma must be between 0 and 5/],
    [{ computeTime: { kind: 'fixed', ms: 700_000 } }, /^computeTime\.ms must be between 0 and 600000/],
    [{ computeTime: { kind: 'normal' } as never }, /^computeTime\.kind must be one of fixed, lognormal; got "normal"$/],
    [{ start: 'hot' as never }, /^start must be one of cold, warm; got "hot"$/],
    [{ events: [{ kind: 'flush', atMs: 60_000 }] }, /^events\[0\]\.atMs must be before the end of the run \(60000 ms\)/],
    [
      {
        events: [
          { kind: 'flush', atMs: 1 },
          { kind: 'burst', atMs: 5, jobs: 0 },
        ],
      },
      /^events\[1\]\.jobs must be between 1 and 1000000/,
    ],
    [{ events: [{ kind: 'burst', atMs: 5, jobs: 3, keys: 'coldest' as never }] }, /^events\[0\]\.keys must be one of zipf, hottest/],
    [{ keyPrefix: 'a b' }, /^keyPrefix must be 1-64 letters/],
    [{ rte: 5 } as never, /^unknown traffic parameter "rte"$/],
  ])('refuses %j, naming the parameter', (options, message) => {
    expect(() => checkTraffic(options)).toThrow(ConfigError);
    expect(() => checkTraffic(options)).toThrow(message);
  });

  it('names a parameter as the caller calls it, e.g. a flag', () => {
    expect(() => checkTraffic({ rate: -5 }, { rate: '--rate' })).toThrow(/^--rate must be between 0 and 1000000, got -5$/);
  });

  it('fills the defaults: 1000 keys, s = 1', () => {
    const spec = checkTraffic({});
    expect(spec).toMatchObject({ keys: 1000, zipfS: 1, start: 'cold', events: [] });
    expect(Object.isFrozen(spec)).toBe(true);
  });
});

describe('load traffic: laziness', () => {
  it('a day at a million jobs/s (8.6e10 jobs) yields its first jobs at once: nothing is built ahead', () => {
    const stream = traffic(checkTraffic({ rate: 1_000_000, durationMs: 86_400_000 }));
    const started = performance.now();
    const first = Array.from({ length: 5 }, () => stream.next().value as TrafficItem);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(first.map((i) => i.kind)).toEqual(['start', 'job', 'job', 'job', 'job']);
  });

  it('300 s at 2000 jobs/s (600,000 jobs) runs in flat memory', () => {
    const spec = checkTraffic({ rate: 2000, durationMs: 300_000, events: [{ kind: 'flush', atMs: 150_000 }] });
    const base = process.memoryUsage().heapUsed;
    let peak = base;
    let jobs = 0;
    for (const item of traffic(spec)) {
      if (item.kind === 'job' && ++jobs % 20_000 === 0) peak = Math.max(peak, process.memoryUsage().heapUsed);
    }
    expect(Math.abs(jobs - 600_000)).toBeLessThan(4 * Math.sqrt(600_000));
    // Kept, 600,000 jobs would hold well over 60 MB (an object and a key string each); garbage
    // between collections of the young generation stays far below that.
    expect(peak - base).toBeLessThan(40 * 1024 * 1024);
  });
});
