/**
 * @module ckks/evaluator
 * Homomorphic operations on CKKS ciphertexts in the NTT domain (Cheon–Kim–Kim–Song 2017 §3.3;
 * RNS variant: Cheon–Han–Kim–Kim–Song, SAC 2018). Levels and scales are explicit:
 *  - add/sub align levels by dropping limbs of the higher operand and require equal scales
 *    (relative difference < 1e-9), else `ScaleMismatchError`;
 *  - mul/mulPlain multiply scales; `rescale` divides by the dropped level's limbs exactly;
 *  - `mulConst(ct, c)` encodes c at the scale of the limbs the next rescale drops, so
 *    mulConst → rescale returns to the input scale (Lattigo's `GetOptimalScalingFactor`);
 *  - rotations and conjugation key-switch first, then permute (`keyswitch/switcher.ts`), so
 *    `rotateHoisted` reuses one decomposition for many steps;
 *  - `mulRelinRescale` merges the key switch's ModDown with the rescale (one division by P·q_ℓ).
 * Every method returns a new ciphertext unless an `out` ciphertext is passed (its buffers are
 * reused when large enough, also across degree changes), or it is an `…InPlace` method. Scratch
 * buffers live in the evaluator: with an `out`, no operation allocates typed arrays.
 * With `{ pool }` (a `WorkerPool`), key switching, rescaling and mulRelinRescale run their phase
 * programs (`phases.ts`) on the calling thread and the pool's helpers, with the same results.
 */
import { Poly } from '../ring/poly.js';
import { addScalarVec, mulScalarVec } from '../ring/ring.js';
import { reduceFloat, shoup } from '../ring/modulus.js';
import { Ciphertext, Plaintext, ciphertextInto } from './ciphertext.js';
import type { CkksContext } from './context.js';
import {
  InvalidArgumentError, KeyLevelError, KeyMismatchError, LevelError, MissingGaloisKeyError, MissingRelinKeyError, ScaleMismatchError, ValueTooLargeError,
} from './errors.js';
import type { EvaluationKeys, GaloisKeys, RelinKey, SwitchingKey } from './keys.js';
import { DownMode, KeySwitcher, type PackedKey } from './keyswitch/switcher.js';
import {
  decomposeProgram, keySwitchProgram, modDownLazyProgram, mulRelinRescaleProgram, rescaleProgram, rotateHoistedProgram, rotateLazyProgram,
  solo, tensorVec,
} from './phases.js';
import { inspectCustom, shortForm } from './inspect.js';
import type { Encoder } from './encoder.js';
import { type DhJob, type DhScratch, type DhSource, dhScratchSizes, dhValueSlots, doubleHoistedProgram } from './linear/hoisted.js';

/**
 * A ciphertext over QP multiplied by P, before ModDown (`Evaluator.rotateHoistedLazy`): per
 * polynomial the `limbs` Q limbs, then the K P limbs, NTT domain.
 */
export interface LazyCiphertext {
  readonly level: number;
  scale: number;
  /** Id of the secret key it decrypts under, when known (as `Ciphertext.keyId`). */
  keyId?: string;
  /** Q limbs (the level's). */
  readonly limbs: number;
  readonly polys: readonly [Int32Array, Int32Array];
}

/**
 * A diagonal transform for `Evaluator.evaluateDoubleHoisted`: baby and giant rotation steps, the
 * terms (baby index, giant index, source index) sorted by baby then giant, and the plaintext
 * sources (`linear/hoisted.ts`). @internal
 */
export interface DoubleHoistedSpec {
  babies: readonly number[];
  giants: readonly number[];
  terms: Int32Array;
  sources: readonly DhSource[];
  /** Scale of the plaintexts (the output has scale input·scale, not rescaled). */
  scale: number;
  /** Giant-step accumulators held at once (default: as many as fit in DOUBLE_HOISTING_ACC_BYTES). */
  chunk?: number;
}

/** Bytes of giant-step accumulators a double-hoisted transform holds at once (more giant steps redo baby steps). */
export const DOUBLE_HOISTING_ACC_BYTES = 2 ** 30;

/** Relative scale difference below which two scales are treated as equal. */
export const SCALE_TOLERANCE = 1e-9;

/** Operand of additions: a ciphertext or a plaintext. */
export type Operand = Ciphertext | Plaintext;

/**
 * What an evaluator needs from a worker pool (`pool/pool.ts` implements it): each call runs one
 * operation's phases on the calling thread and the pool's helpers, inputs and outputs as polynomials.
 * @internal
 */
