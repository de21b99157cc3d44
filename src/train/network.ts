/**
 * @module train/network
 * A trainable network built from an IR graph ({@link module:nn/graph}): one layer per node (Conv,
 * Dense, BatchNormalization, activations, pools, Add, Flatten/Reshape, constants), activations
 * optionally replaced by trainable polynomials (`activations.ts`), all parameters in one flat
 * buffer (float32 or float64) with a gradient buffer of the same layout, so optimisers and the
 * data-parallel reduction work on two arrays. Forward keeps what backward needs; backward walks
 * the nodes in reverse and sums the gradients of values with several consumers (residuals).
 * {@link Network.toGraph} gives the trained graph back (batch-norm with its running statistics,
 * polynomial activations as 'Polynomial' nodes), ready for `writeOnnx` and `compileModel`.
 */
import { InvalidArgumentError, VeilError } from '../errors.js';
import type { CompositePoly } from '../approx/composite.js';
import { type IrGraph, type IrNode, sizeOf, validateGraph } from '../nn/graph.js';
import { polyMul, scalarTensor } from '../nn/polynomial.js';
import { type Grain, PafLayer, PolyLayer, polyIr } from './activations.js';
import type { Arr } from './gemm.js';
import {
  AddLayer, AvgPoolLayer, type BatchStats, BatchNormLayer, ConstantLayer, ConvLayer, DenseLayer, GlobalPoolLayer, type Layer, type Mode,
  type ParamSlot, ReshapeLayer, pointwise,
} from './layers.js';

/** How one activation node is trained. */
export type ActivationSpec =
  /** A polynomial with trainable coefficients (PAPER: per layer with clip; BEAA: per element). */
  | { kind: 'poly'; coeffs: readonly number[]; grain: Grain; clip?: number }
  /** SmartPAF's composite ReLU with dynamic/static scale. */
  | { kind: 'paf'; composite: CompositePoly };

/** Options of {@link Network}. */
export interface NetworkOptions {
  /** Storage of parameters and activations (default 'float32'). */
  dtype?: 'float32' | 'float64';
  /** Activation nodes (by IR node name) replaced by trainable polynomials. */
  activations?: Record<string, ActivationSpec>;
  /** Parameter buffer to use (workers share one); its contents are kept. */
  params?: Arr;
  /** Gradient buffer to use. */
  grads?: Arr;
  /** Allocate the parameters in a SharedArrayBuffer (for worker replicas). */
  shared?: boolean;
}

/** Thrown for a graph the trainer cannot differentiate. */
export class TrainGraphError extends VeilError {
  static override readonly code: string = 'TRAIN_GRAPH';
}

/** A trainable network over an IR graph. */
export class Network {
  readonly graph: IrGraph;
  readonly layers: Layer[];
  readonly slots: ParamSlot[] = [];
  readonly params: Arr;
  readonly grads: Arr;
  readonly dtype: 'float32' | 'float64';
  /** The activation replacements the network was built with (replicas need them). */
  readonly activations: Record<string, ActivationSpec>;
  private readonly values = new Map<string, Arr>();
  private readonly gradOf = new Map<string, Arr>();
  private readonly owned = new Map<string, Arr>();

  constructor(graph: IrGraph, opts: NetworkOptions = {}) {
    validateGraph(graph);
    this.graph = graph;
    this.dtype = opts.dtype ?? 'float32';
    const acts = opts.activations ?? {};
    this.activations = acts;
    const shapes = new Map<string, number[]>([[graph.input.name, graph.input.shape]]);
    this.layers = graph.nodes.map((n) => {
      const l = makeLayer(n, n.inputs.map((v) => shapes.get(v)!), acts[n.name]);
      shapes.set(n.output, n.outShape);
      return l;
    });
    for (const name of Object.keys(acts)) {
      if (!graph.nodes.some((n) => n.name === name)) throw new TrainGraphError(`no node '${name}' to replace by a polynomial`, 'name activation nodes as the imported graph does (see describeGraph)');
    }
    let off = 0;
    for (const l of this.layers) for (const s of l.slots) {
      s.offset = off;
      off += s.size;
      this.slots.push(s);
    }
    const fresh = opts.params === undefined;
    this.params = opts.params ?? floatArray(this.dtype, off, opts.shared ? 'shared' : 'local');
    this.grads = opts.grads ?? floatArray(this.dtype, off, 'local');
    if (this.params.length !== off || this.grads.length !== off) throw new InvalidArgumentError(`parameter buffers hold ${this.params.length}/${this.grads.length} values, the network has ${off}`, 'pass params and grads buffers of the network\'s size, or leave them out');
    for (const l of this.layers) l.bind(this.params, this.grads);
    if (fresh) this.loadFromGraph();
  }

