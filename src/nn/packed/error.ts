/**
 * @module nn/packed/error
 * Predicted error of an encrypted packed run against its float64 slot simulation (`simulate.ts`):
 * a per-element standard deviation σ, propagated through the plan in float64, and a
 * high-probability bound k·σ (k = 6 by default: a Gaussian exceeds 6σ with probability 2·10⁻⁹).
 *
 * Noise model: average-case (central-limit) variances in the canonical embedding, as in
 * Costache–Curtis–Hales–Murphy–Ogilvie–Player, "On the precision loss in approximate homomorphic
 * encryption" (eprint 2022/162, §3–4), and Kim–Papadimitriou–Polyakov, "Approximate homomorphic
 * encryption with reduced approximation error" (eprint 2020/1118, §2–3), not the worst-case
 * canonical-norm bounds, which are orders of magnitude loose. A polynomial whose N coefficients
 * are independent with variance v, at scale Δ, decodes to slots whose real parts (what the network
 * reads) are uncorrelated with variance N·v / (2Δ²) (slot j = Σ_i e_i ζ_j^i; the slots take one
 * root of each conjugate pair, so E[σ_j σ_k] = 0 for j ≠ k). Constants, with h = E‖s‖² (2N/3 for
 * the uniform ternary secret, else the Hamming weight) and σ_e = 3.2:
 *
 *   fresh (public key, SEAL-style division by p_0, `ckks/encryptor.ts`):  v = (1 + h)/12 + 1/12
 *       (rounding r_0 + r_1·s, plus the message's own encoding rounding)
 *   rescale onto level ℓ (one division with rounding, also when fused with ModDown):  v = (1 + h)/12
 *       at scale t_ℓ
 *   key switch at level ℓ (hybrid, dnum digits D_j of the level's Q, special modulus P;
 *       `ckks/keyswitch/switcher.ts`):  v = N·σ_e²·Σ_j D_j² / (12·P²) + (1 + h)/12
 *       (centred uniform digits times the keys' Gaussian errors, divided by P, plus the ModDown
 *       rounding), at the scale of the rotated ciphertext
 *   plaintext encoding of a vector of period Pm at scale t:  2·Pm coefficients rounded
 *       (variance 1/12 each), i.e. a relative slot error of variance Pm / (12·t²) times value²
 * These four were checked against measured slot errors at N = 2^12, 2^13 (dnum 2..8): within 2 %.
 *
 * Propagation per element (value units):
 *   transform (mulPlain by diagonals, rescale):  σ²_o = Σ_k w_k²·(σ²_in[c_k] + κ_ℓ·[tap rotated])
 *       + Pm/(12 t_ℓ²)·Σ_k x²[c_k] + giants·κ_ℓ/t_ℓ² + ρ_{ℓ−1} (+ the bias's encoding), with w the
 *       actual LinearMap row and κ_ℓ the slot variance of one key switch at level ℓ, scale t_ℓ.
 *       A tap is rotated when its diagonal δ has a baby step δ mod n1 ≠ 0; each baby rotation is a
 *       key switch of its own (different keys: independent noise), a giant one switches keys on a
 *       sum at scale t_ℓ², where its noise is t_ℓ² times smaller. With double hoisting
 *       (rotations kept over QP, one ModDown per transform) the e·d/P term is the same and only the
 *       ModDown rounding moves to scale t_ℓ² (negligible), so this is an upper bound for both.
 *   rotate-and-sum over m steps:  σ²_c = Σ_pixels σ²_in + (2^m − 1)·κ_ℓ (the noise of step k is
 *       summed again by each later step: 2^(m−1−k) copies at different slots)
 *   polynomial p(a·x + b):  σ²_out = (|a|·|p'(u)|)²·σ²_in + own, the slope taken per element as the
 *       largest over the given samples, or over the calibration interval without samples; own =
 *       ρ·(1 + c_2² + u²) for the quadratic (the x·ρ and c_2·ρ rounding products of
 *       `approx/eval/evaluator.ts`), ρ·depth·(1 + Σ_k k²c_k²) for Chebyshev (a rounding per product,
 *       amplified at most like T_k's slope), plus ρ for an unfolded input map.
 *   residual add:  σ²_out = σ²_1 + σ²_2. The branches share upstream noise, so this is the
 *       average case, not a bound (fully correlated, σ_1 + σ_2, is one): on ResNet-20 (nine
 *       residual adds) the fully correlated rule predicts 7× the measured σ, the independent one
 *       matches it (max over the 10 logits ≈ 1.5–2σ, as for 10 Gaussian draws).
 * Errors of different elements are treated as independent inside a linear map (the CLT heuristic;
 * the weights' signs make the cross terms average out): exact for one layer, within 0.5–1.4× in σ
 * past several (Monte Carlo, `test/nn-packed-error.test.ts`). Second-order terms (ε², the noise's
 * imaginary part squared) are ε/|x| ≈ 10⁻⁴ times smaller and dropped. Measured on ResNet-20 quad
 * (N = 2^16, 39 levels, K = 15, dnum 3): rescale rounding dominates (σ 5.9e-4 per logit alone), then
 * key switching (2.0e-4), encodings (1.6e-4) and fresh encryption (4.8e-5).
 */
