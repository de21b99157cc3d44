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
import { mulMod } from '../ring/modulus.js';
import { type RandomSource, ChaCha20, nonceFromTag, randomId64, randomSeed, systemRandom } from '../ring/prng.js';
import { Poly, allocInt32, isShared } from '../ring/poly.js';
import { sampleGaussian, sampleTernary, sampleTernaryHamming, sampleUniform, smallToPoly } from '../ring/sampler.js';
import type { CkksContext } from './context.js';
import { InvalidArgumentError, KeyMismatchError } from './errors.js';
import type { PackedKey } from './keyswitch/switcher.js';
import { KeyKind, PK_SPECIAL_LIMBS, publicKeyProgram, secretKeyProgram, switchingKeyProgram } from './keygen-phases.js';
import { solo } from './phases.js';
import { inspectCustom, shortForm } from './inspect.js';

/**
 * The secret s (ternary), kept in the NTT domain over all Q and P primes.
 *
 * `id` is a random 64-bit identifier (16 hex digits) drawn when the key is generated, independent
 * of the key (a hash of the secret would reveal bits of it; a hash of a public key needs one to
 * exist, and a client that encrypts with its secret key never makes one). Every key and ciphertext
 * made from this secret carries it, so objects of different clients are told apart
 * (`KeyMismatchError`). It is an accident check, not authentication.
 */
export class SecretKey {
  constructor(readonly ctx: CkksContext, readonly sQ: Poly, readonly sP: Poly, readonly id: string = randomId64()) {}

  /** `SecretKey { N: 8192, params: … }` (never its coefficients). */
  [inspectCustom](): string {
    return shortForm('SecretKey', { N: this.ctx.N, params: this.ctx.params.hash });
  }
}

/**
 * Public key (b, a) = (−a·s + e, a) over Q·p_0, NTT domain: Q's limbs and the first special prime
 * only, all that public-key encryption uses (it encrypts over Q·p_0 and divides by p_0 to remove
 * the rounding noise, `encryptor.ts`).
 */
export class PublicKey {
  constructor(
    readonly ctx: CkksContext,
    readonly bQ: Poly, readonly bP: Poly,
    readonly aQ: Poly, readonly aP: Poly,
    /** Seed of the uniform half (a), if it was generated from one. */
    readonly seed?: Uint8Array,
    /** Id of the secret key (`SecretKey.id`), when known. */
    readonly keyId?: string,
  ) {}

  /** `PublicKey { N: 8192, params: … }` for console.log. */
  [inspectCustom](): string {
    return shortForm('PublicKey', { N: this.ctx.N, params: this.ctx.params.hash });
  }
}

/**
 * A hybrid switching key: dnum pairs (b_j, a_j) over QP, NTT domain. A key may be capped: it then
 * holds only the first `qLimbs` Q limbs (those of level `maxLevel`) and the P limbs, and the digits
 * covering them, ⌈qLimbs/α⌉ instead of ⌈nQ/α⌉ (Lattigo's `GaloisKey` at a `LevelQ` below the
 * maximum). Key switching at ℓ limbs reads only limbs < ℓ and digits < ⌈ℓ/α⌉ of a key, which are
 * the same whatever the cap, so a capped key serves every level ≤ `maxLevel` and is
 * (⌈q/α⌉·(q + K))/(⌈nQ/α⌉·(nQ + K)) of a full key's bytes.
 */
export class SwitchingKey {
  private pk?: PackedKey;

  constructor(
    readonly ctx: CkksContext,
    readonly bQ: Poly[], readonly bP: Poly[],
    readonly aQ: Poly[], readonly aP: Poly[],
    readonly seed?: Uint8Array,
  ) {}

  get dnum(): number {
    return this.bQ.length;
  }

  /** Q limbs held: nQ for a full key, fewer for a capped one. */
  get qLimbs(): number {
    return this.bQ[0].limbs;
  }

  /** Highest ciphertext level this key can switch (the parameters' top level for a full key). */
  get maxLevel(): number {
    return this.ctx.params.levelOfLimbs(this.qLimbs);
  }

