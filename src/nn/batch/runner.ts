/**
 * @module nn/batch/runner
 * The batch layout (BEAA, Zhang et al. arXiv 2403.10920; CryptoNets, ICML 2016): one ciphertext per
 * tensor element, slot b holding image b. Linear layers are scalar multiply-adds of whole
 * ciphertexts (no rotations, no Galois keys), activations run on every element ciphertext, and
 * N/2 images are processed at the cost of one.
 *
 * Scales follow the level ladder t_ℓ of the parameters (`params.scales`): a tensor at level ℓ has
 * scale t_ℓ, weights are encoded at t_ℓ, so each linear layer lands exactly on t_{ℓ−1} after its
 * rescale, and every addition (residuals, biases) adds equal scales. Memory is the limit: layers
 * are computed one at a time and a tensor is dropped after its last use.
 */
import { InvalidArgumentError } from '../../errors.js';
import {
  Ciphertext, type CiphertextDescriptor, type CkksContext, type Decryptor, type Encoder, type Encryptor, type Evaluator, LevelError,
  type WorkerPool,
} from '../../ckks/index.js';
import { CkksPolyBackend, evalChebyshev, evalQuadratic } from '../../approx/index.js';
import type { IrGraph, IrNode, PolyNode, Tensor } from '../graph.js';
import { GraphError, sizeOf } from '../graph.js';
import { InputShapeError } from '../io.js';
import { encodeWeights, linearCombination, linearCombinations } from '../lincomb.js';
import { broadcastConstant } from '../reference.js';
import { coefficientsPerElement } from '../polynomial.js';
import { planLevels } from '../compile/compile.js';

/** A tensor of ciphertexts: element e (row-major over `shape`) is `cts[e]`. */
export interface EncryptedTensor {
  shape: number[];
  cts: (Ciphertext | null)[];
  /** Images held in the slots. */
  count: number;
}

/** Progress callback: node name, index, total, seconds so far. */
export type Progress = (info: { node: string; op: string; index: number; total: number; seconds: number }) => void;

/** Per-node timing of a run. */
export interface NodeTiming {
  node: string;
  op: string;
  seconds: number;
  level: number;
  outputs: number;
}

/** Task name of the worker side (`tasks.ts`). */
export const BATCH_OUTPUTS_TASK = 'veil.nn.batch.outputs';

/** Payload of {@link BATCH_OUTPUTS_TASK}: output elements [start, end) of one node. */
export interface BatchOutputsTask {
  node: IrNode;
  inShapes: number[][];
  inputs: (CiphertextDescriptor | null)[][];
  count: number;
  start: number;
  end: number;
}

const describeTensor = (t: EncryptedTensor) => ({ level: t.cts.find((c) => c)?.level ?? -1, outputs: t.cts.length });

/**
 * Runs `exec` over the graph's nodes in order, dropping every value after its last use (so peak
 * memory is the largest set of live tensors), and records per-node timings and progress.
 */
export function executeGraph<T>(
  g: IrGraph, input: T, exec: (n: IrNode, ins: T[]) => T, describe: (t: T) => { level: number; outputs: number },
  timings: NodeTiming[], onProgress?: Progress,
): T {
  const walk = walkGraph(g, input, describe, timings, onProgress);
  for (let step = walk.next(); ; ) {
    if (step.done) return step.value;
    step = walk.next(exec(step.value.node, step.value.ins));
  }
}

/** {@link executeGraph} with an asynchronous node function. */
export async function executeGraphAsync<T>(
  g: IrGraph, input: T, exec: (n: IrNode, ins: T[]) => Promise<T>, describe: (t: T) => { level: number; outputs: number },
  timings: NodeTiming[], onProgress?: Progress,
): Promise<T> {
  const walk = walkGraph(g, input, describe, timings, onProgress);
  for (let step = walk.next(); ; ) {
    if (step.done) return step.value;
    step = walk.next(await exec(step.value.node, step.value.ins));
  }
}

