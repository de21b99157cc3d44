/**
 * @module bootstrap/encapsulation
 * ModRaise under a sparse ephemeral secret (Bossuat–Troncoso-Pastoriza–Hubaux, eprint 2022/024
 * §4: "sparse-secret encapsulation").
 *
 *  1. At level 0 (modulus q0, the base limbs) the ciphertext is switched from the main secret s to
 *     an ephemeral secret s' of Hamming weight h (32): key (b, a) = (−a·s' + e + P'·s, a) modulo
 *     q0·P', P' the product of the first special primes (P' > q0, so the switch adds ≈ q0·e/P' of
 *     noise, far below the message). Only this key involves s', and its modulus q0·P' ≈ 2^150 is
 *     smaller than the one the paper's parameter sets secure a weight-32 secret at.
 *  2. ModRaise: c0, c1 ∈ [−q0/2, q0/2) (centred representatives, lifted to every prime by the exact
 *     basis conversion of `ring/basis.ts`), so c0 + c1·s' = Δ'm + q0·I over the whole chain, with
 *     |I| ≤ (h + 1)/2 (the bound EvalMod's K rests on, `params.ts`).
 *  3. Back to s at the top: the lifted c1 is small (|c1| < q0/2 < every digit of the gadget), so
 *     its gadget decomposition is c1 itself in every digit and the key collapses to one digit,
 *     (b, a) = (−a·s + e + P·s', a) over QP: the switch is c1·(b, a) then one division by P
 *     (no ModUp). Its noise c1·e/P is negligible.
 * Both keys are stored in the NTT domain with their uniform halves expanded from 32-byte seeds.
 */
import {
  Ciphertext, type CkksContext, InvalidArgumentError, LevelError, type SecretKey,
} from '../ckks/index.js';
import { BasisConverter } from '../ring/basis.js';
import { type Modulus, invMod, mulMod, reduce, shoup } from '../ring/modulus.js';
import { type NttTable, nttForward, nttInverse } from '../ring/ntt.js';
import { Poly } from '../ring/poly.js';
import { ChaCha20, type RandomSource, nonceFromTag, randomSeed, systemRandom } from '../ring/prng.js';
import { sampleGaussian, sampleTernaryHamming, sampleUniform } from '../ring/sampler.js';

/** Special primes in P' (the level-0 switch's auxiliary modulus). */
export const LEVEL0_SPECIAL_LIMBS = 3;
/** ChaCha20 nonce tags of the two keys' uniform halves. */
const TAG_TO_SPARSE = 0xb0075001;
const TAG_FROM_SPARSE = 0xb0075002;

/** One switching key as two polynomials over a list of limbs (NTT domain). */
export interface FlatKey {
  /** b, limb-major over the key's limbs. */
  readonly b: Int32Array;
  /** a, from `seed`. */
  readonly a: Int32Array;
  readonly seed: Uint8Array;
}

/** The two encapsulation keys. */
export interface EncapsulationKeys {
  /** s → s' over (base limbs, first kP special limbs). */
  readonly toSparse: FlatKey;
  /** s' → s over (all Q limbs, all P limbs), one digit. */
  readonly fromSparse: FlatKey;
  /** Hamming weight of s'. */
  readonly weight: number;
  /** Id of the main secret key (`SecretKey.id`). */
  readonly keyId?: string;
}

/** The limbs of the level-0 key: base Q primes then the first kP special primes. */
function level0Moduli(ctx: CkksContext): Modulus[] {
  const kP = Math.min(LEVEL0_SPECIAL_LIMBS, ctx.ringP.size);
  return [...ctx.ringQ.moduli.slice(0, ctx.params.baseLimbs), ...ctx.ringP.moduli.slice(0, kP)];
}

function level0Tables(ctx: CkksContext) {
  const kP = Math.min(LEVEL0_SPECIAL_LIMBS, ctx.ringP.size);
  return [...ctx.ringQ.tables.slice(0, ctx.params.baseLimbs), ...ctx.ringP.tables.slice(0, kP)];
}

