/**
 * The encoder against the definition of the canonical embedding, evaluated directly:
 * slot j = m(ζ^(5^j)) with ζ = e^(iπ/N).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CkksContext, Encoder, Plaintext, precisionStats } from '../src/index.js';
import { Poly } from '../src/ring/poly.js';
import { nttInverse } from '../src/ring/ntt.js';
import { randomVector } from './helpers.js';

const ctx = new CkksContext({ logN: 5, levels: 1, insecure: true });
const enc = new Encoder(ctx);
const N = ctx.N;
const n = N / 2;

/** m(ζ^(5^j)) for j < n, directly (O(N²) complex float). */
function evaluateSlots(c: ArrayLike<number>, N = ctx.N): { re: number[]; im: number[] } {
  const n = N / 2;
  const re: number[] = [];
  const im: number[] = [];
  let g = 1;
  for (let j = 0; j < n; j++) {
    let sr = 0;
    let si = 0;
    for (let k = 0; k < N; k++) {
      const ang = (Math.PI * ((g * k) % (2 * N))) / N;
      sr += c[k] * Math.cos(ang);
      si += c[k] * Math.sin(ang);
    }
    re.push(sr);
    im.push(si);
    g = (g * 5) % (2 * N);
  }
  return { re, im };
}

describe('encoder vs the canonical embedding', () => {
  it('encoded coefficients evaluate to the input slots', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 1e6 }), (seed) => {
      const re = randomVector(n, seed);
      const im = randomVector(n, seed + 1);
      const pt = enc.encode({ re, im });
      const c = enc.plaintextCoefficients(pt);
      const slots = evaluateSlots(c);
      for (let j = 0; j < n; j++) {
        expect(Math.abs(slots.re[j] - re[j])).toBeLessThan(1e-6);
        expect(Math.abs(slots.im[j] - im[j])).toBeLessThan(1e-6);
      }
    }), { numRuns: 30 });
  });

  it('every FFT shape (log2 of the slot count odd and even, both loop orders) matches the definition', () => {
    for (const logN of [3, 4, 5, 6, 7, 10, 11]) {
      const c2 = new CkksContext({ logN, levels: 1, insecure: true });
      const e2 = new Encoder(c2);
      const n2 = c2.N / 2;
      fc.assert(fc.property(fc.integer({ min: 1, max: 1e6 }), (seed) => {
        const re = randomVector(n2, seed);
        const im = randomVector(n2, seed + 1);
        const slots = evaluateSlots(e2.plaintextCoefficients(e2.encode({ re, im })), c2.N);
        for (let j = 0; j < n2; j++) {
          expect(Math.abs(slots.re[j] - re[j])).toBeLessThan(1e-6);
          expect(Math.abs(slots.im[j] - im[j])).toBeLessThan(1e-6);
        }
        const back = e2.decodeComplex(e2.encode({ re, im }));
        for (let j = 0; j < n2; j++) expect(Math.abs(back.re[j] - re[j]) + Math.abs(back.im[j] - im[j])).toBeLessThan(1e-6);
      }), { numRuns: logN > 8 ? 3 : 10 });
    }
  });

  it('decoding a plaintext built from known integer coefficients gives their evaluations', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: -(2 ** 40), max: 2 ** 40 }), { minLength: N, maxLength: N }), (coeffs) => {
      const scale = 2 ** 30;
      const limbs = ctx.params.limbsAt(1);
      const poly = new Poly(N, limbs);
      for (let l = 0; l < limbs; l++) {
        const p = ctx.params.q[l];
        for (let k = 0; k < N; k++) poly.coeffs[l * N + k] = ((coeffs[k] % p) + p) % p;
      }
      ctx.ringQ.ntt(poly, limbs);
      const got = enc.decodeComplex(new Plaintext(ctx, poly, 1, scale));
      const want = evaluateSlots(coeffs.map((x) => x / scale));
      for (let j = 0; j < n; j++) {
        expect(Math.abs(got.re[j] - want.re[j])).toBeLessThan(1e-6);
        expect(Math.abs(got.im[j] - want.im[j])).toBeLessThan(1e-6);
      }
    }), { numRuns: 30 });
  });

  it('fewer values: zero-padded by default, replicated with fill "repeat"', () => {
    const v = [0.5, -0.25, 0.125, 1];
    const z = enc.decode(enc.encode(v));
    const r = enc.decode(enc.encode(v, { fill: 'repeat' }));
    for (let j = 0; j < n; j++) {
      expect(z[j]).toBeCloseTo(j < 4 ? v[j] : 0, 6);
      expect(r[j]).toBeCloseTo(v[j % 4], 6);
    }
    expect(() => enc.encode([1, 2, 3], { fill: 'repeat' })).toThrow(/divid/);
  });

  it('constants encode without the FFT to the same slots', () => {
    fc.assert(fc.property(fc.double({ min: -100, max: 100, noNaN: true }), (c) => {
      const a = enc.decode(enc.encodeConstant(c));
      expect(precisionStats(new Float64Array(n).fill(c), a).maxAbsError).toBeLessThan(1e-6);
    }));
  });

  it('large coefficients (2^51 … 2^80) reach every limb exactly (BigInt reference)', () => {
    const ctx2 = new CkksContext({ logN: 6, levels: 1, limbsPerLevel: 2, insecure: true });
    const e2 = new Encoder(ctx2);
    const N2 = ctx2.N;
    const limbs = ctx2.ringQ.size;
    fc.assert(fc.property(fc.array(fc.double({ min: -(2 ** 79), max: 2 ** 79, noNaN: true }), { minLength: N2, maxLength: N2 }), (xs) => {
      const c = Float64Array.from(xs, (x) => Math.round(x));
      c[0] = 2 ** 52 + 1; // an odd integer beyond 2^52 is not representable: stays 2^52 + 2 after rounding
      const ref = Array.from(c, (x) => BigInt(x)); // c holds integer-valued floats: exact
      const out = new Int32Array(limbs * N2);
      (e2 as unknown as { coeffsToLimbsSplit(c: Float64Array, s: number, o: Int32Array, l: number): void }).coeffsToLimbsSplit(c, 1, out, limbs);
      for (let l = 0; l < limbs; l++) {
        const p = ctx2.ringQ.moduli[l].p;
        nttInverse(out, l * N2, ctx2.ringQ.tables[l]);
        for (let k = 0; k < N2; k++) expect(out[l * N2 + k]).toBe(Number(((ref[k] % BigInt(p)) + BigInt(p)) % BigInt(p)));
      }
    }), { numRuns: 20 });
  });

  it('round trip at large magnitude and at a 2^60 scale (coefficients beyond 2^53)', () => {
    const ctx2 = new CkksContext({ logN: 6, levels: 1, limbsPerLevel: 2, insecure: true });
    const e2 = new Encoder(ctx2);
    const v = randomVector(32, 3, -1000, 1000);
    const st = precisionStats(v, e2.decode(e2.encode(v)));
    expect(st.maxAbsError).toBeLessThan(1e-9);
  });
});
