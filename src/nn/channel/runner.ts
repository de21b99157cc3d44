/**
 * @module nn/channel/runner
 * The channel layout (PAPER, Chielle et al. arXiv 2509.22857, digest §2.7): one ciphertext per
 * channel holding its H×W map, for single-image latency.
 *
 * Slot layout: pixel (y, x) of a map sits at slot off + y·rs + x·cs, everything else is zero. The
 * input is placed with zero margins wide enough for every convolution's padding, so
 *  - a convolution is Σ_{ci,ky,kx} w·rot(x_ci, (ky−p)·rs + (kx−p)·cs): hoisted rotations per input
 *    channel and scalar multiply-adds, one level; zero margins provide the padding;
 *  - a stride s needs no repacking: output (y, x) stays at the slot of input (s·y, s·x), so the
 *    layout becomes (off, s·rs, s·cs);
 *  - a sum pool is the same with unit weights (no level);
 *  - a convolution leaves partial sums in unused slots; the polynomial that follows zeroes them by
 *    using per-slot coefficients that vanish there (no extra level), restoring the zero margins;
 *  - a dense layer multiplies each channel by a plaintext of its weights (zero in unused slots)
 *    and sums all slots by rotate-and-sum; its outputs are one ciphertext per element, value in
 *    slot 0 ("vector" tensors), and later dense layers on vectors are scalar multiply-adds.
 * The rotation steps are known before running (`planChannel`), so exactly those Galois keys are
 * generated.
 */
import { VeilError } from '../../errors.js';
import { type Ciphertext, type CkksContext, type Decryptor, type Encoder, type Encryptor, type Evaluator, LevelError } from '../../ckks/index.js';
import { type Coef, CkksPolyBackend, evalChebyshev, evalQuadratic } from '../../approx/index.js';
import { coefficientsPerElement } from '../polynomial.js';
import { GraphError, type IrGraph, type IrNode, type PolyNode, type Tensor, sizeOf } from '../graph.js';
import { linearCombination } from '../lincomb.js';
import { type LevelPlan, planLevels } from '../compile/compile.js';
import { type NodeTiming, type Progress, executeGraph } from '../batch/runner.js';

/** Where a map's pixels sit in the slots. */
export interface SlotLayout {
  off: number;
  rs: number;
  cs: number;
  H: number;
  W: number;
}

/** Unsupported network structure for the channel layout. */
export class ChannelLayoutError extends VeilError {
  static override readonly code: string = 'CHANNEL_LAYOUT';
}

/** Static plan of a channel-layout run: layouts, rotation steps, slot span. */
export interface ChannelPlan {
  input: SlotLayout;
  /** Layout of every spatial value (by value name). */
  layouts: Map<string, SlotLayout>;
  /** Values that are vectors (one ciphertext per element, slot 0). */
  vectors: Set<string>;
  /** Every rotation step the run uses (the Galois keys to generate). */
  rotations: number[];
  /** Slots the layout needs. */
  span: number;
  levels: LevelPlan;
}

const slotOf = (l: SlotLayout, y: number, x: number) => l.off + y * l.rs + x * l.cs;

/** Rotate-and-sum steps covering `span` slots: 1, 2, 4, … < span. */
function sumSteps(span: number): number[] {
  const out: number[] = [];
  for (let s = 1; s < span; s <<= 1) out.push(s);
  return out;
}

/** Last slot a layout's pixels occupy, plus one. */
const layoutEnd = (l: SlotLayout) => slotOf(l, l.H - 1, l.W - 1) + 1;