export interface EvaluatorPoolLink {
  keySwitch(key: PackedKey, limbs: number, mode: DownMode, ins: readonly Poly[], outs: readonly Poly[], g: number): void;
  rescale(limbs: number, ins: readonly Poly[], outs: readonly Poly[]): void;
  mulRelinRescale(key: PackedKey, limbs: number, ins: readonly Poly[], outs: readonly Poly[]): void;
  rotateHoisted(keys: readonly PackedKey[], gs: readonly number[], limbs: number, ins: readonly Poly[], outs: readonly (readonly Poly[])[]): void;
  /** A double-hoisted transform (`linear/hoisted.ts`); `gs` are the Galois elements of the job's babies then giants. */
  doubleHoisted(job: DhJob, gs: readonly number[], valueSlots: number, enc: Encoder | null, ins: readonly Poly[], outs: readonly Poly[]): void;
  /** Keys must live in shared memory: packs (and moves) them once. */
  packKey(key: SwitchingKey): PackedKey;
}

/** A worker pool as the evaluator sees it (see `WorkerPool`). @internal */
export interface EvaluatorPool {
  readonly threads: number;
  attachEvaluator(ctx: CkksContext, ks: KeySwitcher): EvaluatorPoolLink;
}

/** Options of an evaluator. */
export interface EvaluatorOptions {
  /**
   * A worker pool (`WorkerPool.create`): relinearization, rotations, rescaling and
   * mulRelinRescale then split their limbs between the calling thread and the pool's helpers.
   * Results are bit-for-bit those of one thread.
   */
  pool?: EvaluatorPool;
}

/** Evaluates operations with the given evaluation keys. Not re-entrant (shared scratch). */
export class Evaluator {
  readonly ctx: CkksContext;
  relinKey?: RelinKey;
  galoisKeys?: GaloisKeys;
  private readonly ks: KeySwitcher;
  /** Tensor-product scratch (d0, d1, d2) for aliasing mul and mulRelinRescale. */
  private readonly d: Poly[];
  /** Rescale scratch. */
  private rt = new Int32Array(0);
  /** Set when the evaluator uses a worker pool. */
  private readonly par?: EvaluatorPoolLink;
  /** Double-hoisting scratch (one thread), grown on demand. */
  private dh?: DhScratch;

  constructor(ctx: CkksContext, keys: EvaluationKeys = {}, opts: EvaluatorOptions = {}) {
    this.ctx = ctx;
    if (keys.relin) ctx.check(keys.relin, 'relinearization key');
    if (keys.galois) ctx.check(keys.galois, 'Galois keys');
    if (keys.relin?.keyId !== undefined && keys.galois?.keyId !== undefined && keys.relin.keyId !== keys.galois.keyId) {
      throw new KeyMismatchError('the Galois keys', keys.galois.keyId, keys.relin.keyId, 'pass evaluation keys generated from one secret key');
    }
    this.relinKey = keys.relin;
    this.galoisKeys = keys.galois;
    const nQ = ctx.ringQ.size;
    this.ks = new KeySwitcher(ctx, undefined, !!opts.pool);
    this.d = [new Poly(ctx.N, nQ), new Poly(ctx.N, nQ), new Poly(ctx.N, nQ)];
    if (opts.pool && opts.pool.threads > 1) this.par = opts.pool.attachEvaluator(ctx, this.ks);
  }

  /** `Evaluator { N: 8192, relin: true, galoisKeys: 3, pool: false }` for console.log. */
  [inspectCustom](): string {
    return shortForm('Evaluator', { N: this.ctx.N, relin: !!this.relinKey, galoisKeys: this.galoisKeys?.keys.size ?? 0, pool: !!this.par });
  }

  /** The packed (and, with a pool, shared) form of a switching key. */
  private packedKey(key: SwitchingKey): PackedKey {
    return this.par ? this.par.packKey(key) : key.packed();
  }

  // ----------------------------------------------------------------------------- helpers

  /** A ciphertext shell with `degree+1` polys of `limbs` limbs, reusing `out` when possible. */
  private alloc(degree: number, limbs: number, level: number, scale: number, out: Ciphertext | undefined, keyId: string | undefined): Ciphertext {
    const res = ciphertextInto(this.ctx, degree, limbs, level, scale, out);
    res.keyId = keyId;
    return res;
  }

  /** Id of the secret key of the evaluation keys (see `SecretKey.id`), when known. */
  get keyId(): string | undefined {
    return this.relinKey?.keyId ?? this.galoisKeys?.keyId;
  }

  /** The key id of a result of a and b: refuses operands under different secret keys. */
  private static pairKeyId(a: Ciphertext, b: Operand): string | undefined {
    const kb = b instanceof Ciphertext ? b.keyId : undefined;
    if (a.keyId !== undefined && kb !== undefined && a.keyId !== kb) {
      throw new KeyMismatchError('the right operand', kb, a.keyId, 'combine only ciphertexts encrypted under the same secret key');
    }
    return a.keyId ?? kb;
  }

  /** Refuses a ciphertext under another secret key than the evaluation keys (key switching would give garbage). */
  private checkKeyId(a: Ciphertext): void {
    const k = this.keyId;
    if (a.keyId !== undefined && k !== undefined && a.keyId !== k) throw new KeyMismatchError('the ciphertext', a.keyId, k);
  }

