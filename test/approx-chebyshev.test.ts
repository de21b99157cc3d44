import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  chebEval,
  chebInterpolate,
  chebLeastSquares,
  chebToPower,
  chebyshevNodes,
  clenshaw,
  composeAffine,
  fromUnit,
  powerToCheb,
  toUnit,
  unitMap,
} from '../src/approx/fit/chebyshev.js';

/** Independent reference: T_j(t) = cos(j·arccos t) on [−1, 1]. */
function chebDirect(c: ArrayLike<number>, t: number): number {
  let s = 0;
  const th = Math.acos(Math.max(-1, Math.min(1, t)));
  for (let j = 0; j < c.length; j++) s += c[j]! * Math.cos(j * th);
  return s;
}

/** Independent reference: naive power series Σ p_i x^i with Math.pow. */
function powerDirect(p: ArrayLike<number>, x: number): number {
  let s = 0;
  for (let i = 0; i < p.length; i++) s += p[i]! * Math.pow(x, i);
  return s;
}

function factorial(n: number): number {
  let r = 1;
  for (let i = 2; i <= n; i++) r *= i;
  return r;
}

describe('affine map', () => {
  it('maps [a, b] onto [−1, 1] and back', () => {
    fc.assert(
      fc.property(
        fc.double({ min: -100, max: 100, noNaN: true }),
        fc.double({ min: 0.01, max: 100, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (a, w, u) => {
          const iv = [a, a + w] as const;
          const x = a + w * u;
          const t = toUnit(x, iv);
          expect(t).toBeGreaterThanOrEqual(-1 - 1e-9);
          expect(t).toBeLessThanOrEqual(1 + 1e-9);
          expect(fromUnit(t, iv)).toBeCloseTo(x, 8);
          const { scale, shift } = unitMap(iv);
          expect(scale * x + shift).toBeCloseTo(t, 9);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('Clenshaw', () => {
  it('equals the direct cos(j·arccos t) sum', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 1, maxLength: 60 }),
        fc.double({ min: -1, max: 1, noNaN: true }),
        (c, t) => {
          expect(Math.abs(clenshaw(c, t) - chebDirect(c, t))).toBeLessThan(1e-12 * c.length);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('Chebyshev interpolation', () => {
  it('nodes are the cos((k+½)π/n) points, increasing', () => {
    const n = chebyshevNodes(4);
    expect(n.length).toBe(5);
    for (let k = 1; k < 5; k++) expect(n[k]!).toBeGreaterThan(n[k - 1]!);
    expect(n[2]!).toBeCloseTo(0, 15);
    expect(n[4]!).toBeCloseTo(Math.cos(Math.PI / 10), 15);
  });

  it('reproduces polynomials of degree ≤ d exactly', () => {
    const p = [0.3, -1.2, 0.7, 2.5]; // power basis
    const c = chebInterpolate((x) => powerDirect(p, x), 5, [-2, 3]);
    for (const x of [-2, -1.3, 0, 0.4, 2.9, 3]) expect(chebEval(c, x, [-2, 3])).toBeCloseTo(powerDirect(p, x), 11);
    expect(Math.abs(c[4]!) + Math.abs(c[5]!)).toBeLessThan(1e-12);
  });

  it('meets the classical bound ‖f − p‖ ≤ ((b−a)/2)^{d+1}‖f^{(d+1)}‖/(2^d (d+1)!) for exp and sin', () => {
    for (const d of [2, 4, 6, 8, 10, 12]) {
      const iv = [-1, 2] as const;
      const half = 1.5;
      const cExp = chebInterpolate(Math.exp, d, iv);
      const cSin = chebInterpolate((x) => Math.sin(3 * x), d, iv);
      const boundExp = (half ** (d + 1) * Math.exp(2)) / (2 ** d * factorial(d + 1));
      const boundSin = (half ** (d + 1) * 3 ** (d + 1)) / (2 ** d * factorial(d + 1));
      let eExp = 0;
      let eSin = 0;
      for (let i = 0; i <= 3000; i++) {
        const x = -1 + (3 * i) / 3000;
        eExp = Math.max(eExp, Math.abs(chebEval(cExp, x, iv) - Math.exp(x)));
        eSin = Math.max(eSin, Math.abs(chebEval(cSin, x, iv) - Math.sin(3 * x)));
      }
      expect(eExp).toBeLessThanOrEqual(boundExp * (1 + 1e-9) + 1e-14);
      expect(eSin).toBeLessThanOrEqual(boundSin * (1 + 1e-9) + 1e-14);
      // and is not absurdly pessimistic: within a factor 4 of the bound for exp
      if (d <= 10) expect(eExp).toBeGreaterThan(boundExp / 4);
    }
  });

  it('converges geometrically for an analytic function (Runge 1/(1+x²) on [−1, 1])', () => {
    const f = (x: number): number => 1 / (1 + x * x);
    // Bernstein ellipse through ±i: ρ = 1 + √2, error ~ ρ^{−d}
    const rho = 1 + Math.SQRT2;
    for (const d of [10, 20, 30]) {
      const c = chebInterpolate(f, d);
      let e = 0;
      for (let i = 0; i <= 2000; i++) {
        const x = -1 + i / 1000;
        e = Math.max(e, Math.abs(clenshaw(c, x) - f(x)));
      }
      expect(e).toBeLessThan(4 * rho ** -d);
    }
  });
});

describe('basis conversion', () => {
  it('chebToPower agrees with direct evaluation on the interval', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 1, maxLength: 12 }),
        fc.double({ min: -3, max: 3, noNaN: true }),
        fc.double({ min: 0.5, max: 4, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (c, a, w, u) => {
          const iv = [a, a + w] as const;
          const p = chebToPower(c, iv);
          const x = a + w * u;
          const ref = chebDirect(c, toUnit(x, iv));
          // floating-point bound of a power-basis evaluation: rounding relative to Σ|p_k|·|x|^k,
          // which grows like ((|a| + w)·2/w)^d on narrow intervals far from 0 (ill-conditioning)
          let cond = 0;
          for (let k = 0; k < p.length; k++) cond += Math.abs(p[k]!) * Math.abs(x) ** k;
          expect(Math.abs(powerDirect(p, x) - ref)).toBeLessThan(1e-12 * (1 + cond));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('powerToCheb inverts chebToPower', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 1, maxLength: 10 }), (c) => {
        const back = powerToCheb(chebToPower(c, [-2, 1]), [-2, 1]);
        for (let j = 0; j < c.length; j++) expect(back[j]!).toBeCloseTo(c[j]!, 9);
      }),
      { numRuns: 200 },
    );
  });

  it('known identities: x³ = (3T1 + T3)/4, T4 = 8x⁴ − 8x² + 1', () => {
    const c = powerToCheb([0, 0, 0, 1]);
    expect(Array.from(c)).toEqual([0, 0.75, 0, 0.25]);
    expect(Array.from(chebToPower([0, 0, 0, 0, 1]))).toEqual([1, 0, -8, 0, 8]);
  });

  it('composeAffine gives p(αx + β)', () => {
    const p = [1, -2, 0.5, 3];
    const q = composeAffine(p, 0.7, -0.2);
    for (const x of [-1, 0, 0.3, 2]) expect(powerDirect(q, x)).toBeCloseTo(powerDirect(p, 0.7 * x - 0.2), 12);
  });
});

describe('Chebyshev least squares on a dense grid', () => {
  it('approaches the continuous L2 projection of ReLU on [−a, a]: 3a/32 + x/2 + 15x²/(32a)', () => {
    for (const a of [1, 2, 5]) {
      const p = chebToPower(chebLeastSquares((x) => Math.max(0, x), 2, [-a, a], { gridSize: 20001 }), [-a, a]);
      expect(p[0]!).toBeCloseTo((3 * a) / 32, 4);
      expect(p[1]!).toBeCloseTo(0.5, 9);
      expect(p[2]!).toBeCloseTo(15 / (32 * a), 4);
    }
  });

  it('is exact on polynomials and honours the odd option', () => {
    const c = chebLeastSquares((x) => x * x * x - 0.5 * x, 5, [-2, 2], { odd: true });
    for (let j = 0; j < c.length; j += 2) expect(c[j]).toBe(0);
    for (const x of [-2, -0.7, 1.1]) expect(chebEval(c, x, [-2, 2])).toBeCloseTo(x * x * x - 0.5 * x, 10);
  });
});
