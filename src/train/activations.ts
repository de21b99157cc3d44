/**
 * @module train/activations
 * Trainable polynomial activations.
 *
 * {@link PolyLayer}: y = Σ_k c_k ⊙ x^k with coefficients per layer, per channel or per element
 * (BEAA's a_j·x² + b_j·x + c_j, digest §4.1). Optionally PAPER's training clamp (digest §2.2,
 * `poly_activation.py`, `trainer.py::get_penalty`): in training the polynomial sees
 * clamp(x, −clip, clip), and the loss gains w·‖x − clamp(x)‖₂ (the L2 norm over the whole batch
 * tensor of this call), whose gradient w·r/‖r‖ pushes inputs back inside the interval the
 * polynomial was fitted on. At evaluation there is no clamp.
 *
 * {@link PafLayer}: SmartPAF's ReLU(x) ≈ (x + x·p(x/s))/2 with p a composite of odd power
 * polynomials applied in order (digest §3.2), every coefficient trainable; s is the batch's
 * max |x| in training (dynamic scale, DS) and the running max over training inputs in evaluation
 * and deployment (static scale, SS; digest §3.6). The gradient does not flow through s.
 */
import type { CompositePoly } from '../approx/composite.js';
import { oddCoefficients } from '../approx/composite.js';
import type { IrNode, PolyNode, Tensor } from '../nn/graph.js';
import { sizeOf } from '../nn/graph.js';
import { ensure } from './conv.js';
import type { Arr } from './gemm.js';
import type { Layer, Mode, ParamSlot } from './layers.js';

/** How a polynomial's coefficients vary. */
export type Grain = 'layer' | 'channel' | 'element';

/** Options of {@link PolyLayer}. */
export interface PolyActivationOptions {
  /** Initial power coefficients c_0 … c_d (the same for every channel/element at the start). */
  coeffs: readonly number[];
  grain: Grain;
  /** PAPER's clamp interval [−clip, clip] in training (none when undefined). */
  clip?: number;
}

/** Shape of one coefficient tensor for a grain over a per-sample shape. */
export function grainShape(grain: Grain, shape: readonly number[]): number[] {
  if (grain === 'layer') return shape.map(() => 1);
  if (grain === 'channel') return shape.map((d, i) => (i === 0 ? d : 1));
  return [...shape];
}

/** A trainable polynomial activation replacing one activation node. */
export class PolyLayer implements Layer {
  readonly slots: ParamSlot[];
  readonly outShape: number[];
  /** Penalty weight w of this call (set by the trainer; 0 disables). */
  penaltyWeight = 0;
  /** The penalty value of the last training forward pass. */
  lastPenalty = 0;
  readonly clip: number | undefined;
  readonly grain: Grain;
  private c!: Arr;
  private gc!: Arr;
  private readonly deg: number;
  /** Coefficients per tensor: 1, C or C·H·W. */
  private readonly per: number;
  /** Elements per coefficient (plane for per channel, 1 per element, all per layer). */
  private readonly plane: number;
  private readonly size: number;
  private x: Arr | null = null;
  private xc: Arr | null = null;
  private y: Arr | null = null;
  private dx: Arr | null = null;
  private norm = 0;
  private clamped = false;
  private readonly init: readonly number[];

  constructor(readonly node: IrNode, opts: PolyActivationOptions) {
    this.outShape = node.outShape;
    this.grain = opts.grain;
    this.clip = opts.clip;
    this.deg = opts.coeffs.length - 1;
    this.size = sizeOf(node.outShape);
    const b = grainShape(opts.grain, node.outShape);
    this.per = sizeOf(b);
    this.plane = this.size / this.per;
    this.init = opts.coeffs;
    this.slots = [{
      name: `${node.name}.coeffs`, node: node.name, role: 'coeffs', shape: [this.deg + 1, ...b], size: (this.deg + 1) * this.per, offset: -1,
      group: 'poly', decay: false,
    }];
  }

  /** Writes the initial coefficients (called after binding). */
  initialise(params: Arr): void {
    const s = this.slots[0];
    for (let k = 0; k <= this.deg; k++) params.fill(this.init[k], s.offset + k * this.per, s.offset + (k + 1) * this.per);
  }

  bind(p: Arr, g: Arr): void {
    const s = this.slots[0];
    this.c = p.subarray(s.offset, s.offset + s.size);
    this.gc = g.subarray(s.offset, s.offset + s.size);
  }

