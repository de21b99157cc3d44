/**
 * @module train/layers
 * Forward and backward passes of the IR's operations for training (conv and dense in `conv.ts`,
 * polynomial activations in `activations.ts`): batch-norm in training mode (batch statistics; the
 * running statistics are pooled by the trainer), ReLU, GELU, x², residual add, average and global
 * average pooling, flatten/reshape, constant add/multiply.
 *
 * A layer owns its output and input-gradient buffers (reused across steps: valid until its next
 * call). Parameters and their gradients are views into the network's flat buffers (`network.ts`).
 * Batch-norm backward: with x̂ = (x − μ)/σ over (batch, H, W) of a channel,
 * dx = (γ/σ)·(dy − mean(dy) − x̂·mean(dy·x̂)), dγ = Σ dy·x̂, dβ = Σ dy.
 */
import { InternalError } from '../errors.js';
import { erf } from '../approx/activations.js';
import type { IrNode } from '../nn/graph.js';
import { sizeOf } from '../nn/graph.js';
import { broadcastConstant } from '../nn/reference.js';
import { ConvKernel, denseBackward, denseForward, ensure } from './conv.js';
import type { Arr } from './gemm.js';

/** Training or evaluation behaviour (batch-norm statistics, clamps, dynamic scales). */
export type Mode = 'train' | 'eval';

/** A parameter tensor of a layer: a view into the flat buffers. */
export interface ParamSlot {
  /** `<node>.<role>`. */
  name: string;
  node: string;
  role: string;
  shape: number[];
  size: number;
  offset: number;
  /** Optimiser group: linear weights, batch-norm affine, polynomial coefficients. */
  group: 'linear' | 'norm' | 'poly';
  /** Whether weight decay applies (weights and coefficients; not biases or BN affine). */
  decay: boolean;
}

/** One operation of the training network. */
export interface Layer {
  readonly node: IrNode;
  /** Per-sample output shape. */
  readonly outShape: number[];
  /** Parameter slots this layer owns (offsets assigned by the network). */
  readonly slots: ParamSlot[];
  /** Binds parameter and gradient views (called once the flat buffers exist). */
  bind(params: Arr, grads: Arr): void;
  forward(ins: Arr[], n: number, mode: Mode): Arr;
  /** Input gradients (null for inputs that need none); param gradients are accumulated. */
  backward(dy: Arr, n: number, needInput: boolean[]): (Arr | null)[];
}

/** Allocates an array like `like` (same type). */
export function alloc(like: Arr, n: number): Arr {
  return new (like.constructor as { new (n: number): Arr })(n);
}

function slot(node: IrNode, role: string, shape: number[], group: ParamSlot['group'], decay: boolean): ParamSlot {
  return { name: `${node.name}.${role}`, node: node.name, role, shape, size: sizeOf(shape), offset: -1, group, decay };
}

const view = (a: Arr, s: ParamSlot) => a.subarray(s.offset, s.offset + s.size);

abstract class Base implements Layer {
  readonly slots: ParamSlot[] = [];
  protected out: Arr | null = null;
  protected din: (Arr | null)[] = [];
  constructor(readonly node: IrNode, readonly outShape: number[]) {}
  bind(_p: Arr, _g: Arr): void {}
  abstract forward(ins: Arr[], n: number, mode: Mode): Arr;
  abstract backward(dy: Arr, n: number, needInput: boolean[]): (Arr | null)[];
  protected output(like: Arr, size: number): Arr {
    this.out = ensure(this.out, size, like);
    return this.out.length === size ? this.out : this.out.subarray(0, size);
  }
  protected inputGrad(k: number, like: Arr, size: number): Arr {
    this.din[k] = ensure(this.din[k] ?? null, size, like);
    const d = this.din[k]!;
    return d.length === size ? d : d.subarray(0, size);
  }
}

