/**
 * @module approx/fit/lsq
 *
 * Weighted least-squares polynomial fits in the Chebyshev basis (OLA, digest §1.1 and §1.4 step 2):
 * the error is weighted by the layer's actual input distribution, given either as samples with
 * weights or as a histogram (bin centres + counts):
 *   p_{l,d} = argmin_{deg p ≤ d} Σ_k w_k·(p(x_k) − f(x_k))².
 * Solved by Householder QR on the row-weighted, column-scaled Chebyshev design matrix (`linalg.ts`),
 * never by forming VᵀWV; a ridge fallback handles rank deficiency (fewer distinct points than
 * unknowns, or weights concentrated on a few points). Both the weighted error (the OLA objective,
 * E_x[(p(x) − f(x))²] under the histogram) and the unweighted error are reported.
 */

import { chebFitSamples, clenshaw, checkInterval, type Interval, toUnit } from './chebyshev.js';
import { ApproxError } from '../errors.js';

/** A histogram of a layer's activation inputs: bin centres (increasing) and counts (≥ 0). */
export interface Histogram {
  centers: Float64Array;
  counts: Float64Array;
  /** Range covered by the bins; defaults to [first centre − w/2, last centre + w/2]. */
  lo?: number;
  hi?: number;
}

/** Result of a weighted least-squares fit. */
export interface LsqResult {
  /** Chebyshev coefficients on `interval`. */
  coeffs: Float64Array;
  interval: Interval;
  degree: number;
  /** Σ w (p − y)² / Σ w: the expected squared error under the weights (OLA's e_{l,d}). */
  weightedMse: number;
  /** Σ (p − y)² / n: the plain mean squared error over the sample points. */
  unweightedMse: number;
  /** max_k |p(x_k) − y_k| over the sample points. */
  maxAbsError: number;
  /** Ridge parameter used (0 = plain least squares). */
  ridge: number;
  /** Condition estimate of the scaled R factor. */
  conditionEstimate: number;
}

/** Options of the weighted fits. */
export interface LsqOptions {
  /** Fit interval; default the range of all samples (histogram: the bin range). Samples outside are rejected. */
  interval?: Interval;
  /** Fit only odd T_j (needs a symmetric interval). */
  odd?: boolean;
}

/**
 * Weighted least-squares fit of samples (xs, ys) with weights (undefined = uniform).
 * @throws ApproxError on mismatched lengths, negative weights, a zero total weight, or samples
 *   outside the interval.
 */
export function weightedLeastSquares(
  xs: ArrayLike<number>,
  ys: ArrayLike<number>,
  weights: ArrayLike<number> | undefined,
  degree: number,
  opts: LsqOptions = {},
): LsqResult {
  const n = xs.length;
  if (ys.length !== n || (weights !== undefined && weights.length !== n)) {
    throw new ApproxError(
      `samples, values and weights have different lengths (${n}, ${ys.length}, ${weights?.length ?? n})`,
      'pass one value and one weight per sample',
    );
  }
  if (n === 0) throw new ApproxError(`no samples to fit`, `pass at least degree + 1 points`);
  let total = 0;
  for (let k = 0; k < n; k++) {
    const w = weights === undefined ? 1 : weights[k]!;
    if (!(w >= 0) || !Number.isFinite(w)) throw new ApproxError(`weight ${k} is ${w}`, `weights must be finite and ≥ 0`);
    total += w;
  }
  if (!(total > 0)) throw new ApproxError(`the weights sum to 0`, `pass at least one positive weight`);
  const interval = checkInterval(opts.interval ?? sampleRange(xs));
  const [a, b] = interval;
  const slack = 1e-12 * Math.max(1, Math.abs(a), Math.abs(b));
  for (let k = 0; k < n; k++) {
    if (xs[k]! < a - slack || xs[k]! > b + slack) {
      throw new ApproxError(`sample x = ${xs[k]} lies outside the fit interval [${a}, ${b}]`, `widen the interval or clip the samples`);
    }
  }
  const fit = chebFitSamples(xs, ys, weights, degree, interval, opts.odd ?? false);
  let wsum = 0;
  let usum = 0;
  let mx = 0;
  for (let k = 0; k < n; k++) {
    const e = clenshaw(fit.coeffs, toUnit(xs[k]!, interval)) - ys[k]!;
    const w = weights === undefined ? 1 : weights[k]!;
    wsum += w * e * e;
    usum += e * e;
    mx = Math.max(mx, Math.abs(e));
  }
  return {
    coeffs: fit.coeffs,
    interval,
    degree,
    weightedMse: wsum / total,
    unweightedMse: usum / n,
    maxAbsError: mx,
    ridge: fit.ridge,
    conditionEstimate: fit.conditionEstimate,
  };
}