  /** Number of trainable values. */
  get size(): number {
    return this.params.length;
  }

  /** Copies weights, biases, BN affine and polynomial initial coefficients from the graph. */
  private loadFromGraph(): void {
    for (const l of this.layers) {
      const n = l.node;
      if (l instanceof PolyLayer || l instanceof PafLayer) {
        l.initialise(this.params);
        continue;
      }
      for (const s of l.slots) {
        let src: ArrayLike<number> | null = null;
        if (n.op === 'Conv' || n.op === 'Dense') src = s.role === 'weight' ? n.weight.data : n.bias!.data;
        else if (n.op === 'BatchNormalization') src = s.role === 'scale' ? n.scale : n.bias;
        if (src) this.params.set(src, s.offset);
      }
    }
  }

  zeroGrad(): void {
    this.grads.fill(0);
  }

  /** Runs the batch x ([n, ...input]) and returns the logits [n, ...output] (a reused buffer). */
  forward(x: Arr, n: number, mode: Mode): Arr {
    const want = n * sizeOf(this.graph.input.shape);
    if (x.length < want) throw new InvalidArgumentError(`input holds ${x.length} values, ${n} samples need ${want}`, 'pass n samples of the network\'s input shape, flattened');
    this.values.clear();
    this.values.set(this.graph.input.name, x.length === want ? x : x.subarray(0, want));
    for (const l of this.layers) {
      const ins = l.node.inputs.map((v) => this.values.get(v)!);
      this.values.set(l.node.output, l.forward(ins, n, mode));
    }
    return this.values.get(this.graph.output.name)!;
  }