/**
 * The bookkeeping of both executors: yields each node with its inputs, receives its output, frees
 * values after their last use and records timings; returns the graph's output.
 */
function* walkGraph<T>(
  g: IrGraph, input: T, describe: (t: T) => { level: number; outputs: number }, timings: NodeTiming[], onProgress?: Progress,
): Generator<{ node: IrNode; ins: T[] }, T, T> {
  const values = new Map<string, T>([[g.input.name, input]]);
  const lastUse = new Map<string, number>();
  g.nodes.forEach((n, i) => n.inputs.forEach((v) => lastUse.set(v, i)));
  const t0 = performance.now();
  for (const [i, node] of g.nodes.entries()) {
    const s = performance.now();
    const out: T = yield { node, ins: node.inputs.map((v) => values.get(v)!) };
    values.set(node.output, out);
    for (const v of node.inputs) if (lastUse.get(v) === i && v !== g.output.name) values.delete(v);
    timings.push({ node: node.name, op: node.op, seconds: (performance.now() - s) / 1000, ...describe(out) });
    onProgress?.({ node: node.name, op: node.op, index: i + 1, total: g.nodes.length, seconds: (performance.now() - t0) / 1000 });
  }
  return values.get(g.output.name)!;
}

/** Client side: encrypts a batch [n, ...shape] (n ≤ slots) as one ciphertext per element. */
export function encryptBatch(ctx: CkksContext, enc: Encoder, encr: Encryptor, input: Tensor, onProgress?: (done: number, total: number) => void): EncryptedTensor {
  const cts: Ciphertext[] = [];
  const { shape, count } = encryptBatchEach(ctx, enc, encr, input, (ct) => cts.push(ct.clone()), onProgress);
  return { shape, cts, count };
}

/**
 * Client side: encrypts a batch element by element, handing each ciphertext to `emit` as soon as
 * it exists. The plaintext and ciphertext buffers are reused (serialize or copy in `emit`), so the
 * client never holds the whole encrypted tensor, only what `emit` keeps (e.g. its bytes).
 */
export function encryptBatchEach(
  ctx: CkksContext, enc: Encoder, encr: Encryptor, input: Tensor, emit: (ct: Ciphertext, element: number) => void,
  onProgress?: (done: number, total: number) => void,
): { shape: number[]; count: number } {
  const n = input.shape[0];
  const shape = input.shape.slice(1);
  const size = sizeOf(shape);
  if (n > ctx.params.slots) throw new InputShapeError(`${n} images do not fit in ${ctx.params.slots} slots`, ['N', ...shape], [...input.shape], `split the batch into runs of at most ${ctx.params.slots} images`);
  const P = ctx.params;
  const col = new Float64Array(n);
  const pt = enc.encode(col, { level: P.levels, scale: P.scales[P.levels] });
  let ct: Ciphertext | undefined;
  for (let e = 0; e < size; e++) {
    for (let b = 0; b < n; b++) col[b] = input.data[b * size + e];
    enc.encodeInto(col, pt);
    ct = encr.encrypt(pt, ct);
    emit(ct, e);
    if (onProgress && (e % 64 === 63 || e === size - 1)) onProgress(e + 1, size);
  }
  return { shape, count: n };
}

/** Client side: decrypts every element, returns [count, ...shape]. */
export function decryptBatch(enc: Encoder, dec: Decryptor, t: EncryptedTensor): Tensor {
  const size = sizeOf(t.shape);
  const data = new Float64Array(t.count * size);
  for (let e = 0; e < size; e++) {
    const v = enc.decode(dec.decrypt(t.cts[e]!));
    for (let b = 0; b < t.count; b++) data[b * size + e] = v[b];
  }
  return { shape: [t.count, ...t.shape], data };
}