  forward(ins: Arr[], n: number, mode: Mode): Arr {
    const x = ins[0];
    this.x = x;
    const total = n * this.size;
    this.y = ensure(this.y, total, x);
    const y = this.y.length === total ? this.y : this.y.subarray(0, total);
    this.clamped = mode === 'train' && this.clip !== undefined;
    let xc: Arr = x;
    if (this.clamped) {
      const L = this.clip!;
      this.xc = ensure(this.xc, total, x);
      xc = this.xc.length === total ? this.xc : this.xc.subarray(0, total);
      let r2 = 0;
      for (let i = 0; i < total; i++) {
        const v = x[i];
        const c = v > L ? L : v < -L ? -L : v;
        xc[i] = c;
        r2 += (v - c) * (v - c);
      }
      this.norm = Math.sqrt(r2);
      this.lastPenalty = this.penaltyWeight * this.norm;
    } else this.lastPenalty = 0;
    const { c, per, plane, deg, size } = this;
    for (let b = 0; b < n; b++) {
      const o = b * size;
      for (let e = 0; e < size; e++) {
        const j = per === 1 ? 0 : Math.floor(e / plane);
        const t = xc[o + e];
        let acc = c[deg * per + j];
        for (let k = deg - 1; k >= 0; k--) acc = acc * t + c[k * per + j];
        y[o + e] = acc;
      }
    }
    return y;
  }

  backward(dy: Arr, n: number, need: boolean[]): (Arr | null)[] {
    const x = this.x!;
    const xc = this.clamped ? this.xc! : x;
    const total = n * this.size;
    this.dx = ensure(this.dx, total, dy);
    const dx = this.dx.length === total ? this.dx : this.dx.subarray(0, total);
    const { c, gc, per, plane, deg, size } = this;
    const L = this.clip ?? Infinity;
    const pw = this.clamped && this.norm > 0 ? this.penaltyWeight / this.norm : 0;
    for (let b = 0; b < n; b++) {
      const o = b * size;
      for (let e = 0; e < size; e++) {
        const j = per === 1 ? 0 : Math.floor(e / plane);
        const t = xc[o + e];
        const g = dy[o + e];
        // coefficient gradients: dy·t^k; derivative Σ k·c_k·t^{k−1}
        let pk = 1;
        let d = 0;
        for (let k = 0; k <= deg; k++) {
          gc[k * per + j] += g * pk;
          if (k < deg) d += (k + 1) * c[(k + 1) * per + j] * pk;
          pk *= t;
        }
        const v = x[o + e];
        const inside = !this.clamped || (v <= L && v >= -L);
        dx[o + e] = (inside ? g * d : 0) + (pw !== 0 ? pw * (v - t) : 0);
      }
    }
    return [need[0] ? dx : null];
  }

  /** The node as an IR polynomial ('Polynomial', coefficient tensor unless per layer). */
  toIr(params: Arr): PolyNode {
    const s = this.slots[0];
    const data = Float64Array.from(params.subarray(s.offset, s.offset + s.size));
    return polyIr(this.node, this.per === 1 ? data : null, this.per === 1 ? null : { shape: [...s.shape], data }, this.deg);
  }
}

/** A 'Polynomial' IR node (power basis, identity map) from scalar coefficients or a coefficient tensor. */
export function polyIr(node: IrNode, scalar: Float64Array | null, tensor: Tensor | null, deg: number): PolyNode {
  const C = node.outShape[0];
  const p: PolyNode = {
    name: node.name, op: 'Poly', inputs: [...node.inputs], output: node.output, outShape: [...node.outShape], sources: [...node.sources],
    replaces: 'Polynomial', mapScale: new Float64Array(C).fill(1), mapShift: new Float64Array(C), mapFolded: false, basis: 'power',
    coeffs: scalar ?? new Float64Array(deg + 1).fill(NaN), interval: [-1, 1],
  };
  if (tensor) p.coeffTensor = tensor;
  return p;
}

/** SmartPAF's composite-polynomial ReLU with dynamic (training) and static (evaluation) scale. */
export class PafLayer implements Layer {
  readonly slots: ParamSlot[];
  readonly outShape: number[];
  /** Running max |x| over training inputs (the static scale). */
  staticScale = 0;
  /** Scale used by the last forward pass. */
  lastScale = 1;
  /** max |x| of the last forward pass's inputs. */
  lastMax = 0;
  /**
   * Train at the static scale (SS) instead of the batch's max |x| (DS). The static scale still
   * grows to any larger batch max, so |x/s| ≤ 1 always holds.
   */
  staticInTraining = false;
  private readonly lens: number[];
  private p!: Arr;
  private g!: Arr;
  private x: Arr | null = null;
  private z: Float64Array = new Float64Array(0);
  private y: Arr | null = null;
  private dx: Arr | null = null;
  private readonly init: Float64Array[];

