/**
 * @module nn/cost-model
 * Predicted run time of a compiled graph in a layout: an operation count per node (what the batch
 * runner, `batch.ts`, and the channel runner, `channel.ts`, execute) times per-operation times
 * measured at the run's own parameters, each scaled by the limbs at the node's level (the engine's
 * operations are linear in the limb count, except key switching, which also pays the special
 * limbs: counted at its full top-level cost). Used to choose a layout (`layout-choice.ts`) and for
 * the CLI's estimate and ETA. Time units are seconds.
 *
 * Counting rules (per run):
 *  - batch: one ciphertext per tensor element (all images in the slots). A Conv/Dense output is a
 *    linear combination of its in-bounds inputs (`term` each) then a rescale; pools and per-channel
 *    affine nodes likewise; a Poly costs its ct×ct products (`polyCost`) plus one `term` per
 *    coefficient, per element; Add/AddConstant one `add` per element.
 *  - channel: one ciphertext per channel (vectors: per element). A Conv/AveragePool rotates each
 *    input channel by its kernel offsets (hoisted `rotation`s), then one `term` per weight and a
 *    rescale per output channel; a Dense on a spatial value multiplies by an encoded weight vector
 *    per (output, channel) (`plainMul`), rescales, and sums slots with ⌈log2(span)⌉ rotations.
 */
import {
  type Ciphertext, CkksContext, Encoder, Encryptor, Evaluator, KeyGenerator, Parameters, type ParametersLiteral,
} from '../ckks/index.js';
import { linearCombination } from './lincomb.js';
import { type Layout, maskedPolys, planLevels, polyCost } from './compile.js';
import { type IrGraph, type IrNode, sizeOf } from './graph.js';

/** The operation kinds of the model. */
export type OpKind = 'term' | 'add' | 'rescale' | 'mulRelinRescale' | 'rotation' | 'plainMul';

/** Seconds per operation at the top level of a parameter set. */
export type OpTimes = Record<OpKind, number>;

/** Operation counts, each weighted by the limb fraction of its level (so `Σ count·time` is seconds). */
export type OpCounts = Record<OpKind, number>;

const zero = (): OpCounts => ({ term: 0, add: 0, rescale: 0, mulRelinRescale: 0, rotation: 0, plainMul: 0 });

/** A node's predicted share of a run. */
export interface NodeCost {
  node: string;
  op: string;
  counts: OpCounts;
  seconds: number;
}

/** A layout's predicted run. */
export interface RunPrediction {
  layout: Layout;
  /** Seconds of one run (one image in the channel layout, up to `slots` images in the batch layout). */
  seconds: number;
  nodes: NodeCost[];
}

/** In-bounds kernel taps over all output positions of a 2-D window op (padding taps cost nothing). */
function tapsInBounds(inH: number, inW: number, outH: number, outW: number, kh: number, kw: number, strides: readonly number[], pads: readonly number[]): number {
  let taps = 0;
  for (let oy = 0; oy < outH; oy++) {
    for (let ox = 0; ox < outW; ox++) {
      for (let ky = 0; ky < kh; ky++) {
        const y = oy * strides[0] + ky - pads[0];
        if (y < 0 || y >= inH) continue;
        for (let kx = 0; kx < kw; kx++) {
          const x = ox * strides[1] + kx - pads[1];
          if (x >= 0 && x < inW) taps++;
        }
      }
    }
  }
  return taps;
}

/** Operation counts of one node (unweighted by level). */
export function nodeOpCounts(n: IrNode, inShape: readonly number[], layout: Layout, masked: boolean, span: number): OpCounts {
  const c = zero();
  const E = sizeOf(n.outShape);
  const spatial = n.outShape.length === 3;
  const cts = layout === 'batch' ? E : spatial ? n.outShape[0] : E;
  switch (n.op) {
    case 'Conv': {
      const [co, ciG, kh, kw] = n.weight.shape;
      const ci = inShape[0];
      if (layout === 'batch') {
        c.term = co * ciG * tapsInBounds(inShape[1], inShape[2], n.outShape[1], n.outShape[2], kh, kw, n.strides, n.pads);
        c.rescale = E;
      } else {
        c.rotation = ci * (kh * kw - 1);
        c.term = co * ci * kh * kw;
        c.rescale = co;
      }
      break;
    }
    case 'AveragePool': {
      const [kh, kw] = n.kernel;
      if (layout === 'batch') {
        c.term = n.outShape[0] * tapsInBounds(inShape[1], inShape[2], n.outShape[1], n.outShape[2], kh, kw, n.strides, n.pads);
        if (!n.sum) c.rescale = E;
      } else {
        c.rotation = n.outShape[0] * (kh * kw - 1);
        c.add = n.outShape[0] * (kh * kw - 1);
      }
      break;
    }
    case 'GlobalAveragePool':
      if (layout === 'batch') {
        c.term = sizeOf(inShape);
        if (!n.sum) c.rescale = E;
      } else {
        c.rotation = inShape[0] * Math.ceil(Math.log2(span));
        c.add = c.rotation;
      }
      break;
    case 'Dense': {
      const [O, I] = n.weight.shape;
      if (layout === 'channel' && inShape.length === 3) {
        const C = inShape[0];
        c.plainMul = O * C;
        c.add = O * C + O * Math.ceil(Math.log2(span));
        c.rotation = O * Math.ceil(Math.log2(span));
      } else c.term = O * I;
      c.rescale = O;
      break;
    }
    case 'BatchNormalization':
    case 'MulConstant':
      c.term = cts;
      c.rescale = cts;
      break;
    case 'AddConstant':
    case 'Add':
      c.add = cts;
      break;
    case 'Poly': {
      const pc = polyCost(n, masked);
      c.mulRelinRescale = pc.ctMults * cts;
      c.term = n.coeffs.length * cts;
      if (masked) c.plainMul = cts;
      break;
    }
    default:
      break;
  }
  return c;
}