/** Server side: runs a compiled graph on an encrypted batch. */
export class BatchRunner {
  readonly timings: NodeTiming[] = [];
  private readonly lad: Float64Array;

  /** `graph` may be null for a runner that only computes node outputs (pool workers). */
  constructor(
    readonly graph: IrGraph | null,
    readonly ev: Evaluator,
    readonly enc: Encoder,
    readonly onProgress?: Progress,
  ) {
    this.lad = ev.ctx.params.scales;
    if (graph) {
      const depth = planLevels(graph, 'batch').depth;
      const L = ev.ctx.params.levels;
      if (depth > L) throw new LevelError(depth, L, `the network (depth ${depth} in the batch layout)`);
    }
  }

  get ctx(): CkksContext {
    return this.ev.ctx;
  }

  /** Runs the graph; the input tensor's ciphertexts are consumed (dropped after use). */
  run(input: EncryptedTensor): EncryptedTensor {
    if (!this.graph) throw new InvalidArgumentError('BatchRunner.run without a graph', 'construct the runner with the compiled graph (a runner without one computes node outputs only)');
    return executeGraph(this.graph, input, (n, ins) => this.node(n, ins), describeTensor, this.timings, this.onProgress);
  }

  /**
   * Runs the graph on a worker pool: every node's output elements are split into chunks that the
   * pool's workers compute from shared memory (module `tasks.ts`, which the pool must have
   * loaded, with the relinearization key given by `pool.setKeys`).
   */
  async runParallel(input: EncryptedTensor, pool: WorkerPool, chunksPerThread = 4): Promise<EncryptedTensor> {
    if (!this.graph) throw new InvalidArgumentError('BatchRunner.runParallel without a graph', 'construct the runner with the compiled graph (a runner without one computes node outputs only)');
    const desc = new WeakMap<EncryptedTensor, (CiphertextDescriptor | null)[]>();
    const descOf = (t: EncryptedTensor) => {
      let d = desc.get(t);
      if (!d) {
        d = t.cts.map((c) => (c ? pool.toShared(c) : null));
        desc.set(t, d);
      }
      return d;
    };
    return executeGraphAsync(this.graph, input, async (n, ins) => {
      const x = ins[0];
      if (n.op === 'Flatten' || n.op === 'Reshape') return { shape: [...n.outShape], cts: x.cts, count: x.count };
      const total = sizeOf(n.outShape);
      const chunk = Math.max(1, Math.ceil(total / (pool.threads * chunksPerThread)));
      const inputs = ins.map(descOf);
      const inShapes = ins.map((t) => t.shape);
      const tasks = [];
      for (let s = 0; s < total; s += chunk) {
        tasks.push({ name: BATCH_OUTPUTS_TASK, payload: { node: n, inShapes, inputs, count: x.count, start: s, end: Math.min(total, s + chunk) } satisfies BatchOutputsTask });
      }
      const parts = await pool.runAll<CiphertextDescriptor[]>(tasks);
      const flat = inElementOrder(n, parts.flat());
      const out: EncryptedTensor = { shape: [...n.outShape], cts: flat.map((d) => pool.fromShared(d)), count: x.count };
      desc.set(out, flat);
      return out;
    }, describeTensor, this.timings, this.onProgress);
  }

  private node(n: IrNode, ins: EncryptedTensor[]): EncryptedTensor {
    const x = ins[0];
    if (n.op === 'Flatten' || n.op === 'Reshape') return { shape: [...n.outShape], cts: x.cts, count: x.count };
    return { shape: [...n.outShape], cts: inElementOrder(n, this.outputs(n, ins, 0, sizeOf(n.outShape))), count: x.count };
  }

  /**
   * Outputs [start, end) of a node in {@link outputElement} order (each is independent of the
   * others: work can be split anywhere).
   */
  outputs(n: IrNode, ins: EncryptedTensor[], start: number, end: number): Ciphertext[] {
    if (n.op === 'Conv' || n.op === 'Dense') return this.sharedLinear(n, ins[0], start, end);
    const f = this.element(n, ins);
    const out: Ciphertext[] = [];
    for (let e = start; e < end; e++) out.push(f(e));
    return out;
  }

