/**
 * @module nn/reference
 *
 * Plaintext float64 reference executor for the IR. It is the ground truth every encrypted or
 * approximated execution is compared against: on the fixture models it reproduces PyTorch's
 * logits to better than 1e-4 (tested against the committed JSON logits).
 *
 * Inputs are batched: `[N, ...graph.input.shape]`, e.g. `[N, 1, 28, 28]`.
 */

import { VeilError } from '../errors.js';
import { clenshaw } from '../approx/fit/chebyshev.js';
import { erf, erfc, gelu } from '../approx/activations.js';
import { GraphError, sizeOf, type IrGraph, type IrNode, type Tensor } from './graph.js';
import { InputShapeError, validateTensor, type TensorLike } from './io.js';
import { coefficientsPerElement } from './polynomial.js';

/** A node produced NaN or ±Infinity although its inputs were finite. */
export class NumericalError extends VeilError {
  static override readonly code: string = 'NUMERICAL';
  /** Node that produced the non-finite value. */
  readonly nodeName: string;

  constructor(nodeName: string, op: string, index: number, value: number) {
    super(
      `${op} node '${nodeName}' produced ${value} at flat index ${index}`,
      'the input is far outside the range the model was trained on: check its normalisation (or the weights overflow float64)',
    );
    this.nodeName = nodeName;
  }
}

/** Options for {@link runReference}. */
export interface ReferenceOptions {
  /**
   * Called after each node with its batched inputs and output (e.g. to record activation
   * statistics). The tensors must not be modified.
   */
  onNode?: (node: IrNode, inputs: readonly Tensor[], output: Tensor) => void;
  /** Check every intermediate value for NaN/Inf (default true). */
  checkFinite?: boolean;
}

/**
 * Validates a batch for a graph: numeric, finite, shape `[N, ...graph.input.shape]`.
 *
 * @returns the batch as a float64 tensor
 * @throws InputShapeError for a wrong shape (with the reshape that would fit), NonFiniteInputError for NaN/Inf
 */
export function checkInput(graph: IrGraph, input: TensorLike): Tensor {
  const x = validateTensor(input);
  const want = graph.input.shape;
  if (x.shape.length !== want.length + 1 || want.some((d, i) => d !== x.shape[i + 1])) {
    const hint =
      x.shape.length === want.length && want.every((d, i) => d === x.shape[i])
        ? 'add a leading batch dimension of 1'
        : sizeOf(x.shape) % sizeOf(want) === 0
          ? `reshape to [${sizeOf(x.shape) / sizeOf(want)},${want.join(',')}]`
          : 'check that the data is for this model';
    throw new InputShapeError(
      `input shape [${x.shape.join(',')}] does not match the model input '${graph.input.name}' [N,${want.join(',')}]; ${hint}`,
      ['N', ...want],
      x.shape,
    );
  }
  return x;
}

/**
 * Runs the graph in float64 on a batch.
 *
 * @param graph - the IR graph
 * @param input - `[N, ...graph.input.shape]`, any numeric array type
 * @param options - see {@link ReferenceOptions}
 * @returns the output, `[N, ...graph.output.shape]` (logits for classifiers)
 * @throws InputShapeError for a wrong shape, NonFiniteInputError (from `io.ts`) for NaN/Inf in the input,
 *   NumericalError if an intermediate overflows
 */
