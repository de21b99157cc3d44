/**
 * @module ckks/linear/transform
 * Homomorphic linear transforms in the diagonal form (Halevi–Shoup, CRYPTO 2014 §4; GAZELLE,
 * Juvekar et al. 2018 §5; Lattigo `circuits/ckks/lintrans`):
 *
 *     out[i] = Σ_δ d_δ[i] · in[(i + δ) mod n]
 *
 * evaluated with baby-step/giant-step rotations (`bsgs.ts`): the baby rotations of the input share
 * one decomposition (hoisting), each giant step is one key switch.
 *
 * Diagonals may be shorter than the slot count: a diagonal of length P (a power of two dividing
 * the slots) is repeated every P slots. Inputs with that period (replicated tensors, sparse-slot
 * packing) stay periodic, and the plaintexts encode as polynomials in X^(slots/P).
 *
 * Plaintexts are encoded when first needed at the transform's level and scale; `cache: true` keeps
 * them (bootstrapping's DFT factors, reused on every call), the default re-encodes on every call
 * (network layers, whose plaintexts would not fit in memory all at once).
 */
import type { Ciphertext, Plaintext } from '../ciphertext.js';
import type { CkksContext } from '../context.js';
import type { ComplexVector, Encoder } from '../encoder.js';
import { InvalidArgumentError, LevelError } from '../errors.js';
import type { Evaluator } from '../evaluator.js';
import { type BsgsCosts, type BsgsSplit, chooseSplit, splitWith } from './bsgs.js';
import type { DoubleHoistedSpec } from '../evaluator.js';
import { type DhSource, encodeSourceQP } from './hoisted.js';
import { allocInt32 } from '../../ring/poly.js';

/** A diagonal: real values, or a complex vector (re, im of equal length). */
export type Diagonal = Float64Array | ComplexVector;

/** Options of a linear transform. */
export interface LinearTransformOptions {
  /** Level of the input ciphertexts (plaintexts are encoded there). */
  level: number;
  /** Scale of the plaintexts (the output has scale input·scale, not rescaled). */
  scale: number;
  /** Baby-step modulus n1 (default: the cheapest by `chooseSplit`). */
  babyStep?: number;
  /** Relative costs for choosing n1. */
  costs?: BsgsCosts;
  /** Keep encoded plaintexts between evaluations (default false). */
  cache?: boolean;
  /**
   * 'single' (default): the baby rotations share one decomposition, each ends with a ModDown, the
   * products run on the calling thread. 'double': baby rotations and products stay over QP, one
   * ModDown per giant step (`hoisted.ts`), every phase split by limb on a worker pool, and
   * plaintexts (over QP) are encoded by limb right where they are used unless cached. Needs
   * max|diagonal|·scale < 2^50. Same result up to rounding noise.
   */
  hoisting?: 'single' | 'double';
}

const lengthOf = (d: Diagonal): number => (d instanceof Float64Array ? d.length : d.re.length);

/** A diagonal linear transform, ready to evaluate on ciphertexts at one level. */
export class LinearTransform {
  readonly ctx: CkksContext;
  readonly encoder: Encoder;
  /** Length of the diagonals: the transform acts on inputs of this period. */
  readonly period: number;
  readonly level: number;
  readonly scale: number;
  readonly split: BsgsSplit;
  readonly cache: boolean;
  private readonly diags: Map<number, Diagonal>;
  private readonly pts = new Map<number, Plaintext>();
  /** Giant step → its baby steps (those with a diagonal g + b). */
  readonly groups: Map<number, number[]>;
  readonly hoisting: 'single' | 'double';
  private dhSpec?: DoubleHoistedSpec;
  /** With double hoisting and `cache`: the plaintexts over QP, filled by the first evaluation. */
  private dhEncoded = false;