/** out[o + n] = small[n] mod p, then NTT. */
function smallToNtt(small: Int8Array, out: Int32Array, o: number, m: Modulus, table: NttTable): void {
  const N = small.length;
  for (let n = 0; n < N; n++) {
    const x = small[n];
    out[o + n] = x + ((x >> 31) & m.p);
  }
  nttForward(out, o, table);
}

/**
 * b = e − a·sOut + c·sIn on one limb (NTT domain), c a constant (0 to skip the last term).
 */
function keyLimb(b: Int32Array, a: Int32Array, sOut: Int32Array, sOutOff: number, sIn: Int32Array, sInOff: number, c: number, o: number, N: number, m: Modulus): void {
  const { p, pInv } = m;
  for (let n = 0; n < N; n++) {
    let r = b[o + n] - mulMod(a[o + n], sOut[sOutOff + n], p, pInv);
    r += (r >> 31) & p;
    if (c !== 0) {
      r += mulMod(c, sIn[sInOff + n], p, pInv) - p;
      r += (r >> 31) & p;
    }
    b[o + n] = r;
  }
}

/**
 * Generates the encapsulation keys for `sk` and a fresh ephemeral secret of Hamming weight
 * `weight` (which is then discarded). Randomness: `rng` for the secret, the errors and the seeds.
 */
export function genEncapsulationKeys(ctx: CkksContext, sk: SecretKey, weight = 32, rng: RandomSource = systemRandom): EncapsulationKeys {
  ctx.check(sk, 'secret key');
  const N = ctx.N;
  if (!Number.isInteger(weight) || weight < 1 || weight > N) throw new InvalidArgumentError(`Hamming weight ${weight}`, `use 1..${N}`);
  const sparse = sampleTernaryHamming(rng, N, weight);
  const seed = (): Uint8Array => {
    if (rng === systemRandom) return randomSeed();
    const w = new Uint32Array(8);
    rng.fill(w);
    return new Uint8Array(w.buffer);
  };
  const nQ = ctx.ringQ.size;
  const K = ctx.ringP.size;
  const base = ctx.params.baseLimbs;
  const allMods = [...ctx.ringQ.moduli, ...ctx.ringP.moduli];
  const allTables = [...ctx.ringQ.tables, ...ctx.ringP.tables];
  // s' in the NTT domain on every limb
  const sp = new Int32Array((nQ + K) * N);
  for (let l = 0; l < nQ + K; l++) smallToNtt(sparse, sp, l * N, allMods[l], allTables[l]);
  sparse.fill(0);
  const sMain = (l: number): [Int32Array, number] => (l < nQ ? [sk.sQ.coeffs, l * N] : [sk.sP.coeffs, (l - nQ) * N]);

  // s → s' at level 0 over (base, P'): b = −a·s' + e + [P']·s on the base limbs
  const m0 = level0Moduli(ctx);
  const t0 = level0Tables(ctx);
  const kP = m0.length - base;
  const seed0 = seed();
  const a0 = new Poly(N, m0.length);
  sampleUniform(new ChaCha20(seed0, nonceFromTag(TAG_TO_SPARSE)), m0, a0, m0.length);
  const b0 = new Int32Array(m0.length * N);
  const e0 = sampleGaussian(rng, N);
  for (let l = 0; l < m0.length; l++) {
    smallToNtt(e0, b0, l * N, m0[l], t0[l]);
    const spl = l < base ? l : nQ + (l - base); // the limb's index in sp / the main secret
    const [sm, so] = sMain(spl);
    let c = 0;
    if (l < base) {
      c = 1;
      for (let k = 0; k < kP; k++) c = mulMod(c, reduce(ctx.ringP.moduli[k].p, m0[l].p), m0[l].p, m0[l].pInv);
    }
    // here the "output" secret is s' and the input is s
    keyLimb(b0, a0.coeffs, sp, spl * N, sm, so, c, l * N, N, m0[l]);
  }
  e0.fill(0);

  // s' → s at the top over QP, one digit: b = −a·s + e + [P]·s' on the Q limbs
  const seed1 = seed();
  const a1 = new Poly(N, nQ + K);
  sampleUniform(new ChaCha20(seed1, nonceFromTag(TAG_FROM_SPARSE)), allMods, a1, nQ + K);
  const b1 = new Int32Array((nQ + K) * N);
  const e1 = sampleGaussian(rng, N);
  for (let l = 0; l < nQ + K; l++) {
    smallToNtt(e1, b1, l * N, allMods[l], allTables[l]);
    const [sm, so] = sMain(l);
    keyLimb(b1, a1.coeffs, sm, so, sp, l * N, l < nQ ? ctx.pModQ[l] : 0, l * N, N, allMods[l]);
  }
  e1.fill(0);
  sp.fill(0);
  return {
    toSparse: { b: b0, a: a0.coeffs, seed: seed0 },
    fromSparse: { b: b1, a: a1.coeffs, seed: seed1 },
    weight,
    keyId: sk.id,
  };
}