  /**
   * A key over packed buffers (see `packed`): the polynomials are views into b and a. `qLimbs`:
   * the Q limbs held (capped keys), default all.
   */
  static fromPacked(ctx: CkksContext, b: Int32Array, a: Int32Array, dnum: number, seed?: Uint8Array, qLimbs = ctx.ringQ.size): SwitchingKey {
    const N = ctx.N;
    const nQ = qLimbs;
    const K = ctx.ringP.size;
    const S = nQ + K;
    const bQ: Poly[] = [];
    const bP: Poly[] = [];
    const aQ: Poly[] = [];
    const aP: Poly[] = [];
    for (let j = 0; j < dnum; j++) {
      const o = j * S * N;
      bQ.push(new Poly(N, nQ, b.subarray(o, o + nQ * N)));
      bP.push(new Poly(N, K, b.subarray(o + nQ * N, o + S * N)));
      aQ.push(new Poly(N, nQ, a.subarray(o, o + nQ * N)));
      aP.push(new Poly(N, K, a.subarray(o + nQ * N, o + S * N)));
    }
    const k = new SwitchingKey(ctx, bQ, bP, aQ, aP, seed);
    k.pk = { b, a, dnum, limbs: qLimbs };
    return k;
  }

  /**
   * The key as two packed buffers (digit j, Q limbs then P limbs, at (j·(nQ+K) + slot)·N), the
   * layout the inner product streams through. The polynomials become views of these buffers (one
   * copy, the first time; `shared` moves them to SharedArrayBuffers for a worker pool).
   */
  packed(shared = false): PackedKey {
    if (this.pk && (!shared || isShared(this.pk.b))) return this.pk;
    const { ctx } = this;
    const N = ctx.N;
    const nQ = this.qLimbs;
    const S = nQ + ctx.ringP.size;
    const dnum = this.dnum;
    const b = allocInt32(dnum * S * N, shared);
    const a = allocInt32(dnum * S * N, shared);
    for (let j = 0; j < dnum; j++) {
      const o = j * S * N;
      for (const [polys, buf, start, n] of [[this.bQ, b, 0, nQ], [this.bP, b, nQ, S - nQ], [this.aQ, a, 0, nQ], [this.aP, a, nQ, S - nQ]] as const) {
        const view = buf.subarray(o + start * N, o + (start + n) * N);
        view.set(polys[j].coeffs.subarray(0, n * N));
        polys[j].rebind(view);
      }
    }
    this.pk = { b, a, dnum, limbs: nQ };
    return this.pk;
  }

  /** Bytes held by the residues. */
  get byteLength(): number {
    const per = (this.bQ[0].limbs + this.bP[0].limbs) * this.ctx.N * 4;
    return 2 * this.dnum * per;
  }
}

/** Relinearization key (s² → s). */
export class RelinKey {
  constructor(
    readonly ctx: CkksContext,
    readonly key: SwitchingKey,
    /** Id of the secret key (`SecretKey.id`), when known. */
    readonly keyId?: string,
  ) {}

  /** `RelinKey { N: 8192, params: … }` for console.log. */
  [inspectCustom](): string {
    return shortForm('RelinKey', { N: this.ctx.N, params: this.ctx.params.hash });
  }
}

/** Galois keys indexed by Galois element. */
export class GaloisKeys {
  readonly keys = new Map<number, SwitchingKey>();
  constructor(
    readonly ctx: CkksContext,
    /** Id of the secret key (`SecretKey.id`) every key here was made from, when known. */
    public keyId?: string,
  ) {}

  has(galoisElement: number): boolean {
    return this.keys.has(galoisElement);
  }