  /** The computation of output element e of a node. */
  private element(n: IrNode, ins: EncryptedTensor[]): (e: number) => Ciphertext {
    const x = ins[0];
    switch (n.op) {
      case 'AveragePool': {
        if (n.sum) return (r) => this.sum(poolWindow(n, x.shape, r).map((k) => x.cts[k]!), x);
        const [kh, kw] = n.kernel;
        return this.linear(x, (r) => {
          const idx = poolWindow(n, x.shape, r);
          const div = n.countIncludePad ? kh * kw : idx.length;
          return { idx, ws: idx.map(() => 1 / div), bias: 0 };
        });
      }
      case 'GlobalAveragePool': {
        const plane = sizeOf(x.shape) / x.shape[0];
        if (n.sum) return (ch) => this.sum(x.cts.slice(ch * plane, (ch + 1) * plane) as Ciphertext[], x);
        return this.linear(x, (ch) => ({ idx: range(ch * plane, plane), ws: new Array(plane).fill(1 / plane), bias: 0 }));
      }
      case 'BatchNormalization': {
        const plane = sizeOf(x.shape) / x.shape[0];
        return this.linear(x, (e) => {
          const ch = Math.floor(e / plane);
          const g = n.scale[ch] / Math.sqrt(n.variance[ch] + n.epsilon);
          return { idx: [e], ws: [g], bias: n.bias[ch] - n.mean[ch] * g };
        });
      }
      case 'MulConstant': {
        const c = broadcastConstant(n.constant, x.shape);
        return this.linear(x, (e) => ({ idx: [e], ws: [c[e]], bias: 0 }));
      }
      case 'AddConstant': {
        const c = broadcastConstant(n.constant, x.shape);
        return (e) => this.ev.addConst(x.cts[e]!, c[e]);
      }
      case 'Add': {
        const y = ins[1];
        const b = this.backend();
        return (e) => b.add(x.cts[e]!, y.cts[e]!);
      }
      case 'Poly':
        return this.poly(n, x);
      default:
        throw new GraphError(`the batch layout does not run ${n.op} nodes`, n.name, 'compile the model first (Model.compile or compileModel), which replaces activations by polynomials');
    }
  }

  private backend(): CkksPolyBackend {
    const P = this.ctx.params;
    return new CkksPolyBackend(this.ev, this.enc, { level: P.levels, scale: P.scales[P.levels] });
  }

  /** Sum without scaling (sum pools); an empty window is an encryption of zero at x's level. */
  private sum(cts: Ciphertext[], x: EncryptedTensor): Ciphertext {
    if (cts.length === 0) return this.ev.mulInt(x.cts.find((c) => c)!, 0);
    const acc = this.ev.copy(cts[0]);
    for (let i = 1; i < cts.length; i++) this.ev.addInPlace(acc, cts[i]);
    return acc;
  }

  /** Linear output r: Σ w·x[idx] + bias, then one rescale onto the ladder. */
  private linear(x: EncryptedTensor, row: (r: number) => { idx: number[]; ws: number[]; bias: number }): (r: number) => Ciphertext {
    const { ref, S } = this.linearInput(x);
    return (r) => {
      const { idx, ws, bias } = row(r);
      const ct = idx.length === 0
        ? this.constantOutput(ref, S, bias)
        : linearCombination(this.ctx, idx.map((k) => x.cts[k]!), ws, S, bias, encodeWeights(this.ctx, ws, S, ref.limbs));
      return this.settle(ct, ref.level);
    };
  }

