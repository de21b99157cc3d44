/**
 * @module approx/tuning
 *
 * SmartPAF Coefficient Tuning (CT, §4.2) and Static Scale (SS, §4.5) — digest §3.3, §3.6:
 * - CT: starting from published coefficients (e.g. `smartpafForm('f1^2∘g1^2')`), fit one layer's
 *   composite to minimise the MSE between the approximate and the true op on that layer's profiled
 *   inputs: ReLU(x) ≈ x·(1 + p(x/s))/2, or max(a, b) ≈ b + (a − b)·(1 + p((a − b)/s))/2 (whose
 *   error is the ReLU error at a − b, so max tuning is ReLU tuning on the differences).
 *   Optimiser: Adam (SmartPAF: lr 0.01, 40 epochs, MSE, ReduceLROnPlateau patience 2, min lr 1e-4),
 *   with analytic gradients through the composition (backpropagation over the components' odd
 *   power coefficients). Full batch by default (deterministic); minibatches are shuffled by a
 *   seeded PRNG, so results are reproducible.
 * - SS: the scale s of a layer is the running max |x| over the profiling data; under FHE the
 *   division by s is a constant product, best folded into the previous linear layer
 *   ({@link StaticScale.foldFactor}).
 */

import { relu } from './activations.js';
import { type CompositePoly, oddCoefficients, oddPowerComponent } from './composite.js';
import { ApproxError } from './errors.js';

/** Running max |x| of a layer's inputs (SmartPAF Static Scale). */
export class StaticScale {
  private maxAbs = 0;
  private n = 0;

  /** Update with a batch of inputs. */
  observe(xs: ArrayLike<number>): this {
    for (let i = 0; i < xs.length; i++) {
      const v = Math.abs(xs[i]!);
      if (!Number.isFinite(v)) throw new ApproxError(`input ${i} is ${xs[i]}`, `profiled inputs must be finite`);
      if (v > this.maxAbs) this.maxAbs = v;
    }
    this.n += xs.length;
    return this;
  }

  /** Number of inputs observed. */
  get count(): number {
    return this.n;
  }

  /** The static scale s = max |x| seen so far. */
  get scale(): number {
    if (this.n === 0 || this.maxAbs === 0) {
      throw new ApproxError(`static scale is undefined: no non-zero input observed`, `call observe() with profiled inputs`);
    }
    return this.maxAbs;
  }

  /**
   * The factor 1/s to fold into the previous linear layer (weights and bias times 1/s), so the
   * PAF consumes no level for the scaling. With a range-R first component, fold 1/(s·R)
   * (`compositeInputFactor` in evaluator.ts).
   */
  foldFactor(): number {
    return 1 / this.scale;
  }
}

/** Convenience: the static scale (max |x|) of a sample set. */
export function staticScale(xs: ArrayLike<number>): number {
  return new StaticScale().observe(xs).scale;
}