export function runReference(graph: IrGraph, input: TensorLike, options: ReferenceOptions = {}): Tensor {
  const x = checkInput(graph, input);
  const n = x.shape[0]!;
  const check = options.checkFinite ?? true;
  const values = new Map<string, Tensor>([[graph.input.name, x]]);
  // Free intermediates after their last use to bound memory.
  const lastUse = new Map<string, number>();
  graph.nodes.forEach((node, i) => node.inputs.forEach((v) => lastUse.set(v, i)));
  for (const [i, node] of graph.nodes.entries()) {
    const ins = node.inputs.map((v) => {
      const t = values.get(v);
      if (t === undefined) throw new GraphError(`input '${v}' is not defined`, node.name);
      return t;
    });
    const out = evalNode(node, ins, n);
    if (check) {
      for (let k = 0; k < out.data.length; k++) {
        const v = out.data[k]!;
        if (!Number.isFinite(v)) throw new NumericalError(node.name, node.op, k, v);
      }
    }
    options.onNode?.(node, ins, out);
    values.set(node.output, out);
    for (const v of node.inputs) if (lastUse.get(v) === i && v !== graph.output.name) values.delete(v);
  }
  const y = values.get(graph.output.name);
  if (y === undefined) throw new GraphError(`graph output '${graph.output.name}' is never produced`);
  return y;
}

/**
 * Evaluates one node on batched inputs.
 *
 * @param node - the node
 * @param inputs - `[N, ...shape]` tensors for `node.inputs`
 * @param n - batch size
 * @returns `[N, ...node.outShape]`
 */
export function evalNode(node: IrNode, inputs: readonly Tensor[], n: number): Tensor {
  const x = inputs[0]!;
  const outShape = [n, ...node.outShape];
  switch (node.op) {
    case 'Conv':
      return { shape: outShape, data: conv(node.weight, node.bias, node.strides, node.pads, x, n, node.outShape) };
    case 'BatchNormalization': {
      const c = node.scale.length;
      const plane = sizeOf(x.shape) / (n * c);
      const data = new Float64Array(x.data.length);
      for (let ch = 0; ch < c; ch++) {
        const s = node.scale[ch]! / Math.sqrt(node.variance[ch]! + node.epsilon);
        const t = node.bias[ch]! - node.mean[ch]! * s;
        for (let b = 0; b < n; b++) {
          const off = (b * c + ch) * plane;
          for (let k = 0; k < plane; k++) data[off + k] = x.data[off + k]! * s + t;
        }
      }
      return { shape: outShape, data };
    }
    case 'Relu':
      return { shape: outShape, data: x.data.map((v) => (v > 0 ? v : 0)) };
    case 'Square':
      return { shape: outShape, data: x.data.map((v) => v * v) };
    case 'Gelu':
      return { shape: outShape, data: x.data.map(node.approximate === 'tanh' ? geluTanh : gelu) };
    case 'Add': {
      const y = inputs[1]!;
      const data = new Float64Array(x.data.length);
      for (let k = 0; k < data.length; k++) data[k] = x.data[k]! + y.data[k]!;
      return { shape: outShape, data };
    }
    case 'AddConstant':
    case 'MulConstant': {
      const c = broadcastConstant(node.constant, node.outShape);
      const per = c.length;
      const data = new Float64Array(x.data.length);
      const mul = node.op === 'MulConstant';
      for (let b = 0; b < n; b++) {
        const off = b * per;
        for (let k = 0; k < per; k++) data[off + k] = mul ? x.data[off + k]! * c[k]! : x.data[off + k]! + c[k]!;
      }
      return { shape: outShape, data };
    }
    case 'AveragePool':
      return { shape: outShape, data: avgPool(node.kernel, node.strides, node.pads, node.countIncludePad, x, n, node.outShape, node.sum === true) };
    case 'GlobalAveragePool': {
      const c = node.outShape[0]!;
      const plane = sizeOf(x.shape) / (n * c);
      const div = node.sum ? 1 : plane;
      const data = new Float64Array(n * c);
      for (let k = 0; k < n * c; k++) {
        let s = 0;
        for (let j = 0; j < plane; j++) s += x.data[k * plane + j]!;
        data[k] = s / div;
      }
      return { shape: outShape, data };
    }
    case 'Poly': {
      const c = node.mapScale.length;
      const plane = sizeOf(x.shape) / (n * c);
      const data = new Float64Array(x.data.length);
      const cf = node.coeffs;
      const cheb = node.basis === 'chebyshev';
      if (node.coeffTensor) {
        polyPerElement(node, x.data, data, n, plane);
        return { shape: outShape, data };
      }
      for (let b = 0; b < n; b++) {
        for (let ch = 0; ch < c; ch++) {
          const a = node.mapFolded ? 1 : node.mapScale[ch]!;
          const s = node.mapFolded ? 0 : node.mapShift[ch]!;
          const off = (b * c + ch) * plane;
          for (let k = 0; k < plane; k++) {
            const t = a * x.data[off + k]! + s;
            data[off + k] = cheb ? clenshaw(cf, t) : hornerEval(cf, t);
          }
        }
      }
      return { shape: outShape, data };
    }
    case 'Flatten':
    case 'Reshape':
      return { shape: outShape, data: x.data };
    case 'Dense': {
      const [o, i] = node.weight.shape as [number, number];
      const w = node.weight.data;
      const data = new Float64Array(n * o);
      for (let b = 0; b < n; b++) {
        const xo = b * i;
        for (let r = 0; r < o; r++) {
          let s = node.bias?.data[r] ?? 0;
          const wo = r * i;
          for (let k = 0; k < i; k++) s += w[wo + k]! * x.data[xo + k]!;
          data[b * o + r] = s;
        }
      }
      return { shape: outShape, data };
    }
  }
}

