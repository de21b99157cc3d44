/**
 * Bootstrapping at small insecure rings (N = 2^10, 2^11), stage by stage against independent
 * references, then end to end:
 *  - parameters: the 128-bit check of the N = 2^16 set with every modulus, its level shape, and the
 *    failure probability against the paper's figure and a Monte-Carlo estimate of its model;
 *  - ModRaise: the overflow t − t_0 = q0·I recovered exactly (BigInt CRT of the decryptions),
 *    |I| ≤ (h + 1)/2 for the ephemeral weight h;
 *  - EvalMod: its polynomial on the whole interval [−K, K] against sin(2πy), and on ciphertexts
 *    against the same circuit in float64;
 *  - decrypt(bootstrap(ct)) ≈ decrypt(ct) for random messages (fast-check), full and sparse slots,
 *    with the precision bounded below by the sine's own distortion computed in float64
 *    (q0/(2πΔ')·sin(2πΔ'c/q0) for each coefficient c, embedded by the O(n²) definition); twice in
 *    a row; with the inverse-sine correction.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Bootstrapper, Encapsulation, bootstrapPreset, bootstrapRotations, evalMod, evalModFloat, evalModPlan,
  failureProbabilityLog2, genBootstrapKeys, genEncapsulationKeys, type BootstrapParameters, type BootstrapKeys,
  bootstrapKeyBytes, deserializeBootstrapKeys, serializeBootstrapKeys,
} from '../src/bootstrap/index.js';
import { CkksPolyBackend } from '../src/approx/index.js';
import {
  type Ciphertext, CkksContext, Decryptor, Encoder, Encryptor, Evaluator, HE_STANDARD_128, KeyGenerator, type Plaintext, SerializationError,
  precisionStats,
} from '../src/index.js';
import { isPrime } from '../src/ring/primes.js';
import { nttInverse } from '../src/ring/ntt.js';
import { makeKit, randomVector } from './helpers.js';

/** Centred integer coefficients of a plaintext from its first k limbs (BigInt CRT). */
function crtCoefficients(ctx: CkksContext, pt: Plaintext, k: number): bigint[] {
  const N = ctx.N;
  const primes = ctx.params.q.slice(0, k).map(BigInt);
  const Q = primes.reduce((a, b) => a * b, 1n);
  const limbs = primes.map((_, l) => {
    const t = pt.poly.coeffs.slice(l * N, (l + 1) * N);
    nttInverse(t, 0, ctx.ringQ.tables[l]);
    return t;
  });
  const out: bigint[] = [];
  for (let n = 0; n < N; n++) {
    let x = 0n;
    for (let l = 0; l < k; l++) {
      const Ql = Q / primes[l];
      let inv = 1n;
      // Ql^{-1} mod p_l by Fermat
      let b = Ql % primes[l];
      let e = primes[l] - 2n;
      while (e > 0n) {
        if (e & 1n) inv = (inv * b) % primes[l];
        b = (b * b) % primes[l];
        e >>= 1n;
      }
      x += BigInt(limbs[l][n]) * Ql * inv;
    }
    x %= Q;
    if (x > Q / 2n) x -= Q;
    out.push(x);
  }
  return out;
}

/** z_j = Σ_k w_k·e^{iπ·k·5^j/(2n)} (the canonical embedding by its definition). */
function embed(wr: Float64Array, wi: Float64Array, n: number): { re: Float64Array; im: Float64Array } {
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  let g = 1;
  for (let j = 0; j < n; j++) {
    for (let k = 0; k < n; k++) {
      const a = (Math.PI * ((k * g) % (4 * n))) / (2 * n);
      re[j] += wr[k] * Math.cos(a) - wi[k] * Math.sin(a);
      im[j] += wr[k] * Math.sin(a) + wi[k] * Math.cos(a);
    }
    g = (g * 5) % (4 * n);
  }
  return { re, im };
}

