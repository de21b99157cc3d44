/**
 * decrypt(op(enc a, enc b)) ≈ op(a, b) against a float64 plaintext model, with the mean precision
 * asserted against log2Δ − (logN + 2) bits (Lattigo's floor) and the worst slot 5 bits below it.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Ciphertext, deserializeCiphertext, precisionStats, serializeCiphertext } from '../src/index.js';
import { makeKit, precisionFloor, randomVector } from './helpers.js';

const LOGN = 10;
const kit = makeKit({ logN: LOGN, levels: 5, insecure: true });
const { ctx, enc, encr, dec, ev } = kit;
const n = ctx.params.slots;
const logScale = Math.log2(ctx.params.defaultScale);
const floor = precisionFloor(logScale, LOGN);

const decode = (ct: Ciphertext) => enc.decode(dec.decrypt(ct));
const expectClose = (want: ArrayLike<number>, ct: Ciphertext, slack = 0) => {
  const st = precisionStats(want, decode(ct));
  expect(st.meanBits).toBeGreaterThanOrEqual(floor - slack);
  expect(st.minBits).toBeGreaterThanOrEqual(floor - slack - 5);
  return st;
};
const seedArb = fc.integer({ min: 1, max: 2 ** 31 - 1 });
const opts = { numRuns: 8 };

describe('CKKS operations vs float64 model (N=2^10, Δ≈2^30)', () => {
  it('encode/decode round trip', () => {
    fc.assert(fc.property(seedArb, fc.double({ min: 0.01, max: 1000, noNaN: true }), (seed, mag) => {
      const a = randomVector(n, seed, -mag, mag);
      const st = precisionStats(a, enc.decode(enc.encode(a)));
      // rounding only: error ≈ √N/Δ per slot, relative to the magnitude bound it fits in
      expect(st.meanBits + Math.log2(1)).toBeGreaterThanOrEqual(logScale - LOGN / 2 - 3);
    }), { numRuns: 20 });
  });

  it('public- and secret-key encryption', () => {
    fc.assert(fc.property(seedArb, (seed) => {
      const a = randomVector(n, seed);
      expectClose(a, encr.encrypt(enc.encode(a)));
      expectClose(a, kit.skEncr.encrypt(enc.encode(a)));
    }), opts);
  });

  it('add, sub, neg, addConst, with plaintexts too', () => {
    fc.assert(fc.property(seedArb, fc.double({ min: -4, max: 4, noNaN: true }), (seed, c) => {
      const a = randomVector(n, seed);
      const b = randomVector(n, seed + 1);
      const ca = encr.encrypt(enc.encode(a));
      const cb = encr.encrypt(enc.encode(b));
      expectClose(a.map((x, i) => x + b[i]), ev.add(ca, cb));
      expectClose(a.map((x, i) => x - b[i]), ev.sub(ca, cb));
      expectClose(a.map((x) => -x), ev.neg(ca));
      expectClose(a.map((x) => x + c), ev.addConst(ca, c));
      expectClose(a.map((x, i) => x + b[i]), ev.add(ca, enc.encode(b)));
    }), opts);
  });

  it('multiply, relinearize, rescale (and squaring)', () => {
    fc.assert(fc.property(seedArb, (seed) => {
      const a = randomVector(n, seed);
      const b = randomVector(n, seed + 7);
      const ca = encr.encrypt(enc.encode(a));
      const cb = encr.encrypt(enc.encode(b));
      const m = ev.mul(ca, cb);
      expect(m.degree).toBe(2);
      expectClose(a.map((x, i) => x * b[i]), m); // degree 2 decrypts with s²
      const r = ev.relinearize(m);
      expect(r.degree).toBe(1);
      expectClose(a.map((x, i) => x * b[i]), r);
      const s = ev.rescale(r);
      expect(s.level).toBe(ctx.params.levels - 1);
      expect(Math.abs(Math.log2(s.scale) - logScale)).toBeLessThan(0.1);
      expectClose(a.map((x, i) => x * b[i]), s);
      expectClose(a.map((x) => x * x), ev.mulRelinRescale(ca, ca));
    }), opts);
  });

  it('multiply by constants (rescaled back to the input scale), integers and plaintexts', () => {
    fc.assert(fc.property(seedArb, fc.double({ min: -3, max: 3, noNaN: true }), fc.integer({ min: -50, max: 50 }), (seed, c, k) => {
      const a = randomVector(n, seed);
      const b = randomVector(n, seed + 3);
      const ca = encr.encrypt(enc.encode(a));
      const mc = ev.mulConstThenRescale(ca, c);
      expect(mc.scale).toBeCloseTo(ca.scale, 0);
      expectClose(a.map((x) => x * c), mc);
      expectClose(a.map((x) => x * k), ev.mulInt(ca, k), Math.log2(Math.abs(k) + 1));
      const pt = enc.encode(b, { scale: ctx.params.levelModulus(ca.level) });
      const mp = ev.rescale(ev.mulPlain(ca, pt));
      expectClose(a.map((x, i) => x * b[i]), mp);
    }), opts);
  });

  it('rotations by every keyed step, hoisted rotations equal single ones', () => {
    fc.assert(fc.property(seedArb, fc.constantFrom(...kit.steps), (seed, k) => {
      const a = randomVector(n, seed);
      const ca = encr.encrypt(enc.encode(a));
      const want = a.map((_, i) => a[(((i + k) % n) + n) % n]);
      expectClose(want, ev.rotate(ca, k));
      const hoisted = ev.rotateHoisted(ca, [k, 0, 1]);
      expectClose(want, hoisted[0]);
      expectClose(a, hoisted[1]);
      expectClose(a.map((_, i) => a[(i + 1) % n]), hoisted[2]);
    }), opts);
  });

  it('complex slots and conjugation', () => {
    fc.assert(fc.property(seedArb, (seed) => {
      const re = randomVector(n, seed);
      const im = randomVector(n, seed + 11);
      const ct = encr.encrypt(enc.encode({ re, im }));
      const got = enc.decodeComplex(dec.decrypt(ev.conjugate(ct)));
      expect(precisionStats(re, got.re).meanBits).toBeGreaterThanOrEqual(floor);
      expect(precisionStats(im.map((x) => -x), got.im).meanBits).toBeGreaterThanOrEqual(floor);
      // (a+ib)·(a−ib) = a² + b², imaginary part 0
      const prod = ev.mulRelinRescale(ct, ev.conjugate(ct));
      const g2 = enc.decodeComplex(dec.decrypt(prod));
      expect(precisionStats(re.map((x, i) => x * x + im[i] * im[i]), g2.re).meanBits).toBeGreaterThanOrEqual(floor - 1);
      expect(precisionStats(new Float64Array(n), g2.im).meanBits).toBeGreaterThanOrEqual(floor - 1);
    }), { numRuns: 4 });
  });

  it('through every level down to the last, with mixed operations', () => {
    fc.assert(fc.property(seedArb, (seed) => {
      let want = randomVector(n, seed);
      let ct = encr.encrypt(enc.encode(want));
      for (let l = ctx.params.levels; l > 0; l--) {
        const b = randomVector(n, seed + l);
        const cb = encr.encrypt(enc.encode(b, { level: ct.level, scale: ct.scale }));
        ct = ev.rotate(ev.mulRelinRescale(ct, cb), 1);
        want = want.map((_, i) => want[(i + 1) % n] * b[(i + 1) % n]);
        ct = ev.addConst(ct, 0.25);
        want = want.map((x) => x + 0.25);
      }
      expect(ct.level).toBe(0);
      // five chained key switches and rescales: allow log2(5) bits
      expectClose(want, ct, Math.log2(ctx.params.levels));
    }), { numRuns: 3 });
  });

  it('levels are aligned by dropping limbs when operands differ', () => {
    const a = randomVector(n, 5);
    const b = randomVector(n, 6);
    const ca = encr.encrypt(enc.encode(a));
    const sq = ev.mulRelinRescale(ca, ca); // level L−1
    const cb = encr.encrypt(enc.encode(b, { scale: sq.scale }));
    const s = ev.add(sq, cb);
    expect(s.level).toBe(ctx.params.levels - 1);
    expectClose(a.map((x, i) => x * x + b[i]), s);
    expectClose(a, ev.dropLevel(ca, 2));
  });

  it('setScale brings a ciphertext to an exact target scale', () => {
    const a = randomVector(n, 9);
    const ca = encr.encrypt(enc.encode(a));
    const t = ctx.params.scales[ctx.params.levels - 1] * 1.37;
    const r = ev.setScale(ca, t);
    expect(r.scale).toBe(t);
    expectClose(a, r);
  });
});

describe('two-limb levels (Δ ≈ 2^58) give high precision', () => {
  const k2 = makeKit({ logN: LOGN, levels: 2, limbsPerLevel: 2, insecure: true }, [1]);
  it('mul → relin → rescale → rotate keeps ≥ 40 bits', () => {
    const nn = k2.ctx.params.slots;
    const a = randomVector(nn, 1);
    const b = randomVector(nn, 2);
    const ca = k2.encr.encrypt(k2.enc.encode(a));
    const cb = k2.encr.encrypt(k2.enc.encode(b));
    const r = k2.ev.rotate(k2.ev.mulRelinRescale(ca, cb), 1);
    const st = precisionStats(a.map((_, i) => a[(i + 1) % nn] * b[(i + 1) % nn]), k2.enc.decode(k2.dec.decrypt(r)));
    expect(st.meanBits).toBeGreaterThanOrEqual(40);
  });
});

describe('encrypt, decrypt and encode into a reused destination', () => {
  it('give the same messages as fresh outputs and reuse the buffers', () => {
    fc.assert(fc.property(seedArb, (seed) => {
      const a = randomVector(n, seed);
      const b = randomVector(n, seed + 1);
      const out = ev.mul(encr.encrypt(enc.encode(b)), encr.encrypt(enc.encode(b))); // degree 2, top level
      const c0 = out.polys[0].coeffs;
      expect(encr.encrypt(enc.encode(a), out)).toBe(out);
      expect(out.degree).toBe(1);
      expect(out.polys[0].coeffs).toBe(c0);
      expectClose(a, out);
      const pt = enc.encode(b, { level: 1 });
      const lower = encr.encrypt(pt, out); // fewer limbs into the same buffers
      expect(lower.level).toBe(1);
      expect(lower.limbs).toBe(ctx.params.limbsAt(1));
      expectClose(b, lower);
      const ptOut = enc.encode(b);
      expect(dec.decrypt(lower, ptOut)).toBe(ptOut);
      expect(ptOut.level).toBe(1);
      const st = precisionStats(b, enc.decode(ptOut));
      expect(st.meanBits).toBeGreaterThanOrEqual(floor);
      enc.encodeInto(a, ptOut);
      expect(precisionStats(a, enc.decode(ptOut)).meanBits).toBeGreaterThanOrEqual(logScale - LOGN / 2 - 3);
    }), opts);
  });

  it('a seeded secret-key encryption reused for a public-key one is no longer sent seeded', () => {
    const a = randomVector(n, 7);
    const out = kit.skEncr.encrypt(enc.encode(a));
    const seeded = serializeCiphertext(out, { seeded: true });
    expectClose(a, deserializeCiphertext(ctx, seeded));
    encr.encrypt(enc.encode(a), out);
    expect(() => serializeCiphertext(out, { seeded: true })).toThrow(/seeded/);
    kit.skEncr.encrypt(enc.encode(a), out); // fresh seed again
    expectClose(a, deserializeCiphertext(ctx, serializeCiphertext(out, { seeded: true })));
  });
});