/** Plans the channel layout of a compiled graph for `slots` slots. */
export function planChannel(g: IrGraph, slots: number): ChannelPlan {
  if (g.input.shape.length !== 3) throw new ChannelLayoutError(`the channel layout needs a [C,H,W] input, got [${g.input.shape}]`, 'use the batch layout for vector inputs');
  // padding margin in input pixels: max over convs of pad × accumulated stride
  const strideOf = new Map<string, number>([[g.input.name, 1]]);
  let margin = 0;
  for (const n of g.nodes) {
    const s = Math.max(...n.inputs.map((v) => strideOf.get(v) ?? 1));
    if (n.op === 'Conv' || n.op === 'AveragePool') {
      margin = Math.max(margin, Math.max(...n.pads) * s);
      strideOf.set(n.output, s * Math.max(...n.strides));
    } else strideOf.set(n.output, s);
  }
  const [, H, W] = g.input.shape;
  const rs = W + 2 * margin;
  const input: SlotLayout = { off: margin * rs + margin, rs, cs: 1, H, W };
  const span = (H + 2 * margin) * rs;
  if (span > slots) throw new ChannelLayoutError(`a ${H}×${W} map with margin ${margin} needs ${span} slots, the ring has ${slots}`, 'use a larger ring degree (logN) or the batch layout');
  const layouts = new Map<string, SlotLayout>([[g.input.name, input]]);
  const vectors = new Set<string>();
  const rot = new Set<number>();
  const flattenedFrom = new Map<string, string>();
  for (const n of g.nodes) {
    const v = n.inputs[0];
    const L = layouts.get(v);
    const isVec = vectors.has(v);
    switch (n.op) {
      case 'Conv':
      case 'AveragePool': {
        if (!L) throw new ChannelLayoutError(`${n.op} '${n.name}' on a non-spatial value`, 'reorder the model so convolutions come before dense layers');
        const [kh, kw] = n.op === 'Conv' ? [n.weight.shape[2], n.weight.shape[3]] : n.kernel;
        const [pt, pl] = n.pads;
        for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) {
          const d = (ky - pt) * L.rs + (kx - pl) * L.cs;
          if (d !== 0) rot.add(d);
        }
        if (n.op === 'AveragePool' && !n.sum) throw new ChannelLayoutError(`average pool '${n.name}' keeps a position-dependent divisor`, 'export with count_include_pad=True or without pool padding');
        const [sh, sw] = n.strides;
        const [, oh, ow] = n.outShape;
        layouts.set(n.output, { off: L.off, rs: L.rs * sh, cs: L.cs * sw, H: oh, W: ow });
        break;
      }
      case 'GlobalAveragePool':
        if (!L) throw new ChannelLayoutError(`GlobalAveragePool '${n.name}' on a non-spatial value`, 'apply it to a [C,H,W] value');
        if (!n.sum) throw new ChannelLayoutError(`GlobalAveragePool '${n.name}' divisor was not folded`, 'follow it by a Dense layer');
        sumSteps(layoutEnd(L)).forEach((s) => rot.add(s));
        vectors.add(n.output);
        break;
      case 'Flatten':
      case 'Reshape':
        if (L) {
          layouts.set(n.output, L);
          flattenedFrom.set(n.output, flattenedFrom.get(v) ?? v);
        } else vectors.add(n.output);
        break;
      case 'Dense':
        if (L) sumSteps(layoutEnd(L)).forEach((s) => rot.add(s));
        vectors.add(n.output);
        break;
      default:
        if (L) layouts.set(n.output, L);
        if (isVec) vectors.add(n.output);
    }
  }
  const levels = planLevels(g, 'channel');
  const steps = [...rot].map((d) => ((d % slots) + slots) % slots).filter((d) => d !== 0);
  return { input, layouts, vectors, rotations: [...new Set(steps)].sort((a, b) => a - b), span, levels };
}

/** A tensor in the channel layout. */
export interface ChannelTensor {
  shape: number[];
  /** Spatial: one ciphertext per channel; vector: one per element (value in slot 0). */
  cts: Ciphertext[];
  layout?: SlotLayout;
  /** Channels of the spatial tensor a flattened value came from. */
  channels?: number;
}

/**
 * Client side: places one image [C,H,W] in the layout and encrypts one ciphertext per channel, at
 * the top level (or `level`: the top user level of a bootstrapping set).
 */
export function encryptChannels(ctx: CkksContext, enc: Encoder, encr: Encryptor, L: SlotLayout, image: Tensor, level = ctx.params.levels): ChannelTensor {
  const shape = image.shape.length === 4 ? image.shape.slice(1) : image.shape;
  const [C, H, W] = shape;
  const P = ctx.params;
  const cts: Ciphertext[] = [];
  for (let c = 0; c < C; c++) {
    const v = new Float64Array(P.slots);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) v[slotOf(L, y, x)] = image.data[(c * H + y) * W + x];
    cts.push(encr.encrypt(enc.encode(v, { level, scale: P.scales[level] })));
  }
  return { shape: [C, H, W], cts, layout: L };
}

/** Client side: decrypts a channel-layout output (vector: slot 0 of each; spatial: the layout's pixels). */
export function decryptChannels(enc: Encoder, dec: Decryptor, t: ChannelTensor): Tensor {
  if (!t.layout) {
    const data = Float64Array.from(t.cts.map((ct) => enc.decode(dec.decrypt(ct))[0]));
    return { shape: [1, ...t.shape], data };
  }
  const L = t.layout;
  const [C, H, W] = t.shape.length === 3 ? t.shape : [t.cts.length, L.H, L.W];
  const data = new Float64Array(C * H * W);
  t.cts.forEach((ct, c) => {
    const v = enc.decode(dec.decrypt(ct));
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) data[(c * H + y) * W + x] = v[slotOf(L, y, x)];
  });
  return { shape: [1, ...t.shape], data };
}