import type { Parameters } from '../../ckks/params.js';
import { InvalidArgumentError } from '../../errors.js';
import type { IrGraph, IrNode, PolyNode } from '../graph.js';
import { broadcastConstant } from '../reference.js';
import { coefficientsPerElement } from '../polynomial.js';
import { polyCost } from '../compile/compile.js';
import { applyMap, linearMapOf, rowsOf } from './linear.js';
import { PackedLayoutError } from './layout.js';
import type { PackedPlan, PackedStep } from './plan.js';
import { polyAt } from './simulate.js';

/** Standard deviation of the keys' and encryptions' Gaussian errors (HE standard). */
export const ERROR_SIGMA = 3.2;

/** Per-operation slot variances (value units at the level's canonical scale) of a parameter set. */
export interface CkksNoise {
  /** A fresh public-key encryption at the top level. */
  fresh: number;
  /** Rounding of a rescale landing on level ℓ, at scale t_ℓ (index ℓ). */
  rescale: Float64Array;
  /** One key switch of a ciphertext at level ℓ, scale t_ℓ (index ℓ). */
  keySwitch: Float64Array;
  /** Coefficient variance of one key switch at level ℓ (for other scales). */
  keySwitchCoeff: Float64Array;
  /** Variance of one rounded plaintext coefficient (1/12; 0 models exact encodings). */
  encode: number;
  /** E‖s‖². */
  h: number;
}

/** The per-operation noise of `params` (see the module header for the derivation). */
export function ckksNoise(params: Parameters): CkksNoise {
  const { N, levels: L, scales: t } = params;
  const h = params.hammingWeight ?? (2 * N) / 3;
  const slot = (v: number, scale: number) => (N * v) / (2 * scale * scale);
  const round = (1 + h) / 12;
  const rescale = new Float64Array(L + 1);
  const keySwitch = new Float64Array(L + 1);
  const keySwitchCoeff = new Float64Array(L + 1);
  let logP = 0;
  for (const p of params.p) logP += Math.log2(p);
  const a = params.digitLimbs;
  for (let l = 0; l <= L; l++) {
    rescale[l] = slot(round, t[l]);
    const limbs = params.limbsAt(l);
    // Σ_j (D_j/P)², in logs: D_j and P reach 2^120 and more
    let s = 0;
    for (let j = 0; j * a < limbs; j++) {
      let logD = 0;
      for (let i = j * a; i < Math.min((j + 1) * a, limbs); i++) logD += Math.log2(params.q[i]);
      s += 2 ** (2 * (logD - logP));
    }
    keySwitchCoeff[l] = (N * ERROR_SIGMA ** 2 * s) / 12 + round;
    keySwitch[l] = slot(keySwitchCoeff[l], t[l]);
  }
  return { fresh: slot(round + 1 / 12, t[L]), rescale, keySwitch, keySwitchCoeff, encode: 1 / 12, h };
}

/** Options of {@link predictPackedError}. */
export interface PackedErrorOptions {
  /**
   * Input samples (per-sample shape of the graph input, one or more): the magnitudes and the
   * activations' slopes are taken per element as the largest over them. Without samples: interval
   * bounds (the calibration interval of every activation), looser.
   */
  samples?: readonly ArrayLike<number>[];
  /** The bound in standard deviations (default 6). */
  sigmas?: number;
  /** The per-operation noise (default `ckksNoise(params)`; tests zero some sources to isolate the propagation). */
  noise?: CkksNoise;
}

/** The predicted deviation of a packed run from its float64 simulation. */
export interface PackedErrorPrediction {
  /** σ per output element (element order of the graph output). */
  perOutput: Float64Array;
  /** sigmas·σ per output element. */
  bound: Float64Array;
  sigmas: number;
  /** Largest σ and bound over the outputs. */
  maxSigma: number;
  maxBound: number;
  /** Largest σ of every node's output (by node name), to see where the error comes from. */
  perNode: Map<string, number>;
  noise: CkksNoise;
}

