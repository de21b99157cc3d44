/**
 * @module approx/eval/ckks-backend
 * The CKKS implementation of {@link PolyBackend}: the depth-optimal evaluator of `evaluator.ts`
 * runs unchanged on ciphertexts.
 *
 * Scales are kept exact with a ladder seeded by the input (OpenFHE FLEXIBLE scaling,
 * Kim–Papadimitriou–Polyakov eprint 2020/1118 §3): a ciphertext the backend produces at level j
 * always has scale t_j, with t_top = the input's scale and t_{j−1} = t_j²/q_j. Then
 *  - mul(x, y) at level j: scale t_j², rescale by q_j → t_{j−1};
 *  - linear(Σ c_i x_i + c0) to level m: each x_i is cut to level m+1 and multiplied by c_i encoded at
 *    scale t_{m+1}²/t_{level(x_i)}, so every term lands at t_{m+1}²; one rescale → t_m;
 *  - add/sub of operands at different levels first moves the higher one down: a multiplication
 *    by 1 encoded at t_j·q_{j'}/t_{j'} and a rescale (no key switching), then a limb drop.
 * So sums never mix scales, and the only approximations are CKKS's own.
 */
import { Ciphertext, type Encoder, type Evaluator, InvalidArgumentError, LevelError, type Plaintext, ScaleMismatchError } from '../../ckks/index.js';
import type { Coef, PolyBackend } from './backend.js';

/** A PolyBackend over CKKS ciphertexts with exact scale management. */
export class CkksPolyBackend implements PolyBackend<Ciphertext> {
  readonly ev: Evaluator;
  readonly enc: Encoder;
  /** Scale ladder t_0..t_top. */
  readonly scales: Float64Array;
  readonly top: number;
  /** Ciphertext×ciphertext products performed (for checking cost models). */
  ctMults = 0;
  /** Lowest level reached. */
  minLevel: number;

  /**
   * Encoded slot vectors kept by vector identity, level and scale (a server that evaluates the
   * same polynomials on every input passes one map, and reuses its coefficient arrays).
   */
  private readonly pts?: WeakMap<object, Map<string, Plaintext>>;

  /** Ladder seeded by a ciphertext's level and scale (inputs at lower levels must sit on the ladder). */
  constructor(ev: Evaluator, enc: Encoder, seed: { level: number; scale: number }, opts: { plaintexts?: WeakMap<object, Map<string, Plaintext>> } = {}) {
    this.ev = ev;
    this.enc = enc;
    this.pts = opts.plaintexts;
    const P = ev.ctx.params;
    this.top = seed.level;
    this.minLevel = seed.level;
    this.scales = new Float64Array(seed.level + 1);
    this.scales[seed.level] = seed.scale;
    for (let j = seed.level; j >= 1; j--) this.scales[j - 1] = (this.scales[j] * this.scales[j]) / P.levelModulus(j);
  }

  /** Throws unless x sits on the ladder. */
  check(x: Ciphertext): void {
    if (x.level > this.top) throw new InvalidArgumentError(`input at level ${x.level} above the ladder's top ${this.top}`, 'seed the backend with the highest input');
    const t = this.scales[x.level];
    if (Math.abs(x.scale - t) > 1e-9 * t) throw new ScaleMismatchError(x.scale, t);
  }

  level(x: Ciphertext): number {
    return x.level;
  }

  private note(x: Ciphertext): Ciphertext {
    if (x.level < this.minLevel) this.minLevel = x.level;
    return x;
  }

  /** x moved down to `level` (≤ x.level) at the ladder's scale for that level. */
  lower(x: Ciphertext, level: number): Ciphertext {
    if (x.level === level) return x;
    if (level < 0) throw new LevelError(1, 0, 'aligning operands');
    const P = this.ev.ctx.params;
    // one rescale: x·1 at scale t_level·q_{x.level}/t_{x.level} lands at t_level on level x.level−1
    const c = (this.scales[level] * P.levelModulus(x.level)) / x.scale;
    let y = this.ev.mulConst(x, 1, c);
    this.ev.rescaleInPlace(y);
    y.scale = this.scales[level]; // exact up to the rounding of c (relative < 2^−30)
    if (y.level > level) y = this.ev.dropToLevel(y, level, y);
    return this.note(y);
  }