  private checkOperand(x: Operand, what: string): void {
    this.ctx.check(x, what);
    if (x instanceof Ciphertext && (x.polys.length < 2 || x.polys.length > 3)) {
      throw new InvalidArgumentError(`${what} has degree ${x.degree}`, 'use ciphertexts of degree 1 or 2');
    }
  }

  private static sameScale(a: number, b: number): boolean {
    return Math.abs(a - b) <= SCALE_TOLERANCE * Math.max(a, b);
  }

  private matchScales(a: Operand, b: Operand): void {
    if (!Evaluator.sameScale(a.scale, b.scale)) throw new ScaleMismatchError(a.scale, b.scale);
  }

  private polysOf(x: Operand): Poly[] {
    return x instanceof Ciphertext ? x.polys : [x.poly];
  }

  // ----------------------------------------------------------------------------- additive

  /** a + b (ciphertext or plaintext b); levels aligned to the lower one; scales must match. */
  add(a: Ciphertext, b: Operand, out?: Ciphertext): Ciphertext {
    return this.addSub(a, b, false, out);
  }

  /** a − b. */
  sub(a: Ciphertext, b: Operand, out?: Ciphertext): Ciphertext {
    return this.addSub(a, b, true, out);
  }

  /** a += b. */
  addInPlace(a: Ciphertext, b: Operand): Ciphertext {
    return this.addSub(a, b, false, a);
  }

  /** a −= b. */
  subInPlace(a: Ciphertext, b: Operand): Ciphertext {
    return this.addSub(a, b, true, a);
  }

  private addSub(a: Ciphertext, b: Operand, negate: boolean, out?: Ciphertext): Ciphertext {
    this.checkOperand(a, 'left operand');
    this.checkOperand(b, 'right operand');
    this.matchScales(a, b);
    const keyId = Evaluator.pairKeyId(a, b);
    const level = Math.min(a.level, b.level);
    const limbs = this.ctx.params.limbsAt(level);
    const pa = a.polys;
    const pb = this.polysOf(b);
    const degree = Math.max(pa.length, pb.length) - 1;
    const aDeg = pa.length;
    // keep a's polys readable when out === a (same buffers, element-wise ops are alias-safe)
    const res = this.alloc(degree, limbs, level, a.scale, out, keyId);
    const ring = this.ctx.ringQ;
    for (let k = 0; k <= degree; k++) {
      const o = res.polys[k];
      if (k < aDeg && k < pb.length) {
        if (negate) ring.sub(pa[k], pb[k], o, limbs);
        else ring.add(pa[k], pb[k], o, limbs);
      } else if (k < aDeg) {
        if (o !== pa[k]) o.coeffs.set(pa[k].coeffs.subarray(0, limbs * this.ctx.N));
      } else if (negate) {
        ring.neg(pb[k], o, limbs);
      } else {
        o.coeffs.set(pb[k].coeffs.subarray(0, limbs * this.ctx.N));
      }
    }
    return res;
  }

  /** −a. */
  neg(a: Ciphertext, out?: Ciphertext): Ciphertext {
    this.checkOperand(a, 'operand');
    const limbs = a.limbs;
    const res = this.alloc(a.degree, limbs, a.level, a.scale, out, a.keyId);
    for (let k = 0; k <= a.degree; k++) this.ctx.ringQ.neg(a.polys[k], res.polys[k], limbs);
    return res;
  }

  /** a + c for a real constant c (added in every slot at a's scale). */
  addConst(a: Ciphertext, c: number, out?: Ciphertext): Ciphertext {
    this.checkOperand(a, 'operand');
    if (!Number.isFinite(c)) throw new InvalidArgumentError(`constant ${c}`, 'pass a finite number');
    const res = out === a ? a : this.copy(a, out);
    const v = Math.round(c * a.scale);
    const N = this.ctx.N;
    const c0 = res.polys[0].coeffs;
    for (let i = 0; i < res.limbs; i++) {
      const { p } = this.ctx.ringQ.moduli[i];
      addScalarVec(c0, reduceFloat(v, p), c0, i * N, (i + 1) * N, p);
    }
    return res;
  }

  /** A copy of a (into out if given). */
  copy(a: Ciphertext, out?: Ciphertext): Ciphertext {
    const res = this.alloc(a.degree, a.limbs, a.level, a.scale, out, a.keyId);
    if (res !== a) for (let k = 0; k <= a.degree; k++) res.polys[k].coeffs.set(a.polys[k].coeffs.subarray(0, a.limbs * this.ctx.N));
    return res;
  }

  // ----------------------------------------------------------------------------- multiplicative

  /** a·k for a small integer k (exact; scale and level unchanged). */
  mulInt(a: Ciphertext, k: number, out?: Ciphertext): Ciphertext {
    this.checkOperand(a, 'operand');
    if (!Number.isInteger(k) || Math.abs(k) >= 2 ** 30) throw new InvalidArgumentError(`integer multiplier ${k}`, 'use an integer below 2^30 in magnitude, or mulConst');
    const res = this.alloc(a.degree, a.limbs, a.level, a.scale, out, a.keyId);
    const res2 = this.ctx.ringQ.scalarResidues(k, a.limbs);
    for (let j = 0; j <= a.degree; j++) this.ctx.ringQ.mulScalar(a.polys[j], res2, res.polys[j], a.limbs);
    return res;
  }