  /**
   * @param diagonals δ → diagonal; δ in [0, period), every diagonal of length `period` (a power of
   *   two dividing the slot count).
   * @throws InvalidArgumentError on inconsistent lengths or indices; LevelError for a bad level.
   */
  constructor(ctx: CkksContext, encoder: Encoder, diagonals: ReadonlyMap<number, Diagonal>, opts: LinearTransformOptions) {
    this.ctx = ctx;
    this.encoder = encoder;
    const slots = ctx.params.slots;
    let period = 0;
    for (const d of diagonals.values()) {
      const n = lengthOf(d);
      if (period === 0) period = n;
      else if (n !== period) throw new InvalidArgumentError(`diagonals of lengths ${period} and ${n}`, 'give every diagonal the same length');
      if (!(d instanceof Float64Array) && d.im.length !== n) throw new InvalidArgumentError('a complex diagonal with re and im of different lengths', 'give re and im the same length');
    }
    if (period === 0) period = slots;
    if (slots % period !== 0 || (period & (period - 1)) !== 0) {
      throw new InvalidArgumentError(`diagonal length ${period}`, `use a power of two dividing the ${slots} slots`);
    }
    for (const k of diagonals.keys()) {
      if (!Number.isInteger(k) || k < 0 || k >= period) throw new InvalidArgumentError(`diagonal index ${k}`, `use indices in [0, ${period})`);
    }
    if (!Number.isInteger(opts.level) || opts.level < 0 || opts.level > ctx.params.levels) throw new LevelError(opts.level, ctx.params.levels, 'a linear transform');
    if (!(opts.scale > 0) || !Number.isFinite(opts.scale)) throw new InvalidArgumentError(`plaintext scale ${opts.scale}`, 'use a positive finite scale');
    this.period = period;
    this.level = opts.level;
    this.scale = opts.scale;
    this.cache = opts.cache ?? false;
    this.hoisting = opts.hoisting ?? 'single';
    this.diags = new Map(diagonals);
    const deltas = [...diagonals.keys()];
    this.split = opts.babyStep !== undefined ? splitWith(deltas, opts.babyStep, opts.costs) : chooseSplit(deltas, period, opts.costs);
    this.groups = new Map();
    const n1 = this.split.n1;
    for (const d of [...deltas].sort((a, b) => a - b)) {
      const b = d % n1;
      const g = d - b;
      let list = this.groups.get(g);
      if (!list) this.groups.set(g, (list = []));
      list.push(b);
    }
  }

  /** Encodes every plaintext now and keeps them (same as `cache: true`). */
  static encode(ctx: CkksContext, encoder: Encoder, diagonals: ReadonlyMap<number, Diagonal>, opts: LinearTransformOptions): LinearTransform {
    const lt = new LinearTransform(ctx, encoder, diagonals, { ...opts, cache: true });
    lt.encodeAll();
    return lt;
  }

  /**
   * Encodes every plaintext now, on the calling thread (over QP with double hoisting), when the
   * transform caches them (a server does this before its first input); otherwise does nothing.
   */
  encodeAll(): void {
    if (!this.cache) return;
    if (this.hoisting === 'single') {
      for (const [g, bs] of this.groups) for (const b of bs) this.plaintext(g, b);
      return;
    }
    if (this.dhEncoded || this.diags.size === 0) return;
    const spec = this.doubleHoistedSpec();
    const limbs = this.ctx.params.limbsAt(this.level);
    const sources = spec.sources.map((s): DhSource => {
      if (s.kind !== 'values' || !s.keep) return s;
      encodeSourceQP(this.ctx, this.encoder, s, this.scale, limbs, s.keep);
      return { kind: 'qp', pt: s.keep };
    });
    this.dhSpec = { ...spec, sources };
    this.dhEncoded = true;
  }

  /** Rotation steps whose Galois keys the evaluation needs (babies and giants, without 0). */
  get rotations(): number[] {
    return [...new Set([...this.split.babies, ...this.split.giants])].filter((k) => k !== 0).sort((a, b) => a - b);
  }

  /** Number of diagonals (plaintext products per evaluation). */
  get size(): number {
    return this.diags.size;
  }

  /** The plaintext of diagonal g + b rotated right by g, at the transform's level and scale. */
  plaintext(g: number, b: number): Plaintext {
    const key = g + b;
    const hit = this.pts.get(key);
    if (hit) return hit;
    const d = this.diags.get(key)!;
    const P = this.period;
    const values: Diagonal = d instanceof Float64Array ? rotateRight(d, g, P) : { re: rotateRight(d.re, g, P), im: rotateRight(d.im, g, P) };
    const pt = this.encoder.encode(values, { level: this.level, scale: this.scale, fill: 'repeat' });
    if (this.cache) this.pts.set(key, pt);
    return pt;
  }