  /** Accumulates parameter gradients of Σ dL/dlogits · logits for the last forward pass. */
  backward(dLogits: Arr, n: number): void {
    this.gradOf.clear();
    this.gradOf.set(this.graph.output.name, dLogits);
    const input = this.graph.input.name;
    const fresh = new Set<string>();
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const l = this.layers[i];
      const dy = this.gradOf.get(l.node.output);
      if (!dy) continue;
      const need = l.node.inputs.map((v) => v !== input);
      const dins = l.backward(dy, n, need);
      l.node.inputs.forEach((v, k) => {
        const d = dins[k];
        if (!d || v === input) return;
        const prev = this.gradOf.get(v);
        if (!prev) {
          this.gradOf.set(v, d);
          return;
        }
        // a second consumer: sum into a buffer the network owns (layers' buffers are read-only here)
        let acc = prev;
        if (!fresh.has(v)) {
          let own = this.owned.get(v);
          if (!own || own.length < prev.length) {
            own = new (prev.constructor as { new (n: number): Arr })(prev.length);
            this.owned.set(v, own);
          }
          acc = own.length === prev.length ? own : own.subarray(0, prev.length);
          acc.set(prev);
          fresh.add(v);
          this.gradOf.set(v, acc);
        }
        for (let j = 0; j < acc.length; j++) acc[j] += d[j];
      });
    }
  }

  /** Batch-norm statistics of the last training forward pass. */
  batchStats(): BatchStats[] {
    const out: BatchStats[] = [];
    for (const l of this.layers) if (l instanceof BatchNormLayer) {
      const s = l.lastStats();
      if (s) out.push(s);
    }
    return out;
  }

  /**
   * Updates the running statistics from pooled batch statistics (PyTorch's rule: running =
   * (1 − m)·running + m·batch, the batch variance unbiased).
   */
  updateRunningStats(stats: readonly BatchStats[], momentum = 0.1): void {
    const byName = new Map(stats.map((s) => [s.node, s]));
    for (const l of this.layers) {
      if (!(l instanceof BatchNormLayer)) continue;
      const s = byName.get(l.node.name);
      if (!s) continue;
      for (let c = 0; c < l.runMean.length; c++) {
        const mean = s.sum[c] / s.count;
        const v = Math.max(0, s.sumSq[c] / s.count - mean * mean);
        l.runMean[c] = (1 - momentum) * l.runMean[c] + momentum * mean;
        l.runVar[c] = (1 - momentum) * l.runVar[c] + momentum * (s.count > 1 ? (v * s.count) / (s.count - 1) : v);
      }
    }
  }

  /** Running statistics of every batch-norm layer (to copy between replicas). */
  runningStats(): { node: string; mean: Float64Array; variance: Float64Array }[] {
    return this.layers.filter((l): l is BatchNormLayer => l instanceof BatchNormLayer).map((l) => ({ node: l.node.name, mean: l.runMean, variance: l.runVar }));
  }

  /** Sets running statistics (replicas). */
  setRunningStats(st: readonly { node: string; mean: ArrayLike<number>; variance: ArrayLike<number> }[]): void {
    const byName = new Map(st.map((s) => [s.node, s]));
    for (const l of this.layers) if (l instanceof BatchNormLayer) {
      const s = byName.get(l.node.name);
      if (s) {
        l.runMean.set(s.mean);
        l.runVar.set(s.variance);
      }
    }
  }

  /** The polynomial activation layers. */
  polyLayers(): PolyLayer[] {
    return this.layers.filter((l): l is PolyLayer => l instanceof PolyLayer);
  }

  /** The SmartPAF activation layers. */
  pafLayers(): PafLayer[] {
    return this.layers.filter((l): l is PafLayer => l instanceof PafLayer);
  }

  /** Sum of the penalties of the last training forward pass. */
  penalty(): number {
    let s = 0;
    for (const l of this.polyLayers()) s += l.lastPenalty;
    return s;
  }

  /** The value of `name` from the last forward pass (e.g. an activation's input, for profiling). */
  value(name: string): Arr | undefined {
    return this.values.get(name);
  }

  /**
   * The trained network as an IR graph: weights from the parameter buffer (float64 copies),
   * batch-norm with its running statistics, polynomial activations as 'Polynomial' nodes
   * (SmartPAF's composite expanded into one polynomial in x at its static scale).
   */
  toGraph(): IrGraph {
    const nodes: IrNode[] = this.layers.map((l) => {
      const n = l.node;
      const get = (role: string) => {
        const s = l.slots.find((x) => x.role === role)!;
        return Float64Array.from(this.params.subarray(s.offset, s.offset + s.size));
      };
      if (l instanceof PolyLayer) return l.toIr(this.params);
      if (l instanceof PafLayer) return pafToIr(l, this.params);
      switch (n.op) {
        case 'Conv':
        case 'Dense':
          return { ...n, weight: { shape: [...n.weight.shape], data: get('weight') }, bias: n.bias ? { shape: [...n.bias.shape], data: get('bias') } : null };
        case 'BatchNormalization': {
          const bn = l as BatchNormLayer;
          return { ...n, scale: get('scale'), bias: get('bias'), mean: Float64Array.from(bn.runMean), variance: Float64Array.from(bn.runVar) };
        }
        default:
          return { ...n };
      }
    });
    const g: IrGraph = { ...this.graph, nodes };
    validateGraph(g);
    return g;
  }
}

/** A zeroed float buffer of n values; 'shared' allocates a SharedArrayBuffer, or wraps `buffer`. */
export function floatArray(dtype: 'float32' | 'float64', n: number, where: 'local' | 'shared' | SharedArrayBuffer): Arr {
  const buf = where === 'local' ? null : where === 'shared' ? new SharedArrayBuffer(n * (dtype === 'float32' ? 4 : 8)) : where;
  if (dtype === 'float32') return buf ? new Float32Array(buf) : new Float32Array(n);
  return buf ? new Float64Array(buf) : new Float64Array(n);
}

