/**
 * Diagonal linear transforms (BSGS, hoisted babies) against a float64 matrix–vector product:
 * random sparse diagonal sets of several periods, real and complex, with the precision bound of one
 * plaintext product per diagonal.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LinearTransform, chooseSplit, splitWith } from '../src/index.js';
import { makeKit, randomVector } from './helpers.js';
import { encodeSourceQP } from '../src/ckks/linear/hoisted.js';

const logN = 10;
const slots = 1 << (logN - 1);

/** y[i] = Σ_δ d_δ[i mod P]·x[(i + δ) mod slots] (real), the reference. */
function reference(diags: Map<number, Float64Array>, x: Float64Array): Float64Array {
  const y = new Float64Array(slots);
  for (const [d, v] of diags) for (let i = 0; i < slots; i++) y[i] += v[i % v.length] * x[(i + d) % slots];
  return y;
}

describe('BSGS split', () => {
  it('covers every diagonal exactly once (g + b = δ, g a multiple of n1)', () => {
    fc.assert(fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 1023 }), { minLength: 1, maxLength: 60 }), fc.integer({ min: 1, max: 1024 }), (ds, n1) => {
      const s = splitWith(ds, n1);
      for (const d of ds) {
        const b = d % n1;
        expect(s.babies).toContain(b);
        expect(s.giants).toContain(d - b);
        expect((d - b) % n1).toBe(0);
      }
      expect(s.babies.length * s.giants.length).toBeGreaterThanOrEqual(ds.length);
    }), { numRuns: 100 });
  });

  it('the chosen split is no costlier than any other n1', () => {
    const ds = Array.from({ length: 9 * 8 }, (_, k) => (Math.floor(k / 9) * 64 + (k % 9) * 3) % 1024);
    const best = chooseSplit(ds, 1024, { baby: 1, giant: 5 });
    for (const n1 of [1, 2, 3, 16, 27, 64, 128, 1024]) expect(best.cost).toBeLessThanOrEqual(splitWith(ds, n1, { baby: 1, giant: 5 }).cost);
  });
});

describe('encrypted linear transform', () => {
  const steps = Array.from({ length: slots - 1 }, (_, i) => i + 1);
  const kit = makeKit({ logN, levels: 2, insecure: true }, steps);
  const { ctx, enc, ev, encr, dec } = kit;
  const level = ctx.params.levels;
  const scale = ctx.params.scales[level];

  for (const [period, hoisting] of [[slots, 'single'], [slots / 4, 'single'], [32, 'single'], [slots, 'double'], [slots / 4, 'double'], [32, 'double']] as const) {
    it(`equals the float64 product (period ${period}, replicated input, ${hoisting} hoisting)`, () => {
      fc.assert(fc.property(fc.integer({ min: 1, max: 1e6 }), fc.integer({ min: 1, max: 40 }), (seed, count) => {
        const diags = new Map<number, Float64Array>();
        const idx = randomVector(count, seed, 0, period);
        idx.forEach((v, k) => diags.set(Math.floor(v), randomVector(period, seed + k + 1)));
        const base = randomVector(period, seed ^ 0x5bd1e995);
        const x = Float64Array.from({ length: slots }, (_, i) => base[i % period]);
        const lt = new LinearTransform(ctx, enc, diags, { level, scale, hoisting });
        const ct = encr.encrypt(enc.encode(x));
        const out = ev.rescale(lt.evaluate(ev, ct));
        const got = enc.decode(dec.decrypt(out));
        const want = reference(diags, x);
        // each diagonal adds one rounding of a product at Δ ≈ 2^30: |err| ≲ #diags·2^−18 at N = 2^10
        let worst = 0;
        for (let i = 0; i < slots; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
        expect(Math.log2(worst)).toBeLessThan(-12 + Math.log2(diags.size));
        // periodic in, periodic out
        for (let i = period; i < slots; i++) expect(Math.abs(got[i] - got[i % period])).toBeLessThan(2 ** (-12 + Math.log2(diags.size)));
      }), { numRuns: 4 });
    });
  }

  for (const hoisting of ['single', 'double'] as const) it(`complex diagonals act as complex slot products (${hoisting} hoisting, cached)`, () => {
    const P = slots;
    const diags = new Map<number, { re: Float64Array; im: Float64Array }>();
    for (const [k, d] of [[0, 1], [5, 2], [77, 3]] as const) diags.set(d === 1 ? 0 : k, { re: randomVector(P, 10 + d), im: randomVector(P, 20 + d) });
    const lt = LinearTransform.encode(ctx, enc, diags, { level, scale, hoisting });
    const xr = randomVector(P, 7);
    const xi = randomVector(P, 8);
    const out = ev.rescale(lt.evaluate(ev, encr.encrypt(enc.encode({ re: xr, im: xi }))));
    const got = enc.decodeComplex(dec.decrypt(out));
    for (let i = 0; i < P; i += 37) {
      let yr = 0;
      let yi = 0;
      for (const [d, v] of diags) {
        const j = (i + d) % P;
        yr += v.re[i] * xr[j] - v.im[i] * xi[j];
        yi += v.re[i] * xi[j] + v.im[i] * xr[j];
      }
      expect(Math.abs(got.re[i] - yr)).toBeLessThan(2 ** -10);
      expect(Math.abs(got.im[i] - yi)).toBeLessThan(2 ** -10);
    }
    expect(lt.rotations.every((r) => r > 0 && r < P)).toBe(true);
  });

  it('double hoisting: plaintexts encoded in the run, kept by the run, or encoded ahead give the same ciphertext', () => {
    const diags = new Map<number, Float64Array>();
    for (const k of [0, 1, 2, 9, 17, 40, 41, 300]) diags.set(k, randomVector(slots, 100 + k));
    const ct = encr.encrypt(enc.encode(randomVector(slots, 5)));
    const fresh = new LinearTransform(ctx, enc, diags, { level, scale, hoisting: 'double' }).evaluate(ev, ct);
    const kept = new LinearTransform(ctx, enc, diags, { level, scale, hoisting: 'double', cache: true });
    const ahead = LinearTransform.encode(ctx, enc, diags, { level, scale, hoisting: 'double' });
    for (const out of [kept.evaluate(ev, ct), kept.evaluate(ev, ct), ahead.evaluate(ev, ct)]) {
      for (let k = 0; k < 2; k++) expect(out.polys[k].coeffs).toEqual(fresh.polys[k].coeffs);
    }
  });

  it('a periodic diagonal encodes over QP with a transform of size N·P/S (sparse) equal to the full encoding on the Q limbs', () => {
    const limbs = ctx.params.limbsAt(level);
    const qp = (limbs + ctx.ringP.size) * ctx.N;
    for (const period of [slots / 2, slots / 4, 32]) {
      const re = randomVector(period, 900 + period);
      const shift = 3;
      const out = new Int32Array(qp);
      encodeSourceQP(ctx, enc, { kind: 'values', re, im: null, shift }, scale, limbs, out);
      const rotated = Float64Array.from({ length: period }, (_, i) => re[(((i - shift) % period) + period) % period]);
      const want = enc.encode(rotated, { level, scale, fill: 'repeat' }).poly.coeffs;
      expect(Array.from(out.subarray(0, limbs * ctx.N))).toEqual(Array.from(want.subarray(0, limbs * ctx.N)));
    }
  });
});