  /**
   * a·c for a real constant c, encoded as round(c·constScale); the result's scale is
   * a.scale·constScale. By default constScale is the modulus the next rescale drops, so
   * `rescale(mulConst(a, c))` has a's scale again. Consumes no level until rescaled.
   */
  mulConst(a: Ciphertext, c: number, constScale?: number, out?: Ciphertext): Ciphertext {
    this.checkOperand(a, 'operand');
    if (!Number.isFinite(c)) throw new InvalidArgumentError(`constant ${c}`, 'pass a finite number');
    const P = this.ctx.params;
    if (constScale === undefined) {
      if (a.level === 0) throw new LevelError(1, 0, 'multiplying by a non-integer constant');
      constScale = P.levelModulus(a.level);
    }
    const v = Math.round(c * constScale);
    const logQ = P.logQAt(a.level);
    if (v !== 0 && Math.log2(Math.abs(v) * a.scale) + 2 > logQ) throw new ValueTooLargeError(Math.abs(c), a.scale * constScale, logQ);
    const res = this.alloc(a.degree, a.limbs, a.level, a.scale * constScale, out, a.keyId);
    const r = this.ctx.ringQ.scalarResidues(v, a.limbs);
    for (let j = 0; j <= a.degree; j++) this.ctx.ringQ.mulScalar(a.polys[j], r, res.polys[j], a.limbs);
    return res;
  }

  /** rescale(mulConst(a, c)): a·c at a's scale, one level lower. */
  mulConstThenRescale(a: Ciphertext, c: number, out?: Ciphertext): Ciphertext {
    const r = this.mulConst(a, c, undefined, out);
    return this.rescaleInPlace(r);
  }

  /** a ⊙ pt (slot-wise product). Levels aligned; scale = a.scale·pt.scale. */
  mulPlain(a: Ciphertext, pt: Plaintext, out?: Ciphertext): Ciphertext {
    this.checkOperand(a, 'ciphertext');
    this.ctx.check(pt, 'plaintext');
    const level = Math.min(a.level, pt.level);
    const limbs = this.ctx.params.limbsAt(level);
    const res = this.alloc(a.degree, limbs, level, a.scale * pt.scale, out, a.keyId);
    for (let j = 0; j <= a.degree; j++) this.ctx.ringQ.mulCoeffs(a.polys[j], pt.poly, res.polys[j], limbs);
    return res;
  }

  /** a·b without relinearization: a degree-2 ciphertext (or relinearized with `relin: true`). */
  mul(a: Ciphertext, b: Ciphertext, out?: Ciphertext): Ciphertext {
    this.checkOperand(a, 'left operand');
    this.checkOperand(b, 'right operand');
    if (a.degree !== 1 || b.degree !== 1) throw new InvalidArgumentError('multiplication of a degree-2 ciphertext', 'relinearize before multiplying again');
    const keyId = Evaluator.pairKeyId(a, b);
    const level = Math.min(a.level, b.level);
    const limbs = this.ctx.params.limbsAt(level);
    const scale = a.scale * b.scale;
    const N = this.ctx.N;
    const [a0, a1] = a.polys;
    const [b0, b1] = b.polys;
    // When out aliases an input, compute into scratch first.
    const alias = out === a || out === b;
    const res = alias ? undefined : this.alloc(2, limbs, level, scale, out, keyId);
    const d = res ? res.polys : this.d;
    const qm = this.ctx.ringQ.moduli;
    for (let i = 0; i < limbs; i++) {
      const { p, pInv } = qm[i];
      tensorVec(a0.coeffs, a1.coeffs, b0.coeffs, b1.coeffs, d[0].coeffs, d[1].coeffs, d[2].coeffs, i * N, (i + 1) * N, p, pInv);
    }
    if (alias) {
      const o = this.alloc(2, limbs, level, scale, out, keyId);
      for (let k = 0; k < 3; k++) o.polys[k].coeffs.set(d[k].coeffs.subarray(0, limbs * N));
      return o;
    }
    return res!;
  }

  /** a² without relinearization. */
  square(a: Ciphertext, out?: Ciphertext): Ciphertext {
    return this.mul(a, a, out);
  }

  /** Relinearizes a degree-2 ciphertext to degree 1 (needs the relinearization key). */
  relinearize(a: Ciphertext, out?: Ciphertext): Ciphertext {
    this.checkOperand(a, 'ciphertext');
    if (a.degree === 1) return out === a ? a : this.copy(a, out);
    if (!this.relinKey) throw new MissingRelinKeyError();
    this.checkKeyId(a);
    const limbs = a.limbs;
    const [c0, c1, c2] = a.polys;
    const res = out === a ? a : this.alloc(1, limbs, a.level, a.scale, out, a.keyId);
    const key = this.packedKey(this.relinKey.key);
    if (this.par) {
      this.par.keySwitch(key, limbs, DownMode.Add, [c0, c1, c2], res.polys, 0);
    } else {
      keySwitchProgram(this.ks, key, limbs, DownMode.Add, c2.coeffs, c0.coeffs, c1.coeffs, res.polys[0].coeffs, res.polys[1].coeffs, undefined, solo());
    }
    res.polys.length = 2;
    res.polys[0].limbs = limbs;
    res.polys[1].limbs = limbs;
    return res;
  }