  /** `GaloisKeys { keys: 3, N: 8192, params: … }` for console.log. */
  [inspectCustom](): string {
    return shortForm('GaloisKeys', { keys: this.keys.size, N: this.ctx.N, params: this.ctx.params.hash });
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
  /**
   * Highest level the keys will be used at (0..levels, default the top): keys are generated over
   * the Q limbs of that level only (plus P), so a key used only low in the chain is smaller.
   * Rotating a ciphertext above it throws `KeyLevelError`.
   */
  maxLevel?: number;
}

/**
 * What a key generator needs from a worker pool (`pool/pool.ts` implements it): runs a key-generation
 * program (`keygen-phases.ts`) on the calling thread and the pool's helpers. @internal
 */
export interface KeyGenPoolLink {
  /** Staging for the small secret/error polynomials: small (N) and E (dnum·N), shared. */
  readonly small: Int32Array;
  readonly E: Int32Array;
  secretKey(sQ: Int32Array, sP: Int32Array): void;
  publicKey(sk: SecretKey, seed: Uint8Array, out: readonly [Int32Array, Int32Array, Int32Array, Int32Array]): void;
  switchingKey(sk: SecretKey, kind: KeyKind, g: number, seed: Uint8Array, dnum: number, b: Int32Array, a: Int32Array, qLimbs: number): void;
}

/** A worker pool as the key generator sees it (see `WorkerPool`). @internal */
export interface KeyGenPool {
  readonly threads: number;
  attachKeyGenerator(ctx: CkksContext): KeyGenPoolLink;
}

/** Options of a key generator. */
export interface KeyGeneratorOptions {
  /**
   * A worker pool: key generation then splits digits and limbs between the calling thread and the
   * pool's helpers. Keys are identical to one thread's for the same `RandomSource`.
   */
  pool?: KeyGenPool;
}

/**
 * Generates keys. Secrets come from the platform CSPRNG (or a supplied source, e.g. for tests).
 * All draws from the source happen on the calling thread in a fixed order (the secret, the errors,
 * and, with a supplied source, the 32-byte seeds of the uniform halves), so a supplied source gives
 * the same keys with or without a pool.
 */
export class KeyGenerator {
  readonly ctx: CkksContext;
  private readonly rng: RandomSource;
  private readonly link?: KeyGenPoolLink;
  private readonly small: Int32Array;
  private readonly E: Int32Array;

  constructor(ctx: CkksContext, rng: RandomSource = systemRandom, opts: KeyGeneratorOptions = {}) {
    this.ctx = ctx;
    this.rng = rng;
    if (opts.pool && opts.pool.threads > 1) this.link = opts.pool.attachKeyGenerator(ctx);
    const dnumMax = Math.ceil(ctx.ringQ.size / ctx.params.digitLimbs);
    this.small = this.link ? this.link.small : new Int32Array(ctx.N);
    this.E = this.link ? this.link.E : new Int32Array(dnumMax * ctx.N);
  }

  /** True when outputs must live in shared memory (a pool is attached). */
  private get shared(): boolean {
    return !!this.link;
  }

  /** A 32-byte seed: from the platform CSPRNG, or from the supplied source (reproducible keys). */
  private seed(): Uint8Array {
    if (this.rng === systemRandom) return randomSeed();
    const w = new Uint32Array(8);
    this.rng.fill(w);
    return new Uint8Array(w.buffer);
  }

  /** A fresh secret key: uniform ternary (or fixed Hamming weight if the parameters say so). */
  genSecretKey(): SecretKey {
    const { ctx } = this;
    const P = ctx.params;
    const N = ctx.N;
    const s = P.hammingWeight !== undefined ? sampleTernaryHamming(this.rng, N, P.hammingWeight) : sampleTernary(this.rng, N);
    const small = this.small;
    for (let n = 0; n < N; n++) small[n] = s[n];
    s.fill(0);
    const sQ = allocInt32(ctx.ringQ.size * N, this.shared);
    const sP = allocInt32(ctx.ringP.size * N, this.shared);
    if (this.link) this.link.secretKey(sQ, sP);
    else secretKeyProgram(ctx, small, sQ, sP, solo());
    small.fill(0);
    return new SecretKey(ctx, new Poly(N, ctx.ringQ.size, sQ), new Poly(N, ctx.ringP.size, sP), randomId64());
  }

