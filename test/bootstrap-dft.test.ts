/**
 * The DFT factors of bootstrapping in float64, against the definition of the canonical embedding
 * (z_j = Σ_k w_k·e^{iπ·k·5^j/(2n)}, an O(n²) sum) and against the encoder itself: each factor is
 * sparse (the diagonals of its merged radix-2 stages), their product is the transform with the bit
 * reversal left out, for full and sparse slots and any number of levels.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ComplexArray, applyMatrix, dftFactors, multiplyMatrices, productMatrix, stageGroups, stageMatrix } from '../src/bootstrap/dft.js';
import { CkksContext, Encoder } from '../src/index.js';
import { randomVector } from './helpers.js';

const bitrev = (x: number, bits: number) => {
  let r = 0;
  for (let b = 0; b < bits; b++) r = (r << 1) | ((x >> b) & 1);
  return r;
};

/** z = U·w by the definition (slot j at x_j = e^{iπ·5^j/(2n)}). */
function embed(w: ComplexArray, n: number): ComplexArray {
  const z = { re: new Float64Array(n), im: new Float64Array(n) };
  let g = 1;
  for (let j = 0; j < n; j++) {
    for (let k = 0; k < n; k++) {
      const e = (k * g) % (4 * n);
      const a = (Math.PI * e) / (2 * n);
      z.re[j] += w.re[k] * Math.cos(a) - w.im[k] * Math.sin(a);
      z.im[j] += w.re[k] * Math.sin(a) + w.im[k] * Math.cos(a);
    }
    g = (g * 5) % (4 * n);
  }
  return z;
}

const randomComplex = (n: number, seed: number): ComplexArray => ({ re: randomVector(n, seed), im: randomVector(n, seed + 7) });
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};
const rev = (w: ComplexArray, logn: number): ComplexArray => {
  const n = 1 << logn;
  const out = { re: new Float64Array(n), im: new Float64Array(n) };
  for (let p = 0; p < n; p++) {
    out.re[p] = w.re[bitrev(p, logn)];
    out.im[p] = w.im[bitrev(p, logn)];
  }
  return out;
};
const twice = (v: ComplexArray): ComplexArray => ({ re: Float64Array.from([...v.re, ...v.re]), im: Float64Array.from([...v.im, ...v.im]) });