/** A hook run right after each node (bootstrapping: `bootstrap-runner.ts`). */
export interface ChannelRefresh {
  after(node: IrNode, out: ChannelTensor): ChannelTensor;
}

/** Server side: runs a compiled graph on one encrypted image in the channel layout. */
export class ChannelRunner {
  readonly timings: NodeTiming[] = [];
  readonly plan: ChannelPlan;

  /** @throws LevelError when the network is deeper than the chain and no `refresh` hook is given. */
  constructor(readonly graph: IrGraph, readonly ev: Evaluator, readonly enc: Encoder, readonly onProgress?: Progress, private readonly refresh?: ChannelRefresh) {
    const P = ev.ctx.params;
    this.plan = planChannel(graph, P.slots);
    if (!refresh && this.plan.levels.depth > P.levels) throw new LevelError(this.plan.levels.depth, P.levels, `the network (depth ${this.plan.levels.depth} in the channel layout)`);
  }

  get ctx(): CkksContext {
    return this.ev.ctx;
  }

  /** A polynomial backend on the ladder of P.scales from `level` down (values sit on P.scales[level]). */
  private backend(level: number): CkksPolyBackend {
    const P = this.ctx.params;
    return new CkksPolyBackend(this.ev, this.enc, { level, scale: P.scales[level] });
  }

  run(input: ChannelTensor): ChannelTensor {
    const step = this.refresh ? (n: IrNode, ins: ChannelTensor[]) => this.refresh!.after(n, this.node(n, ins)) : (n: IrNode, ins: ChannelTensor[]) => this.node(n, ins);
    return executeGraph(this.graph, input, step, (t) => ({ level: t.cts[0]?.level ?? -1, outputs: t.cts.length }), this.timings, this.onProgress);
  }

  private node(n: IrNode, ins: ChannelTensor[]): ChannelTensor {
    const x = ins[0];
    switch (n.op) {
      case 'Conv':
        return this.convLike(n, x, n.weight.shape[0], n.weight.shape[1], n.weight.shape[2], n.weight.shape[3], (o, c, k) => n.weight.data[(o * n.weight.shape[1] + c) * n.weight.shape[2] * n.weight.shape[3] + k], (o) => n.bias?.data[o] ?? 0, n.pads, n.strides, n.outShape);
      case 'AveragePool':
        return this.sumPool(n, x);
      case 'GlobalAveragePool':
        return { shape: [...n.outShape], cts: x.cts.map((ct) => this.rotateSum(ct, layoutEnd(x.layout!))) };
      case 'Flatten':
      case 'Reshape':
        return x.layout ? { shape: [...n.outShape], cts: x.cts, layout: x.layout, channels: x.channels ?? x.shape[0] } : { shape: [...n.outShape], cts: x.cts };
      case 'Dense':
        return x.layout ? this.denseSpatial(n, x) : this.denseVector(n, x);
      case 'Poly':
        return this.poly(n, x);
      case 'Add': {
        const y = ins[1];
        const b = this.backend(Math.max(x.cts[0].level, y.cts[0].level));
        return { ...x, cts: x.cts.map((a, i) => b.add(a, y.cts[i])) };
      }
      case 'BatchNormalization':
      case 'MulConstant':
      case 'AddConstant':
        return this.perChannel(n, x);
      default:
        throw new ChannelLayoutError(`node '${n.name}' (${n.op}) is not supported in the channel layout`, 'compile the graph first, or use the batch layout');
    }
  }