  /** Relinearizes in place. */
  relinearizeInPlace(a: Ciphertext): Ciphertext {
    return this.relinearize(a, a);
  }

  /**
   * Divides by the limbs of the current level with rounding (drops one level); scale /= their
   * product. Lattigo `DivRoundByLastModulusNTT`: INTT the last limb only, then per other limb
   * NTT its centred residue and compute (c_i − t)·q_l^−1.
   */
  rescale(a: Ciphertext, out?: Ciphertext): Ciphertext {
    this.checkOperand(a, 'ciphertext');
    if (a.level === 0) throw new LevelError(1, 0, 'rescale');
    if (out === a) return this.rescaleInPlace(a);
    const P = this.ctx.params;
    const limbs = a.limbs;
    const res = this.alloc(a.degree, limbs - P.levelLimbs[a.level], a.level - 1, a.scale / P.levelModulus(a.level), out, a.keyId);
    this.rescalePolys(a.polys, res.polys, limbs);
    return res;
  }

  /** Rescales in place. */
  rescaleInPlace(a: Ciphertext): Ciphertext {
    this.checkOperand(a, 'ciphertext');
    if (a.level === 0) throw new LevelError(1, 0, 'rescale');
    const P = this.ctx.params;
    this.rescalePolys(a.polys, a.polys, a.limbs);
    a.scale /= P.levelModulus(a.level);
    a.level -= 1;
    return a;
  }

  /** Rescale of every polynomial (inputs at `limbs` limbs) into outs (may alias) by the limbs of their level. */
  private rescalePolys(ins: Poly[], outs: Poly[], limbs: number): void {
    if (this.par) {
      this.par.rescale(limbs, ins, outs);
    } else {
      const t = this.rescaleScratch(ins.length);
      rescaleProgram(this.ctx, limbs, ins.map((x) => x.coeffs), outs.map((x) => x.coeffs), t, solo());
    }
    const kept = limbs - this.ctx.params.dropAt(limbs);
    for (const o of outs) o.limbs = kept;
  }

  /** Scratch of `rescaleProgram` for `polys` polynomials. */
  private rescaleScratch(polys: number): Int32Array {
    const need = polys * this.ctx.ringQ.size * this.ctx.N;
    if (this.rt.length < need) this.rt = new Int32Array(need);
    return this.rt;
  }

  /**
   * mul → relinearize → rescale, with ModDown and the rescale merged into one division by P·q_ℓ
   * (see `keyswitch/switcher.ts`): ℓ fewer NTTs per polynomial than the three steps, same result up to
   * one rounding (slightly less noise).
   */
  mulRelinRescale(a: Ciphertext, b: Ciphertext, out?: Ciphertext): Ciphertext {
    this.checkOperand(a, 'left operand');
    this.checkOperand(b, 'right operand');
    if (a.degree !== 1 || b.degree !== 1) throw new InvalidArgumentError('multiplication of a degree-2 ciphertext', 'relinearize before multiplying again');
    if (!this.relinKey) throw new MissingRelinKeyError();
    const keyId = Evaluator.pairKeyId(a, b);
    this.checkKeyId(a);
    this.checkKeyId(b);
    const P = this.ctx.params;
    const level = Math.min(a.level, b.level);
    if (level === 0) throw new LevelError(1, 0, 'rescale');
    const limbs = P.limbsAt(level);
    const scale = (a.scale * b.scale) / P.levelModulus(level);
    const key = this.packedKey(this.relinKey.key);
    const outLimbs = limbs - P.levelLimbs[level];
    // inputs are fully read (tensor) before the outputs are written, so out may alias a or b
    const res = this.alloc(1, outLimbs, level - 1, scale, out, keyId);
    const [a0, a1] = a.polys;
    const [b0, b1] = b.polys;
    if (this.par) {
      this.par.mulRelinRescale(key, limbs, [a0, a1, b0, b1], res.polys);
    } else {
      const d = this.d;
      mulRelinRescaleProgram(this.ctx, this.ks, key, limbs, a0.coeffs, a1.coeffs, b0.coeffs, b1.coeffs,
        d[0].coeffs, d[1].coeffs, d[2].coeffs, res.polys[0].coeffs, res.polys[1].coeffs, solo());
    }
    return res;
  }

  /** Drops `n` levels without dividing (scale unchanged): for aligning levels. */
  dropLevel(a: Ciphertext, n = 1, out?: Ciphertext): Ciphertext {
    return this.dropToLevel(a, a.level - n, out);
  }

