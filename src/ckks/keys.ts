/**
 * @module ckks/keys
 * Secret, public and evaluation keys, and their generation.
 *
 * Evaluation keys are hybrid switching keys (Han–Ki, eprint 2019/688 §3; Kim–Polyakov–Zucca
 * eprint 2021/204 App. A): for digits G_0..G_{dnum−1} of α consecutive Q primes, D_j = Π_{i∈G_j} q_i,
 * and the CRT idempotent ρ_j (≡ 1 mod q_i for i ∈ G_j, 0 on the other Q primes), key j over QP is
 *   b_j = −a_j·s_out + e_j + P·ρ_j·s_in,   a_j uniform,
 * which in RNS is just [P]_{q_i}·s_in added on the limbs of G_j. Relinearization switches s² → s;
 * the Galois key of g switches s → σ_{g^−1}(s), so the evaluator key-switches before permuting and
 * one decomposition serves many rotations (Lattigo `GenGaloisKey`; Halevi–Shoup hoisting).
 *
 * All key polynomials are stored in the NTT domain. The uniform halves come from a ChaCha20 stream
 * under a fresh 32-byte seed (nonce = digit index), so serialization can send the seed instead.
 */
import { automorphismNTT, galoisInverse } from '../ring/automorphism.js';
import { mulMod } from '../ring/modulus.js';
import { type RandomSource, ChaCha20, nonceFromTag, randomSeed, systemRandom } from '../ring/prng.js';
import { Poly } from '../ring/poly.js';
import { sampleGaussian, sampleTernary, sampleTernaryHamming, sampleUniform, smallToPoly } from '../ring/sampler.js';
import type { CkksContext } from './context.js';
import { InvalidArgumentError } from './errors.js';

/** The secret s (ternary), kept in the NTT domain over all Q and P primes. */
export class SecretKey {
  constructor(readonly ctx: CkksContext, readonly sQ: Poly, readonly sP: Poly) {}
}

/** Public key (b, a) = (−a·s + e, a) over QP, NTT domain. */
export class PublicKey {
  constructor(
    readonly ctx: CkksContext,
    readonly bQ: Poly, readonly bP: Poly,
    readonly aQ: Poly, readonly aP: Poly,
    /** Seed of the uniform half (a), if it was generated from one. */
    readonly seed?: Uint8Array,
  ) {}
}

/** A hybrid switching key: dnum pairs (b_j, a_j) over QP, NTT domain. */
export class SwitchingKey {
  constructor(
    readonly ctx: CkksContext,
    readonly bQ: Poly[], readonly bP: Poly[],
    readonly aQ: Poly[], readonly aP: Poly[],
    readonly seed?: Uint8Array,
  ) {}

  get dnum(): number {
    return this.bQ.length;
  }

  /** Bytes held by the residues. */
  get byteLength(): number {
    const per = (this.bQ[0].limbs + this.bP[0].limbs) * this.ctx.N * 4;
    return 2 * this.dnum * per;
  }
}

/** Relinearization key (s² → s). */
export class RelinKey {
  constructor(readonly ctx: CkksContext, readonly key: SwitchingKey) {}
}

/** Galois keys indexed by Galois element. */
export class GaloisKeys {
  readonly keys = new Map<number, SwitchingKey>();
  constructor(readonly ctx: CkksContext) {}

  has(galoisElement: number): boolean {
    return this.keys.has(galoisElement);
  }

  /** Galois elements present. */
  elements(): number[] {
    return [...this.keys.keys()].sort((a, b) => a - b);
  }

  /** Bytes held by all keys. */
  get byteLength(): number {
    let s = 0;
    for (const k of this.keys.values()) s += k.byteLength;
    return s;
  }
}

/** Evaluation keys the evaluator uses. */
export interface EvaluationKeys {
  relin?: RelinKey;
  galois?: GaloisKeys;
}

/** Options of Galois key generation. */
export interface GaloisKeyOptions {
  /** Also generate the conjugation key. */
  conjugate?: boolean;
}