  /** Σ_{c,k} w(o,c,k)·rot(x_c, δ_k) + b(o), one rescale; output layout strided. */
  private convLike(
    n: IrNode, x: ChannelTensor, co: number, ci: number, kh: number, kw: number,
    weight: (o: number, c: number, k: number) => number, bias: (o: number) => number,
    pads: readonly number[], strides: readonly number[], outShape: number[],
  ): ChannelTensor {
    const L = x.layout!;
    const level = x.cts[0].level;
    if (level === 0) throw new LevelError(1, 0, `convolution '${n.name}'`);
    const slots = this.ctx.params.slots;
    const deltas: number[] = [];
    for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) deltas.push(((((ky - pads[0]) * L.rs + (kx - pads[1]) * L.cs) % slots) + slots) % slots);
    const rotated: Ciphertext[][] = x.cts.map((ct) => this.ev.rotateHoisted(ct, deltas));
    const S = this.ctx.params.scales[level];
    const cts: Ciphertext[] = [];
    for (let o = 0; o < co; o++) {
      const terms: Ciphertext[] = [];
      const ws: number[] = [];
      for (let c = 0; c < ci; c++) for (let k = 0; k < kh * kw; k++) {
        const w = weight(o, c, k);
        if (w === 0) continue;
        terms.push(rotated[c][k]);
        ws.push(w);
      }
      const ct = linearCombination(this.ctx, terms.length ? terms : [rotated[0][0]], terms.length ? ws : [0], S, bias(o));
      this.ev.rescaleInPlace(ct);
      ct.scale = this.ctx.params.scales[level - 1];
      cts.push(ct);
    }
    const [sh, sw] = strides;
    return { shape: [...outShape], cts, layout: { off: L.off, rs: L.rs * sh, cs: L.cs * sw, H: outShape[1], W: outShape[2] } };
  }

  private sumPool(n: Extract<IrNode, { op: 'AveragePool' }>, x: ChannelTensor): ChannelTensor {
    const L = x.layout!;
    const [kh, kw] = n.kernel;
    const slots = this.ctx.params.slots;
    const deltas: number[] = [];
    for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) deltas.push(((((ky - n.pads[0]) * L.rs + (kx - n.pads[1]) * L.cs) % slots) + slots) % slots);
    const cts = x.cts.map((ct) => {
      const r = this.ev.rotateHoisted(ct, deltas);
      let acc = r[0];
      for (let i = 1; i < r.length; i++) acc = this.ev.add(acc, r[i]);
      return acc;
    });
    const [sh, sw] = n.strides;
    return { shape: [...n.outShape], cts, layout: { off: L.off, rs: L.rs * sh, cs: L.cs * sw, H: n.outShape[1], W: n.outShape[2] } };
  }

  /** Slot 0 ← Σ of slots [0, span) (rotate-and-sum). */
  private rotateSum(ct: Ciphertext, span: number): Ciphertext {
    let acc = ct;
    for (const s of sumSteps(span)) acc = this.ev.add(acc, this.ev.rotate(acc, s));
    return acc;
  }

  /** Dense on a spatial (possibly flattened) input: per output, Σ_c pt(W_o,c) ⊙ x_c, rotate-and-sum. */
  private denseSpatial(n: Extract<IrNode, { op: 'Dense' }>, x: ChannelTensor): ChannelTensor {
    const L = x.layout!;
    const C = x.channels ?? x.shape[0];
    const [O, I] = n.weight.shape;
    const per = I / C;
    if (per !== L.H * L.W) throw new ChannelLayoutError(`dense '${n.name}' expects ${I} inputs, the spatial value has ${C}×${L.H}×${L.W}`, 'check the Flatten/Reshape before it');
    const level = x.cts[0].level;
    if (level === 0) throw new LevelError(1, 0, `dense layer '${n.name}'`);
    const P = this.ctx.params;
    const S = P.scales[level];
    const end = layoutEnd(L);
    const cts: Ciphertext[] = [];
    for (let o = 0; o < O; o++) {
      let acc: Ciphertext | null = null;
      for (let c = 0; c < C; c++) {
        const v = new Float64Array(P.slots);
        let any = false;
        for (let y = 0; y < L.H; y++) for (let xx = 0; xx < L.W; xx++) {
          const w = n.weight.data[o * I + c * per + y * L.W + xx];
          if (w !== 0) any = true;
          v[slotOf(L, y, xx)] = w;
        }
        if (!any) continue;
        const t = this.ev.mulPlain(x.cts[c], this.enc.encode(v, { level, scale: S }));
        acc = acc ? this.ev.addInPlace(acc, t) : t;
      }
      if (!acc) {
        acc = this.ev.mulInt(x.cts[0], 0);
        acc.scale = x.cts[0].scale * S;
      }
      this.ev.rescaleInPlace(acc);
      acc.scale = P.scales[level - 1];
      acc = this.rotateSum(acc, end);
      if (n.bias && n.bias.data[o] !== 0) this.ev.addConst(acc, n.bias.data[o], acc);
      cts.push(acc);
    }
    return { shape: [...n.outShape], cts };
  }

  /** Dense on a vector (one ciphertext per element, slot 0): scalar multiply-adds. */
  private denseVector(n: Extract<IrNode, { op: 'Dense' }>, x: ChannelTensor): ChannelTensor {
    const [O, I] = n.weight.shape;
    const level = x.cts[0].level;
    if (level === 0) throw new LevelError(1, 0, `dense layer '${n.name}'`);
    const P = this.ctx.params;
    const S = P.scales[level];
    const cts: Ciphertext[] = [];
    for (let o = 0; o < O; o++) {
      const ws = Array.from(n.weight.data.subarray(o * I, (o + 1) * I));
      const ct = linearCombination(this.ctx, x.cts, ws, S, n.bias?.data[o] ?? 0);
      this.ev.rescaleInPlace(ct);
      ct.scale = P.scales[level - 1];
      cts.push(ct);
    }
    return { shape: [...n.outShape], cts };
  }

  private perChannel(n: Extract<IrNode, { op: 'BatchNormalization' | 'MulConstant' | 'AddConstant' }>, x: ChannelTensor): ChannelTensor {
    const C = x.cts.length;
    const P = this.ctx.params;
    const level = x.cts[0].level;
    const scaleOf = (c: number): [number, number] => {
      if (n.op === 'BatchNormalization') {
        const g = n.scale[c] / Math.sqrt(n.variance[c] + n.epsilon);
        return [g, n.bias[c] - n.mean[c] * g];
      }
      if (n.constant.data.length !== 1 && n.constant.data.length !== C) throw new ChannelLayoutError(`${n.op} '${n.name}' constant is not per channel`, 'use the batch layout');
      const v = n.constant.data[n.constant.data.length === 1 ? 0 : c];
      return n.op === 'MulConstant' ? [v, 0] : [1, v];
    };
    if (n.op === 'AddConstant') return { ...x, cts: x.cts.map((ct, c) => this.ev.addConst(ct, scaleOf(c)[1])) };
    if (level === 0) throw new LevelError(1, 0, `${n.op} '${n.name}'`);
    return {
      ...x,
      cts: x.cts.map((ct, c) => {
        const [a, b] = scaleOf(c);
        const r = linearCombination(this.ctx, [ct], [a], P.scales[level], b);
        this.ev.rescaleInPlace(r);
        r.scale = P.scales[level - 1];
        return r;
      }),
    };
  }

  private poly(n: PolyNode, x: ChannelTensor): ChannelTensor {
    const masked = this.plan.levels.masked.has(n.name);
    const P = this.ctx.params;
    let mask: Float64Array | null = null;
    if (masked && x.layout) {
      mask = new Float64Array(P.slots);
      const L = x.layout;
      for (let y = 0; y < L.H; y++) for (let xx = 0; xx < L.W; xx++) mask[slotOf(L, y, xx)] = 1;
    }
    const coef = (c: number) => (mask ? mask.map((m) => m * c) : c);
    if (n.basis === 'power' && n.coeffs.length !== 3) throw new GraphError(`power-basis polynomial of degree ${n.coeffs.length - 1}`, n.name, 'use the power basis for quadratics only (the compiler does)');
    const perElement = n.coeffTensor ? coefficientsPerElement(n.coeffTensor, n.outShape) : null;
    const cts = x.cts.map((ct, ch) => {
      const b = this.backend(ct.level);
      let t = ct;
      const c = x.layout ? ch : ch; // vectors: one element per ciphertext = its own channel
      if (!n.mapFolded) t = b.linear([t], [n.mapScale[c]], n.mapShift[c]);
      const cs: Coef[] = perElement ? perElement.map((v) => this.channelCoef(v, c, x, mask)) : Array.from(n.coeffs, (v) => coef(v));
      if (n.basis === 'power') return evalQuadratic(b, t, cs[2], cs[1], cs[0]);
      return evalChebyshev(b, t, cs);
    });
    return { ...x, cts };
  }

  /**
   * Coefficient of ciphertext `c` from per-element values `v` (row-major over the value): a scalar
   * when it is the same over the channel's map and no mask is needed (so x² stays a one-level
   * product when it is 1), else one value per slot, zero outside the map.
   */
  private channelCoef(v: Float64Array, c: number, x: ChannelTensor, mask: Float64Array | null): Coef {
    const L = x.layout;
    if (!L) return v[c];
    const plane = L.H * L.W;
    const first = v[c * plane];
    let uniform = true;
    for (let i = 1; i < plane && uniform; i++) uniform = v[c * plane + i] === first;
    if (uniform && !mask) return first;
    if (uniform) return mask!.map((m) => m * first);
    const out = new Float64Array(this.ctx.params.slots);
    for (let y = 0; y < L.H; y++) for (let xx = 0; xx < L.W; xx++) out[slotOf(L, y, xx)] = v[c * plane + y * L.W + xx];
    return out;
  }
}

/** Number of ciphertexts a value has in the channel layout. */
export function channelCount(shape: readonly number[]): number {
  return shape.length === 3 ? shape[0] : sizeOf(shape);
}