/** Regenerates a key's uniform half from its seed (deserialization). */
export function expandEncapsulationUniform(ctx: CkksContext, which: 'toSparse' | 'fromSparse', seed: Uint8Array): Int32Array {
  const N = ctx.N;
  const mods = which === 'toSparse' ? level0Moduli(ctx) : [...ctx.ringQ.moduli, ...ctx.ringP.moduli];
  const a = new Poly(N, mods.length);
  sampleUniform(new ChaCha20(seed, nonceFromTag(which === 'toSparse' ? TAG_TO_SPARSE : TAG_FROM_SPARSE)), mods, a, mods.length);
  return a.coeffs;
}

/** Limb counts of the two keys (for sizes and serialization). */
export function encapsulationKeyLimbs(ctx: CkksContext): { toSparse: number; fromSparse: number } {
  return { toSparse: level0Moduli(ctx).length, fromSparse: ctx.ringQ.size + ctx.ringP.size };
}

/** The switch to s', ModRaise, and the switch back (see the module documentation). */
export class Encapsulation {
  readonly ctx: CkksContext;
  readonly keys: EncapsulationKeys;
  private readonly base: number;
  private readonly kP: number;
  /** base → P' (the level-0 switch's extension) and P' → base (its division). */
  private readonly upP0: BasisConverter;
  private readonly downP0: BasisConverter;
  /** [P'^{-1}]_{q_i} on the base limbs, with quotients. */
  private readonly p0Inv: Int32Array;
  private readonly p0InvF: Float64Array;
  /** base → every other Q limb and every P limb (ModRaise). */
  private readonly raiseConv: BasisConverter;

  constructor(ctx: CkksContext, keys: EncapsulationKeys) {
    this.ctx = ctx;
    this.keys = keys;
    const N = ctx.N;
    this.base = ctx.params.baseLimbs;
    const m0 = level0Moduli(ctx);
    this.kP = m0.length - this.base;
    const baseMods = ctx.ringQ.moduli.slice(0, this.base);
    const pMods = ctx.ringP.moduli.slice(0, this.kP);
    this.upP0 = new BasisConverter(N, baseMods, pMods);
    this.downP0 = new BasisConverter(N, pMods, baseMods);
    this.p0Inv = new Int32Array(this.base);
    this.p0InvF = new Float64Array(this.base);
    for (let i = 0; i < this.base; i++) {
      const { p, pInv } = baseMods[i];
      let c = 1;
      for (const pm of pMods) c = mulMod(c, reduce(pm.p, p), p, pInv);
      this.p0Inv[i] = invMod(c, p);
      this.p0InvF[i] = shoup(this.p0Inv[i], p);
    }
    this.raiseConv = new BasisConverter(N, baseMods, [...ctx.ringQ.moduli.slice(this.base), ...ctx.ringP.moduli]);
  }