  /**
   * Conv/Dense outputs [start, end), in blocks of up to {@link SHARED_BLOCK} outputs that read the
   * same inputs (a convolution's output channels at one position, consecutive dense rows), each
   * block by one pass over its inputs (`linearCombinations`).
   */
  private sharedLinear(n: Extract<IrNode, { op: 'Conv' | 'Dense' }>, x: EncryptedTensor, start: number, end: number): Ciphertext[] {
    const { ref, S } = this.linearInput(x);
    const out: Ciphertext[] = [];
    for (let u = start; u < end;) {
      const blk = n.op === 'Conv' ? convBlock(n, x.shape, u, end) : denseBlock(n, u, end);
      const cs = blk.idx.length === 0
        ? blk.biases.map((b) => this.constantOutput(ref, S, b))
        : linearCombinations(this.ctx, blk.idx.map((k) => x.cts[k]!), blk.ws, S, blk.biases);
      for (const ct of cs) out.push(this.settle(ct, ref.level));
      u += blk.biases.length;
    }
    return out;
  }

  /** The input's reference ciphertext and the weight scale that lands the output on the ladder. */
  private linearInput(x: EncryptedTensor): { ref: Ciphertext; S: number } {
    const ref = x.cts.find((c) => c)!;
    if (ref.level === 0) throw new LevelError(1, 0, 'a linear layer');
    return { ref, S: this.lad[ref.level] };
  }

  /** An output with no inputs: an encryption of the constant `bias` at ref's level, scale ref.scale·S. */
  private constantOutput(ref: Ciphertext, S: number, bias: number): Ciphertext {
    const ct = this.ev.mulInt(ref, 0);
    ct.scale = ref.scale * S;
    if (bias !== 0) this.ev.addConst(ct, bias, ct);
    return ct;
  }

  /** Rescales a linear output computed from level `level` and puts it exactly on the ladder. */
  private settle(ct: Ciphertext, level: number): Ciphertext {
    this.ev.rescaleInPlace(ct);
    ct.scale = this.lad[level - 1];
    return ct;
  }

  private poly(n: PolyNode, x: EncryptedTensor): (e: number) => Ciphertext {
    const plane = sizeOf(x.shape) / x.shape[0];
    if (n.basis === 'power' && n.coeffs.length !== 3) throw new GraphError(`power-basis polynomial of degree ${n.coeffs.length - 1}`, n.name, 'use the power basis for quadratics only (the compiler does)');
    // one ciphertext per element: per-channel and per-element coefficients are scalars here
    const perElement = n.coeffTensor ? coefficientsPerElement(n.coeffTensor, x.shape) : null;
    return (e) => {
      const b = this.backend();
      const ch = Math.floor(e / plane);
      let t = x.cts[e]!;
      if (!n.mapFolded) t = b.linear([t], [n.mapScale[ch]], n.mapShift[ch]);
      const cs = perElement ? perElement.map((c) => c[e]) : n.coeffs;
      if (n.basis === 'power') return evalQuadratic(b, t, cs[2], cs[1], cs[0]);
      return evalChebyshev(b, t, cs);
    };
  }
}

/** Most outputs computed in one pass over shared inputs (their accumulators stay in L2). */
const SHARED_BLOCK = 8;

/** Outputs computed together: input elements, per output its weights on them, and biases. */
interface LinearBlock {
  idx: number[];
  ws: Float64Array[];
  biases: number[];
}

/**
 * Output u of a node in the order `BatchRunner.outputs` computes them → its element index
 * (row-major over the output shape). Convolutions run position-major (u = position·C_out + channel):
 * the output channels at one position read the same inputs. Everything else runs in element order.
 */
export function outputElement(n: IrNode, u: number): number {
  if (n.op !== 'Conv') return u;
  const co = n.outShape[0];
  const hw = sizeOf(n.outShape) / co;
  return (u % co) * hw + Math.floor(u / co);
}

