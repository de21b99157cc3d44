/**
 * Mixed modulus chains (levels of one and two 30-bit limbs, as bootstrapping chains have them):
 * the level tables, the parameter identity (hash, literal, bytes), and the operations whose work
 * depends on the limbs of a level — rescale (one or two limbs dropped), mulRelinRescale (ModDown
 * merged with a two-limb or one-limb division), rotations — checked against a float64 model.
 */
import { describe, expect, it } from 'vitest';
import {
  Ciphertext, CkksContext, Decryptor, Encoder, Encryptor, Evaluator, KeyGenerator, ParameterError, Parameters,
  deserializeParameters, precisionStats, serializeParameters,
} from '../src/index.js';
import { primesBelow } from '../src/ring/primes.js';
import { randomVector } from './helpers.js';

const LOGN = 10;
const N = 1 << LOGN;
// base 2 | levels 1, 2, 1, 2 (bottom up) | P 3
const primes = primesBelow(30, N, 2 + 6 + 3);
const levelLimbs = [1, 2, 1, 2];
const lit = {
  logN: LOGN, levels: 4, levelLimbs, baseLimbs: 2, q: primes.slice(0, 8), p: primes.slice(8), defaultScale: 2 ** 45, insecure: true,
};

describe('mixed chain: tables and identity', () => {
  const P = new Parameters(lit);
  it('limbs, levels and dropped limbs per level', () => {
    expect(P.uniform).toBe(false);
    expect(Array.from({ length: 5 }, (_, l) => P.limbsAt(l))).toEqual([2, 3, 5, 6, 8]);
    expect([2, 3, 4, 5, 6, 7, 8].map((k) => P.levelOfLimbs(k))).toEqual([0, 1, -1, 2, 3, -1, 4]);
    expect([2, 3, 5, 6, 8].map((k) => P.dropAt(k))).toEqual([0, 1, 2, 1, 2]);
    expect(P.levelModulus(4)).toBe(primes[6] * primes[7]);
    expect(P.levelModulus(3)).toBe(primes[5]);
    expect(P.limbsPerLevel).toBe(2);
  });

  it('the literal, the bytes and the hash round-trip; the shape is part of the identity', () => {
    const back = new Parameters(P.toLiteral());
    expect(back.hash).toBe(P.hash);
    expect(Array.from(back.levelLimbs)).toEqual(Array.from(P.levelLimbs));
    expect(deserializeParameters(serializeParameters(P)).hash).toBe(P.hash);
    // same primes, another split into levels: another parameter set
    expect(new Parameters({ ...lit, levelLimbs: [2, 1, 2, 1] }).hash).not.toBe(P.hash);
    // a uniform list is the uniform chain (same hash as limbsPerLevel)
    const u1 = { logN: LOGN, levels: 3, baseLimbs: 2, q: primes.slice(0, 5), p: primes.slice(8), insecure: true };
    expect(new Parameters({ ...u1, levelLimbs: [1, 1, 1] }).hash).toBe(new Parameters({ ...u1, limbsPerLevel: 1 }).hash);
  });

  it('malformed shapes are refused with ParameterError', () => {
    expect(() => new Parameters({ ...lit, levelLimbs: [1, 2, 1] })).toThrow(ParameterError);
    expect(() => new Parameters({ ...lit, levelLimbs: [1, 2, 0, 3] })).toThrow(ParameterError);
    expect(() => new Parameters({ logN: LOGN, levels: 2, levelLimbs: [1, 2], insecure: true })).toThrow(ParameterError);
  });
});

describe('mixed chain: operations vs float64', () => {
  const ctx = new CkksContext(lit);
  const P = ctx.params;
  const enc = new Encoder(ctx);
  const kg = new KeyGenerator(ctx);
  const sk = kg.genSecretKey();
  const ev = new Evaluator(ctx, { relin: kg.genRelinKey(sk), galois: kg.genGaloisKeys(sk, [1, 5]) });
  const encr = new Encryptor(ctx, kg.genPublicKey(sk));
  const dec = new Decryptor(ctx, sk);
  const n = P.slots;
  const a = randomVector(n, 11);
  const b = randomVector(n, 12);
  const decode = (ct: Ciphertext) => enc.decode(dec.decrypt(ct));
  // noise at N = 2^10 is ≈ 2^7.4 in slot units: a 2^30 scale leaves ≈ 22 bits, 2^45 ≈ 37
  const bits = (want: ArrayLike<number>, ct: Ciphertext) => precisionStats(want, decode(ct)).meanBits;

  it('mulRelinRescale at a two-limb level drops both limbs (2^45·2^45/q_4 ≈ 2^30)', () => {
    const ca = encr.encrypt(enc.encode(a, { level: 4, scale: 2 ** 45 }));
    const cb = encr.encrypt(enc.encode(b, { level: 4, scale: 2 ** 45 }));
    const r = ev.mulRelinRescale(ca, cb);
    expect(r.level).toBe(3);
    expect(r.limbs).toBe(6);
    expect(r.scale).toBeCloseTo((2 ** 90) / P.levelModulus(4), 0);
    expect(bits(a.map((x, i) => x * b[i]), r)).toBeGreaterThan(19);
    // the unfused path (mul, relinearize, rescale) agrees
    const s = ev.rescale(ev.relinearize(ev.mul(ca, cb)));
    expect(s.limbs).toBe(6);
    expect(s.scale).toBe(r.scale);
    expect(bits(a.map((x, i) => x * b[i]), s)).toBeGreaterThan(19);
  });

  it('a one-limb level, then a two-limb level entered with a constant at its modulus', () => {
    const c = encr.encrypt(enc.encode(a, { level: 3, scale: 2 ** 30 }));
    const r1 = ev.mulConstThenRescale(c, 0.5); // level 3 (one limb) → 2
    expect(r1.limbs).toBe(5);
    expect(r1.scale).toBeCloseTo(2 ** 30, -2);
    const r2 = ev.rescaleInPlace(ev.mulConst(r1, -3, P.levelModulus(2))); // level 2 (two limbs) → 1
    expect(r2.limbs).toBe(3);
    expect(r2.level).toBe(1);
    expect(bits(a.map((x) => -1.5 * x), r2)).toBeGreaterThan(17);
  });

  it('rotations and hoisted rotations at every level', () => {
    for (let level = 0; level <= 4; level++) {
      const c = encr.encrypt(enc.encode(a, { level, scale: 2 ** 30 }));
      const r = ev.rotate(c, 1);
      const [h1, h5] = ev.rotateHoisted(c, [1, 5]);
      expect(bits(a.map((_, i) => a[(i + 1) % n]), r)).toBeGreaterThan(19);
      expect(Array.from(h1.polys[0].coeffs.subarray(0, c.limbs * N))).toEqual(Array.from(r.polys[0].coeffs.subarray(0, c.limbs * N)));
      expect(bits(a.map((_, i) => a[(i + 5) % n]), h5)).toBeGreaterThan(19);
    }
  });
});