describe('DFT factors of bootstrapping (float64)', () => {
  it('a stage and its inverse multiply to the identity; each has three diagonals', () => {
    for (const m of [2, 8, 16, 32]) {
      const S = stageMatrix(m, 32, 32, false);
      const Si = stageMatrix(m, 32, 32, true);
      expect(S.diags.size).toBe(m === 32 ? 2 : 3); // ±m/2 coincide when m/2 = d/2
      const I = multiplyMatrices(Si, S);
      expect([...I.diags.keys()]).toEqual([0]);
      expect(maxDiff(I.diags.get(0)!.re, new Float64Array(32).fill(1))).toBeLessThan(1e-14);
      expect(maxDiff(I.diags.get(0)!.im, new Float64Array(32))).toBeLessThan(1e-14);
    }
  });

  it('SlotsToCoeffs factors multiply to the embedding without the bit reversal (full slots)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 1e6 }), (logn, lv, seed) => {
      const levels = Math.min(lv, logn);
      const n = 1 << logn;
      const w = randomComplex(n, seed);
      const factors = dftFactors({ kind: 'slotsToCoeffs', logSlots: logn, levels, sparse: false });
      expect(factors.length).toBe(levels);
      const got = applyMatrix(productMatrix(factors), rev(w, logn));
      const want = embed(w, n);
      expect(maxDiff(got.re, want.re)).toBeLessThan(1e-12 * n);
      expect(maxDiff(got.im, want.im)).toBeLessThan(1e-12 * n);
    }), { numRuns: 25 });
  });

  it('CoeffsToSlots factors give (1/2)·R·U^{-1}; applied factor by factor too', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 1e6 }), (logn, lv, seed) => {
      const levels = Math.min(lv, logn);
      const n = 1 << logn;
      const w = randomComplex(n, seed);
      const factors = dftFactors({ kind: 'coeffsToSlots', logSlots: logn, levels, sparse: false, scaling: 3 });
      let v = embed(w, n);
      for (const F of factors) v = applyMatrix(F, v);
      const want = rev(w, logn);
      expect(maxDiff(v.re, want.re.map((x) => 1.5 * x))).toBeLessThan(1e-12 * n);
      expect(maxDiff(v.im, want.im.map((x) => 1.5 * x))).toBeLessThan(1e-12 * n);
    }), { numRuns: 25 });
  });

  it('merged factors are sparse: a group of s stages has at most 2^(s+1) − 1 diagonals', () => {
    const logn = 10;
    for (const levels of [2, 3, 4]) {
      const groups = stageGroups(logn, levels);
      expect(groups.reduce((a, b) => a + b, 0)).toBe(logn);
      for (const kind of ['coeffsToSlots', 'slotsToCoeffs'] as const) {
        const f = dftFactors({ kind, logSlots: logn, levels, sparse: false });
        f.forEach((F, i) => expect(F.diags.size).toBeLessThanOrEqual(2 ** (groups[i] + 1) - 1));
      }
    }
  });

  it('sparse slots: CoeffsToSlots then the real/imaginary repacking then SlotsToCoeffs is the identity', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 1e6 }), (logn, lv, seed) => {
      const levels = Math.min(lv, logn);
      const n = 1 << logn;
      const w = randomComplex(n, seed);
      const z = embed(w, n);
      // CoeffsToSlots on the n-periodic slots, seen in dimension 2n
      let v = twice(z);
      for (const F of dftFactors({ kind: 'coeffsToSlots', logSlots: logn, levels, sparse: true })) v = applyMatrix(F, v);
      // first half: (1/2)·R·w, second half zero
      const want = rev(w, logn);
      expect(maxDiff(v.re.subarray(0, n), want.re.map((x) => x / 2))).toBeLessThan(1e-12 * n);
      expect(maxDiff(v.re.subarray(n), new Float64Array(n))).toBeLessThan(1e-12 * n);
      // ctRe = v + conj(v), ctIm = −i(v − conj(v)) rotated by n: [Re, Im] of R·w
      const packed = { re: new Float64Array(2 * n), im: new Float64Array(2 * n) };
      for (let p = 0; p < 2 * n; p++) packed.re[p] = 2 * v.re[p] + 2 * v.im[(p + n) % (2 * n)];
      for (let p = 0; p < n; p++) {
        expect(packed.re[p]).toBeCloseTo(want.re[p], 10);
        expect(packed.re[p + n]).toBeCloseTo(want.im[p], 10);
      }
      let u: ComplexArray = packed;
      for (const F of dftFactors({ kind: 'slotsToCoeffs', logSlots: logn, levels, sparse: true })) u = applyMatrix(F, u);
      expect(maxDiff(u.re, twice(z).re)).toBeLessThan(1e-11 * n);
      expect(maxDiff(u.im, twice(z).im)).toBeLessThan(1e-11 * n);
    }), { numRuns: 25 });
  });

  it('the embedding is the encoder\'s: U·(c_k + i·c_{k+n}) gives back the encoded slots', () => {
    const ctx = new CkksContext({ logN: 8, levels: 1, insecure: true });
    const enc = new Encoder(ctx);
    const n = ctx.params.slots;
    const z = randomComplex(n, 5);
    const pt = enc.encode(z);
    const c = enc.plaintextCoefficients(pt);
    const w = { re: c.slice(0, n), im: c.slice(n, 2 * n) };
    const got = embed(w, n);
    expect(maxDiff(got.re, z.re)).toBeLessThan(1e-7);
    expect(maxDiff(got.im, z.im)).toBeLessThan(1e-7);
    // sparse: 'repeat' fill makes the polynomial one in Y = X^(N/2n') with the n'-slot embedding
    const n2 = n / 4;
    const z2 = randomComplex(n2, 6);
    const c2 = enc.plaintextCoefficients(enc.encode(z2, { fill: 'repeat' }));
    const step = ctx.N / (2 * n2);
    const w2 = { re: new Float64Array(n2), im: new Float64Array(n2) };
    for (let k = 0; k < n2; k++) {
      w2.re[k] = c2[k * step];
      w2.im[k] = c2[(k + n2) * step];
    }
    for (let k = 0; k < ctx.N; k++) if (k % step !== 0) expect(Math.abs(c2[k])).toBeLessThan(1e-8);
    const got2 = embed(w2, n2);
    expect(maxDiff(got2.re, z2.re)).toBeLessThan(1e-7);
    expect(maxDiff(got2.im, z2.im)).toBeLessThan(1e-7);
  });
});