/** A value's error state, per element (shared with the channel layout's model, `nn/channel/error.ts`). */
export interface ErrorValue {
  /** Error variance per element. */
  v: Float64Array;
  /** |value| bound per element (over the samples, or interval arithmetic). */
  mag: Float64Array;
  /** Values per sample (absent without samples). */
  xs: Float64Array[] | null;
}

export const maxOf = (a: Float64Array): number => a.reduce((m, x) => Math.max(m, x), 0);

/**
 * Predicts, per output element, the standard deviation of (encrypted − float64 simulation) of a
 * packed run of `graph` with `plan` at `params`, and a bound of `sigmas` standard deviations.
 * @throws PackedLayoutError when the plan does not match the graph.
 */
export function predictPackedError(graph: IrGraph, plan: PackedPlan, params: Parameters, opts: PackedErrorOptions = {}): PackedErrorPrediction {
  const noise = opts.noise ?? ckksNoise(params);
  const L = params.levels;
  const t = params.scales;
  const sigmas = opts.sigmas ?? 6;
  const samples = opts.samples && opts.samples.length > 0 ? opts.samples : null;
  const levelOf = (value: string) => L - (plan.levels.depthAt.get(value) ?? 0);
  const inSize = graph.input.shape.reduce((a, b) => a * b, 1);
  checkSamples(samples, graph.input.shape);
  const input: ErrorValue = {
    v: new Float64Array(inSize).fill(noise.fresh),
    mag: new Float64Array(inSize),
    xs: samples ? samples.map((s) => Float64Array.from({ length: inSize }, (_, i) => s[i])) : null,
  };
  if (samples) for (const x of input.xs!) for (let i = 0; i < inSize; i++) input.mag[i] = Math.max(input.mag[i], Math.abs(x[i]));
  else input.mag.fill(1);
  const values = new Map<string, ErrorValue>([[graph.input.name, input]]);
  const fusedFrom = new Map<string, string>();
  const perNode = new Map<string, number>();
  const src = (v: string) => fusedFrom.get(v) ?? v;
  for (const n of graph.nodes) {
    const step = plan.steps.get(n.name);
    if (!step) throw new PackedLayoutError(`internal: node '${n.name}' is not in the plan`, 'plan the graph you predict');
    const ins = n.inputs.map((v) => values.get(src(v))!);
    let out: ErrorValue;
    switch (step.kind) {
      case 'fused':
        fusedFrom.set(n.output, src(n.inputs[0]));
        continue;
      case 'relabel':
        out = ins[0];
        break;
      case 'transform':
        out = transform(step, ins[0], levelOf(src(n.inputs[0])), plan, noise, t);
        break;
      case 'rotsum':
        out = rotsum(n, plan.layouts.get(src(n.inputs[0]))!.shape, step.steps.length, ins[0], noise.keySwitch[levelOf(src(n.inputs[0]))]);
        break;
      case 'slotwise':
        out = slotwise(n, ins, levelOf(src(n.inputs[0])), levelOf(n.output), plan, noise, t);
        break;
    }
    values.set(n.output, out);
    perNode.set(n.name, Math.sqrt(maxOf(out.v)));
  }
  const res = values.get(src(graph.output.name))!;
  const perOutput = res.v.map(Math.sqrt);
  const bound = perOutput.map((s) => sigmas * s);
  return { perOutput, bound, sigmas, maxSigma: maxOf(perOutput), maxBound: maxOf(bound), perNode, noise };
}

/** A diagonal transform, its rescale and its bias (`runner.ts`). */
function transform(step: Extract<PackedStep, { kind: 'transform' }>, x: ErrorValue, level: number, plan: PackedPlan, noise: CkksNoise, t: Float64Array): ErrorValue {
  const { map, from, to, split } = step;
  const rows = rowsOf(map);
  const Pin = from.period;
  const Pm = Math.max(Pin, to.period);
  const n1 = split.n1;
  const ks = noise.keySwitch[level];
  const enc = (Pm * noise.encode) / (t[level] * t[level]);
  const giants = split.giants.filter((g) => g !== 0).length;
  // a giant rotation switches keys on a sum at scale t_ℓ² (the plaintexts' scale is t_ℓ)
  const giant = (giants * plan.slots * noise.keySwitchCoeff[level]) / t[level] ** 4;
  const base = noise.rescale[level - 1] + giant;
  const encBias = (to.period * noise.encode) / (t[level - 1] * t[level - 1]);
  const v = new Float64Array(rows);
  const mag = new Float64Array(rows);
  for (let o = 0; o < rows; o++) {
    let s = base;
    let m = 0;
    const zo = to.pos[o];
    for (let k = map.rowStart[o]; k < map.rowStart[o + 1]; k++) {
      const c = map.cols[k];
      const w = map.vals[k];
      let d = (from.pos[c] - zo) % Pin;
      if (d < 0) d += Pin;
      s += w * w * (x.v[c] + (d % n1 !== 0 ? ks : 0)) + enc * x.mag[c] * x.mag[c];
      m += Math.abs(w) * x.mag[c];
    }
    if (map.bias) {
      s += encBias * map.bias[o] * map.bias[o];
      m += Math.abs(map.bias[o]);
    }
    v[o] = s;
    mag[o] = m;
  }
  const xs = x.xs ? x.xs.map((xv) => applyMap(map, xv)) : null;
  return { v, mag: xs ? magOf(xs) : mag, xs };
}