  /** Drops to `level` (≤ a.level) without dividing. */
  dropToLevel(a: Ciphertext, level: number, out?: Ciphertext): Ciphertext {
    this.checkOperand(a, 'ciphertext');
    if (!Number.isInteger(level) || level < 0) throw new LevelError(a.level - level, a.level, `dropping to level ${level}`);
    if (level > a.level) throw new InvalidArgumentError(`cannot raise level ${a.level} to ${level}`, 'levels only go down; encrypt at a higher level instead');
    const limbs = this.ctx.params.limbsAt(level);
    if (out === a) {
      for (const p of a.polys) p.limbs = limbs;
      a.level = level;
      return a;
    }
    const res = this.alloc(a.degree, limbs, level, a.scale, out, a.keyId);
    for (let k = 0; k <= a.degree; k++) res.polys[k].coeffs.set(a.polys[k].coeffs.subarray(0, limbs * this.ctx.N));
    return res;
  }

  /**
   * Brings a to exactly `scale` by multiplying by 1 encoded at scale·q/a.scale and rescaling:
   * consumes one level. Use it to make two operands' scales match before adding.
   */
  setScale(a: Ciphertext, scale: number, out?: Ciphertext): Ciphertext {
    this.checkOperand(a, 'ciphertext');
    if (a.level === 0) throw new LevelError(1, 0, 'setScale');
    const q = this.ctx.params.levelModulus(a.level);
    const r = this.mulConst(a, 1, (scale * q) / a.scale, out);
    this.rescaleInPlace(r);
    r.scale = scale; // exact up to the rounding of the constant (relative 2^−30 or better)
    return r;
  }

  // ----------------------------------------------------------------------------- automorphisms

  /** The key of g, which must reach `limbs` Q limbs (capped keys: `GaloisKeyOptions.maxLevel`). */
  private galoisKey(g: number, step: number | 'conjugate', limbs: number): SwitchingKey {
    const k = this.galoisKeys?.keys.get(g);
    if (!k) throw new MissingGaloisKeyError(step, g);
    if (k.qLimbs < limbs) throw new KeyLevelError(step, k.maxLevel, this.ctx.params.levelOfLimbs(limbs));
    return k;
  }

  /** Left rotation of the slots by k (slot j receives slot j+k). Needs the Galois key of k. */
  rotate(a: Ciphertext, k: number, out?: Ciphertext): Ciphertext {
    this.checkOperand(a, 'ciphertext');
    if (!Number.isInteger(k)) throw new InvalidArgumentError(`rotation step ${k}`, 'use an integer step');
    if (a.degree !== 1) throw new InvalidArgumentError('rotation of a degree-2 ciphertext', 'relinearize first');
    const g = this.ctx.galoisElement(k);
    if (g === 1) return out === a ? a : this.copy(a, out);
    return this.applyGalois(a, g, this.galoisKey(g, k, a.limbs), out);
  }

  /** Complex conjugation of the slots. Needs the conjugation key. */
  conjugate(a: Ciphertext, out?: Ciphertext): Ciphertext {
    this.checkOperand(a, 'ciphertext');
    if (a.degree !== 1) throw new InvalidArgumentError('conjugation of a degree-2 ciphertext', 'relinearize first');
    const g = this.ctx.conjugationElement;
    return this.applyGalois(a, g, this.galoisKey(g, 'conjugate', a.limbs), out);
  }

  /**
   * Rotations of a by every step in `steps`, sharing one decomposition of c1 (hoisting): each extra
   * step costs an inner product, a ModDown and a permutation instead of a full key switch.
   */
  rotateHoisted(a: Ciphertext, steps: readonly number[]): Ciphertext[] {
    this.checkOperand(a, 'ciphertext');
    if (a.degree !== 1) throw new InvalidArgumentError('rotation of a degree-2 ciphertext', 'relinearize first');
    const gs = steps.map((k) => {
      if (!Number.isInteger(k)) throw new InvalidArgumentError(`rotation step ${k}`, 'use integer steps');
      return this.ctx.galoisElement(k);
    });
    const keys = gs.map((g, i) => (g === 1 ? null : this.galoisKey(g, steps[i], a.limbs)));
    if (keys.some((k) => k !== null)) this.checkKeyId(a);
    const results = gs.map((g) => (g === 1 ? this.copy(a) : this.alloc(1, a.limbs, a.level, a.scale, undefined, a.keyId)));
    const todo = gs.map((_, i) => i).filter((i) => keys[i] !== null);
    if (todo.length === 0) return results;
    const packed = todo.map((i) => this.packedKey(keys[i]!));
    const indices = todo.map((i) => this.ctx.galoisIndex(gs[i]));
    const outs = todo.map((i) => results[i].polys);
    if (this.par) {
      this.par.rotateHoisted(packed, todo.map((i) => gs[i]), a.limbs, a.polys, outs);
    } else {
      rotateHoistedProgram(this.ks, packed, indices, a.limbs, a.polys[0].coeffs, a.polys[1].coeffs,
        outs.map((o) => [o[0].coeffs, o[1].coeffs] as const), solo());
    }
    return results;
  }