/** Generates keys. Secrets come from the platform CSPRNG (or a supplied source, e.g. for tests). */
export class KeyGenerator {
  readonly ctx: CkksContext;
  private readonly rng: RandomSource;

  constructor(ctx: CkksContext, rng: RandomSource = systemRandom) {
    this.ctx = ctx;
    this.rng = rng;
  }

  /** A fresh secret key: uniform ternary (or fixed Hamming weight if the parameters say so). */
  genSecretKey(): SecretKey {
    const { ctx } = this;
    const P = ctx.params;
    const s = P.hammingWeight !== undefined ? sampleTernaryHamming(this.rng, ctx.N, P.hammingWeight) : sampleTernary(this.rng, ctx.N);
    const sQ = new Poly(ctx.N, P.q.length);
    const sP = new Poly(ctx.N, P.p.length);
    smallToPoly(s, ctx.ringQ.moduli, sQ, sQ.limbs);
    smallToPoly(s, ctx.ringP.moduli, sP, sP.limbs);
    s.fill(0);
    ctx.ringQ.ntt(sQ);
    ctx.ringP.ntt(sP);
    return new SecretKey(ctx, sQ, sP);
  }

  /** Public key (b, a) over QP. */
  genPublicKey(sk: SecretKey): PublicKey {
    this.ctx.check(sk, 'secret key');
    const seed = randomSeed();
    const [bQ, bP, aQ, aP] = this.rlweSample(sk.sQ, sk.sP, new ChaCha20(seed, nonceFromTag(0xffff_ffff)));
    return new PublicKey(this.ctx, bQ, bP, aQ, aP, seed);
  }

  /** Relinearization key s² → s. */
  genRelinKey(sk: SecretKey): RelinKey {
    this.ctx.check(sk, 'secret key');
    const { ringQ } = this.ctx;
    const s2 = new Poly(this.ctx.N, sk.sQ.limbs);
    ringQ.mulCoeffs(sk.sQ, sk.sQ, s2, s2.limbs);
    return new RelinKey(this.ctx, this.genSwitchingKey(sk, s2));
  }

  /** Galois keys for left rotations by each step (and conjugation if asked). */
  genGaloisKeys(sk: SecretKey, steps: readonly number[], opts: GaloisKeyOptions = {}, into?: GaloisKeys): GaloisKeys {
    this.ctx.check(sk, 'secret key');
    const gk = into ?? new GaloisKeys(this.ctx);
    const elements = new Set<number>();
    for (const k of steps) {
      if (!Number.isInteger(k)) throw new InvalidArgumentError(`rotation step ${k}`, 'use integer steps');
      const g = this.ctx.galoisElement(k);
      if (g !== 1) elements.add(g);
    }
    if (opts.conjugate) elements.add(this.ctx.conjugationElement);
    for (const g of elements) if (!gk.has(g)) gk.keys.set(g, this.genGaloisKey(sk, g));
    return gk;
  }

  /** The switching key of Galois element g: s → σ_{g^−1}(s). */
  genGaloisKey(sk: SecretKey, g: number): SwitchingKey {
    const { ctx } = this;
    const gInv = galoisInverse(g, ctx.N);
    const idx = ctx.galoisIndex(gInv);
    const sOutQ = new Poly(ctx.N, sk.sQ.limbs);
    const sOutP = new Poly(ctx.N, sk.sP.limbs);
    automorphismNTT(sk.sQ, idx, sOutQ, sOutQ.limbs);
    automorphismNTT(sk.sP, idx, sOutP, sOutP.limbs);
    return this.genSwitchingKey({ sQ: sOutQ, sP: sOutP }, sk.sQ);
  }

