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
import { nttForwardLazy, nttInverse } from '../ring/ntt.js';
import { Poly } from '../ring/poly.js';
import { type RandomSource, ChaCha20, nonceFromTag, randomSeed, systemRandom } from '../ring/prng.js';
import { addVec, mulVec } from '../ring/ring.js';
import { sampleGaussian, sampleTernary, sampleUniform, smallToPoly } from '../ring/sampler.js';
import { Ciphertext, Plaintext, ciphertextInto, plaintextInto } from './ciphertext.js';
import type { CkksContext } from './context.js';
import { InvalidArgumentError, KeyMismatchError } from './errors.js';
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
  private readonly v: Int32Array;
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
    this.v = new Int32Array(ctx.N);
    this.tmp = new Poly(ctx.N, ctx.ringQ.size);
  }

  /** Id of the secret key the ciphertexts are under (see `SecretKey.id`), when known. */
  get keyId(): string | undefined {
    return this.pk ? this.pk.keyId : this.sk!.id;
  }

  /** Encrypts a plaintext at its level and scale (into `out` when given: its buffers are reused). */
  encrypt(pt: Plaintext, out?: Ciphertext): Ciphertext {
    this.ctx.check(pt, 'plaintext');
    const limbs = pt.poly.limbs;
    const ct = ciphertextInto(this.ctx, 1, limbs, pt.level, pt.scale, out);
    ciphertextSeeds.delete(ct);
    ct.keyId = this.keyId;
    if (this.pk) this.encryptZeroPk(ct);
    else this.encryptZeroSk(ct);
    const c0 = ct.polys[0];
    this.ctx.ringQ.add(c0, pt.poly, c0, limbs);
    return ct;
  }

  /** A fresh encryption of zero at `level` with scale `scale` (default: the level's canonical scale). */
  encryptZero(level = this.ctx.params.defaultLevel, scale = this.ctx.params.scales[level]): Ciphertext {
    const limbs = this.ctx.params.limbsAt(level);
    const ct = new Ciphertext(this.ctx, [new Poly(this.ctx.N, limbs), new Poly(this.ctx.N, limbs)], level, scale);
    ct.keyId = this.keyId;
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
    const u = this.u.coeffs;
    const uP0 = this.uP0;
    const conv = ctx.convP0toQ;
    // u ternary over the Q limbs and p_0, NTT domain (lazy [0, 2p): only multiplied)
    const us = sampleTernary(this.rng, N);
    for (let i = 0; i < limbs; i++) {
      smallInto(us, u, i * N, N, qm[i].p);
      nttForwardLazy(u, i * N, ctx.ringQ.tables[i]);
    }
    smallInto(us, uP0, 0, N, p0.p);
    nttForwardLazy(uP0, 0, ctx.ringP.tables[0]);
    us.fill(0);
    const xP = this.xP;
    const v = this.v;
    const t = this.tmp.coeffs;
    for (let part = 0; part < 2; part++) {
      const kQ = part === 0 ? pk.bQ.coeffs : pk.aQ.coeffs;
      const kP = part === 0 ? pk.bP.coeffs : pk.aP.coeffs;
      const out = ct.polys[part].coeffs;
      const e = sampleGaussian(this.rng, N);
      // x_P = [k·u]_{p_0} + e in the coefficient domain: the value whose rounding by p_0 is removed
      mulVec(kP, uP0, xP, 0, N, p0.p, p0.pInv);
      nttInverse(xP, 0, ctx.ringP.tables[0]);
      addSmallInto(e, xP, 0, N, p0.p);
      // one source prime: y = x (hatInv = 1), v = round(x/p_0)
      conv.computeV(xP, 0, v, 0);
      for (let i = 0; i < limbs; i++) {
        const o = i * N;
        const p = qm[i].p;
        // t = Conv_{p0→q_i}(x_P) − e, then NTT; out = (k·u − t)·p_0^−1
        conv.convertTo(xP, 0, v, 0, i, t, o);
        subSmallInto(e, t, o, N, p);
        nttForwardLazy(t, o, ctx.ringQ.tables[i]);
        mulSubMulScalarVec(kQ, u, t, ctx.p0InvModQ[i], ctx.p0InvModQF[i], out, o, N, p, qm[i].pInv);
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

/** out[o + n] = small[n] mod p. */
function smallInto(small: Int8Array, out: Int32Array, o: number, N: number, p: number): void {
  for (let n = 0; n < N; n++) {
    const x = small[n];
    out[o + n] = x + ((x >> 31) & p);
  }
}

/** a[o + n] = a + small[n] mod p (a in [0, p)). */
function addSmallInto(small: Int8Array, a: Int32Array, o: number, N: number, p: number): void {
  for (let n = 0; n < N; n++) {
    let r = a[o + n] + small[n]; // (−p, 2p)
    r += (r >> 31) & p;
    r -= p;
    r += (r >> 31) & p;
    a[o + n] = r;
  }
}

/** a[o + n] = a − small[n] mod p (a in [0, p)). */
function subSmallInto(small: Int8Array, a: Int32Array, o: number, N: number, p: number): void {
  for (let n = 0; n < N; n++) {
    let r = a[o + n] - small[n]; // (−p, 2p)
    r += (r >> 31) & p;
    r -= p;
    r += (r >> 31) & p;
    a[o + n] = r;
  }
}

/**
 * out = (k·u − t)·c mod p on one limb at o: k in [0, p), u and t lazy in [0, 2p), c with Shoup
 * quotient cf. Output [0, p).
 */
function mulSubMulScalarVec(k: Int32Array, u: Int32Array, t: Int32Array, c: number, cf: number, out: Int32Array, o: number, N: number, p: number, pInv: number): void {
  const p2 = (p << 1) | 0;
  for (let i = o, e = o + N; i < e; i++) {
    const x = k[i];
    const y = u[i];
    let r = (Math.imul(x, y) - Math.imul((x * y * pInv) | 0, p)) | 0; // [−p, 2p)
    r = (r + ((r >> 31) & p)) | 0; // [0, 2p)
    const d = (r - t[i] + p2) | 0; // (0, 4p): uint32
    let z = ((Math.imul(d, c) - Math.imul(((d >>> 0) * cf) | 0, p)) | 0) - p;
    z = (z + ((z >> 31) & p)) | 0;
    out[i] = z;
  }
}

/** Regenerates c1 of a seeded secret-key ciphertext. */
export function expandCiphertextUniform(ctx: CkksContext, seed: Uint8Array, out: Poly, limbs: number): void {
  sampleUniform(new ChaCha20(seed, nonceFromTag(0xfffffffe)), ctx.ringQ.moduli, out, limbs);
}

/** Decrypts ciphertexts with the secret key. */
export class Decryptor {
  readonly ctx: CkksContext;
  private readonly sk: SecretKey;
  /** Scratch for c1·s (+ c2·s²), all Q limbs. */
  private readonly t: Poly;

  constructor(ctx: CkksContext, sk: SecretKey) {
    ctx.check(sk, 'secret key');
    this.ctx = ctx;
    this.sk = sk;
    this.t = new Poly(ctx.N, ctx.ringQ.size);
  }

  /**
   * m = c0 + c1·s (+ c2·s²), as a plaintext at the ciphertext's level and scale (into `out` when
   * given: its buffer is reused).
   */
  decrypt(ct: Ciphertext, out?: Plaintext): Plaintext {
    const { ctx } = this;
    ctx.check(ct, 'ciphertext');
    if (ct.polys.length < 2 || ct.polys.length > 3) throw new InvalidArgumentError(`ciphertext of degree ${ct.degree}`, 'decrypt degree-1 or degree-2 ciphertexts');
    if (ct.keyId !== undefined && ct.keyId !== this.sk.id) {
      throw new KeyMismatchError('the ciphertext to decrypt', ct.keyId, this.sk.id, 'decrypt with the secret key of the client that encrypted the input (and made the evaluation keys the server used)');
    }
    const limbs = ct.polys[0].limbs;
    const N = ctx.N;
    const res = plaintextInto(ctx, limbs, ct.level, ct.scale, out);
    const m = res.poly;
    m.coeffs.set(ct.polys[0].coeffs.subarray(0, limbs * N));
    const s = this.sk.sQ;
    const qm = ctx.ringQ.moduli;
    const t = this.t;
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
    return res;
  }
}