interface Setup {
  bp: BootstrapParameters;
  ctx: CkksContext;
  enc: Encoder;
  encr: Encryptor;
  dec: Decryptor;
  ev: Evaluator;
  boot: Bootstrapper;
  keys: BootstrapKeys;
}
function setup(bp: BootstrapParameters): Setup {
  const ctx = new CkksContext(bp.params);
  const kg = new KeyGenerator(ctx);
  const sk = kg.genSecretKey();
  const keys = genBootstrapKeys(kg, sk, bp);
  const enc = new Encoder(ctx);
  const ev = new Evaluator(ctx, keys);
  return { bp, ctx, enc, ev, keys, encr: new Encryptor(ctx, kg.genPublicKey(sk)), dec: new Decryptor(ctx, sk), boot: new Bootstrapper(ctx, bp, ev, enc, keys) };
}

/**
 * Mean precision (bits) that the sine alone allows for a message: each coefficient c (in message
 * units) becomes q0/(2πΔ')·sin(2πΔ'c/q0); embedded back, the distortion of the slots.
 */
function sineBits(s: Setup, pt: Plaintext): number {
  const { ctx, bp } = s;
  const P = ctx.params;
  const c = s.enc.plaintextCoefficients(pt);
  let q0 = 1;
  for (let i = 0; i < P.baseLimbs; i++) q0 *= P.q[i];
  const e = Math.floor(Math.log2(q0 / (2 ** bp.evalMod.logMessageRatio * pt.scale)));
  const k = (2 ** e * pt.scale) / q0; // Δ'/q0
  const n = bp.slots;
  const step = P.N / (2 * n);
  const dr = new Float64Array(n);
  const di = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    const a = c[j * step];
    const b = c[(j + n) * step];
    dr[j] = Math.sin(2 * Math.PI * k * a) / (2 * Math.PI * k) - a;
    di[j] = Math.sin(2 * Math.PI * k * b) / (2 * Math.PI * k) - b;
  }
  const z = embed(dr, di, n);
  let sum = 0;
  for (let j = 0; j < n; j++) sum += Math.abs(z.re[j]) + Math.abs(z.im[j]);
  return -Math.log2(sum / (2 * n));
}

describe('bootstrapping parameters', () => {
  it('N = 2^16: 128-bit secure with every modulus, ≥ 9 user levels at ≥ 25-bit scales, failure 2^-138.7', () => {
    const bp = bootstrapPreset('N16-BOOT');
    const P = bp.params;
    expect(P.insecure).toBe(false);
    expect(P.logQP).toBeLessThanOrEqual(HE_STANDARD_128[16]);
    const all = [...P.q, ...P.p];
    expect(new Set(all).size).toBe(all.length);
    for (const q of all) {
      expect(q).toBeLessThan(2 ** 30);
      expect((q - 1) % (2 * P.N)).toBe(0);
      expect(isPrime(q)).toBe(true);
    }
    expect(bp.userLevels).toBeGreaterThanOrEqual(9);
    expect(P.defaultLevel).toBe(bp.userLevels);
    for (let l = 1; l <= bp.userLevels; l++) expect(Math.log2(P.scales[l])).toBeGreaterThanOrEqual(25);
    expect(bp.slots).toBe(2 ** 15);
    expect(bp.failureLog2).toBeCloseTo(-138.7, 1);
    // levels: user (one limb, the top one two), StC one limb, EvalMod and CtS two limbs
    const lv = Array.from(P.levelLimbs.subarray(1));
    expect(lv.slice(0, bp.userLevels)).toEqual([...new Array(bp.userLevels - 1).fill(1), 2]);
    expect(lv.slice(bp.userLevels, bp.userLevels + bp.stcLevels)).toEqual(new Array(bp.stcLevels).fill(1));
    expect(lv.slice(bp.userLevels + bp.stcLevels)).toEqual(new Array(bp.evalMod.depth + bp.ctsLevels).fill(2));
    // the output scale squared, divided by the top user level, is the one-limb ladder's
    expect(Math.abs(Math.log2(P.scales[bp.userLevels - 1] / P.scales[1]))).toBeLessThan(0.01);
  });

  it('the Irwin–Hall tail matches a Monte-Carlo estimate of the same model at small weights', () => {
    // h = 5 (6 uniforms), K = 1: P(|S| > 1) per coefficient
    let s = 12345;
    const rnd = () => {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      return s / 2 ** 32 - 0.5;
    };
    const trials = 400_000;
    let hits = 0;
    for (let t = 0; t < trials; t++) {
      let x = 0;
      for (let i = 0; i < 6; i++) x += rnd();
      if (Math.abs(x) > 1) hits++;
    }
    const mc = hits / trials;
    expect(Math.abs(Math.log2(mc) - failureProbabilityLog2(5, 1, 1))).toBeLessThan(0.05);
    expect(failureProbabilityLog2(32, 16, 2 ** 16)).toBeCloseTo(-138.7, 1);
    expect(failureProbabilityLog2(32, 16, 2 ** 15)).toBeCloseTo(-139.7, 1);
    expect(failureProbabilityLog2(32, 17, 2 ** 16)).toBe(-Infinity);
  });
});