/** Conv (im2col + GEMM). */
export class ConvLayer extends Base {
  private readonly k: ConvKernel;
  private w!: Arr;
  private b: Arr | null = null;
  private gw!: Arr;
  private gb: Arr | null = null;
  private inSize = 0;
  constructor(node: Extract<IrNode, { op: 'Conv' }>, inShape: number[]) {
    super(node, node.outShape);
    const [co, ci, kh, kw] = node.weight.shape;
    this.k = new ConvKernel({
      cin: ci, h: inShape[1], w: inShape[2], cout: co, kh, kw, sh: node.strides[0], sw: node.strides[1], pads: node.pads,
      oh: node.outShape[1], ow: node.outShape[2],
    });
    this.inSize = sizeOf(inShape);
    this.slots.push(slot(node, 'weight', [...node.weight.shape], 'linear', true));
    if (node.bias) this.slots.push(slot(node, 'bias', [co], 'linear', false));
  }
  override bind(p: Arr, g: Arr): void {
    this.w = view(p, this.slots[0]);
    this.gw = view(g, this.slots[0]);
    if (this.slots[1]) {
      this.b = view(p, this.slots[1]);
      this.gb = view(g, this.slots[1]);
    }
  }
  forward(ins: Arr[], n: number): Arr {
    const y = this.output(ins[0], n * sizeOf(this.outShape));
    this.k.forward(ins[0], n, this.w, this.b, y);
    return y;
  }
  backward(dy: Arr, n: number, need: boolean[]): (Arr | null)[] {
    const dx = need[0] ? this.inputGrad(0, dy, n * this.inSize) : null;
    dx?.fill(0);
    this.k.backward(dy, this.w, this.gw, this.gb, dx);
    return [dx];
  }
}

/** Dense y = W·x + b. */
export class DenseLayer extends Base {
  private w!: Arr;
  private b: Arr | null = null;
  private gw!: Arr;
  private gb: Arr | null = null;
  private x: Arr | null = null;
  private readonly inF: number;
  private readonly outF: number;
  constructor(node: Extract<IrNode, { op: 'Dense' }>) {
    super(node, node.outShape);
    [this.outF, this.inF] = node.weight.shape;
    this.slots.push(slot(node, 'weight', [...node.weight.shape], 'linear', true));
    if (node.bias) this.slots.push(slot(node, 'bias', [this.outF], 'linear', false));
  }
  override bind(p: Arr, g: Arr): void {
    this.w = view(p, this.slots[0]);
    this.gw = view(g, this.slots[0]);
    if (this.slots[1]) {
      this.b = view(p, this.slots[1]);
      this.gb = view(g, this.slots[1]);
    }
  }
  forward(ins: Arr[], n: number): Arr {
    this.x = ins[0];
    const y = this.output(ins[0], n * this.outF);
    denseForward(ins[0], n, this.inF, this.outF, this.w, this.b, y);
    return y;
  }
  backward(dy: Arr, n: number, need: boolean[]): (Arr | null)[] {
    const dx = need[0] ? this.inputGrad(0, dy, n * this.inF) : null;
    dx?.fill(0);
    denseBackward(this.x!, dy, n, this.inF, this.outF, this.w, this.gw, this.gb, dx);
    return [dx];
  }
}

/** Batch statistics of one step, for the running averages (pooled over workers by the trainer). */
export interface BatchStats {
  node: string;
  /** Σx and Σx² per channel, and the number of values per channel. */
  sum: Float64Array;
  sumSq: Float64Array;
  count: number;
}