/** A small, fast, seeded PRNG (xorshift32 → [0, 1)); deterministic across platforms. */
export function seededRandom(seed: number): () => number {
  let s = (seed | 0) || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

/** Options of {@link tuneComposite}. */
export interface TuneOptions {
  /** Static scale s; default the composite's inputScale. */
  scale?: number;
  /** Epochs. Default 40 (SmartPAF). */
  epochs?: number;
  /** Adam learning rate. Default 0.01 (SmartPAF). */
  learningRate?: number;
  /** Minibatch size; default all samples (full batch). */
  batchSize?: number;
  /** Seed of the minibatch shuffling PRNG. Default 1. */
  seed?: number;
  beta1?: number;
  beta2?: number;
  adamEpsilon?: number;
  /**
   * ReduceLROnPlateau on the epoch MSE (relative threshold); false disables it.
   * Default {patience: 2, factor: 0.1, threshold: 1e-8, minLr: 1e-4} (SmartPAF CT.py).
   */
  plateau?: { patience?: number; factor?: number; threshold?: number; minLr?: number } | false;
}

/** Result of {@link tuneComposite}. */
export interface TuneResult {
  /** Tuned composite: odd power-basis components, inputScale = s. */
  composite: CompositePoly;
  /** MSE of the starting composite on the inputs. */
  initialMse: number;
  /** MSE of the returned composite (the best epoch). */
  finalMse: number;
  /** MSE after each epoch. */
  history: Float64Array;
}

/** Inputs of a max-pool layer: pairs (a, b) whose max is approximated. */
export interface MaxInputs {
  a: ArrayLike<number>;
  b: ArrayLike<number>;
}

/**
 * SmartPAF Coefficient Tuning of one layer's composite sign approximation.
 * @param inputs the layer's profiled inputs (ReLU), or pairs {a, b} (max).
 */
export function tuneComposite(cp: CompositePoly, inputs: ArrayLike<number> | MaxInputs, opts: TuneOptions = {}): TuneResult {
  const xs = toSamples(inputs);
  const s = opts.scale ?? cp.inputScale;
  if (!(s > 0) || !Number.isFinite(s)) throw new ApproxError(`scale ${s} must be a positive finite number`, 'pass a positive finite scale (the largest |input| seen when profiling)');
  const params = cp.components.map((c) => oddCoefficients(c));
  const shapes = params.map((p) => p.length);
  const flat = new Float64Array(shapes.reduce((a, b) => a + b, 0));
  {
    let o = 0;
    for (const p of params) {
      flat.set(p, o);
      o += p.length;
    }
  }
  const epochs = opts.epochs ?? 40;
  let lr = opts.learningRate ?? 0.01;
  const b1 = opts.beta1 ?? 0.9;
  const b2 = opts.beta2 ?? 0.999;
  const eps = opts.adamEpsilon ?? 1e-8;
  const plateau =
    opts.plateau === false ? null : { patience: 2, factor: 0.1, threshold: 1e-8, minLr: 1e-4, ...(opts.plateau ?? {}) };
  const n = xs.length;
  const bs = Math.min(n, Math.max(1, opts.batchSize ?? n));
  const rand = seededRandom(opts.seed ?? 1);
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const m = new Float64Array(flat.length);
  const v = new Float64Array(flat.length);
  const grad = new Float64Array(flat.length);
  const history = new Float64Array(epochs);
  const initialMse = compositeMse(flat, shapes, xs, s);
  let best = Float64Array.from(flat);
  let bestMse = initialMse;
  let plateauBest = initialMse;
  let bad = 0;
  let step = 0;
  for (let ep = 0; ep < epochs; ep++) {
    if (bs < n) shuffle(order, rand);
    for (let start = 0; start < n; start += bs) {
      const end = Math.min(n, start + bs);
      lossAndGradient(flat, shapes, xs, s, order, start, end, grad);
      step++;
      const c1 = 1 - b1 ** step;
      const c2 = 1 - b2 ** step;
      for (let j = 0; j < flat.length; j++) {
        const g = grad[j]!;
        m[j] = b1 * m[j]! + (1 - b1) * g;
        v[j] = b2 * v[j]! + (1 - b2) * g * g;
        flat[j] = flat[j]! - (lr * (m[j]! / c1)) / (Math.sqrt(v[j]! / c2) + eps);
      }
    }
    const mse = compositeMse(flat, shapes, xs, s);
    history[ep] = mse;
    if (!Number.isFinite(mse)) {
      throw new ApproxError(`coefficient tuning diverged at epoch ${ep + 1} (MSE ${mse})`, `lower the learning rate or check the scale (inputs / s should lie in [−1, 1])`);
    }
    if (mse < bestMse) {
      bestMse = mse;
      best = Float64Array.from(flat);
    }
    if (plateau !== null) {
      if (mse < plateauBest * (1 - plateau.threshold)) {
        plateauBest = mse;
        bad = 0;
      } else if (++bad > plateau.patience) {
        lr = Math.max(plateau.minLr, lr * plateau.factor);
        bad = 0;
      }
    }
  }
  let o = 0;
  const components = shapes.map((len) => {
    const c = oddPowerComponent(best.subarray(o, o + len));
    o += len;
    return c;
  });
  return {
    composite: { ...(cp.name === undefined ? {} : { name: `${cp.name}+CT` }), inputScale: s, components },
    initialMse,
    finalMse: bestMse,
    history,
  };
}

/** MSE of x·(1 + p(x/s))/2 against ReLU(x) (the CT objective) for a composite. */
export function reluMse(cp: CompositePoly, inputs: ArrayLike<number> | MaxInputs, scale?: number): number {
  const xs = toSamples(inputs);
  const params = cp.components.map((c) => oddCoefficients(c));
  const flat = new Float64Array(params.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of params) {
    flat.set(p, o);
    o += p.length;
  }
  return compositeMse(flat, params.map((p) => p.length), xs, scale ?? cp.inputScale);
}

/**
 * Gradient of the CT objective with respect to the flattened odd coefficients (exported for the
 * finite-difference test). Layout: component 0's [c1, c3, …], then component 1's, ….
 */
export function tuningGradient(
  flat: Float64Array,
  shapes: readonly number[],
  xs: Float64Array,
  scale: number,
): Float64Array {
  const order = new Int32Array(xs.length);
  for (let i = 0; i < xs.length; i++) order[i] = i;
  const g = new Float64Array(flat.length);
  lossAndGradient(flat, shapes, xs, scale, order, 0, xs.length, g);
  return g;
}

/** The CT objective for flattened coefficients (see {@link tuningGradient}). */
export function tuningLoss(flat: Float64Array, shapes: readonly number[], xs: Float64Array, scale: number): number {
  return compositeMse(flat, shapes, xs, scale);
}

function toSamples(inputs: ArrayLike<number> | MaxInputs): Float64Array {
  if ('a' in (inputs as object) && 'b' in (inputs as object)) {
    const { a, b } = inputs as MaxInputs;
    if (a.length !== b.length) throw new ApproxError(`max inputs a and b differ in length (${a.length}, ${b.length})`, 'pass profiled inputs of equal length for both operands');
    const d = new Float64Array(a.length);
    for (let i = 0; i < a.length; i++) d[i] = a[i]! - b[i]!;
    if (d.length === 0) throw new ApproxError(`no inputs to tune on`, `profile the layer first`);
    return d;
  }
  const xs = Float64Array.from(inputs as ArrayLike<number>);
  if (xs.length === 0) throw new ApproxError(`no inputs to tune on`, `profile the layer first`);
  return xs;
}

function forward(flat: Float64Array, shapes: readonly number[], u: number): number {
  let y = u;
  let o = 0;
  for (const len of shapes) {
    const y2 = y * y;
    let pw = y;
    let s = 0;
    for (let j = 0; j < len; j++) {
      s += flat[o + j]! * pw;
      pw *= y2;
    }
    y = s;
    o += len;
  }
  return y;
}

function compositeMse(flat: Float64Array, shapes: readonly number[], xs: Float64Array, scale: number): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i]!;
    const e = (x * (1 + forward(flat, shapes, x / scale))) / 2 - relu(x);
    s += e * e;
  }
  return s / xs.length;
}