/** Expands a broadcast constant (same rank, dims 1 or equal) to a full per-sample array. */
export function broadcastConstant(c: Tensor, shape: readonly number[]): Float64Array {
  const size = sizeOf(shape);
  if (c.data.length === size) return c.data;
  const out = new Float64Array(size);
  const r = shape.length;
  const cStrides = new Array<number>(r);
  let acc = 1;
  for (let d = r - 1; d >= 0; d--) {
    cStrides[d] = c.shape[d] === 1 ? 0 : acc;
    acc *= c.shape[d]!;
  }
  const idx = new Array<number>(r).fill(0);
  for (let k = 0; k < size; k++) {
    let src = 0;
    for (let d = 0; d < r; d++) src += idx[d]! * cStrides[d]!;
    out[k] = c.data[src]!;
    for (let d = r - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

/** im2col scratch, grown on demand (one per thread: workers have their own module instance). */
let colScratch = new Float64Array(0);

/**
 * Convolution as im2col + GEMM, per image: col[k][p] holds input pixel k = (c, ky, kx) under
 * output position p (0 where the window overhangs the padding), then out[o][p] = bias[o] +
 * Σ_k W[o][k]·col[k][p]. The GEMM computes four output channels and four k at a time (each col load
 * feeds four products) and adds the products left to right, so every output is rounded exactly as
 * the naive direct loop rounds it (bias, then k ascending): the result is bit-identical to it. 3–5×
 * faster than the direct loop on the fixtures' shapes (measured 0.56 → 1.9–3.3 G multiply-adds/s).
 */
function conv(
  weight: Tensor,
  bias: Tensor | null,
  strides: [number, number],
  pads: [number, number, number, number],
  x: Tensor,
  n: number,
  outShape: readonly number[],
): Float64Array {
  const [co, ci, kh, kw] = weight.shape as [number, number, number, number];
  const [, oh, ow] = outShape as [number, number, number];
  const h = x.shape[2]!;
  const wd = x.shape[3]!;
  const P = oh * ow;
  const K = ci * kh * kw;
  const out = new Float64Array(n * co * P);
  if (colScratch.length < K * P) colScratch = new Float64Array(K * P);
  const col = colScratch;
  const W = weight.data;
  const B = bias?.data;
  for (let b = 0; b < n; b++) {
    im2col(col, x.data, b * ci * h * wd, ci, h, wd, kh, kw, strides, pads, oh, ow);
    const ob = b * co * P;
    let o = 0;
    for (; o + 4 <= co; o += 4) {
      const o0 = ob + o * P;
      const o1 = o0 + P;
      const o2 = o1 + P;
      const o3 = o2 + P;
      const wa = o * K;
      const wb = wa + K;
      const wc = wb + K;
      const wd4 = wc + K;
      const ba = B?.[o] ?? 0;
      const bb = B?.[o + 1] ?? 0;
      const bc = B?.[o + 2] ?? 0;
      const bd = B?.[o + 3] ?? 0;
      for (let p = 0; p < P; p++) {
        out[o0 + p] = ba;
        out[o1 + p] = bb;
        out[o2 + p] = bc;
        out[o3 + p] = bd;
      }
      let k = 0;
      for (; k + 4 <= K; k += 4) {
        const a0 = W[wa + k]!, a1 = W[wa + k + 1]!, a2 = W[wa + k + 2]!, a3 = W[wa + k + 3]!;
        const b0 = W[wb + k]!, b1 = W[wb + k + 1]!, b2 = W[wb + k + 2]!, b3 = W[wb + k + 3]!;
        const c0 = W[wc + k]!, c1 = W[wc + k + 1]!, c2 = W[wc + k + 2]!, c3 = W[wc + k + 3]!;
        const d0 = W[wd4 + k]!, d1 = W[wd4 + k + 1]!, d2 = W[wd4 + k + 2]!, d3 = W[wd4 + k + 3]!;
        const q0 = k * P;
        const q1 = q0 + P;
        const q2 = q1 + P;
        const q3 = q2 + P;
        for (let p = 0; p < P; p++) {
          const x0 = col[q0 + p]!, x1 = col[q1 + p]!, x2 = col[q2 + p]!, x3 = col[q3 + p]!;
          out[o0 + p] = out[o0 + p]! + a0 * x0 + a1 * x1 + a2 * x2 + a3 * x3;
          out[o1 + p] = out[o1 + p]! + b0 * x0 + b1 * x1 + b2 * x2 + b3 * x3;
          out[o2 + p] = out[o2 + p]! + c0 * x0 + c1 * x1 + c2 * x2 + c3 * x3;
          out[o3 + p] = out[o3 + p]! + d0 * x0 + d1 * x1 + d2 * x2 + d3 * x3;
        }
      }
      for (; k < K; k++) {
        const a0 = W[wa + k]!, b0 = W[wb + k]!, c0 = W[wc + k]!, d0 = W[wd4 + k]!;
        const q0 = k * P;
        for (let p = 0; p < P; p++) {
          const x0 = col[q0 + p]!;
          out[o0 + p]! += a0 * x0;
          out[o1 + p]! += b0 * x0;
          out[o2 + p]! += c0 * x0;
          out[o3 + p]! += d0 * x0;
        }
      }
    }
    for (; o < co; o++) {
      const o0 = ob + o * P;
      const wa = o * K;
      const ba = B?.[o] ?? 0;
      for (let p = 0; p < P; p++) out[o0 + p] = ba;
      for (let k = 0; k < K; k++) {
        const a0 = W[wa + k]!;
        const q0 = k * P;
        for (let p = 0; p < P; p++) out[o0 + p]! += a0 * col[q0 + p]!;
      }
    }
  }
  return out;
}

/** Fills col[k·P + p] (k = (c·kh + ky)·kw + kx, p = oy·ow + ox) for one image starting at xb. */
function im2col(
  col: Float64Array, X: Float64Array, xb: number, ci: number, h: number, wd: number, kh: number, kw: number,
  strides: [number, number], pads: [number, number, number, number], oh: number, ow: number,
): void {
  const [sh, sw] = strides;
  const [pt, pl] = pads;
  const P = oh * ow;
  let r = 0;
  for (let c = 0; c < ci; c++) {
    const cb = xb + c * h * wd;
    for (let ky = 0; ky < kh; ky++) {
      for (let kx = 0; kx < kw; kx++, r++) {
        const base = r * P;
        // output columns whose input column ix = ox·sw − pl + kx lies inside [0, wd)
        const lo = Math.min(ow, Math.max(0, Math.ceil((pl - kx) / sw)));
        const hi = Math.max(lo, Math.min(ow, Math.floor((wd - 1 + pl - kx) / sw) + 1));
        for (let oy = 0; oy < oh; oy++) {
          const iy = oy * sh - pt + ky;
          const row = base + oy * ow;
          if (iy < 0 || iy >= h) {
            for (let ox = 0; ox < ow; ox++) col[row + ox] = 0;
            continue;
          }
          const xr = cb + iy * wd - pl + kx;
          for (let ox = 0; ox < lo; ox++) col[row + ox] = 0;
          for (let ox = lo; ox < hi; ox++) col[row + ox] = X[xr + ox * sw]!;
          for (let ox = hi; ox < ow; ox++) col[row + ox] = 0;
        }
      }
    }
  }
}

function avgPool(
  kernel: [number, number],
  strides: [number, number],
  pads: [number, number, number, number],
  includePad: boolean,
  x: Tensor,
  n: number,
  outShape: readonly number[],
  sum = false,
): Float64Array {
  const [c, oh, ow] = outShape as [number, number, number];
  const h = x.shape[2]!;
  const w = x.shape[3]!;
  const [kh, kw] = kernel;
  const [sh, sw] = strides;
  const [pt, pl] = pads;
  const out = new Float64Array(n * c * oh * ow);
  for (let p = 0; p < n * c; p++) {
    const xb = p * h * w;
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        let s = 0;
        let cnt = 0;
        for (let ky = 0; ky < kh; ky++) {
          const iy = oy * sh - pt + ky;
          if (iy < 0 || iy >= h) continue;
          for (let kx = 0; kx < kw; kx++) {
            const ix = ox * sw - pl + kx;
            if (ix < 0 || ix >= w) continue;
            s += x.data[xb + iy * w + ix]!;
            cnt++;
          }
        }
        out[(p * oh + oy) * ow + ox] = sum ? s : s / (includePad ? kh * kw : cnt);
      }
    }
  }
  return out;
}

/** A Poly node whose coefficients vary per channel or element (`coeffTensor`). */
function polyPerElement(node: Extract<IrNode, { op: 'Poly' }>, x: Float64Array, out: Float64Array, n: number, plane: number): void {
  const per = x.length / n;
  const cs = coefficientsPerElement(node.coeffTensor!, node.outShape);
  const col = new Float64Array(cs.length);
  const cheb = node.basis === 'chebyshev';
  for (let e = 0; e < per; e++) {
    for (let k = 0; k < cs.length; k++) col[k] = cs[k]![e]!;
    const ch = Math.floor(e / plane);
    const a = node.mapFolded ? 1 : node.mapScale[ch]!;
    const s = node.mapFolded ? 0 : node.mapShift[ch]!;
    for (let b = 0; b < n; b++) {
      const t = a * x[b * per + e]! + s;
      out[b * per + e] = cheb ? clenshaw(col, t) : hornerEval(col, t);
    }
  }
}

/** Σ c_j·t^j by Horner's rule. */
function hornerEval(c: Float64Array, t: number): number {
  let y = 0;
  for (let j = c.length - 1; j >= 0; j--) y = y * t + c[j]!;
  return y;
}

/** erf, erfc and GELU are shared with the approximation toolbox (one implementation, tested to ~1e-15). */
export { erf, erfc, gelu };

/** The tanh approximation ½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
export function geluTanh(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
}

/**
 * Index of the largest value in each row of `[N, K]` logits.
 *
 * @param logits - output of {@link runReference}
 */
export function argmaxRows(logits: Tensor): number[] {
  const n = logits.shape[0]!;
  const k = logits.data.length / n;
  const out: number[] = [];
  for (let b = 0; b < n; b++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (logits.data[b * k + j]! > logits.data[b * k + best]!) best = j;
    out.push(best);
  }
  return out;
}