/** Fit f on samples xs with weights: ys = f(xs). */
export function fitWeighted(
  f: (x: number) => number,
  xs: ArrayLike<number>,
  weights: ArrayLike<number> | undefined,
  degree: number,
  opts: LsqOptions = {},
): LsqResult {
  const ys = new Float64Array(xs.length);
  for (let k = 0; k < xs.length; k++) ys[k] = f(xs[k]!);
  return weightedLeastSquares(xs, ys, weights, degree, opts);
}

/**
 * Fit f on a histogram: the bin centres are the sample points and the counts the weights, so
 * `weightedMse` approximates E_x[(p(x) − f(x))²] under the layer's input distribution.
 * The default interval is the histogram's range (all bins, including empty ones).
 */
export function fitHistogram(
  f: (x: number) => number,
  hist: Histogram,
  degree: number,
  opts: LsqOptions = {},
): LsqResult {
  checkHistogram(hist);
  return fitWeighted(f, hist.centers, hist.counts, degree, { ...opts, interval: opts.interval ?? histogramRange(hist) });
}

/** The range [lo, hi] a histogram covers. */
export function histogramRange(hist: Histogram): Interval {
  const c = hist.centers;
  const w = c.length > 1 ? (c[c.length - 1]! - c[0]!) / (c.length - 1) : 1;
  const lo = hist.lo ?? c[0]! - w / 2;
  const hi = hist.hi ?? c[c.length - 1]! + w / 2;
  return [lo, hi];
}

/** Options of {@link histogram}. */
export interface HistogramOptions {
  /** Number of bins. Default 256. */
  bins?: number;
  /** Range; default [min, max] of the samples (widened slightly so the extremes fall inside). */
  range?: Interval;
  /** Make the range symmetric [−m, m], m = max|x| (the usual choice for odd sign fits). */
  symmetric?: boolean;
}

/** Build a histogram of samples (samples outside `range` are clamped into the end bins). */
export function histogram(samples: ArrayLike<number>, opts: HistogramOptions = {}): Histogram {
  const bins = opts.bins ?? 256;
  if (!Number.isInteger(bins) || bins < 1) throw new ApproxError(`bins ${bins} must be a positive integer`, 'use a positive integer number of bins');
  if (samples.length === 0) throw new ApproxError(`cannot build a histogram of 0 samples`, `profile the layer first`);
  let lo: number;
  let hi: number;
  if (opts.range !== undefined) {
    [lo, hi] = checkInterval(opts.range);
  } else {
    lo = Infinity;
    hi = -Infinity;
    for (let i = 0; i < samples.length; i++) {
      const v = samples[i]!;
      if (!Number.isFinite(v)) throw new ApproxError(`sample ${i} is ${v}`, `samples must be finite`);
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    if (opts.symmetric) {
      const m = Math.max(Math.abs(lo), Math.abs(hi));
      lo = -m;
      hi = m;
    }
    if (hi === lo) {
      hi = lo + 1e-9 * Math.max(1, Math.abs(lo));
      lo = lo - 1e-9 * Math.max(1, Math.abs(lo));
    }
  }
  const w = (hi - lo) / bins;
  const centers = new Float64Array(bins);
  const counts = new Float64Array(bins);
  for (let i = 0; i < bins; i++) centers[i] = lo + (i + 0.5) * w;
  for (let i = 0; i < samples.length; i++) {
    const j = Math.min(bins - 1, Math.max(0, Math.floor((samples[i]! - lo) / w)));
    counts[j] = counts[j]! + 1;
  }
  return { centers, counts, lo, hi };
}

function checkHistogram(h: Histogram): void {
  if (h.centers.length === 0 || h.centers.length !== h.counts.length) {
    throw new ApproxError(
      `histogram has ${h.centers.length} centres and ${h.counts.length} counts`,
      'pass one count per bin centre, at least one bin',
    );
  }
  for (let i = 1; i < h.centers.length; i++) {
    if (!(h.centers[i]! > h.centers[i - 1]!)) {
      throw new ApproxError(`histogram centres must be strictly increasing`, `sort the bins`);
    }
  }
}

function sampleRange(xs: ArrayLike<number>): Interval {
  let lo = Infinity;
  let hi = -Infinity;
  for (let k = 0; k < xs.length; k++) {
    lo = Math.min(lo, xs[k]!);
    hi = Math.max(hi, xs[k]!);
  }
  if (!(hi > lo)) {
    throw new ApproxError(`all samples are at one point`, `pass an explicit interval to fit a polynomial there`);
  }
  return [lo, hi];
}
