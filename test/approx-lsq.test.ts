import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chebEval } from '../src/approx/fit/chebyshev.js';
import { ApproxError } from '../src/approx/errors.js';
import { leastSquares, solveSquare } from '../src/approx/fit/linalg.js';
import { fitHistogram, fitWeighted, histogram, histogramRange, weightedLeastSquares } from '../src/approx/fit/lsq.js';

/** Independent weighted squared error of a fit, recomputed from scratch. */
function weightedErr(c: Float64Array, iv: readonly [number, number], xs: number[], ys: number[], w: number[]): number {
  let s = 0;
  let tw = 0;
  for (let k = 0; k < xs.length; k++) {
    const e = chebEval(c, xs[k]!, iv) - ys[k]!;
    s += w[k]! * e * e;
    tw += w[k]!;
  }
  return s / tw;
}

describe('linear algebra', () => {
  it('solveSquare solves a random well-conditioned system (checked by residual)', () => {
    const n = 6;
    const a = new Float64Array(n * n);
    const b = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      b[i] = Math.sin(i + 1);
      for (let j = 0; j < n; j++) a[i * n + j] = Math.cos(i * 7 + j * 3) + (i === j ? 4 : 0);
    }
    const x = solveSquare(a, b, n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += a[i * n + j]! * x[j]!;
      expect(s).toBeCloseTo(b[i]!, 12);
    }
  });

  it('leastSquares matches the 2×2 normal equations solved by Cramer (line fit)', () => {
    const xs = [0, 1, 2, 3, 4];
    const ys = [1.1, 2.9, 5.2, 7.1, 8.8];
    const w = [1, 2, 1, 3, 0.5];
    const a = new Float64Array(10);
    for (let k = 0; k < 5; k++) {
      a[2 * k] = 1;
      a[2 * k + 1] = xs[k]!;
    }
    const sol = leastSquares(a, ys, w, 5, 2);
    let s0 = 0, s1 = 0, s2 = 0, t0 = 0, t1 = 0;
    for (let k = 0; k < 5; k++) {
      s0 += w[k]!;
      s1 += w[k]! * xs[k]!;
      s2 += w[k]! * xs[k]! ** 2;
      t0 += w[k]! * ys[k]!;
      t1 += w[k]! * xs[k]! * ys[k]!;
    }
    const det = s0 * s2 - s1 * s1;
    expect(sol.x[0]!).toBeCloseTo((t0 * s2 - s1 * t1) / det, 12);
    expect(sol.x[1]!).toBeCloseTo((s0 * t1 - s1 * t0) / det, 12);
    expect(sol.ridge).toBe(0);
  });

  it('falls back to a ridge when there are fewer distinct points than unknowns', () => {
    const r = weightedLeastSquares([0, 0, 1, 1], [1, 1, 2, 2], undefined, 5, { interval: [0, 1] });
    expect(r.ridge).toBeGreaterThan(0);
    expect(Number.isFinite(r.coeffs[5]!)).toBe(true);
    // still interpolates the two distinct points
    expect(chebEval(r.coeffs, 0, [0, 1])).toBeCloseTo(1, 5);
    expect(chebEval(r.coeffs, 1, [0, 1])).toBeCloseTo(2, 5);
  });
});

describe('weighted least squares (OLA)', () => {
  it('WLS beats plain LS on its own weighted error (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.double({ min: 0, max: 10, noNaN: true }), { minLength: 30, maxLength: 60 }),
        fc.integer({ min: 0, max: 3 }),
        (degree, rawW, which) => {
          const n = rawW.length;
          const xs = Array.from({ length: n }, (_, k) => -3 + (6 * k) / (n - 1));
          const fs = [(x: number) => Math.max(0, x), Math.tanh, (x: number) => Math.abs(x) ** 1.5, (x: number) => Math.sin(2 * x)];
          const f = fs[which]!;
          const ys = xs.map(f);
          const w = rawW.map((v, k) => (k === 0 ? v + 1 : v)); // total weight > 0
          const iv = [-3, 3] as const;
          const wls = weightedLeastSquares(xs, ys, w, degree, { interval: iv });
          const ls = weightedLeastSquares(xs, ys, undefined, degree, { interval: iv });
          const eW = weightedErr(wls.coeffs, iv, xs, ys, w);
          const eL = weightedErr(ls.coeffs, iv, xs, ys, w);
          expect(eW).toBeLessThanOrEqual(eL * (1 + 1e-9) + 1e-14);
          // reported errors equal the independent recomputation
          expect(wls.weightedMse).toBeCloseTo(eW, 12);
          expect(ls.unweightedMse).toBeCloseTo(weightedErr(ls.coeffs, iv, xs, ys, xs.map(() => 1)), 12);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('histogram fit concentrates accuracy where the inputs are', () => {
    // Inputs ~ N(0, 0.5²) on [−4, 4]: the weighted fit must be far better near 0 than a plain fit.
    const centers = new Float64Array(400);
    const counts = new Float64Array(400);
    for (let i = 0; i < 400; i++) {
      centers[i] = -4 + (i + 0.5) * 0.02;
      counts[i] = Math.exp(-(centers[i]! ** 2) / (2 * 0.25)) * 1000;
    }
    const relu = (x: number): number => Math.max(0, x);
    const h = { centers, counts };
    const wls = fitHistogram(relu, h, 4);
    const plain = fitWeighted(relu, centers, undefined, 4, { interval: histogramRange(h) });
    const plainWeighted = weightedErr(plain.coeffs, plain.interval, Array.from(centers), Array.from(centers, relu), Array.from(counts));
    expect(wls.weightedMse).toBeLessThan(plainWeighted / 3);
    expect(wls.unweightedMse).toBeGreaterThan(plain.unweightedMse);
    expect(wls.interval[0]).toBeCloseTo(-4, 12);
    expect(wls.interval[1]).toBeCloseTo(4, 12);
  });

  it('histogram() counts every sample once and supports symmetric ranges', () => {
    const xs = [-1, -0.5, 0, 0.25, 0.3, 2];
    const h = histogram(xs, { bins: 4, symmetric: true });
    expect(h.lo).toBe(-2);
    expect(h.hi).toBe(2);
    expect(Array.from(h.counts).reduce((a, b) => a + b, 0)).toBe(6);
    expect(Array.from(h.counts)).toEqual([0, 2, 3, 1]);
  });

  it('rejects bad input with actionable errors', () => {
    expect(() => weightedLeastSquares([0, 1], [0], undefined, 1)).toThrow(ApproxError);
    expect(() => weightedLeastSquares([0, 1], [0, 1], [0, 0], 1)).toThrow(/sum to 0/);
    expect(() => weightedLeastSquares([0, 5], [0, 1], undefined, 1, { interval: [0, 1] })).toThrow(/outside/);
    expect(() => weightedLeastSquares([0, 1], [0, 1], [1, -1], 1)).toThrow(/≥ 0/);
  });
});