  /**
   * Hoisted rotations kept over QP, multiplied by P, before ModDown (double hoisting, Bossuat et
   * al. eprint 2020/1203 §4.2): c1 is decomposed once, then for each step the rotation
   * (σ(P·c0 + u0), σ(u1)) over QP is handed to `sink` (in one reused buffer: use it before
   * returning). A linear transform sums such rotations times plaintexts (which need their P limbs)
   * and divides by P once (`modDownLazy`): per step an inner product and a permutation instead of
   * a ModDown. Step 0 gives (P·c0, P·c1). `sink` must not key-switch on this evaluator (the digits
   * live in its buffers). With a worker pool this runs on the calling thread (same result).
   */
  rotateHoistedLazy(a: Ciphertext, steps: readonly number[], sink: (i: number, lazy: LazyCiphertext) => void): void {
    this.checkOperand(a, 'ciphertext');
    if (a.degree !== 1) throw new InvalidArgumentError('rotation of a degree-2 ciphertext', 'relinearize first');
    const N = this.ctx.N;
    const limbs = a.limbs;
    const K = this.ctx.ringP.size;
    const gs = steps.map((k) => {
      if (!Number.isInteger(k)) throw new InvalidArgumentError(`rotation step ${k}`, 'use integer steps');
      return this.ctx.galoisElement(k);
    });
    const keys = gs.map((g, i) => (g === 1 ? null : this.packedKey(this.galoisKey(g, steps[i], limbs))));
    this.checkKeyId(a);
    const lazy: LazyCiphertext = { level: a.level, scale: a.scale, keyId: a.keyId, limbs, polys: [new Int32Array((limbs + K) * N), new Int32Array((limbs + K) * N)] };
    if (keys.some((k) => k !== null)) decomposeProgram(this.ks, limbs, a.polys[1].coeffs, solo());
    for (let i = 0; i < gs.length; i++) {
      const key = keys[i];
      if (key) {
        rotateLazyProgram(this.ks, key, this.ctx.galoisIndex(gs[i]), limbs, a.polys[0].coeffs, lazy.polys[0], lazy.polys[1], solo());
      } else {
        // identity: (P·c0, P·c1) on the Q limbs, 0 on the P limbs
        for (let k = 0; k < 2; k++) {
          const src = a.polys[k].coeffs;
          const dst = lazy.polys[k];
          for (let l = 0; l < limbs; l++) {
            const { p } = this.ctx.ringQ.moduli[l];
            mulScalarVec(src, this.ctx.pModQ[l], shoup(this.ctx.pModQ[l], p), dst, l * N, (l + 1) * N, p);
          }
          dst.fill(0, limbs * N);
        }
      }
      sink(i, lazy);
    }
  }

  /**
   * The rotation by k of a ciphertext kept over QP, kept over QP (for the giant steps of a
   * double-hoisted transform, whose sum then needs a single ModDown): its c1 is divided by P and
   * decomposed, its c0 stays as it is: (σ(c0 + u0), σ(u1)).
   */
  rotateLazy(x: LazyCiphertext, k: number): LazyCiphertext {
    if (!Number.isInteger(k)) throw new InvalidArgumentError(`rotation step ${k}`, 'use an integer step');
    const N = this.ctx.N;
    const limbs = x.limbs;
    const K = this.ctx.ringP.size;
    const g = this.ctx.galoisElement(k);
    const out: LazyCiphertext = { level: x.level, scale: x.scale, keyId: x.keyId, limbs, polys: [new Int32Array((limbs + K) * N), new Int32Array((limbs + K) * N)] };
    if (g === 1) {
      out.polys[0].set(x.polys[0]);
      out.polys[1].set(x.polys[1]);
      return out;
    }
    const key = this.packedKey(this.galoisKey(g, k, limbs));
    const c1 = new Int32Array(limbs * N);
    modDownLazyProgram(this.ks, limbs, x.polys[0], x.polys[1], c1, c1, solo(), true);
    decomposeProgram(this.ks, limbs, c1, solo());
    rotateLazyProgram(this.ks, key, this.ctx.galoisIndex(g), limbs, x.polys[0], out.polys[0], out.polys[1], solo(), true);
    return out;
  }

  /** ⌊x/P⌉ of a ciphertext kept over QP (`rotateHoistedLazy`): a ciphertext at x's level and scale. */
  modDownLazy(x: LazyCiphertext, out?: Ciphertext): Ciphertext {
    if (this.ctx.params.levelOfLimbs(x.limbs) !== x.level) throw new InvalidArgumentError(`a lazy ciphertext of ${x.limbs} limbs at level ${x.level}`, 'pass the output of rotateHoistedLazy (after sums and plaintext products)');
    const res = this.alloc(1, x.limbs, x.level, x.scale, out, x.keyId);
    modDownLazyProgram(this.ks, x.limbs, x.polys[0], x.polys[1], res.polys[0].coeffs, res.polys[1].coeffs, solo());
    return res;
  }