function lossAndGradient(
  flat: Float64Array,
  shapes: readonly number[],
  xs: Float64Array,
  scale: number,
  order: Int32Array,
  start: number,
  end: number,
  grad: Float64Array,
): void {
  grad.fill(0);
  const k = shapes.length;
  const offsets: number[] = [];
  let o = 0;
  for (const len of shapes) {
    offsets.push(o);
    o += len;
  }
  const ins = new Float64Array(k); // input of each component
  const inv = 1 / (end - start);
  for (let t = start; t < end; t++) {
    const x = xs[order[t]!]!;
    let y = x / scale;
    for (let i = 0; i < k; i++) {
      ins[i] = y;
      const y2 = y * y;
      let pw = y;
      let s = 0;
      const off = offsets[i]!;
      for (let j = 0; j < shapes[i]!; j++) {
        s += flat[off + j]! * pw;
        pw *= y2;
      }
      y = s;
    }
    const err = (x * (1 + y)) / 2 - relu(x);
    // d(err²)/dy = 2·err·x/2, averaged over the batch.
    let g = err * x * inv;
    for (let i = k - 1; i >= 0; i--) {
      const u = ins[i]!;
      const u2 = u * u;
      const off = offsets[i]!;
      let pw = u; // u^{2j+1}
      let dpw = 1; // u^{2j}
      let deriv = 0;
      for (let j = 0; j < shapes[i]!; j++) {
        grad[off + j] = grad[off + j]! + g * pw;
        deriv += flat[off + j]! * (2 * j + 1) * dpw;
        dpw *= u2;
        pw *= u2;
      }
      g *= deriv;
    }
  }
}

function shuffle(a: Int32Array, rand: () => number): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
}
