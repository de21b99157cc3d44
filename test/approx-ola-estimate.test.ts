import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { relu } from '../src/approx/activations.js';
import { fitBins, fitHistogramFloored } from '../src/approx/ola.js';
import { seededRandom } from '../src/approx/tuning.js';
import { calibrationBins } from '../src/nn/compile/approximate.js';

/**
 * The fit's error estimate (bin centres weighted by counts, `fitHistogramFloored`) against an
 * independent reference: the fitted Chebyshev series evaluated directly in float64 (T_k by the
 * three-term recurrence, summed term by term) on every sample the histogram was built from.
 */
function directMse(coeffs: Float64Array, interval: readonly [number, number], xs: Float64Array): number {
  const [a, b] = interval;
  let s = 0;
  for (const x of xs) {
    const t = (2 * x - a - b) / (b - a);
    let t0 = 1;
    let t1 = t;
    let p = coeffs[0]! + (coeffs.length > 1 ? coeffs[1]! * t : 0);
    for (let k = 2; k < coeffs.length; k++) {
      const t2 = 2 * t * t1 - t0;
      p += coeffs[k]! * t2;
      t0 = t1;
      t1 = t2;
    }
    const e = p - Math.max(0, x);
    s += e * e;
  }
  return s / xs.length;
}

/** n samples like an activation's inputs: a Gaussian bulk (mean mu, sd 1) and a heavy tail (1 % at 3–6 sd). */
function activationInputs(n: number, seed: number, mu: number): Float64Array {
  const r = seededRandom(seed);
  const xs = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const g = Math.sqrt(-2 * Math.log(r() + 1e-300)) * Math.cos(2 * Math.PI * r());
    xs[i] = r() < 0.01 ? mu + Math.sign(g || 1) * (3 + 3 * r()) : mu + g;
  }
  return xs;
}

/** Histogram of xs over [min, max] widened by 5 % on each side (as calibration makes it). */
function hist(xs: Float64Array, bins: number) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const x of xs) {
    lo = Math.min(lo, x);
    hi = Math.max(hi, x);
  }
  const span = hi - lo;
  lo -= 0.05 * span;
  hi += 0.05 * span;
  const w = (hi - lo) / bins;
  const counts = new Float64Array(bins);
  for (const x of xs) counts[Math.min(bins - 1, Math.floor((x - lo) / w))]!++;
  const centers = Float64Array.from({ length: bins }, (_, k) => lo + (k + 0.5) * w);
  return { centers, counts, lo, hi };
}

describe('OLA fit error estimate', () => {
  it('bins: 8 per coefficient of the highest degree, at least 64', () => {
    expect(fitBins(63)).toBe(512);
    expect(fitBins(7)).toBe(64);
    expect(fitBins(2)).toBe(64);
    expect(calibrationBins({ kind: 'ola' })).toBe(512);
    expect(calibrationBins({ kind: 'uniform', degree: 15 })).toBe(128);
  });

  it('with fitBins(d) bins and the default floor, the estimate is within a factor 1.25 of the direct float64 error on the samples', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 30 }), fc.double({ min: -1, max: 1, noNaN: true }), fc.constantFrom(7, 15, 31, 63), (seed, mu, d) => {
        const xs = activationInputs(40_000, seed, mu);
        const fit = fitHistogramFloored(relu, hist(xs, fitBins(63)), d);
        const real = directMse(fit.coeffs, fit.interval, xs);
        const ratio = fit.error / real;
        expect(ratio).toBeGreaterThan(1 / 1.25);
        expect(ratio).toBeLessThan(1.25);
      }),
      { numRuns: 24, seed: 2026 },
    );
  });

  it('the former estimate (64 bins, no floor) is far below the direct error at degree 63; the new one is not', () => {
    const xs = activationInputs(40_000, 11, 0.2);
    const old = fitHistogramFloored(relu, hist(xs, 64), 63, 0);
    const now = fitHistogramFloored(relu, hist(xs, 512), 63);
    const oldReal = directMse(old.coeffs, old.interval, xs);
    const nowReal = directMse(now.coeffs, now.interval, xs);
    expect(old.error * 10).toBeLessThan(oldReal);
    expect(nowReal).toBeLessThan(oldReal);
    expect(Math.abs(Math.log(now.error / nowReal))).toBeLessThan(Math.log(1.25));
  });
});