  constructor(readonly node: IrNode, composite: CompositePoly) {
    this.outShape = node.outShape;
    this.init = composite.components.map((c) => oddCoefficients(c));
    this.lens = this.init.map((c) => c.length);
    const total = this.lens.reduce((a, b) => a + b, 0);
    this.slots = [{ name: `${node.name}.paf`, node: node.name, role: 'paf', shape: [total], size: total, offset: -1, group: 'poly', decay: false }];
  }

  initialise(params: Arr): void {
    let o = this.slots[0].offset;
    for (const c of this.init) {
      params.set(c, o);
      o += c.length;
    }
  }

  bind(p: Arr, g: Arr): void {
    const s = this.slots[0];
    this.p = p.subarray(s.offset, s.offset + s.size);
    this.g = g.subarray(s.offset, s.offset + s.size);
  }

  /** Odd coefficients of each component. */
  components(params: Arr): Float64Array[] {
    let o = this.slots[0].offset;
    return this.lens.map((len) => {
      const c = Float64Array.from(params.subarray(o, o + len));
      o += len;
      return c;
    });
  }

  forward(ins: Arr[], n: number, mode: Mode): Arr {
    const x = ins[0];
    this.x = x;
    const total = n * sizeOf(this.outShape);
    let m = 0;
    for (let i = 0; i < total; i++) {
      const a = Math.abs(x[i]);
      if (a > m) m = a;
    }
    this.lastMax = m;
    if (mode === 'train') {
      if (m > this.staticScale) this.staticScale = m;
      this.lastScale = this.staticInTraining ? this.staticScale : m > 0 ? m : 1;
      if (!(this.lastScale > 0)) this.lastScale = 1;
    } else this.lastScale = this.staticScale > 0 ? this.staticScale : m > 0 ? m : 1;
    const inv = 1 / this.lastScale;
    const K = this.lens.length;
    if (this.z.length < total * (K + 1)) this.z = new Float64Array(total * (K + 1));
    this.y = ensure(this.y, total, x);
    const y = this.y.length === total ? this.y : this.y.subarray(0, total);
    const z = this.z;
    for (let i = 0; i < total; i++) {
      let u = x[i] * inv;
      z[i] = u;
      let o = 0;
      for (let k = 0; k < K; k++) {
        const len = this.lens[k];
        // odd polynomial Σ a_j u^{2j+1} by Horner in u²
        const u2 = u * u;
        let acc = this.p[o + len - 1];
        for (let j = len - 2; j >= 0; j--) acc = acc * u2 + this.p[o + j];
        u = acc * u;
        z[(k + 1) * total + i] = u;
        o += len;
      }
      y[i] = 0.5 * (x[i] + x[i] * u);
    }
    return y;
  }

  backward(dy: Arr, n: number, need: boolean[]): (Arr | null)[] {
    const x = this.x!;
    const total = n * sizeOf(this.outShape);
    this.dx = ensure(this.dx, total, dy);
    const dx = this.dx.length === total ? this.dx : this.dx.subarray(0, total);
    const K = this.lens.length;
    const z = this.z;
    const inv = 1 / this.lastScale;
    const offs: number[] = [];
    let acc0 = 0;
    for (const l of this.lens) {
      offs.push(acc0);
      acc0 += l;
    }
    for (let i = 0; i < total; i++) {
      const xi = x[i];
      const s = z[K * total + i];
      // back through the components: chain = ∂s/∂z_k
      let chain = 0.5 * xi * dy[i];
      for (let k = K - 1; k >= 0; k--) {
        const u = z[k * total + i];
        const u2 = u * u;
        const len = this.lens[k];
        const o = offs[k];
        let pw = u;
        let deriv = 0;
        let u2k = 1;
        for (let j = 0; j < len; j++) {
          this.g[o + j] += chain * pw;
          deriv += (2 * j + 1) * this.p[o + j] * u2k;
          pw *= u2;
          u2k *= u2;
        }
        chain *= deriv;
      }
      dx[i] = dy[i] * 0.5 * (1 + s) + chain * inv;
    }
    return [need[0] ? dx : null];
  }
}