  /**
   * The evaluator's form of the transform: babies, giants, terms sorted by baby then giant, and each
   * diagonal as slot values to rotate right by its giant step (arrays in shared memory where
   * possible, so a worker pool reads them in place); with `cache`, a `keep` buffer per diagonal over
   * QP receives its encoding.
   */
  private doubleHoistedSpec(): DoubleHoistedSpec {
    if (this.dhSpec) return this.dhSpec;
    const canShare = typeof SharedArrayBuffer !== 'undefined';
    const f64 = (v: ArrayLike<number>) => {
      const a = canShare ? new Float64Array(new SharedArrayBuffer(8 * v.length)) : new Float64Array(v.length);
      a.set(v);
      return a;
    };
    const babies = this.split.babies;
    const babyIndex = new Map(babies.map((b, i) => [b, i]));
    const giants = [...this.groups.keys()];
    const qpLen = (this.ctx.params.limbsAt(this.level) + this.ctx.ringP.size) * this.ctx.N;
    const triples: [number, number, number][] = [];
    const sources: DhSource[] = [];
    giants.forEach((g, j) => {
      for (const b of this.groups.get(g)!) {
        const d = this.diags.get(g + b)!;
        triples.push([babyIndex.get(b)!, j, sources.length]);
        const re = f64(d instanceof Float64Array ? d : d.re);
        const im = d instanceof Float64Array ? null : f64(d.im);
        sources.push({ kind: 'values', re, im, shift: g, keep: this.cache ? allocInt32(qpLen, canShare) : undefined });
      }
    });
    triples.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    this.dhSpec = { babies, giants, terms: Int32Array.from(triples.flat()), sources, scale: this.scale };
    return this.dhSpec;
  }

  /**
   * Applies the transform to `ct` (at the transform's level): Σ_g rot(Σ_b p_{g,b} ⊙ rot(ct, b), g).
   * The result has scale ct.scale·this.scale and is not rescaled.
   * @throws LevelError when ct is not at the transform's level; MissingGaloisKeyError when a step's key is missing.
   */
  evaluate(ev: Evaluator, ct: Ciphertext): Ciphertext {
    if (ct.level !== this.level) {
      throw new LevelError(this.level, ct.level, `a linear transform encoded for level ${this.level} (drop the ciphertext to that level first)`);
    }
    if (this.hoisting === 'double') {
      if (this.diags.size === 0) return ev.mulConst(ct, 0, this.scale);
      const spec = this.doubleHoistedSpec();
      const out = ev.evaluateDoubleHoisted(ct, spec, this.encoder);
      if (this.cache && !this.dhEncoded) {
        // the evaluation wrote every plaintext limb into its `keep` buffer: use them from now on
        this.dhSpec = { ...spec, sources: spec.sources.map((s) => (s.kind === 'values' && s.keep ? { kind: 'qp', pt: s.keep } : s)) };
        this.dhEncoded = true;
      }
      return out;
    }
    const babies = this.split.babies;
    const rotated = ev.rotateHoisted(ct, babies);
    const byStep = new Map<number, Ciphertext>(babies.map((b, i) => [b, rotated[i]]));
    let out: Ciphertext | undefined;
    for (const [g, bs] of this.groups) {
      let acc: Ciphertext | undefined;
      for (const b of bs) {
        const t = ev.mulPlain(byStep.get(b)!, this.plaintext(g, b));
        acc = acc ? ev.addInPlace(acc, t) : t;
      }
      const r = g === 0 ? acc! : ev.rotate(acc!, g);
      out = out ? ev.addInPlace(out, r) : r;
    }
    if (!out) {
      out = ev.mulConst(ct, 0, this.scale);
    }
    return out;
  }
}

/** v rotated right by g (out[i] = v[(i − g) mod P]). */
function rotateRight(v: ArrayLike<number>, g: number, P: number): Float64Array {
  const out = new Float64Array(P);
  const s = ((g % P) + P) % P;
  for (let i = 0; i < P; i++) out[(i + s) % P] = v[i];
  return out;
}