  /**
   * Switching key from s_in (NTT over Q) to the secret `out` (NTT over QP): decrypting
   * Σ_j d̃_j·(b_j, a_j) under s_out gives P·Σ_j d̃_j ρ_j s_in + small.
   */
  genSwitchingKey(out: { sQ: Poly; sP: Poly }, sIn: Poly): SwitchingKey {
    const { ctx } = this;
    const P = ctx.params;
    const nQ = P.q.length;
    const alpha = P.digitLimbs;
    const dnum = Math.ceil(nQ / alpha);
    const seed = randomSeed();
    const bQ: Poly[] = [];
    const bP: Poly[] = [];
    const aQ: Poly[] = [];
    const aP: Poly[] = [];
    const N = ctx.N;
    for (let j = 0; j < dnum; j++) {
      const [b0, b1, a0, a1] = this.rlweSample(out.sQ, out.sP, new ChaCha20(seed, nonceFromTag(j)));
      // + [P]_{q_i}·s_in on the limbs of digit j
      for (let i = j * alpha; i < Math.min((j + 1) * alpha, nQ); i++) {
        const m = ctx.ringQ.moduli[i];
        const c = ctx.pModQ[i];
        const o = i * N;
        for (let n = 0; n < N; n++) {
          let r = b0.coeffs[o + n] + mulMod(sIn.coeffs[o + n], c, m.p, m.pInv) - m.p;
          r += (r >> 31) & m.p;
          b0.coeffs[o + n] = r;
        }
      }
      bQ.push(b0); bP.push(b1); aQ.push(a0); aP.push(a1);
    }
    return new SwitchingKey(ctx, bQ, bP, aQ, aP, seed);
  }

  /**
   * (b, a) = (−a·s + e, a) over QP in the NTT domain, a from `uniform`. Returns [bQ, bP, aQ, aP].
   */
  private rlweSample(sQ: Poly, sP: Poly, uniform: RandomSource): [Poly, Poly, Poly, Poly] {
    const { ctx } = this;
    const { ringQ, ringP } = ctx;
    const nQ = ringQ.size;
    const nP = ringP.size;
    const aQ = new Poly(ctx.N, nQ);
    const aP = new Poly(ctx.N, nP);
    sampleUniform(uniform, ringQ.moduli, aQ, nQ);
    sampleUniform(uniform, ringP.moduli, aP, nP);
    const e = sampleGaussian(this.rng, ctx.N);
    const bQ = new Poly(ctx.N, nQ);
    const bP = new Poly(ctx.N, nP);
    smallToPoly(e, ringQ.moduli, bQ, nQ);
    smallToPoly(e, ringP.moduli, bP, nP);
    e.fill(0);
    ringQ.ntt(bQ);
    ringP.ntt(bP);
    const t = new Poly(ctx.N, Math.max(nQ, nP));
    ringQ.mulCoeffs(aQ, sQ, t, nQ);
    ringQ.sub(bQ, t, bQ, nQ);
    ringP.mulCoeffs(aP, sP, t, nP);
    ringP.sub(bP, t, bP, nP);
    return [bQ, bP, aQ, aP];
  }
}

/** Regenerates the uniform polynomials of a switching key from its seed (for deserialization). */
export function expandSwitchingKeyUniform(ctx: CkksContext, seed: Uint8Array, dnum: number): { aQ: Poly[]; aP: Poly[] } {
  const aQ: Poly[] = [];
  const aP: Poly[] = [];
  for (let j = 0; j < dnum; j++) {
    const rng = new ChaCha20(seed, nonceFromTag(j));
    const q = new Poly(ctx.N, ctx.ringQ.size);
    const p = new Poly(ctx.N, ctx.ringP.size);
    sampleUniform(rng, ctx.ringQ.moduli, q, q.limbs);
    sampleUniform(rng, ctx.ringP.moduli, p, p.limbs);
    aQ.push(q);
    aP.push(p);
  }
  return { aQ, aP };
}

/** Regenerates the uniform half of a public key from its seed. */
export function expandPublicKeyUniform(ctx: CkksContext, seed: Uint8Array): { aQ: Poly; aP: Poly } {
  const rng = new ChaCha20(seed, nonceFromTag(0xffff_ffff));
  const aQ = new Poly(ctx.N, ctx.ringQ.size);
  const aP = new Poly(ctx.N, ctx.ringP.size);
  sampleUniform(rng, ctx.ringQ.moduli, aQ, aQ.limbs);
  sampleUniform(rng, ctx.ringP.moduli, aP, aP.limbs);
  return { aQ, aP };
}