/** Batch normalisation: batch statistics in training, running statistics in evaluation. */
export class BatchNormLayer extends Base {
  private gamma!: Arr;
  private beta!: Arr;
  private gg!: Arr;
  private gbeta!: Arr;
  /** Running mean and variance (float64, owned by the layer; updated by the trainer). */
  readonly runMean: Float64Array;
  readonly runVar: Float64Array;
  readonly epsilon: number;
  private xhat: Arr | null = null;
  private x: Arr | null = null;
  private mode: Mode = 'train';
  private invStd = new Float64Array(0);
  private stats: BatchStats | null = null;
  private readonly C: number;
  private readonly plane: number;
  constructor(node: Extract<IrNode, { op: 'BatchNormalization' }>) {
    super(node, node.outShape);
    this.C = node.scale.length;
    this.plane = sizeOf(node.outShape) / this.C;
    this.runMean = Float64Array.from(node.mean);
    this.runVar = Float64Array.from(node.variance);
    this.epsilon = node.epsilon;
    this.slots.push(slot(node, 'scale', [this.C], 'norm', false), slot(node, 'bias', [this.C], 'norm', false));
  }
  override bind(p: Arr, g: Arr): void {
    this.gamma = view(p, this.slots[0]);
    this.beta = view(p, this.slots[1]);
    this.gg = view(g, this.slots[0]);
    this.gbeta = view(g, this.slots[1]);
  }
  /** Statistics of the last training forward pass. */
  lastStats(): BatchStats | null {
    return this.stats;
  }
  forward(ins: Arr[], n: number, mode: Mode): Arr {
    const x = ins[0];
    const { C, plane } = this;
    const y = this.output(x, n * C * plane);
    this.mode = mode;
    this.x = x;
    if (mode === 'eval') {
      for (let c = 0; c < C; c++) {
        const s = this.gamma[c] / Math.sqrt(this.runVar[c] + this.epsilon);
        const t = this.beta[c] - this.runMean[c] * s;
        for (let b = 0; b < n; b++) {
          const o = (b * C + c) * plane;
          for (let k = 0; k < plane; k++) y[o + k] = x[o + k] * s + t;
        }
      }
      this.stats = null;
      return y;
    }
    this.xhat = ensure(this.xhat, n * C * plane, x);
    const xh = this.xhat;
    if (this.invStd.length !== C) this.invStd = new Float64Array(C);
    const sum = new Float64Array(C);
    const sumSq = new Float64Array(C);
    const cnt = n * plane;
    for (let c = 0; c < C; c++) {
      let s = 0;
      for (let b = 0; b < n; b++) {
        const o = (b * C + c) * plane;
        for (let k = 0; k < plane; k++) s += x[o + k];
      }
      const mean = s / cnt;
      let v = 0;
      for (let b = 0; b < n; b++) {
        const o = (b * C + c) * plane;
        for (let k = 0; k < plane; k++) {
          const d = x[o + k] - mean;
          v += d * d;
        }
      }
      sum[c] = s;
      sumSq[c] = v + cnt * mean * mean;
      const inv = 1 / Math.sqrt(v / cnt + this.epsilon);
      this.invStd[c] = inv;
      const g = this.gamma[c];
      const be = this.beta[c];
      for (let b = 0; b < n; b++) {
        const o = (b * C + c) * plane;
        for (let k = 0; k < plane; k++) {
          const h = (x[o + k] - mean) * inv;
          xh[o + k] = h;
          y[o + k] = g * h + be;
        }
      }
    }
    this.stats = { node: this.node.name, sum, sumSq, count: cnt };
    return y;
  }
  /** Evaluation mode is affine per channel: dx = dy·γ/σ, dγ = Σ dy·(x − μ)/σ, dβ = Σ dy. */
  private backwardEval(dy: Arr, n: number, need: boolean[]): (Arr | null)[] {
    const { C, plane } = this;
    const x = this.x!;
    const dx = need[0] ? this.inputGrad(0, dy, n * C * plane) : null;
    for (let c = 0; c < C; c++) {
      const inv = 1 / Math.sqrt(this.runVar[c] + this.epsilon);
      const m = this.runMean[c];
      const f = this.gamma[c] * inv;
      let sdy = 0;
      let sdyx = 0;
      for (let b = 0; b < n; b++) {
        const o = (b * C + c) * plane;
        for (let k = 0; k < plane; k++) {
          sdy += dy[o + k];
          sdyx += dy[o + k] * (x[o + k] - m) * inv;
          if (dx) dx[o + k] = dy[o + k] * f;
        }
      }
      this.gg[c] += sdyx;
      this.gbeta[c] += sdy;
    }
    return [dx];
  }
  backward(dy: Arr, n: number, need: boolean[]): (Arr | null)[] {
    const { C, plane } = this;
    if (this.mode === 'eval') return this.backwardEval(dy, n, need);
    const xh = this.xhat!;
    const cnt = n * plane;
    const dx = need[0] ? this.inputGrad(0, dy, n * C * plane) : null;
    for (let c = 0; c < C; c++) {
      let sdy = 0;
      let sdyx = 0;
      for (let b = 0; b < n; b++) {
        const o = (b * C + c) * plane;
        for (let k = 0; k < plane; k++) {
          sdy += dy[o + k];
          sdyx += dy[o + k] * xh[o + k];
        }
      }
      this.gg[c] += sdyx;
      this.gbeta[c] += sdy;
      if (!dx) continue;
      const f = this.gamma[c] * this.invStd[c];
      const m1 = sdy / cnt;
      const m2 = sdyx / cnt;
      for (let b = 0; b < n; b++) {
        const o = (b * C + c) * plane;
        for (let k = 0; k < plane; k++) dx[o + k] = f * (dy[o + k] - m1 - xh[o + k] * m2);
      }
    }
    return [dx];
  }
}