  /** Switches a level-0 ciphertext from s to s' (returns a new ciphertext; level and scale kept). */
  toSparse(ct: Ciphertext): Ciphertext {
    const { ctx } = this;
    if (ct.level !== 0) throw new LevelError(0, ct.level, 'the switch to the ephemeral secret (it runs at level 0)');
    if (ct.degree !== 1) throw new InvalidArgumentError('a degree-2 ciphertext', 'relinearize before bootstrapping');
    const N = ctx.N;
    const B = this.base;
    const kP = this.kP;
    const L = B + kP;
    const qm = ctx.ringQ.moduli;
    const pm = ctx.ringP.moduli;
    const key = this.keys.toSparse;
    // c1 over (base, P'): the base limbs as they are, P' limbs by exact conversion, NTT domain
    const c1 = new Int32Array(L * N);
    c1.set(ct.polys[1].coeffs.subarray(0, B * N));
    const y = new Int32Array(B * N);
    for (let i = 0; i < B; i++) {
      const t = ct.polys[1].coeffs.slice(i * N, (i + 1) * N);
      nttInverse(t, 0, ctx.ringQ.tables[i]);
      this.upP0.computeY(t, 0, i, y, 0);
    }
    const v = new Int32Array(N);
    this.upP0.computeV(y, 0, v, 0);
    for (let k = 0; k < kP; k++) {
      this.upP0.convertTo(y, 0, v, 0, k, c1, (B + k) * N);
      nttForward(c1, (B + k) * N, ctx.ringP.tables[k]);
    }
    // u = c1·(b, a), then ⌊u/P'⌉ on the base limbs
    const out = new Ciphertext(ctx, [new Poly(N, B), new Poly(N, B)], 0, ct.scale);
    out.keyId = ct.keyId;
    const yd = new Int32Array(kP * N);
    const conv = new Int32Array(N);
    for (let pi = 0; pi < 2; pi++) {
      const k = pi === 0 ? key.b : key.a;
      const u = new Int32Array(L * N);
      for (let l = 0; l < L; l++) {
        const m = l < B ? qm[l] : pm[l - B];
        mulInto(c1, k, u, l * N, N, m);
      }
      for (let j = 0; j < kP; j++) {
        const t = u.slice((B + j) * N, (B + j + 1) * N);
        nttInverse(t, 0, ctx.ringP.tables[j]);
        this.downP0.computeY(t, 0, j, yd, 0);
      }
      this.downP0.computeV(yd, 0, v, 0);
      const dst = out.polys[pi].coeffs;
      for (let i = 0; i < B; i++) {
        this.downP0.convertTo(yd, 0, v, 0, i, conv, 0);
        nttForward(conv, 0, ctx.ringQ.tables[i]);
        subMulScalar(u, i * N, conv, this.p0Inv[i], this.p0InvF[i], dst, i * N, N, qm[i].p);
      }
    }
    // c0' = c0 + ⌊c1·b/P'⌉
    const c0 = out.polys[0].coeffs;
    for (let i = 0; i < B; i++) addInto(ct.polys[0].coeffs, c0, i * N, N, qm[i].p);
    return out;
  }

