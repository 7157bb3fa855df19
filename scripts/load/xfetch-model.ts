/**
 * The model side of the load lab's XFetch β sweep (issue 25, "XFetch against its paper"): for one
 * key read by Poisson arrivals, when does the rule in src/cache/strategies/xfetch.ts trigger its
 * first early refresh? A runner puts these figures beside the earliness it measures.
 *
 * Units: the read rate in reads per second (as the lab's traffic flags give it); every time, in and
 * out, in milliseconds. Earliness X is the remaining time (expiry - now) at the first read for
 * which `shouldRefreshEarly` is true.
 *
 * Derivation. Write s = δβ (δ = computeMs) and λ in reads/ms. A read at remaining time t draws
 * U uniform in (0, 1) and triggers when -s·ln(U) >= t, i.e. when U <= e^(-t/s): probability
 * e^(-t/s), independently of every other read. Thinning a Poisson process by an independent,
 * time-dependent coin keeps it Poisson, so the triggering reads form a Poisson process over
 * remaining time with intensity λ·e^(-t/s). The value is written at remaining time T (its fresh
 * time, freshMs) and read from then on, so remaining time runs from T down to 0; the first
 * trigger is the triggering read with the largest remaining time. Hence X <= x exactly when no
 * triggering read fell in (x, T]:
 *   P(X <= x) = exp(-∫_x^T λe^(-t/s) dt) = exp(-λs·(e^(-x/s) - e^(-T/s))),   0 <= x <= T.
 * The formula, exp(-λs·e^(-x/s)) (a Gumbel law, location s·ln(λs), scale s, mean
 * s(ln(λs) + γ)), is the limit T -> ∞ taken over the whole real line. It needs two corrections:
 * - top: X <= T always (no read before the write); the e^(-T/s) term, which matters when T is not
 *   several s·ln(λs) long (then refreshes pile up just after the write and the Gumbel mean is
 *   beyond T);
 * - bottom: the rule can only refresh early while the value is fresh, so the Gumbel's mass below
 *   0 is no earliness but a missed expiry, with probability
 *   P(X <= 0) = exp(-λs·(1 - e^(-T/s))).
 * So the figures below are of X given that an early refresh happened (what a runner measures,
 * counting misses apart): CDF (F(x) - m)/(1 - m) on [0, T], quantiles in closed form, the mean and
 * standard deviation by numerical integration.
 * Not modelled: the refresh takes δ itself, so one triggered at X < δ lands after expiry (a
 * runner can read that share off `xfetchEarlinessCdf(key, computeMs)`); reads are taken to
 * continue at rate λ until expiry.
 */

export interface XfetchKey {
  /** Poisson reads of the key, per second. */
  ratePerSecond: number;
  /** δ: how long the value took to compute, ms (the envelope's computeMs). */
  computeMs: number;
  /** XFetch's β (the guard's xfetchBeta). */
  beta: number;
  /** T: how long the value is fresh, ms (may be Infinity: the untruncated case). */
  freshMs: number;
}

/** Earliness, ms before expiry, of the first early refresh given there was one; and how often there was none. */
export interface XfetchEarliness {
  mean: number;
  sd: number;
  p10: number;
  p50: number;
  p90: number;
  /** P(no read triggered an early refresh before expiry). */
  missProbability: number;
}

/** Euler–Mascheroni constant: the mean of a standard Gumbel law. */
export const EULER_GAMMA = 0.5772156649015329;

interface Params {
  /** s = δβ, ms: the scale. */
  s: number;
  /** a = λδβ: expected triggering reads if the whole (0, ∞) of remaining time were read. */
  a: number;
  /** e^(-T/s). */
  top: number;
  T: number;
  /** m: the miss probability. */
  miss: number;
}

function params(key: XfetchKey): Params {
  const { ratePerSecond, computeMs, beta, freshMs } = key;
  for (const [name, v] of [
    ['ratePerSecond', ratePerSecond],
    ['computeMs', computeMs],
    ['beta', beta],
  ] as const) {
    if (!(v > 0 && Number.isFinite(v))) throw new RangeError(`${name} must be a positive finite number, got ${v}`);
  }
  if (!(freshMs > 0)) throw new RangeError(`freshMs must be positive, got ${freshMs}`);
  const s = computeMs * beta;
  const a = (ratePerSecond / 1000) * s;
  const top = Math.exp(-freshMs / s);
  return { s, a, top, T: freshMs, miss: Math.exp(-a * (1 - top)) };
}

/** P(X > x | X > 0) for 0 <= x <= T; expm1 keeps the far tail accurate. */
function survival(p: Params, x: number): number {
  return -Math.expm1(-p.a * (Math.exp(-x / p.s) - p.top)) / (1 - p.miss);
}

/** P(X <= x | an early refresh happened): 0 below 0, 1 from T on. */
export function xfetchEarlinessCdf(key: XfetchKey, x: number): number {
  const p = params(key);
  if (x <= 0) return 0;
  if (x >= p.T) return 1;
  return 1 - survival(p, x);
}

/** The q-quantile of X given an early refresh happened, by inverting the CDF above. */
export function xfetchEarlinessQuantile(key: XfetchKey, q: number): number {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`q must be in [0, 1], got ${q}`);
  const p = params(key);
  // F(x) = y with y = m + q(1 - m); ln y via log1p, as y is often close to 1.
  const lnY = Math.log1p(-(1 - q) * (1 - p.miss));
  const x = -p.s * Math.log(p.top - lnY / p.a);
  return Math.min(Math.max(x, 0), p.T);
}

/**
 * ∫_0^T x^k·P(X > x | X > 0) dx by composite Simpson. The integrand is 1 until about s·ln(a) and
 * falls like a·e^(-x/s) after, so it is cut where that is below e^-40 and stepped at s/64.
 */
function tailIntegral(p: Params, k: 0 | 1): number {
  const upper = Math.min(p.T, p.s * (40 + Math.max(0, Math.log(p.a))));
  const n = 2 * Math.min(500_000, Math.max(32, Math.ceil((upper / p.s) * 32)));
  const h = upper / n;
  let sum = 0;
  for (let i = 0; i <= n; i++) {
    const x = i * h;
    const w = i === 0 || i === n ? 1 : i % 2 === 1 ? 4 : 2;
    sum += w * (k === 0 ? 1 : x) * survival(p, x);
  }
  return (sum * h) / 3;
}

/** The model's figures for one key: earliness of the first early refresh (given one happened) and the miss probability. */
export function xfetchEarlinessModel(key: XfetchKey): XfetchEarliness {
  const p = params(key);
  // E[X] = ∫ P(X > x) dx and E[X²] = ∫ 2x·P(X > x) dx, both given X > 0.
  const mean = tailIntegral(p, 0);
  const second = 2 * tailIntegral(p, 1);
  return {
    mean,
    sd: Math.sqrt(Math.max(0, second - mean * mean)),
    p10: xfetchEarlinessQuantile(key, 0.1),
    p50: xfetchEarlinessQuantile(key, 0.5),
    p90: xfetchEarlinessQuantile(key, 0.9),
    missProbability: p.miss,
  };
}

/** The untruncated Gumbel law (T = ∞, negative earliness allowed), for showing beside the model. */
export function xfetchGumbel(key: Pick<XfetchKey, 'ratePerSecond' | 'computeMs' | 'beta'>): {
  location: number;
  scale: number;
  mean: number;
} {
  const { s, a } = params({ ...key, freshMs: Number.POSITIVE_INFINITY });
  const location = s * Math.log(a);
  return { location, scale: s, mean: location + s * EULER_GAMMA };
}