/**
 * Predicts one run of `g` in `layout` at parameters `P` from per-operation times measured at `P`
 * (`measureOpTimes`). Each node's counts are weighted by limbs(level)/limbs(top) at its input level;
 * rotations are counted at full cost (key switching also works over the special limbs).
 */
export function predictRun(g: IrGraph, P: Parameters, layout: Layout, times: OpTimes): RunPrediction {
  const plan = planLevels(g, layout);
  const masked = layout === 'channel' ? maskedPolys(g) : new Set<string>();
  const shapes = new Map<string, readonly number[]>([[g.input.name, g.input.shape]]);
  const span = g.input.shape.length === 3 ? g.input.shape[1] * g.input.shape[2] : 1;
  const top = P.limbsAt(P.levels);
  const nodes: NodeCost[] = [];
  let seconds = 0;
  for (const n of g.nodes) {
    const inShape = shapes.get(n.inputs[0]) ?? n.outShape;
    shapes.set(n.output, n.outShape);
    const raw = nodeOpCounts(n, inShape, layout, masked.has(n.name), span);
    const level = Math.max(0, P.levels - Math.max(...n.inputs.map((v) => plan.depthAt.get(v) ?? 0)));
    const f = P.limbsAt(level) / top;
    const counts = zero();
    let s = 0;
    for (const k of Object.keys(counts) as OpKind[]) {
      counts[k] = raw[k] * (k === 'rotation' ? 1 : f);
      s += counts[k] * times[k];
    }
    nodes.push({ node: n.name, op: n.op, counts, seconds: s });
    seconds += s;
  }
  return { layout, seconds, nodes };
}

/**
 * Seconds of `f`: the first quartile of at least `minRuns` runs within about `budget` seconds (a
 * low quantile rather than the median: other work on the machine only adds time, and a pause
 * in a few samples must not move the prediction).
 */
function timeOp(f: () => unknown, minRuns: number, budget: number): number {
  f(); // warm-up (JIT, scratch allocation)
  const samples: number[] = [];
  const end = performance.now() + budget * 1000;
  while (samples.length < minRuns || (performance.now() < end && samples.length < 50)) {
    const t = performance.now();
    f();
    samples.push((performance.now() - t) / 1000);
  }
  samples.sort((a, b) => a - b);
  return samples[(samples.length - 1) >> 2];
}

/**
 * Measures each operation of the model once at the top level of `params` (keys: relinearization
 * and one rotation). About 0.1 s at N = 2^12 and 1–2 s at N = 2^14 on one core (key generation
 * included). `budget`: seconds per operation (default 0.1).
 */
export function measureOpTimes(params: Parameters | ParametersLiteral, budget = 0.1): OpTimes {
  const ctx = new CkksContext(params);
  const P = ctx.params;
  const enc = new Encoder(ctx);
  const kg = new KeyGenerator(ctx);
  const sk = kg.genSecretKey();
  const ev = new Evaluator(ctx, { relin: kg.genRelinKey(sk), galois: kg.genGaloisKeys(sk, [1]) });
  const e = new Encryptor(ctx, kg.genPublicKey(sk));
  const v = Float64Array.from({ length: P.slots }, (_, i) => Math.sin(i) / 2);
  const a: Ciphertext = e.encrypt(enc.encode(v));
  const b: Ciphertext = e.encrypt(enc.encode(v));
  const L = P.levels;
  const S = P.scales[L];
  // distinct ciphertexts spanning about 32 MiB, as a layer's inputs do: a layer streams its
  // inputs from memory, and a few ciphertexts reused would stay in cache and time 2–3× too fast
  const K = Math.max(16, Math.min(256, Math.round(2 ** 25 / (2 * P.limbsAt(P.levels) * P.N * 4))));
  const cts: Ciphertext[] = [a];
  for (let i = 1; i < K; i++) cts.push(ev.add(cts[i - 1], b));
  const ws = Array.from({ length: K }, (_, i) => (i + 1) / K);
  const t: OpTimes = {
    term: timeOp(() => linearCombination(ctx, cts, ws, S), 5, budget) / K,
    add: timeOp(() => ev.add(a, b), 5, budget),
    rescale: L > 0 ? timeOp(() => ev.rescale(ev.mulConst(a, 0.5)), 5, budget) - timeOp(() => ev.mulConst(a, 0.5), 5, budget) : 0,
    mulRelinRescale: L > 0 ? timeOp(() => ev.mulRelinRescale(a, b), 4, budget) : 0,
    rotation: timeOp(() => ev.rotate(a, 1), 4, budget),
    plainMul: timeOp(() => ev.mulPlain(a, enc.encode(v, { level: L, scale: S })), 4, budget),
  };
  // a difference of medians can come out slightly negative for cheap operations
  t.rescale = Math.max(t.rescale, t.add);
  return t;
}