describe('bootstrapping stages (N = 2^10)', () => {
  it('ModRaise under the ephemeral secret: t − t_0 = q0·I exactly, |I| ≤ 16, the overflow present', () => {
    const bp = bootstrapPreset('N10-BOOT-T');
    const ctx = new CkksContext(bp.params);
    const kg = new KeyGenerator(ctx);
    const sk = kg.genSecretKey();
    const enc = new Encoder(ctx);
    const encr = new Encryptor(ctx, kg.genPublicKey(sk));
    const dec = new Decryptor(ctx, sk);
    const cap = new Encapsulation(ctx, genEncapsulationKeys(ctx, sk, 32));
    const ct = encr.encrypt(enc.encode(randomVector(ctx.params.slots, 3), { level: 0, scale: 2 ** 54 }));
    const t0 = crtCoefficients(ctx, dec.decrypt(ct), 2);
    const sparse = cap.toSparse(ct);
    const raised = cap.raise(sparse);
    expect(raised.level).toBe(ctx.params.levels);
    expect(raised.limbs).toBe(ctx.params.q.length);
    const t = crtCoefficients(ctx, dec.decrypt(raised), 4);
    const q0 = BigInt(ctx.params.q[0]) * BigInt(ctx.params.q[1]);
    let nonzero = 0;
    for (let n = 0; n < ctx.N; n++) {
      const d = t[n] - t0[n];
      const I = (d + (d >= 0n ? q0 / 2n : -q0 / 2n)) / q0;
      const rest = d - I * q0;
      expect(rest < 2n ** 12n && rest > -(2n ** 12n)).toBe(true); // switching noise only
      expect(I <= 16n && I >= -16n).toBe(true);
      if (I !== 0n) nonzero++;
    }
    expect(nonzero).toBeGreaterThan(ctx.N / 2);
  });

  it('EvalMod\'s polynomial: |p(y) − sin(2πy)| < 2^-38 on all of [−K, K]', () => {
    for (const R of [3, 4]) {
      const plan = evalModPlan(bootstrapPreset('N10-BOOT-T', { evalMod: { doubleAngles: R } }).evalMod);
      let worst = 0;
      for (let i = 0; i <= 20_000; i++) {
        const y = -16 + (32 * i) / 20_000;
        worst = Math.max(worst, Math.abs(evalModFloat(plan, y) - Math.sin(2 * Math.PI * y)));
      }
      expect(Math.log2(worst)).toBeLessThan(-38);
    }
    // with the inverse-sine correction, near integers it is 2π(y − round(y)) to the quintic term
    const arc = evalModPlan(bootstrapPreset('N10-BOOT-T', { evalMod: { arcsineDegree: 3 } }).evalMod);
    for (const I of [-16, -3, 0, 7, 16]) {
      for (const eps of [-(2 ** -7), 2 ** -9, 2 ** -12]) {
        const x = 2 * Math.PI * eps;
        expect(Math.abs(evalModFloat(arc, I + eps) - x)).toBeLessThan(0.1 * Math.abs(x) ** 5 + 2 ** -36);
      }
    }
  });

  it('EvalMod on ciphertexts follows its float64 circuit', () => {
    const bp = bootstrapPreset('N10-BOOT-T');
    const kit = makeKit(bp.params.toLiteral(), []);
    const P = kit.ctx.params;
    const plan = evalModPlan(bp.evalMod);
    const level = bp.stageLevels.evalMod;
    const n = P.slots;
    const y = randomVector(n, 9).map((u, i) => Math.round(u * 15) + 2 ** -7 * Math.sin(i));
    const ct = kit.encr.encrypt(kit.enc.encode(y.map((v) => v / plan.B), { level, scale: P.levelModulus(level) }));
    const out = evalMod(new CkksPolyBackend(kit.ev, kit.enc, { level, scale: ct.scale }), ct, plan);
    expect(out.level).toBe(bp.stageLevels.stc);
    const got = kit.enc.decode(kit.dec.decrypt(out));
    const want = y.map((v) => evalModFloat(plan, v));
    expect(precisionStats(want, got).meanBits).toBeGreaterThan(30);
  });
});

