/**
 * @module ckks/encryptor
 * Encryption (public key or secret key) and decryption.
 *
 * Public-key encryption follows SEAL (`Encryptor::encrypt_zero_asymmetric`): encrypt zero over the
 * extended modulus Q·p_0 and divide by p_0 with rounding, then add the plaintext. The division
 * shrinks the fresh noise e·u + e_0 + e_1·s (std ≈ σ·√(4N/3) ≈ 2^9 per coefficient at N = 2^14)
 * to the rounding error (std ≈ √(N/18) ≈ 2^5), about 4 bits of precision at every scale.
 * The errors e_0, e_1 are added in the coefficient domain inside the ModDown so they cost no NTT.
 *
 * Secret-key encryption: (−a·s + e + m, a) with a expanded from a 32-byte seed (ChaCha20), so
 * `serializeCiphertext(ct, { seeded: true })` can send the seed instead of a (half the bytes).
 */
import { BasisConverter } from '../ring/basis.js';
import { nttForward, nttInverse } from '../ring/ntt.js';
import { Poly } from '../ring/poly.js';
import { type RandomSource, ChaCha20, nonceFromTag, randomSeed, systemRandom } from '../ring/prng.js';
import { addVec, mulScalarVec, mulVec, subVec } from '../ring/ring.js';
import { sampleGaussian, sampleTernary, sampleUniform, smallToPoly } from '../ring/sampler.js';
import { Ciphertext, Plaintext } from './ciphertext.js';
import type { CkksContext } from './context.js';
import { InvalidArgumentError } from './errors.js';
import type { PublicKey, SecretKey } from './keys.js';

/** Seeds of secret-key ciphertexts, kept so serialization can send the seed instead of c1. */
export const ciphertextSeeds = new WeakMap<Ciphertext, Uint8Array>();

/** Encrypts plaintexts under a public key (or a secret key). */
export class Encryptor {
  readonly ctx: CkksContext;
  private readonly pk?: PublicKey;
  private readonly sk?: SecretKey;
  private readonly rng: RandomSource;
  private readonly u: Poly;
  private readonly uP0: Int32Array;
  private readonly xP: Int32Array;
  private readonly tmp: Poly;

  constructor(ctx: CkksContext, key: PublicKey | SecretKey, rng: RandomSource = systemRandom) {
    this.ctx = ctx;
    ctx.check(key, 'encryption key');
    if ('bQ' in key) this.pk = key;
    else this.sk = key;
    this.rng = rng;
    this.u = new Poly(ctx.N, ctx.ringQ.size);
    this.uP0 = new Int32Array(ctx.N);
    this.xP = new Int32Array(ctx.N);
    this.tmp = new Poly(ctx.N, ctx.ringQ.size);
  }

  /** Encrypts a plaintext at its level and scale. */
  encrypt(pt: Plaintext): Ciphertext {
    this.ctx.check(pt, 'plaintext');
    const limbs = pt.poly.limbs;
    const c0 = new Poly(this.ctx.N, limbs);
    const c1 = new Poly(this.ctx.N, limbs);
    const ct = new Ciphertext(this.ctx, [c0, c1], pt.level, pt.scale);
    if (this.pk) this.encryptZeroPk(ct);
    else this.encryptZeroSk(ct);
    this.ctx.ringQ.add(c0, pt.poly, c0, limbs);
    return ct;
  }

  /** A fresh encryption of zero at `level` with scale `scale` (default: the level's canonical scale). */
  encryptZero(level = this.ctx.params.levels, scale = this.ctx.params.scales[level]): Ciphertext {
    const limbs = this.ctx.params.limbsAt(level);
    const ct = new Ciphertext(this.ctx, [new Poly(this.ctx.N, limbs), new Poly(this.ctx.N, limbs)], level, scale);
    if (this.pk) this.encryptZeroPk(ct);
    else this.encryptZeroSk(ct);
    return ct;
  }