  /**
   * A diagonal linear transform with double hoisting (Bossuat et al. eprint 2020/1203 §4.2;
   * `linear/hoisted.ts`): one decomposition of the input, baby rotations and their plaintext
   * products kept over QP, one ModDown per giant step and one at the end. With a worker pool every
   * phase (rotations, plaintext encoding, products) is split by limb. The result has scale
   * a.scale·spec.scale and is not rescaled. `encoder` encodes 'values' sources (null if none).
   * @throws MissingGaloisKeyError / KeyLevelError when a step's key is missing or capped below a's level.
   * @internal
   */
  evaluateDoubleHoisted(a: Ciphertext, spec: DoubleHoistedSpec, encoder: Encoder | null, out?: Ciphertext): Ciphertext {
    this.checkOperand(a, 'ciphertext');
    if (a.degree !== 1) throw new InvalidArgumentError('a linear transform of a degree-2 ciphertext', 'relinearize first');
    const limbs = a.limbs;
    const ctx = this.ctx;
    const stepOf = (k: number) => {
      const g = ctx.galoisElement(k);
      return { g, step: g === 1 ? { key: null, index: null } : { key: this.packedKey(this.galoisKey(g, k, limbs)), index: ctx.galoisIndex(g) } };
    };
    const babies = spec.babies.map(stepOf);
    const giants = spec.giants.map(stepOf);
    if ([...babies, ...giants].some((s) => s.g !== 1)) this.checkKeyId(a);
    const K = ctx.ringP.size;
    const qpBytes = 2 * (ctx.ringQ.size + K) * ctx.N * 4;
    const chunk = Math.max(1, Math.min(giants.length, spec.chunk ?? Math.floor(DOUBLE_HOISTING_ACC_BYTES / qpBytes)));
    const job: DhJob = { limbs, scale: spec.scale, babies: babies.map((s) => s.step), giants: giants.map((s) => s.step), terms: spec.terms, sources: [...spec.sources], chunk };
    const valueSlots = dhValueSlots(job);
    if (valueSlots > 0 && !encoder) throw new InvalidArgumentError('a transform with value-encoded diagonals and no encoder', 'pass the encoder');
    const res = this.alloc(1, limbs, a.level, a.scale * spec.scale, out === a ? undefined : out, a.keyId);
    if (this.par) {
      this.par.doubleHoisted(job, [...babies, ...giants].map((s) => s.g), valueSlots, encoder, a.polys, res.polys);
    } else {
      const sz = dhScratchSizes(this.ks, chunk, valueSlots);
      const d = this.dh;
      if (!d || d.acc.length < sz.acc || d.coef.length < sz.coef) {
        this.dh = undefined; // let the old scratch go before the new one is allocated
        this.dh = {
          lazy0: new Int32Array(sz.qp), lazy1: new Int32Array(sz.qp), acc: new Int32Array(Math.max(sz.acc, d?.acc.length ?? 0)), c1: new Int32Array(sz.q),
          g0: new Int32Array(sz.qp), g1: new Int32Array(sz.qp), sum0: new Int32Array(sz.qp), sum1: new Int32Array(sz.qp),
          coef: new Float64Array(Math.max(sz.coef, d?.coef.length ?? 0)),
        };
      }
      doubleHoistedProgram(this.ks, encoder, job, a.polys[0].coeffs, a.polys[1].coeffs, this.dh!, res.polys[0].coeffs, res.polys[1].coeffs, solo());
    }
    return res;
  }

  /** (σ_g(c0 + u0), σ_g(u1)) with (u0, u1) the key switch of c1. */
  private applyGalois(a: Ciphertext, g: number, key: SwitchingKey, out?: Ciphertext): Ciphertext {
    const limbs = a.limbs;
    const idx = this.ctx.galoisIndex(g);
    this.checkKeyId(a);
    // a's polynomials are read limb by limb before the same limb is written, so out may alias a
    const res = out === a ? a : this.alloc(1, limbs, a.level, a.scale, out, a.keyId);
    const pk = this.packedKey(key);
    if (this.par) {
      this.par.keySwitch(pk, limbs, DownMode.Rotate, [a.polys[0], a.polys[1]], res.polys, g);
    } else {
      keySwitchProgram(this.ks, pk, limbs, DownMode.Rotate, a.polys[1].coeffs, a.polys[0].coeffs, undefined,
        res.polys[0].coeffs, res.polys[1].coeffs, idx, solo());
    }
    return res;
  }

  /** Σ of the slots in groups: after the call every slot j holds Σ_{i<n} a[j+i] (n a power of two); needs keys for 1, 2, 4, …, n/2. */
  innerSum(a: Ciphertext, n: number): Ciphertext {
    if (!Number.isInteger(Math.log2(n))) throw new InvalidArgumentError(`innerSum width ${n}`, 'use a power of two');
    let acc = this.copy(a);
    for (let s = 1; s < n; s <<= 1) acc = this.add(acc, this.rotate(acc, s));
    return acc;
  }
}
