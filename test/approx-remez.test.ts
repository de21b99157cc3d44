import { describe, expect, it } from 'vitest';
import { chebEval, clenshaw } from '../src/approx/fit/chebyshev.js';
import { ConvergenceError } from '../src/approx/errors.js';
import { remez, remezSign } from '../src/approx/fit/remez.js';

/** Check equioscillation of f − p at the reference with an independent evaluation. */
function checkEquioscillation(errs: ArrayLike<number>, count: number, rel: number): void {
  expect(errs.length).toBe(count);
  const m = Math.abs(errs[0]!);
  for (let k = 0; k < count; k++) {
    if (k > 0) expect(Math.sign(errs[k]!)).toBe(-Math.sign(errs[k - 1]!));
    expect(Math.abs(Math.abs(errs[k]!) - m) / m).toBeLessThan(rel);
  }
}

describe('Remez (continuous)', () => {
  it('degree-1 minimax of e^x on [0, 1] equals the closed form', () => {
    // e(x) = e^x − (m x + c) equioscillates at 0, ln m, 1 with m = e − 1:
    // c = (1 + m − m ln m)/2, E = (1 − m + m ln m)/2.
    const m = Math.E - 1;
    const c = (1 + m - m * Math.log(m)) / 2;
    const E = (1 - m + m * Math.log(m)) / 2;
    const r = remez(Math.exp, 1, [0, 1]);
    expect(chebEval(r.coeffs, 0, [0, 1])).toBeCloseTo(c, 12);
    expect(chebEval(r.coeffs, 1, [0, 1]) - chebEval(r.coeffs, 0, [0, 1])).toBeCloseTo(m, 12);
    expect(r.error).toBeCloseTo(Math.abs(E), 12);
    expect(r.reference[1]!).toBeCloseTo(Math.log(m), 6);
  });

  it('|x| on [−1, 1]: errors at the d+2 reference points alternate with equal magnitude (1e-6)', () => {
    for (const d of [4, 10, 20]) {
      const r = remez(Math.abs, d, [-1, 1]);
      const errs = Array.from(r.reference, (x) => Math.abs(x) - clenshaw(r.coeffs, x));
      checkEquioscillation(errs, d + 2, 1e-6);
      // the reference errors hold the maximum over a fine independent grid
      let mx = 0;
      for (let i = 0; i <= 20000; i++) {
        const x = -1 + i / 10000;
        mx = Math.max(mx, Math.abs(Math.abs(x) - clenshaw(r.coeffs, x)));
      }
      expect(mx).toBeLessThanOrEqual(Math.abs(errs[0]!) * (1 + 1e-6));
    }
    // Bernstein: d·E_d(|x|) → 0.2801694990…; at d = 20 within a few percent
    expect(20 * remez(Math.abs, 20, [-1, 1]).error).toBeCloseTo(0.28, 1);
  });

  it('smooth functions on shifted intervals: √x on [0.1, 2], GELU-like tanh on [−3, 5]', () => {
    for (const [f, iv, d] of [
      [Math.sqrt, [0.1, 2], 6],
      [Math.tanh, [-3, 5], 9],
    ] as const) {
      const r = remez(f, d, iv);
      const errs = Array.from(r.reference, (x) => f(x) - chebEval(r.coeffs, x, iv));
      checkEquioscillation(errs, d + 2, 1e-6);
      expect(r.reference[0]).toBeCloseTo(iv[0], 12);
      expect(r.reference[d + 1]).toBeCloseTo(iv[1], 12);
    }
  });

  it('throws a typed ConvergenceError (with the last iterate) when the iteration bound is hit', () => {
    let caught: unknown;
    try {
      remez(Math.abs, 30, [-1, 1], { maxIterations: 2, tolerance: 1e-14 });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ConvergenceError);
    expect((caught as ConvergenceError).partial).toBeDefined();
    expect((caught as Error).message).toMatch(/maxIterations/);
  });
});

describe('Remez for sign on [−1, −ε] ∪ [ε, 1]', () => {
  it('is odd and equioscillates at (d+3)/2 points of [ε, 1]', () => {
    for (const [eps, d] of [
      [0.1, 7],
      [2 ** -7, 15],
      [2 ** -10, 31],
    ] as const) {
      const r = remezSign(eps, d);
      for (let j = 0; j < r.coeffs.length; j += 2) expect(r.coeffs[j]).toBe(0);
      const errs = Array.from(r.reference, (x) => 1 - clenshaw(r.coeffs, x));
      checkEquioscillation(errs, (d + 3) / 2, 1e-6);
      expect(r.reference[0]).toBeCloseTo(eps, 12);
      expect(clenshaw(r.coeffs, -0.5)).toBeCloseTo(-clenshaw(r.coeffs, 0.5), 14);
      expect(r.error).toBeLessThan(1);
    }
  });

  it('reproduces the published α=7 first stage p7,1 with ε = 11/128 (independent reference)', () => {
    const r = remezSign(11 / 128, 7);
    // p7,1 = 7.30445164958251x − 34.6825871108659x³ + 59.8596518298826x⁵ − 31.8755225906466x⁷
    const pub = (x: number): number =>
      7.3044516495825141119 * x - 34.682587110865950932 * x ** 3 + 59.859651829882618102 * x ** 5 - 31.875522590646616717 * x ** 7;
    for (let x = 0; x <= 1; x += 0.01) expect(Math.abs(clenshaw(r.coeffs, x) - pub(x))).toBeLessThan(1e-12);
  });
});