  private encryptZeroPk(ct: Ciphertext): void {
    const { ctx } = this;
    const pk = this.pk!;
    const N = ctx.N;
    const limbs = ct.polys[0].limbs;
    const qm = ctx.ringQ.moduli;
    const p0 = ctx.ringP.moduli[0];
    const u = this.u;
    const uP0 = this.uP0;
    // u ternary over the Q limbs and p_0, NTT domain
    const us = sampleTernary(this.rng, N);
    smallToPoly(us, qm, u, limbs);
    ctx.ringQ.ntt(u, limbs);
    for (let n = 0; n < N; n++) {
      const x = us[n];
      uP0[n] = x + ((x >> 31) & p0.p);
    }
    nttForward(uP0, 0, ctx.ringP.tables[0]);
    us.fill(0);
    const parts: [Poly, Poly, Poly][] = [[pk.bQ, pk.bP, ct.polys[0]], [pk.aQ, pk.aP, ct.polys[1]]];
    for (const [kQ, kP, out] of parts) {
      const e = sampleGaussian(this.rng, N);
      // x_P = [k·u]_{p_0} + e, coefficient domain
      const xP = this.xP;
      mulVec(kP.coeffs, uP0, xP, 0, N, p0.p, p0.pInv);
      nttInverse(xP, 0, ctx.ringP.tables[0]);
      for (let n = 0; n < N; n++) {
        const x = e[n];
        let r = xP[n] + x + ((x >> 31) & p0.p) - p0.p;
        r += (r >> 31) & p0.p;
        xP[n] = r;
      }
      // t = Conv_{p0→Q}(x_P) − e (coefficient domain), then NTT
      const t = this.tmp;
      convertSingle(ctx.convP0toQ, xP, limbs, t.coeffs, N);
      for (let i = 0; i < limbs; i++) {
        const p = qm[i].p;
        const o = i * N;
        for (let n = 0; n < N; n++) {
          const x = e[n];
          let r = t.coeffs[o + n] - (x + ((x >> 31) & p));
          r += (r >> 31) & p;
          t.coeffs[o + n] = r;
        }
        nttForward(t.coeffs, o, ctx.ringQ.tables[i]);
        // out = (k·u − t)·p_0^−1
        mulVec(kQ.coeffs, u.coeffs, out.coeffs, o, o + N, p, qm[i].pInv);
        subVec(out.coeffs, t.coeffs, out.coeffs, o, o + N, p);
        mulScalarVec(out.coeffs, ctx.p0InvModQ[i], ctx.p0InvModQF[i], out.coeffs, o, o + N, p);
      }
      e.fill(0);
    }
  }

  private encryptZeroSk(ct: Ciphertext): void {
    const { ctx } = this;
    const sk = this.sk!;
    const N = ctx.N;
    const limbs = ct.polys[0].limbs;
    const seed = randomSeed();
    const [c0, c1] = ct.polys;
    sampleUniform(new ChaCha20(seed, nonceFromTag(0xfffffffe)), ctx.ringQ.moduli, c1, limbs);
    ciphertextSeeds.set(ct, seed);
    const e = sampleGaussian(this.rng, N);
    smallToPoly(e, ctx.ringQ.moduli, c0, limbs);
    e.fill(0);
    ctx.ringQ.ntt(c0, limbs);
    const t = this.tmp;
    ctx.ringQ.mulCoeffs(c1, sk.sQ, t, limbs);
    ctx.ringQ.sub(c0, t, c0, limbs);
  }
}

/** Regenerates c1 of a seeded secret-key ciphertext. */
export function expandCiphertextUniform(ctx: CkksContext, seed: Uint8Array, out: Poly, limbs: number): void {
  sampleUniform(new ChaCha20(seed, nonceFromTag(0xfffffffe)), ctx.ringQ.moduli, out, limbs);
}

/** Converts one limb (residues mod the converter's single source prime) to the first `limbs` targets. */
function convertSingle(conv: BasisConverter, src: Int32Array, limbs: number, dst: Int32Array, N: number): void {
  const targets: number[] = [];
  const outs: Int32Array[] = [];
  const outOff: number[] = [];
  for (let i = 0; i < limbs; i++) {
    targets.push(i);
    outs.push(dst);
    outOff.push(i * N);
  }
  conv.convert(src, [0], targets, outs, outOff);
}

/** Decrypts ciphertexts with the secret key. */
export class Decryptor {
  readonly ctx: CkksContext;
  private readonly sk: SecretKey;

  constructor(ctx: CkksContext, sk: SecretKey) {
    ctx.check(sk, 'secret key');
    this.ctx = ctx;
    this.sk = sk;
  }

  /** m = c0 + c1·s (+ c2·s²), as a plaintext at the ciphertext's level and scale. */
  decrypt(ct: Ciphertext): Plaintext {
    const { ctx } = this;
    ctx.check(ct, 'ciphertext');
    if (ct.polys.length < 2 || ct.polys.length > 3) throw new InvalidArgumentError(`ciphertext of degree ${ct.degree}`, 'decrypt degree-1 or degree-2 ciphertexts');
    const limbs = ct.polys[0].limbs;
    const N = ctx.N;
    const m = ct.polys[0].clone();
    const s = this.sk.sQ;
    const qm = ctx.ringQ.moduli;
    const t = new Poly(N, limbs);
    for (let i = 0; i < limbs; i++) {
      const { p, pInv } = qm[i];
      const o = i * N;
      if (ct.polys.length === 3) {
        // c0 + (c1 + c2·s)·s
        mulVec(ct.polys[2].coeffs, s.coeffs, t.coeffs, o, o + N, p, pInv);
        addVec(t.coeffs, ct.polys[1].coeffs, t.coeffs, o, o + N, p);
        mulVec(t.coeffs, s.coeffs, t.coeffs, o, o + N, p, pInv);
      } else {
        mulVec(ct.polys[1].coeffs, s.coeffs, t.coeffs, o, o + N, p, pInv);
      }
      addVec(m.coeffs, t.coeffs, m.coeffs, o, o + N, p);
    }
    return new Plaintext(ctx, m, ct.level, ct.scale);
  }
}