  private align(x: Ciphertext, y: Ciphertext): [Ciphertext, Ciphertext] {
    const l = Math.min(x.level, y.level);
    return [this.lower(x, l), this.lower(y, l)];
  }

  mul(x: Ciphertext, y: Ciphertext): Ciphertext {
    const [a, b] = this.align(x, y);
    if (a.level === 0) throw new LevelError(1, 0, 'a ciphertext product in polynomial evaluation');
    this.ctMults++;
    const r = this.ev.mulRelinRescale(a, b);
    r.scale = this.scales[r.level]; // t_j²/q_j by construction; pin it against float drift
    return this.note(r);
  }

  add(x: Ciphertext, y: Ciphertext): Ciphertext {
    const [a, b] = this.align(x, y);
    return this.ev.add(a, b);
  }

  sub(x: Ciphertext, y: Ciphertext): Ciphertext {
    const [a, b] = this.align(x, y);
    return this.ev.sub(a, b);
  }

  addConst(x: Ciphertext, c: Coef): Ciphertext {
    if (typeof c === 'number') return this.ev.addConst(x, c);
    return this.ev.add(x, this.encodeVector(c, x.level, x.scale));
  }

  /** A coefficient vector encoded at a level and scale (from the plaintext map when given). */
  private encodeVector(c: Exclude<Coef, number>, level: number, scale: number): Plaintext {
    const key = `${level}:${scale}`;
    let m = this.pts?.get(c);
    const hit = m?.get(key);
    if (hit) return hit;
    const pt = this.enc.encode(this.slotVector(c), { level, scale });
    if (this.pts) {
      if (!m) this.pts.set(c, (m = new Map()));
      m.set(key, pt);
    }
    return pt;
  }

  mulInt(x: Ciphertext, k: number): Ciphertext {
    return this.ev.mulInt(x, k);
  }

  linear(xs: Ciphertext[], cs: Coef[], c0: Coef): Ciphertext {
    if (xs.length === 0) throw new InvalidArgumentError('linear() of no terms', 'pass at least one ciphertext');
    const m = Math.min(...xs.map((x) => x.level)) - 1;
    if (m < 0) throw new LevelError(1, 0, 'a constant multiplication in polynomial evaluation');
    const target = this.scales[m + 1] * this.scales[m + 1]; // = t_m·q_{m+1}
    let acc: Ciphertext | null = null;
    for (let i = 0; i < xs.length; i++) {
      const c = cs[i];
      if (typeof c === 'number' ? c === 0 : c.every((v) => v === 0)) continue;
      const x = xs[i].level > m + 1 ? this.ev.dropToLevel(xs[i], m + 1) : xs[i];
      const cScale = target / x.scale;
      let term: Ciphertext;
      if (typeof c === 'number') term = this.ev.mulConst(x, c, cScale);
      else term = this.ev.mulPlain(x, this.encodeVector(c, m + 1, cScale));
      term.scale = target;
      acc = acc ? this.ev.addInPlace(acc, term) : term;
    }
    if (!acc) {
      // every coefficient is zero: 0·x + c0 at the target level
      acc = this.ev.mulInt(this.ev.dropToLevel(xs[0], m + 1), 0);
      acc.scale = target;
    }
    if (typeof c0 === 'number') {
      if (c0 !== 0) this.ev.addConst(acc, c0, acc);
    } else {
      this.ev.addInPlace(acc, this.encodeVector(c0, m + 1, target));
    }
    this.ev.rescaleInPlace(acc);
    acc.scale = this.scales[m];
    return this.note(acc);
  }

  private slotVector(c: Float64Array): Float64Array {
    const n = this.ev.ctx.params.slots;
    if (c.length !== n) throw new InvalidArgumentError(`per-slot coefficient of length ${c.length}`, `give one value per slot (${n})`);
    return c;
  }
}