/** Largest |x| per element over the samples. */
export function magOf(xs: Float64Array[]): Float64Array {
  const m = new Float64Array(xs[0].length);
  for (const x of xs) for (let i = 0; i < m.length; i++) m[i] = Math.max(m[i], Math.abs(x[i]));
  return m;
}

/** Rotate-and-sum of a channel's pixels onto its first pixel: each of the m rotations adds a key switch, doubled by the steps after it. */
function rotsum(n: IrNode, inShape: readonly number[], m: number, x: ErrorValue, ks: number): ErrorValue {
  const map = linearMapOf(n, inShape);
  const rows = rowsOf(map);
  const v = new Float64Array(rows).fill((2 ** m - 1) * ks);
  const mag = new Float64Array(rows);
  for (let o = 0; o < rows; o++) {
    for (let k = map.rowStart[o]; k < map.rowStart[o + 1]; k++) {
      v[o] += map.vals[k] ** 2 * x.v[map.cols[k]];
      mag[o] += Math.abs(map.vals[k]) * x.mag[map.cols[k]];
    }
  }
  const xs = x.xs ? x.xs.map((xv) => applyMap(map, xv)) : null;
  return { v, mag: xs ? magOf(xs) : mag, xs };
}

function slotwise(n: IrNode, ins: ErrorValue[], levelIn: number, levelOut: number, plan: PackedPlan, noise: CkksNoise, t: Float64Array): ErrorValue {
  const x = ins[0];
  const size = x.v.length;
  switch (n.op) {
    case 'Add': {
      const y = ins[1];
      const v = new Float64Array(size);
      for (let i = 0; i < size; i++) v[i] = x.v[i] + y.v[i];
      const xs = x.xs && y.xs ? x.xs.map((a, s) => a.map((u, i) => u + y.xs![s][i])) : null;
      return { v, mag: xs ? magOf(xs) : x.mag.map((m, i) => m + y.mag[i]), xs };
    }
    case 'AddConstant': {
      const c = broadcastConstant(n.constant, n.outShape);
      const l = plan.layouts.get(n.output)!;
      const enc = (l.period * noise.encode) / (t[levelIn] * t[levelIn]);
      const xs = x.xs ? x.xs.map((a) => a.map((u, i) => u + c[i])) : null;
      return { v: x.v.map((u, i) => u + enc * c[i] * c[i]), mag: xs ? magOf(xs) : x.mag.map((m, i) => m + Math.abs(c[i])), xs };
    }
    case 'Poly':
      return polyError(n, x, levelIn, levelOut, noise);
    default:
      throw new PackedLayoutError(`internal: '${n.name}' (${n.op}) is not slot-wise`, 'report this as a bug');
  }
}

/** p'(u) of a Poly node's polynomial with coefficients c (power or Chebyshev basis). */
function slopeAt(n: PolyNode, u: number, c: ArrayLike<number>): number {
  if (n.basis === 'power') {
    let y = 0;
    for (let k = c.length - 1; k >= 1; k--) y = y * u + k * c[k];
    return y;
  }
  // d/du T_k = k·U_{k−1}: Clenshaw over the Chebyshev polynomials of the second kind
  let b1 = 0;
  let b2 = 0;
  for (let k = c.length - 1; k >= 1; k--) {
    const b0 = 2 * u * b1 - b2 + k * c[k];
    b2 = b1;
    b1 = b0;
  }
  return b1;
}

/** Grid points per interval when the slope and magnitude are bounded without samples. */
const GRID = 256;

/**
 * A polynomial activation evaluated from level `levelIn` down to `levelOut`: the input error times
 * the slope, plus the evaluation's own rounding (see the module header).
 */