/** Element-wise activation with a pointwise derivative: ReLU, GELU, x². */
export class PointwiseLayer extends Base {
  private x: Arr | null = null;
  constructor(node: IrNode, private readonly f: (v: number) => number, private readonly df: (v: number) => number) {
    super(node, node.outShape);
  }
  forward(ins: Arr[]): Arr {
    const x = ins[0];
    this.x = x;
    const y = this.output(x, x.length);
    const f = this.f;
    for (let i = 0; i < x.length; i++) y[i] = f(x[i]);
    return y;
  }
  backward(dy: Arr, _n: number, need: boolean[]): (Arr | null)[] {
    if (!need[0]) return [null];
    const x = this.x!;
    const dx = this.inputGrad(0, dy, dy.length);
    const df = this.df;
    for (let i = 0; i < dy.length; i++) dx[i] = dy[i] * df(x[i]);
    return [dx];
  }
}

const SQRT1_2PI = 1 / Math.sqrt(2 * Math.PI);

/** ReLU, GELU (erf form) and x² as pointwise layers. */
export function pointwise(node: IrNode): PointwiseLayer {
  switch (node.op) {
    case 'Relu':
      return new PointwiseLayer(node, (v) => (v > 0 ? v : 0), (v) => (v > 0 ? 1 : 0));
    case 'Gelu':
      if (node.approximate !== 'none') {
        const k = Math.sqrt(2 / Math.PI);
        return new PointwiseLayer(
          node,
          (v) => 0.5 * v * (1 + Math.tanh(k * (v + 0.044715 * v * v * v))),
          (v) => {
            const u = k * (v + 0.044715 * v * v * v);
            const t = Math.tanh(u);
            return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * k * (1 + 3 * 0.044715 * v * v);
          },
        );
      }
      return new PointwiseLayer(
        node,
        (v) => 0.5 * v * (1 + erf(v * Math.SQRT1_2)),
        (v) => 0.5 * (1 + erf(v * Math.SQRT1_2)) + v * SQRT1_2PI * Math.exp(-0.5 * v * v),
      );
    case 'Square':
      return new PointwiseLayer(node, (v) => v * v, (v) => 2 * v);
    default:
      throw new InternalError(`${node.op} is not pointwise`);
  }
}

/** Residual add. */
export class AddLayer extends Base {
  forward(ins: Arr[]): Arr {
    const [a, b] = ins;
    const y = this.output(a, a.length);
    for (let i = 0; i < a.length; i++) y[i] = a[i] + b[i];
    return y;
  }
  backward(dy: Arr): (Arr | null)[] {
    return [dy, dy];
  }
}

/** Flatten / Reshape: the data is unchanged. */
export class ReshapeLayer extends Base {
  forward(ins: Arr[]): Arr {
    return ins[0];
  }
  backward(dy: Arr): (Arr | null)[] {
    return [dy];
  }
}

/** Add or multiply by a broadcast constant. */
export class ConstantLayer extends Base {
  private readonly c: Float64Array;
  private readonly mul: boolean;
  constructor(node: Extract<IrNode, { op: 'AddConstant' | 'MulConstant' }>) {
    super(node, node.outShape);
    this.c = broadcastConstant(node.constant, node.outShape);
    this.mul = node.op === 'MulConstant';
  }
  forward(ins: Arr[], n: number): Arr {
    const x = ins[0];
    const y = this.output(x, x.length);
    const per = this.c.length;
    for (let b = 0; b < n; b++) for (let k = 0; k < per; k++) y[b * per + k] = this.mul ? x[b * per + k] * this.c[k] : x[b * per + k] + this.c[k];
    return y;
  }
  backward(dy: Arr, n: number, need: boolean[]): (Arr | null)[] {
    if (!this.mul || !need[0]) return [need[0] ? dy : null];
    const dx = this.inputGrad(0, dy, dy.length);
    const per = this.c.length;
    for (let b = 0; b < n; b++) for (let k = 0; k < per; k++) dx[b * per + k] = dy[b * per + k] * this.c[k];
    return [dx];
  }
}