/** Puts a node's outputs (or their descriptors), listed in `outputs` order, in element order. */
function inElementOrder<T>(n: IrNode, xs: T[]): T[] {
  if (n.op !== 'Conv') return xs;
  const out = new Array<T>(xs.length);
  for (let u = 0; u < xs.length; u++) out[outputElement(n, u)] = xs[u];
  return out;
}

/** Inputs that some output of the block weighs, with the weights restricted to them. */
function pruneBlock(all: number[], ws: Float64Array[], biases: number[]): LinearBlock {
  const keep: number[] = [];
  for (let t = 0; t < all.length; t++) if (ws.some((w) => w[t] !== 0)) keep.push(t);
  return { idx: keep.map((t) => all[t]), ws: ws.map((w) => Float64Array.from(keep, (t) => w[t])), biases };
}

/** The block of a convolution on a [C,H,W] input starting at position-major output u: its output channels at one position. */
function convBlock(n: Extract<IrNode, { op: 'Conv' }>, inShape: readonly number[], u: number, end: number): LinearBlock {
  const [co, ci, kh, kw] = n.weight.shape;
  const [, h, w] = inShape;
  const [, , ow] = n.outShape;
  const [sh, sw] = n.strides;
  const [pt, pl] = n.pads;
  const pos = Math.floor(u / co);
  const o0 = u % co;
  const count = Math.min(co - o0, end - u, SHARED_BLOCK);
  const oy = Math.floor(pos / ow);
  const ox = pos % ow;
  const all: number[] = [];
  const taps: number[] = []; // offset of the tap in one output channel's weights
  for (let c = 0; c < ci; c++) for (let ky = 0; ky < kh; ky++) {
    const iy = oy * sh - pt + ky;
    if (iy < 0 || iy >= h) continue;
    for (let kx = 0; kx < kw; kx++) {
      const ix = ox * sw - pl + kx;
      if (ix < 0 || ix >= w) continue;
      all.push((c * h + iy) * w + ix);
      taps.push((c * kh + ky) * kw + kx);
    }
  }
  const per = ci * kh * kw;
  const ws: Float64Array[] = [];
  const biases: number[] = [];
  for (let o = o0; o < o0 + count; o++) {
    ws.push(Float64Array.from(taps, (t) => n.weight.data[o * per + t]));
    biases.push(n.bias?.data[o] ?? 0);
  }
  return pruneBlock(all, ws, biases);
}

/** The block of a dense layer starting at row u: up to SHARED_BLOCK consecutive rows. */
function denseBlock(n: Extract<IrNode, { op: 'Dense' }>, u: number, end: number): LinearBlock {
  const [, i] = n.weight.shape;
  const count = Math.min(end - u, SHARED_BLOCK);
  const ws: Float64Array[] = [];
  const biases: number[] = [];
  for (let r = u; r < u + count; r++) {
    ws.push(n.weight.data.slice(r * i, (r + 1) * i) as Float64Array);
    biases.push(n.bias?.data[r] ?? 0);
  }
  return pruneBlock(range(0, i), ws, biases);
}

/** Input elements in the window of output element r of an average pool on a [C,H,W] input. */
function poolWindow(n: Extract<IrNode, { op: 'AveragePool' }>, inShape: readonly number[], r: number): number[] {
  const [, h, w] = inShape;
  const [, oh, ow] = n.outShape;
  const [kh, kw] = n.kernel;
  const [sh, sw] = n.strides;
  const [pt, pl] = n.pads;
  const ch = Math.floor(r / (oh * ow));
  const oy = Math.floor((r % (oh * ow)) / ow);
  const ox = r % ow;
  const idx: number[] = [];
  for (let ky = 0; ky < kh; ky++) {
    const iy = oy * sh - pt + ky;
    if (iy < 0 || iy >= h) continue;
    for (let kx = 0; kx < kw; kx++) {
      const ix = ox * sw - pl + kx;
      if (ix >= 0 && ix < w) idx.push((ch * h + iy) * w + ix);
    }
  }
  return idx;
}

function range(start: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => start + i);
}