export function polyError(n: PolyNode, x: ErrorValue, levelIn: number, levelOut: number, noise: CkksNoise): ErrorValue {
  const size = x.v.length;
  const C = n.mapScale.length;
  const plane = size / C;
  const deg = n.coeffs.length - 1;
  const perElem = n.coeffTensor ? coefficientsPerElement(n.coeffTensor, n.outShape) : null;
  const col = new Float64Array(deg + 1);
  const coeffs = (e: number) => {
    for (let k = 0; k <= deg; k++) col[k] = perElem ? perElem[k][e] : n.coeffs[k];
    return col;
  };
  // rounding of one rescale, the largest over the levels the evaluation passes through
  let rho = 0;
  for (let l = levelOut; l < levelIn; l++) rho = Math.max(rho, noise.rescale[l]);
  const depth = polyCost(n, false).depth;
  const v = new Float64Array(size);
  const mag = new Float64Array(size);
  const xs = x.xs ? x.xs.map(() => new Float64Array(size)) : null;
  const [lo, hi] = n.interval;
  for (let e = 0; e < size; e++) {
    const ch = Math.floor(e / plane);
    // u = a·x + b when the map is evaluated here; folded maps were applied by the layer before
    const a = n.mapFolded ? 1 : n.mapScale[ch];
    const b = n.mapFolded ? 0 : n.mapShift[ch];
    const c = coeffs(e);
    let slope = 0;
    let umax = 0;
    if (x.xs) {
      for (let s = 0; s < x.xs.length; s++) {
        const u = a * x.xs[s][e] + b;
        slope = Math.max(slope, Math.abs(slopeAt(n, u, c)));
        umax = Math.max(umax, Math.abs(u));
        const y = polyAt(n, u, c);
        xs![s][e] = y;
        mag[e] = Math.max(mag[e], Math.abs(y));
      }
    } else {
      // the argument's range: [−1, 1] for Chebyshev, the calibration interval mapped for powers
      const [ulo, uhi] = n.basis === 'chebyshev' ? [-1, 1] : [n.mapScale[ch] * lo + n.mapShift[ch], n.mapScale[ch] * hi + n.mapShift[ch]];
      for (let i = 0; i <= GRID; i++) {
        const u = ulo + ((uhi - ulo) * i) / GRID;
        slope = Math.max(slope, Math.abs(slopeAt(n, u, c)));
        mag[e] = Math.max(mag[e], Math.abs(polyAt(n, u, c)));
      }
      umax = Math.max(Math.abs(ulo), Math.abs(uhi));
    }
    let own: number;
    if (n.basis === 'power' && deg <= 2) own = rho * (1 + (deg === 2 ? c[2] * c[2] : 0) + umax * umax);
    else {
      let s = 1;
      for (let k = 1; k <= deg; k++) s += k * k * c[k] * c[k];
      own = rho * depth * s;
    }
    const g = slope * Math.abs(a);
    v[e] = g * g * x.v[e] + own + (n.mapFolded ? 0 : rho * slope * slope);
  }
  return { v, mag, xs };
}

/**
 * The largest prediction per output over inputs predicted one at a time (magnitudes and slopes of
 * each input). Per input rather than one envelope of slopes over all inputs: the envelope
 * compounds over the layers (ResNet-20: 2× the largest per-input σ).
 */
export function largestOverInputs(inputs: readonly ArrayLike<number>[], predict: (x: ArrayLike<number>) => PackedErrorPrediction): PackedErrorPrediction {
  let worst: PackedErrorPrediction | undefined;
  for (const x of inputs) {
    const e = predict(x);
    if (!worst) {
      worst = e;
      continue;
    }
    for (let k = 0; k < e.perOutput.length; k++) {
      worst.perOutput[k] = Math.max(worst.perOutput[k], e.perOutput[k]);
      worst.bound[k] = Math.max(worst.bound[k], e.bound[k]);
    }
    for (const [n, v] of e.perNode) worst.perNode.set(n, Math.max(worst.perNode.get(n) ?? 0, v));
    worst.maxSigma = Math.max(worst.maxSigma, e.maxSigma);
    worst.maxBound = Math.max(worst.maxBound, e.maxBound);
  }
  if (!worst) throw new PackedLayoutError('no inputs to predict the error for', 'pass at least one input');
  return worst;
}

/** @throws InvalidArgumentError when a sample is not one input of the graph's per-sample shape. */
export function checkSamples(samples: readonly ArrayLike<number>[] | null, shape: readonly number[]): void {
  const size = shape.reduce((a, b) => a * b, 1);
  for (const x of samples ?? []) {
    if (x.length !== size) {
      throw new InvalidArgumentError(`an error-model sample has ${x.length} values, the network input [${shape}] has ${size}`, 'pass each sample as one input of the per-sample shape (not a batch)');
    }
  }
}