/** y = (x + x·p(x/s))/2 expanded into power coefficients in x (s = the static scale). */
export function pafToIr(l: PafLayer, params: Arr): IrNode {
  const s = l.staticScale > 0 ? l.staticScale : 1;
  const one = (v: number) => scalarTensor(v, 1);
  // u = x/s; compose the odd components
  let u = [one(0), one(1 / s)];
  for (const odd of l.components(params)) {
    const u2 = polyMul(u, u);
    let acc = [one(odd[odd.length - 1])];
    for (let j = odd.length - 2; j >= 0; j--) {
      acc = polyMul(acc, u2);
      acc[0] = one(acc[0].data[0] + odd[j]);
    }
    u = polyMul(acc, u);
  }
  // (x + x·u)/2
  const xu = polyMul([one(0), one(1)], u);
  const c = new Float64Array(Math.max(2, xu.length));
  for (let k = 0; k < xu.length; k++) c[k] = 0.5 * xu[k].data[0];
  c[1] += 0.5;
  return polyIr(l.node, c, null, c.length - 1);
}

function makeLayer(n: IrNode, inShapes: number[][], spec: ActivationSpec | undefined): Layer {
  if (spec) {
    if (n.op !== 'Relu' && n.op !== 'Gelu' && n.op !== 'Square' && n.op !== 'Poly') {
      throw new TrainGraphError(`node '${n.name}' (${n.op}) is not an activation`, 'replace only Relu/Gelu/Square/Poly nodes by trainable polynomials');
    }
    return spec.kind === 'poly' ? new PolyLayer(n, { coeffs: spec.coeffs, grain: spec.grain, clip: spec.clip }) : new PafLayer(n, spec.composite);
  }
  switch (n.op) {
    case 'Conv':
      if (n.weight.shape[1] !== inShapes[0][0]) throw new TrainGraphError(`conv '${n.name}' has groups ≠ 1`, 'use groups = 1');
      return new ConvLayer(n, inShapes[0]);
    case 'Dense':
      return new DenseLayer(n);
    case 'BatchNormalization':
      return new BatchNormLayer(n);
    case 'Relu':
    case 'Gelu':
    case 'Square':
      return pointwise(n);
    case 'Add':
      return new AddLayer(n, n.outShape);
    case 'AddConstant':
    case 'MulConstant':
      return new ConstantLayer(n);
    case 'AveragePool':
      return new AvgPoolLayer(n, inShapes[0]);
    case 'GlobalAveragePool':
      return new GlobalPoolLayer(n, inShapes[0]);
    case 'Flatten':
    case 'Reshape':
      return new ReshapeLayer(n, n.outShape);
    case 'Poly': {
      if (n.replaces !== 'Polynomial' || n.basis !== 'power' || !n.mapScale.every((v) => v === 1) || !n.mapShift.every((v) => v === 0)) {
        throw new TrainGraphError(`polynomial '${n.name}' is a compiled node`, 'train the imported graph, not the compiled one');
      }
      if (n.coeffTensor) throw new TrainGraphError(`polynomial '${n.name}' has per-channel/per-element coefficients`, "pass an activation spec {kind: 'poly', grain, coeffs} for it");
      return new PolyLayer(n, { coeffs: Array.from(n.coeffs), grain: 'layer' });
    }
  }
}

/**
 * A copy of `graph` with fresh weights for training from scratch: He-normal convolution and dense
 * weights (std √(2/fan_in)), zero biases, batch-norm γ = 1, β = 0, running mean 0, variance 1.
 * Deterministic for a seed.
 */
export function withRandomWeights(graph: IrGraph, seed: number): IrGraph {
  let s = seed >>> 0;
  const u = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  const normal = () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  const nodes = graph.nodes.map((n): IrNode => {
    if (n.op === 'Conv' || n.op === 'Dense') {
      const fanIn = n.weight.data.length / n.weight.shape[0];
      const std = Math.sqrt(2 / fanIn);
      return {
        ...n, weight: { shape: [...n.weight.shape], data: Float64Array.from(n.weight.data, () => Math.fround(std * normal())) },
        bias: n.bias ? { shape: [...n.bias.shape], data: new Float64Array(n.bias.data.length) } : null,
      };
    }
    if (n.op === 'BatchNormalization') {
      const C = n.scale.length;
      return { ...n, scale: new Float64Array(C).fill(1), bias: new Float64Array(C), mean: new Float64Array(C), variance: new Float64Array(C).fill(1) };
    }
    return n;
  });
  return { ...graph, nodes };
}