/** Average pooling (count_include_pad or not; `sum` pools of compiled graphs sum the window). */
export class AvgPoolLayer extends Base {
  private readonly inShape: number[];
  private div: Float64Array = new Float64Array(0);
  constructor(private readonly n0: Extract<IrNode, { op: 'AveragePool' }>, inShape: number[]) {
    super(n0, n0.outShape);
    this.inShape = inShape;
    const [, oh, ow] = n0.outShape;
    const [, h, w] = inShape;
    const [kh, kw] = n0.kernel;
    const [sh, sw] = n0.strides;
    const [pt, pl] = n0.pads;
    this.div = new Float64Array(oh * ow);
    for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) {
      let cnt = 0;
      for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) {
        const iy = oy * sh - pt + ky;
        const ix = ox * sw - pl + kx;
        if (iy >= 0 && iy < h && ix >= 0 && ix < w) cnt++;
      }
      this.div[oy * ow + ox] = n0.sum ? 1 : 1 / (n0.countIncludePad ? kh * kw : cnt);
    }
  }
  private each(n: number, f: (src: number, dst: number, d: number) => void): void {
    const [C, oh, ow] = this.outShape;
    const [, h, w] = this.inShape;
    const [kh, kw] = this.n0.kernel;
    const [sh, sw] = this.n0.strides;
    const [pt, pl] = this.n0.pads;
    for (let p = 0; p < n * C; p++) {
      for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) {
        const dst = (p * oh + oy) * ow + ox;
        const d = this.div[oy * ow + ox];
        for (let ky = 0; ky < kh; ky++) {
          const iy = oy * sh - pt + ky;
          if (iy < 0 || iy >= h) continue;
          for (let kx = 0; kx < kw; kx++) {
            const ix = ox * sw - pl + kx;
            if (ix >= 0 && ix < w) f((p * h + iy) * w + ix, dst, d);
          }
        }
      }
    }
  }
  forward(ins: Arr[], n: number): Arr {
    const x = ins[0];
    const y = this.output(x, n * sizeOf(this.outShape));
    y.fill(0);
    this.each(n, (src, dst, d) => {
      y[dst] += x[src] * d;
    });
    return y;
  }
  backward(dy: Arr, n: number, need: boolean[]): (Arr | null)[] {
    if (!need[0]) return [null];
    const dx = this.inputGrad(0, dy, n * sizeOf(this.inShape));
    dx.fill(0);
    this.each(n, (src, dst, d) => {
      dx[src] += dy[dst] * d;
    });
    return [dx];
  }
}

/** Global average pooling [C, H, W] → [C, 1, 1] (a sum when `sum`). */
export class GlobalPoolLayer extends Base {
  private readonly plane: number;
  private readonly C: number;
  private readonly sum: boolean;
  constructor(node: Extract<IrNode, { op: 'GlobalAveragePool' }>, inShape: number[]) {
    super(node, node.outShape);
    this.C = inShape[0];
    this.plane = sizeOf(inShape) / inShape[0];
    this.sum = node.sum === true;
  }
  forward(ins: Arr[], n: number): Arr {
    const x = ins[0];
    const y = this.output(x, n * this.C);
    const d = this.sum ? 1 : 1 / this.plane;
    for (let p = 0; p < n * this.C; p++) {
      let s = 0;
      for (let k = 0; k < this.plane; k++) s += x[p * this.plane + k];
      y[p] = s * d;
    }
    return y;
  }
  backward(dy: Arr, n: number, need: boolean[]): (Arr | null)[] {
    if (!need[0]) return [null];
    const dx = this.inputGrad(0, dy, n * this.C * this.plane);
    const d = this.sum ? 1 : 1 / this.plane;
    for (let p = 0; p < n * this.C; p++) {
      const v = dy[p] * d;
      dx.fill(v, p * this.plane, (p + 1) * this.plane);
    }
    return [dx];
  }
}
