import { describe, expect, it } from 'vitest';
import { paperQuadratic } from '../src/approx/paper.js';

describe('PAPER quadratic ReLU (digest §2.2)', () => {
  it('reproduces (193 + 512x + 239x²)/1024 with clip 2, 10 bits', () => {
    const r = paperQuadratic();
    expect(Array.from(r.integers)).toEqual([193, 512, 239]);
    expect(r.denominator).toBe(1024);
    expect(Array.from(r.coeffs)).toEqual([193 / 1024, 512 / 1024, 239 / 1024]);
  });

  it('real LS coefficients equal the 3×3 normal equations solved independently (Cramer)', () => {
    const r = paperQuadratic();
    const m = 400;
    const xs = Array.from({ length: m }, (_, i) => -2 + (4 * i) / (m - 1));
    const s = [0, 0, 0, 0, 0];
    const t = [0, 0, 0];
    for (const x of xs) {
      for (let k = 0; k < 5; k++) s[k]! += x ** k;
      for (let k = 0; k < 3; k++) t[k]! += Math.max(0, x) * x ** k;
    }
    const A = [
      [s[0]!, s[1]!, s[2]!],
      [s[1]!, s[2]!, s[3]!],
      [s[2]!, s[3]!, s[4]!],
    ];
    const det3 = (M: number[][]): number =>
      M[0]![0]! * (M[1]![1]! * M[2]![2]! - M[1]![2]! * M[2]![1]!) -
      M[0]![1]! * (M[1]![0]! * M[2]![2]! - M[1]![2]! * M[2]![0]!) +
      M[0]![2]! * (M[1]![0]! * M[2]![1]! - M[1]![1]! * M[2]![0]!);
    const d = det3(A);
    for (let j = 0; j < 3; j++) {
      const Mj = A.map((row, i) => row.map((v, k) => (k === j ? t[i]! : v)));
      expect(r.lsCoeffs[j]!).toBeCloseTo(det3(Mj) / d, 10);
    }
    expect(r.lsCoeffs[0]!).toBeCloseTo(0.18797, 5);
    expect(r.lsCoeffs[2]!).toBeCloseTo(0.23379, 5);
  });

  it('the fixed-point optimum is no worse than plain rounding and close to the LS error', () => {
    const r = paperQuadratic();
    const rounded = Array.from(r.lsCoeffs, (c) => Math.round(c * 1024) / 1024);
    let e = 0;
    for (let i = 0; i < 400; i++) {
      const x = -2 + (4 * i) / 399;
      e += (rounded[0]! + rounded[1]! * x + rounded[2]! * x * x - Math.max(0, x)) ** 2;
    }
    expect(r.mse).toBeLessThanOrEqual(e / 400 + 1e-15);
    expect(r.mse).toBeGreaterThanOrEqual(r.lsMse);
    expect(r.mse).toBeLessThan(r.lsMse * 1.001);
  });

  it('other clips and bit widths give the continuous L2 shape 3a/32 + x/2 + 15x²/(32a)', () => {
    const r = paperQuadratic({ clip: 4, bits: 14 });
    expect(r.coeffs[0]!).toBeCloseTo(12 / 32, 2);
    expect(r.coeffs[1]!).toBeCloseTo(0.5, 3);
    expect(r.coeffs[2]!).toBeCloseTo(15 / 128, 2);
  });
});