describe('bootstrapping end to end (N = 2^10)', () => {
  const full = setup(bootstrapPreset('N10-BOOT-T'));
  const msg = (s: Setup, seed: number, mag: number): { re: Float64Array; im: Float64Array } => ({
    re: randomVector(s.bp.slots, seed, -mag, mag), im: randomVector(s.bp.slots, seed + 1, -mag, mag),
  });
  const check = (s: Setup, ct: Ciphertext, out: Ciphertext, floor: number) => {
    const n = s.bp.slots;
    const ptIn = s.dec.decrypt(ct);
    const before = s.enc.decodeComplex(ptIn);
    const after = s.enc.decodeComplex(s.dec.decrypt(out));
    const bits = Math.min(precisionStats(before.re, after.re, n).meanBits, precisionStats(before.im, after.im, n).meanBits);
    const bound = Math.min(floor, sineBits(s, ptIn) - 1);
    expect(bits).toBeGreaterThanOrEqual(bound);
    return bits;
  };

  it('decrypt(bootstrap(ct)) ≈ decrypt(ct) over random messages (full slots)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 1e6 }), fc.double({ min: 0.05, max: 1, noNaN: true }), (seed, mag) => {
      const ct = full.encr.encrypt(full.enc.encode(msg(full, seed, mag), { level: 0 }));
      const out = full.boot.bootstrap(ct);
      expect(out.level).toBe(full.bp.outputLevel);
      expect(out.scale / full.bp.outputScale).toBeCloseTo(1, 9);
      check(full, ct, out, 17);
    }), { numRuns: 3 });
  });

  it('the key set travels seeded, one key per chunk, and loads into a working bootstrapper', () => {
    const chunks = [...serializeBootstrapKeys(full.keys)];
    const sizes = bootstrapKeyBytes(full.ctx, full.keys.galois.keys.size);
    expect(chunks.length).toBe(full.keys.galois.keys.size + 2);
    expect(chunks.reduce((s, c) => s + c.length, 0)).toBe(sizes.wire.total);
    const unseeded = [...serializeBootstrapKeys(full.keys, { seeded: false })].reduce((s, c) => s + c.length, 0);
    expect(unseeded).toBe(bootstrapKeyBytes(full.ctx, full.keys.galois.keys.size, { seeded: false }).wire.total);
    expect(sizes.wire.total / unseeded).toBeLessThan(0.51);
    const keys = deserializeBootstrapKeys(full.ctx, [...chunks].reverse());
    const ev = new Evaluator(full.ctx, keys);
    const boot = new Bootstrapper(full.ctx, full.bp, ev, full.enc, keys);
    const ct = full.encr.encrypt(full.enc.encode(msg(full, 31, 1), { level: 0 }));
    check(full, ct, boot.bootstrap(ct), 17);
    expect(() => deserializeBootstrapKeys(full.ctx, chunks.slice(1))).toThrow(SerializationError);
    expect(() => deserializeBootstrapKeys(full.ctx, [...chunks, chunks[1]])).toThrow(SerializationError);
    const bad = chunks[chunks.length - 1].slice();
    bad[100] ^= 1;
    expect(() => deserializeBootstrapKeys(full.ctx, [...chunks.slice(0, -1), bad])).toThrow(SerializationError);
  });

  it('twice in a row keeps the precision', () => {
    const ct = full.encr.encrypt(full.enc.encode(msg(full, 77, 1), { level: 0 }));
    const once = full.boot.bootstrap(ct);
    const b1 = check(full, ct, once, 17);
    // down to level 0 by a product (the user's work), then again
    const down = full.ev.mulConstThenRescale(once, 1);
    const twice = full.boot.bootstrap(down);
    expect(check(full, ct, twice, 16)).toBeGreaterThan(b1 - 1.5);
  });

  it('sparse slots (2^5 of 2^9) and the inverse-sine correction', () => {
    const sparse = setup(bootstrapPreset('N10-BOOT-T', { logSlots: 5 }));
    const ct = sparse.encr.encrypt(sparse.enc.encode(msg(sparse, 5, 0.5), { level: 0, fill: 'repeat' }));
    check(sparse, ct, sparse.boot.bootstrap(ct), 14);
    const arc = setup(bootstrapPreset('N10-BOOT-T', { evalMod: { arcsineDegree: 3 } }));
    const ct2 = arc.encr.encrypt(arc.enc.encode(msg(arc, 6, 1), { level: 0 }));
    expect(check(arc, ct2, arc.boot.bootstrap(ct2), 24)).toBeGreaterThan(24);
  });

  it('sparse slots: SubSum averages away part of the input noise, so the output is no further from the values than the input', () => {
    // with the inverse-sine correction the bootstrap's own error (the sine's, ≈ 2^-30 here) is far
    // below the fresh level-0 encryption noise (≈ 2^-23 of the values at N = 2^10), and SubSum only
    // removes noise: the output is at least as close to the encoded values as decrypt(input) is
    const s = setup(bootstrapPreset('N10-BOOT-T', { logSlots: 5, evalMod: { arcsineDegree: 3 } }));
    const n = s.bp.slots;
    const bitsTo = (v: { re: Float64Array; im: Float64Array }, ct: Ciphertext): number => {
      const d = s.enc.decodeComplex(s.dec.decrypt(ct));
      return Math.min(precisionStats(v.re, d.re, n).meanBits, precisionStats(v.im, d.im, n).meanBits);
    };
    for (const seed of [11, 12]) {
      const v = msg(s, seed, 0.5);
      const ct = s.encr.encrypt(s.enc.encode(v, { level: 0, fill: 'repeat' }));
      expect(bitsTo(v, s.boot.bootstrap(ct))).toBeGreaterThanOrEqual(bitsTo(v, ct) - 0.5);
    }
  });

  it('N = 2^11, full slots: the rotation keys it lists are all it uses', () => {
    const bp = bootstrapPreset('N11-BOOT-T');
    const s = setup(bp);
    expect(s.ev.ctx.params.N).toBe(2048);
    const ct = s.encr.encrypt(s.enc.encode(msg(s, 8, 1), { level: 0 }));
    check(s, ct, s.boot.bootstrap(ct), 17);
    expect(bootstrapRotations(bp).length).toBeGreaterThan(0);
  });
});