  /**
   * ModRaise of a level-0 ciphertext under s' to every limb of Q, switched back to s: decrypts to
   * t = c0 + c1·s' (as integers, centred) = Δ'm + q0·I at the top level. The scale field is the
   * input's (the caller reinterprets it).
   */
  raise(ct: Ciphertext): Ciphertext {
    const { ctx } = this;
    if (ct.level !== 0) throw new LevelError(0, ct.level, 'ModRaise (it starts from level 0)');
    const N = ctx.N;
    const B = this.base;
    const nQ = ctx.ringQ.size;
    const K = ctx.ringP.size;
    const qm = ctx.ringQ.moduli;
    const L = ctx.params.levels;
    const res = new Ciphertext(ctx, [new Poly(N, nQ), new Poly(N, nQ)], L, ct.scale);
    res.keyId = ct.keyId;
    const y = new Int32Array(B * N);
    const v = new Int32Array(N);
    // c0: centred lift to every Q limb (its own limbs unchanged)
    const c0 = res.polys[0].coeffs;
    this.liftToY(ct.polys[0].coeffs, y, v);
    c0.set(ct.polys[0].coeffs.subarray(0, B * N));
    for (let i = B; i < nQ; i++) {
      this.raiseConv.convertTo(y, 0, v, 0, i - B, c0, i * N);
      nttForward(c0, i * N, ctx.ringQ.tables[i]);
    }
    // c1 over QP
    const c1 = new Int32Array((nQ + K) * N);
    this.liftToY(ct.polys[1].coeffs, y, v);
    c1.set(ct.polys[1].coeffs.subarray(0, B * N));
    for (let l = B; l < nQ + K; l++) {
      this.raiseConv.convertTo(y, 0, v, 0, l - B, c1, l * N);
      nttForward(c1, l * N, l < nQ ? ctx.ringQ.tables[l] : ctx.ringP.tables[l - nQ]);
    }
    // (u0, u1) = c1·(b, a) over QP, ⌊u/P⌉ on Q; c0 += u0', c1 = u1'
    const key = this.keys.fromSparse;
    const conv = ctx.convPtoQ;
    const yd = new Int32Array(K * N);
    const t = new Int32Array(N);
    const u = new Int32Array((nQ + K) * N);
    for (let pi = 0; pi < 2; pi++) {
      const k = pi === 0 ? key.b : key.a;
      for (let l = 0; l < nQ + K; l++) mulInto(c1, k, u, l * N, N, l < nQ ? qm[l] : ctx.ringP.moduli[l - nQ]);
      for (let j = 0; j < K; j++) {
        const o = (nQ + j) * N;
        nttInverse(u, o, ctx.ringP.tables[j]);
        conv.computeY(u, o, j, yd, 0);
      }
      conv.computeV(yd, 0, v, 0);
      const dst = res.polys[pi].coeffs;
      for (let i = 0; i < nQ; i++) {
        conv.convertTo(yd, 0, v, 0, i, t, 0);
        nttForward(t, 0, ctx.ringQ.tables[i]);
        if (pi === 0) {
          // dst already holds the lifted c0: dst += (u − t)·P^{-1}
          subMulScalarAdd(u, i * N, t, ctx.pInvModQ[i], ctx.pInvModQF[i], dst, i * N, N, qm[i].p);
        } else {
          subMulScalar(u, i * N, t, ctx.pInvModQ[i], ctx.pInvModQF[i], dst, i * N, N, qm[i].p);
        }
      }
    }
    return res;
  }

  /** y values of the base limbs of an NTT-domain polynomial, and v, for `raiseConv`. */
  private liftToY(src: Int32Array, y: Int32Array, v: Int32Array): void {
    const N = this.ctx.N;
    for (let i = 0; i < this.base; i++) {
      const t = src.slice(i * N, (i + 1) * N);
      nttInverse(t, 0, this.ctx.ringQ.tables[i]);
      this.raiseConv.computeY(t, 0, i, y, 0);
    }
    this.raiseConv.computeV(y, 0, v, 0);
  }
}

/** out[o + n] = a[o + n]·b[o + n] mod p. */
function mulInto(a: Int32Array, b: Int32Array, out: Int32Array, o: number, N: number, m: Modulus): void {
  const { p, pInv } = m;
  for (let n = o, e = o + N; n < e; n++) out[n] = mulMod(a[n], b[n], p, pInv);
}

/** x[o + n] += y[o + n] mod p, into y (y = x + y). */
function addInto(x: Int32Array, y: Int32Array, o: number, N: number, p: number): void {
  for (let n = o, e = o + N; n < e; n++) {
    let r = x[n] + y[n] - p;
    r += (r >> 31) & p;
    y[n] = r;
  }
}

/** out[oo + n] = (u[uo + n] − t[n])·c mod p (t in [0, p)). */
function subMulScalar(u: Int32Array, uo: number, t: Int32Array, c: number, cf: number, out: Int32Array, oo: number, N: number, p: number): void {
  for (let n = 0; n < N; n++) {
    let d = u[uo + n] - t[n];
    d += (d >> 31) & p;
    let r = ((Math.imul(d, c) - Math.imul((d * cf) | 0, p)) | 0) - p;
    r += (r >> 31) & p;
    out[oo + n] = r;
  }
}

/** out[oo + n] += (u[uo + n] − t[n])·c mod p. */
function subMulScalarAdd(u: Int32Array, uo: number, t: Int32Array, c: number, cf: number, out: Int32Array, oo: number, N: number, p: number): void {
  for (let n = 0; n < N; n++) {
    let d = u[uo + n] - t[n];
    d += (d >> 31) & p;
    let r = ((Math.imul(d, c) - Math.imul((d * cf) | 0, p)) | 0) - p;
    r += (r >> 31) & p;
    r += out[oo + n] - p;
    r += (r >> 31) & p;
    out[oo + n] = r;
  }
}
