/**
 * @module bootstrap/bsgs
 * A diagonal linear transform on CKKS slots evaluated by baby-step/giant-step (Halevi–Shoup,
 * Crypto 2014 §4.1; Bossuat et al. eprint 2020/1203 §3): out[i] = Σ_k diag_k[i]·in[(i + k) mod d].
 * With k = g + b (b < n1 a baby step, g a multiple of n1),
 *   out = Σ_g rot_g( Σ_b rot_{−g}(diag_{g+b}) ⊙ rot_b(in) ),
 * so the baby rotations of the input share one decomposition (`rotateHoisted`) and the giant
 * rotations act on the inner sums: about 2·√(#diagonals) rotations instead of #diagonals.
 * The plaintexts rot_{−g}(diag_{g+b}) are encoded once, at the level and scale given.
 */
import { type Ciphertext, type CkksContext, type Encoder, type Evaluator, InvalidArgumentError, type Plaintext } from '../ckks/index.js';
import type { ComplexArray } from './dft.js';

/** Options of `BsgsTransform.encode`. */
export interface BsgsOptions {
  /** Level of the ciphertexts it will be applied to. */
  level: number;
  /** Scale of the diagonal plaintexts (the output scale is the input's times this). */
  scale: number;
  /** Period d of the slots (divides N/2; default N/2). */
  slots?: number;
  /** Baby-step count n1 (a power of two). Default: the one with the fewest rotations. */
  babySteps?: number;
}

/** Baby steps and giant steps of a diagonal set for a given n1. */
function split(keys: readonly number[], n1: number): { babies: number[]; giants: Map<number, number[]> } {
  const babies = new Set<number>();
  const giants = new Map<number, number[]>();
  for (const k of keys) {
    const b = k % n1;
    const g = k - b;
    babies.add(b);
    let list = giants.get(g);
    if (!list) giants.set(g, (list = []));
    list.push(b);
  }
  return { babies: [...babies].sort((x, y) => x - y), giants };
}

/** The n1 (power of two ≤ d) minimising rotations (baby steps other than 0, plus giant steps other than 0). */
export function bestBabySteps(keys: readonly number[], d: number): number {
  let best = 1;
  let bestCost = Infinity;
  for (let n1 = 1; n1 <= d; n1 *= 2) {
    const { babies, giants } = split(keys, n1);
    const cost = babies.filter((b) => b !== 0).length + [...giants.keys()].filter((g) => g !== 0).length;
    if (cost < bestCost) {
      bestCost = cost;
      best = n1;
    }
  }
  return best;
}

/** A linear transform with its diagonals encoded for BSGS evaluation. */
export class BsgsTransform {
  readonly level: number;
  readonly scale: number;
  readonly slots: number;
  readonly babySteps: number;
  /** Baby rotation steps (0 included when used). */
  readonly babies: readonly number[];
  /** Giant step → [baby step, plaintext] pairs. */
  readonly giants: ReadonlyMap<number, readonly (readonly [number, Plaintext])[]>;

  private constructor(level: number, scale: number, slots: number, n1: number, babies: number[], giants: Map<number, [number, Plaintext][]>) {
    this.level = level;
    this.scale = scale;
    this.slots = slots;
    this.babySteps = n1;
    this.babies = babies;
    this.giants = giants;
  }

  /** The rotation steps whose Galois keys evaluation needs. */
  get rotations(): number[] {
    const s = new Set<number>();
    for (const b of this.babies) if (b !== 0) s.add(b);
    for (const g of this.giants.keys()) if (g !== 0) s.add(g);
    return [...s].sort((x, y) => x - y);
  }

  /** Number of plaintexts held. */
  get plaintextCount(): number {
    let c = 0;
    for (const l of this.giants.values()) c += l.length;
    return c;
  }

  /** Encodes the diagonals (offsets in [0, d), complex or real vectors of length d). */
  static encode(ctx: CkksContext, encoder: Encoder, diagonals: ReadonlyMap<number, Float64Array | ComplexArray>, opts: BsgsOptions): BsgsTransform {
    const d = opts.slots ?? ctx.params.slots;
    if (!Number.isInteger(Math.log2(d)) || d > ctx.params.slots) throw new InvalidArgumentError(`slot period ${d}`, `use a power of two up to ${ctx.params.slots}`);
    const keys = [...diagonals.keys()];
    for (const k of keys) if (!Number.isInteger(k) || k < 0 || k >= d) throw new InvalidArgumentError(`diagonal offset ${k}`, `use offsets in [0, ${d})`);
    const n1 = opts.babySteps ?? bestBabySteps(keys, d);
    const { babies, giants } = split(keys, n1);
    const enc = new Map<number, [number, Plaintext][]>();
    const re = new Float64Array(d);
    const im = new Float64Array(d);
    for (const [g, bs] of giants) {
      const list: [number, Plaintext][] = [];
      for (const b of bs) {
        const v = diagonals.get(g + b)!;
        const vr = v instanceof Float64Array ? v : v.re;
        const vi = v instanceof Float64Array ? undefined : v.im;
        // rot_{−g}(v)[j] = v[j − g]
        for (let j = 0; j < d; j++) {
          const s = (j - g + d) % d;
          re[j] = vr[s];
          im[j] = vi ? vi[s] : 0;
        }
        list.push([b, encoder.encode({ re, im }, { level: opts.level, scale: opts.scale, fill: 'repeat' })]);
      }
      enc.set(g, list);
    }
    return new BsgsTransform(opts.level, opts.scale, d, n1, babies, enc);
  }

  /** The transform applied to ct (at this transform's level): scale ct.scale·this.scale, not rescaled. */
  apply(ev: Evaluator, ct: Ciphertext): Ciphertext {
    if (ct.level !== this.level) throw new InvalidArgumentError(`ciphertext at level ${ct.level}, transform encoded for ${this.level}`, 'encode the transform at the level it is applied at');
    const rotated = ev.rotateHoisted(ct, this.babies);
    const byBaby = new Map<number, Ciphertext>();
    this.babies.forEach((b, i) => byBaby.set(b, rotated[i]));
    let acc: Ciphertext | undefined;
    for (const [g, list] of this.giants) {
      let inner: Ciphertext | undefined;
      for (const [b, pt] of list) {
        const t = ev.mulPlain(byBaby.get(b)!, pt);
        inner = inner ? ev.addInPlace(inner, t) : t;
      }
      const r = g === 0 ? inner! : ev.rotate(inner!, g);
      acc = acc ? ev.addInPlace(acc, r) : r;
    }
    return acc!;
  }
}