  /** Public key (b, a) over QP. */
  genPublicKey(sk: SecretKey): PublicKey {
    const { ctx } = this;
    ctx.check(sk, 'secret key');
    const N = ctx.N;
    const nQ = ctx.ringQ.size;
    const K = PK_SPECIAL_LIMBS;
    const seed = this.seed();
    const e = sampleGaussian(this.rng, N);
    const small = this.small;
    for (let n = 0; n < N; n++) small[n] = e[n];
    e.fill(0);
    const out = [allocInt32(nQ * N, this.shared), allocInt32(K * N, this.shared), allocInt32(nQ * N, this.shared), allocInt32(K * N, this.shared)] as const;
    if (this.link) this.link.publicKey(sk, seed, out);
    else publicKeyProgram(ctx, seed, small, sk.sQ.coeffs, sk.sP.coeffs, out[0], out[1], out[2], out[3], solo());
    small.fill(0);
    return new PublicKey(ctx, new Poly(N, nQ, out[0]), new Poly(N, K, out[1]), new Poly(N, nQ, out[2]), new Poly(N, K, out[3]), seed, sk.id);
  }

  /** Relinearization key s² → s. */
  genRelinKey(sk: SecretKey): RelinKey {
    this.ctx.check(sk, 'secret key');
    return new RelinKey(this.ctx, this.genKey(sk, KeyKind.Relin, 0), sk.id);
  }

  /** Galois keys for left rotations by each step (and conjugation if asked). */
  genGaloisKeys(sk: SecretKey, steps: readonly number[], opts: GaloisKeyOptions = {}, into?: GaloisKeys): GaloisKeys {
    this.ctx.check(sk, 'secret key');
    const gk = into ?? new GaloisKeys(this.ctx, sk.id);
    if (into) {
      if (into.keyId !== undefined && into.keyId !== sk.id) {
        throw new KeyMismatchError('the Galois keys to extend', into.keyId, sk.id, 'extend Galois keys with the secret key that made them, or start a new set');
      }
      if (into.keys.size === 0) into.keyId = sk.id;
    }
    const qLimbs = this.capLimbs(opts.maxLevel);
    const elements = new Set<number>();
    for (const k of steps) {
      if (!Number.isInteger(k)) throw new InvalidArgumentError(`rotation step ${k}`, 'use integer steps');
      const g = this.ctx.galoisElement(k);
      if (g !== 1) elements.add(g);
    }
    if (opts.conjugate) elements.add(this.ctx.conjugationElement);
    // a key already present is kept if it reaches maxLevel, replaced by a higher one otherwise
    for (const g of elements) if (!gk.has(g) || gk.keys.get(g)!.qLimbs < qLimbs) gk.keys.set(g, this.genKey(sk, KeyKind.Galois, g, qLimbs));
    return gk;
  }

  /**
   * The switching key of Galois element g: s → σ_{g^−1}(s), over all Q limbs or, with `maxLevel`,
   * those of that level.
   */
  genGaloisKey(sk: SecretKey, g: number, maxLevel?: number): SwitchingKey {
    this.ctx.check(sk, 'secret key');
    return this.genKey(sk, KeyKind.Galois, g, this.capLimbs(maxLevel));
  }

  /** Q limbs of a key capped at `maxLevel` (0..levels; default the top: all of Q). */
  private capLimbs(maxLevel: number | undefined): number {
    const P = this.ctx.params;
    const level = maxLevel ?? P.levels;
    if (!Number.isInteger(level) || level < 0 || level > P.levels) {
      throw new InvalidArgumentError(`Galois key maxLevel ${level}`, `use an integer level in 0..${P.levels} (the highest level the rotations run at)`);
    }
    return P.limbsAt(level);
  }

