/**
 * @module bootstrap/hoisted
 * Bootstrapping's DFT factors as diagonal transforms with double hoisting (Bossuat et al. eprint
 * 2020/1203 §4.2), their plaintexts encoded once over QP:
 *   out = ⌊ Σ_g rot_g( Σ_b p_{g,b} ⊙ R_b ) / P ⌉,   R_b = the rotation by b of the input kept over QP
 *   and multiplied by P, p_{g,b} = rot_{−g}(diag_{g+b}) over QP.
 * The evaluation is the evaluator's (`Evaluator.evaluateDoubleHoisted`, `ckks/linear/hoisted.ts`),
 * split by limb on a worker pool. Plaintexts are encoded here rather than by the encoder's
 * limb-wise path because the factors' scales reach 2^62: the P limbs are converted exactly from the
 * first Q limbs.
 */
import type { Ciphertext, CkksContext, DhSource, DoubleHoistedSpec, Encoder, Evaluator } from '../ckks/index.js';
import { chooseSplit } from '../ckks/linear/bsgs.js';
import { BasisConverter } from '../ring/basis.js';
import { nttForward, nttInverse } from '../ring/ntt.js';
import { allocInt32 } from '../ring/poly.js';
import type { DiagonalMatrix } from './dft.js';

/** Relative costs of a baby step (inner product + permutation) and a giant step (ModDown + key switch). */
export const HOISTED_COSTS = Object.freeze({ baby: 1, giant: 6 });

/** Q limbs a plaintext's P limbs are converted from (its coefficients are below 2^62 in magnitude). */
const SOURCE_LIMBS = 3;

/** A diagonal transform with its plaintexts over QP, evaluated with double hoisting. */
export class HoistedTransform {
  readonly ctx: CkksContext;
  readonly level: number;
  readonly scale: number;
  readonly babies: readonly number[];
  /** Giant step → (baby step, plaintext over QP: ℓ Q limbs then K P limbs). */
  readonly groups: ReadonlyMap<number, readonly (readonly [number, Int32Array])[]>;
  private cachedSpec?: DoubleHoistedSpec;

  private constructor(ctx: CkksContext, level: number, scale: number, babies: number[], groups: Map<number, [number, Int32Array][]>) {
    this.ctx = ctx;
    this.level = level;
    this.scale = scale;
    this.babies = babies;
    this.groups = groups;
  }

  /** Rotation steps whose keys the evaluation needs. */
  get rotations(): number[] {
    return [...new Set([...this.babies, ...this.groups.keys()])].filter((k) => k !== 0).sort((a, b) => a - b);
  }

  /** Plaintexts held, and their bytes. */
  get footprint(): { count: number; bytes: number } {
    let count = 0;
    let bytes = 0;
    for (const l of this.groups.values()) for (const [, pt] of l) {
      count++;
      bytes += pt.byteLength;
    }
    return { count, bytes };
  }

  /** The split of a matrix's diagonals (shared with key generation, which needs the same steps). */
  static split(M: DiagonalMatrix) {
    return chooseSplit([...M.diags.keys()], M.dim, HOISTED_COSTS);
  }

  /** Encodes M's diagonals (rotated for their giant step) at `level` and `scale`, over QP. */
  static encode(ctx: CkksContext, enc: Encoder, M: DiagonalMatrix, level: number, scale: number): HoistedTransform {
    const N = ctx.N;
    const d = M.dim;
    const limbs = ctx.params.limbsAt(level);
    const K = ctx.ringP.size;
    const split = HoistedTransform.split(M);
    const n1 = split.n1;
    const src = Math.min(SOURCE_LIMBS, limbs);
    const conv = new BasisConverter(N, ctx.ringQ.moduli.slice(0, src), ctx.ringP.moduli);
    const y = new Int32Array(src * N);
    const v = new Int32Array(N);
    const t = new Int32Array(N);
    const groups = new Map<number, [number, Int32Array][]>();
    const re = new Float64Array(d);
    const im = new Float64Array(d);
    for (const k of [...M.diags.keys()].sort((a, b) => a - b)) {
      const b = k % n1;
      const g = k - b;
      const diag = M.diags.get(k)!;
      // rot_{−g}(diag)[j] = diag[j − g]
      for (let j = 0; j < d; j++) {
        const s = (((j - g) % d) + d) % d;
        re[j] = diag.re[s];
        im[j] = diag.im[s];
      }
      const pt = enc.encode({ re, im }, { level, scale, fill: 'repeat' });
      const qp = allocInt32((limbs + K) * N, typeof SharedArrayBuffer !== 'undefined'); // shared: a worker pool reads it in place
      qp.set(pt.poly.coeffs.subarray(0, limbs * N));
      // P limbs: the coefficients (|x| < 2^62) converted exactly from the first Q limbs
      for (let i = 0; i < src; i++) {
        t.set(pt.poly.coeffs.subarray(i * N, (i + 1) * N));
        nttInverse(t, 0, ctx.ringQ.tables[i]);
        conv.computeY(t, 0, i, y, 0);
      }
      conv.computeV(y, 0, v, 0);
      for (let j = 0; j < K; j++) {
        conv.convertTo(y, 0, v, 0, j, qp, (limbs + j) * N);
        nttForward(qp, (limbs + j) * N, ctx.ringP.tables[j]);
      }
      let list = groups.get(g);
      if (!list) groups.set(g, (list = []));
      list.push([b, qp]);
    }
    return new HoistedTransform(ctx, level, scale, split.babies, groups);
  }

  /** The transform applied to `ct` (at this transform's level): scale ct.scale·this.scale, not rescaled. */
  evaluate(ev: Evaluator, ct: Ciphertext): Ciphertext {
    return ev.evaluateDoubleHoisted(ct, this.spec(), null);
  }

  /** The evaluator's form of this transform (made once). */
  private spec(): DoubleHoistedSpec {
    if (this.cachedSpec) return this.cachedSpec;
    const giants = [...this.groups.keys()];
    const babyIndex = new Map(this.babies.map((b, i) => [b, i]));
    const triples: [number, number, number][] = [];
    const sources: DhSource[] = [];
    giants.forEach((g, j) => {
      for (const [b, pt] of this.groups.get(g)!) {
        triples.push([babyIndex.get(b)!, j, sources.length]);
        sources.push({ kind: 'qp', pt });
      }
    });
    triples.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    this.cachedSpec = { babies: this.babies, giants, terms: Int32Array.from(triples.flat()), sources, scale: this.scale };
    return this.cachedSpec;
  }
}