  /** Relinearization or Galois key through `switchingKeyProgram` (packed, shared with a pool). */
  private genKey(sk: SecretKey, kind: KeyKind, g: number, qLimbs = this.ctx.ringQ.size): SwitchingKey {
    const { ctx } = this;
    const N = ctx.N;
    const nQ = qLimbs;
    const S = nQ + ctx.ringP.size;
    const dnum = Math.ceil(nQ / ctx.params.digitLimbs);
    const seed = this.seed();
    const E = this.E;
    for (let j = 0; j < dnum; j++) {
      const e = sampleGaussian(this.rng, N);
      for (let n = 0; n < N; n++) E[j * N + n] = e[n];
      e.fill(0);
    }
    const b = allocInt32(dnum * S * N, this.shared);
    const a = allocInt32(dnum * S * N, this.shared);
    if (this.link) this.link.switchingKey(sk, kind, g, seed, dnum, b, a, nQ);
    else switchingKeyProgram(ctx, kind, g, seed, E, dnum, sk.sQ.coeffs, sk.sP.coeffs, b, a, solo(), nQ);
    E.fill(0, 0, dnum * N);
    return SwitchingKey.fromPacked(ctx, b, a, dnum, seed, nQ);
  }

  /**
   * Switching key from s_in (NTT over Q) to the secret `out` (NTT over QP): decrypting
   * Σ_j d̃_j·(b_j, a_j) under s_out gives P·Σ_j d̃_j ρ_j s_in + small. (General form, one thread;
   * relinearization and Galois keys use the faster `switchingKeyProgram`.)
   */
  genSwitchingKey(out: { sQ: Poly; sP: Poly }, sIn: Poly): SwitchingKey {
    const { ctx } = this;
    const P = ctx.params;
    const nQ = P.q.length;
    const alpha = P.digitLimbs;
    const dnum = Math.ceil(nQ / alpha);
    const seed = this.seed();
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

/**
 * Regenerates the uniform polynomials of a switching key from its seed (for deserialization), over
 * `qLimbs` Q limbs (capped keys) and the P limbs.
 */
export function expandSwitchingKeyUniform(ctx: CkksContext, seed: Uint8Array, dnum: number, qLimbs = ctx.ringQ.size): { aQ: Poly[]; aP: Poly[] } {
  const aQ: Poly[] = [];
  const aP: Poly[] = [];
  for (let j = 0; j < dnum; j++) {
    const rng = new ChaCha20(seed, nonceFromTag(j));
    const q = new Poly(ctx.N, qLimbs);
    const p = new Poly(ctx.N, ctx.ringP.size);
    sampleUniform(rng, ctx.ringQ.moduli, q, q.limbs);
    sampleUniform(rng, ctx.ringP.moduli, p, p.limbs);
    aQ.push(q);
    aP.push(p);
  }
  return { aQ, aP };
}

/**
 * {@link expandSwitchingKeyUniform} into a packed buffer (digit j, slot s at (j·(qLimbs + K) + s)·N,
 * the layout of `SwitchingKey.packed`), so a loaded key needs no second copy.
 */
export function expandSwitchingKeyUniformInto(ctx: CkksContext, seed: Uint8Array, dnum: number, qLimbs: number, a: Int32Array): void {
  const N = ctx.N;
  const K = ctx.ringP.size;
  const S = qLimbs + K;
  for (let j = 0; j < dnum; j++) {
    const rng = new ChaCha20(seed, nonceFromTag(j));
    const o = j * S * N;
    sampleUniform(rng, ctx.ringQ.moduli, new Poly(N, qLimbs, a.subarray(o, o + qLimbs * N)), qLimbs);
    sampleUniform(rng, ctx.ringP.moduli, new Poly(N, K, a.subarray(o + qLimbs * N, o + S * N)), K);
  }
}

/** Regenerates the uniform half of a public key from its seed. */
export function expandPublicKeyUniform(ctx: CkksContext, seed: Uint8Array): { aQ: Poly; aP: Poly } {
  const rng = new ChaCha20(seed, nonceFromTag(0xffff_ffff));
  const aQ = new Poly(ctx.N, ctx.ringQ.size);
  const aP = new Poly(ctx.N, PK_SPECIAL_LIMBS);
  sampleUniform(rng, ctx.ringQ.moduli, aQ, aQ.limbs);
  sampleUniform(rng, ctx.ringP.moduli, aP, aP.limbs);
  return { aQ, aP };
}
