/**
 * @module nn/graph
 *
 * Veil's neural-network graph IR: a small, typed, topologically ordered list of nodes over
 * float64 tensors. ONNX models are lowered into it by `importOnnx` (see `onnx/`); the
 * plaintext reference executor, calibration and the encrypted compiler all consume it.
 *
 * Conventions:
 * - Value shapes are **per sample**: the batch dimension is implicit and never appears in
 *   `IrGraph.input.shape` or `IrNode.outShape` (e.g. `[1, 28, 28]` for MNIST, `[10]` for logits).
 * - Image tensors are channel-major `[C, H, W]`; dense layers see flat `[F]` vectors in
 *   row-major (C, H, W) order, exactly as `torch.flatten(x, 1)`.
 * - Weights follow PyTorch: Conv `[Cout, Cin, kh, kw]`, Dense `[out, in]` (y = W·x + b).
 * - Pads are `[top, left, bottom, right]` (ONNX's begin/end order for 2-D).
 * - Constants in `AddConstant` / `MulConstant` have the same rank as the value they apply to,
 *   with each dimension either 1 or equal to the value's (NumPy broadcasting, batch excluded).
 */
import { VeilError } from '../errors.js';

/** A dense float64 tensor in row-major order. */
export interface Tensor {
  shape: number[];
  data: Float64Array;
}

/** Names of the IR operations. */
export type IrOp = IrNode['op'];

/** Fields common to every IR node. */
export interface IrNodeBase {
  /** Unique node name (taken from the ONNX node that produced the output). */
  name: string;
  /** Names of the dynamic input values (constants are stored on the node). */
  inputs: string[];
  /** Name of the output value. */
  output: string;
  /** Per-sample output shape (batch excluded), filled in by shape inference. */
  outShape: number[];
  /** Names of the ONNX nodes merged into this node (e.g. the five nodes of an erf-GELU). */
  sources: string[];
}

/** 2-D convolution with groups = 1 and dilation 1. */
export interface ConvNode extends IrNodeBase {
  op: 'Conv';
  /** `[Cout, Cin, kh, kw]`. */
  weight: Tensor;
  /** `[Cout]` or null. */
  bias: Tensor | null;
  kernel: [number, number];
  strides: [number, number];
  /** `[top, left, bottom, right]`, zero padding. */
  pads: [number, number, number, number];
}

/** Inference-form batch normalisation over channel dimension 0 (per sample). */
export interface BatchNormNode extends IrNodeBase {
  op: 'BatchNormalization';
  scale: Float64Array;
  bias: Float64Array;
  mean: Float64Array;
  variance: Float64Array;
  epsilon: number;
}

/** ReLU activation. */
export interface ReluNode extends IrNodeBase {
  op: 'Relu';
}

/** GELU activation: `x·Φ(x)` (`approximate: 'none'`) or the tanh approximation. */
export interface GeluNode extends IrNodeBase {
  op: 'Gelu';
  approximate: 'none' | 'tanh';
}

/** x² activation (from `Mul(x, x)` or `Pow(x, 2)`). */
export interface SquareNode extends IrNodeBase {
  op: 'Square';
}

/** Element-wise sum of two dynamic values of identical shape (residual connection). */
export interface AddNode extends IrNodeBase {
  op: 'Add';
}

/** Adds a broadcast constant (same rank as the input; dims 1 or equal). */
export interface AddConstantNode extends IrNodeBase {
  op: 'AddConstant';
  constant: Tensor;
}

/** Multiplies by a broadcast constant (same rank as the input; dims 1 or equal). */
export interface MulConstantNode extends IrNodeBase {
  op: 'MulConstant';
  constant: Tensor;
}

/** 2-D average pooling (no ceil mode, dilation 1). */
export interface AveragePoolNode extends IrNodeBase {
  op: 'AveragePool';
  kernel: [number, number];
  strides: [number, number];
  /** `[top, left, bottom, right]`. */
  pads: [number, number, number, number];
  /**
   * Whether padded zeros count in the divisor (PyTorch's default). The importer sets it to true
   * whenever all pads are zero (both conventions then agree) and after folding a `Pad` node.
   */
  countIncludePad: boolean;
  /** Set by the compiler when the divisor was folded into the next layer: the node sums its window. */
  sum?: boolean;
}

/** Mean over the spatial dimensions: `[C, H, W]` → `[C, 1, 1]`. */
export interface GlobalAveragePoolNode extends IrNodeBase {
  op: 'GlobalAveragePool';
  /** Set by the compiler when the divisor H·W was folded into the next layer: the node sums. */
  sum?: boolean;
}

/**
 * A polynomial activation: fitted by the compiler (replaces Relu/Gelu/Square), or written in the
 * model itself as standard ops and imported as one node (`replaces: 'Polynomial'`, e.g. PAPER's
 * or BEAA's trained quadratics). Per channel c of the input (dimension 0),
 * t = mapScale[c]·x + mapShift[c], then y = p(t) with p given by Chebyshev (on [−1, 1]) or power
 * coefficients. When `mapFolded` is set the map was folded into the producing layer's weights, so
 * the node's input already is t.
 */
export interface PolyNode extends IrNodeBase {
  op: 'Poly';
  /** The activation this polynomial replaces ('Polynomial': the model's own polynomial). */
  replaces: 'Relu' | 'Gelu' | 'Square' | 'Polynomial';
  mapScale: Float64Array;
  mapShift: Float64Array;
  mapFolded: boolean;
  basis: 'chebyshev' | 'power';
  coeffs: Float64Array;
  /** The input interval [lo, hi] mapped to [−1, 1] (calibrated range with margin). */
  interval: [number, number];
  /** Per-channel factors moved into the next linear layer (weight redistribution), if any. */
  moved?: Float64Array;
  /**
   * Coefficients that vary per channel or per element, in `basis`: shape `[d+1, ...b]` with `b` of
   * the value's rank and each dimension 1 or equal to the value's (NumPy broadcasting); coefficient
   * k of element e is `coeffTensor[k, broadcast(e)]`. When set, `coeffs` has length d+1 and holds
   * NaN, so code that reads `coeffs` without looking here fails loudly (non-finite output).
   */
  coeffTensor?: Tensor;
}

/** Row-major flatten of the per-sample value to `[F]` (a layout no-op on the data). */
export interface FlattenNode extends IrNodeBase {
  op: 'Flatten';
}

/** Row-major reshape of the per-sample value (a layout no-op on the data). */
export interface ReshapeNode extends IrNodeBase {
  op: 'Reshape';
  /** Target per-sample shape (fully resolved, no -1/0). */
  shape: number[];
}

/** Fully connected layer `y = W·x + b` on a flat `[in]` input. */
export interface DenseNode extends IrNodeBase {
  op: 'Dense';
  /** `[out, in]`. */
  weight: Tensor;
  /** `[out]` or null. */
  bias: Tensor | null;
}

/** Any IR node. */
export type IrNode =
  | ConvNode
  | BatchNormNode
  | ReluNode
  | GeluNode
  | SquareNode
  | AddNode
  | AddConstantNode
  | MulConstantNode
  | AveragePoolNode
  | GlobalAveragePoolNode
  | FlattenNode
  | ReshapeNode
  | DenseNode
  | PolyNode;

/** Activation nodes, the ones replaced by polynomials in the encrypted model. */
export type ActivationNode = ReluNode | GeluNode | SquareNode;

/** A whole network: one data input, one output, nodes in topological order. */
export interface IrGraph {
  name: string;
  /** The data input and its per-sample shape (batch excluded). */
  input: { name: string; shape: number[] };
  /** The output value and its per-sample shape. */
  output: { name: string; shape: number[] };
  nodes: IrNode[];
  /** Where the graph came from, e.g. `"onnx opset 13, pytorch 1.13.0"`. */
  origin: string;
}

/** ONNX op types `importOnnx` accepts (some are folded away or fused during import). */
export const SUPPORTED_ONNX_OPS: readonly string[] = [
  'Conv',
  'BatchNormalization',
  'Relu',
  'Gelu',
  'Erf (as part of the exported GELU pattern)',
  'Mul (by a constant, or polynomials in one value: x*x, Horner chains)',
  'Pow (integer exponent 1…16)',
  'Div (by a constant)',
  'Add',
  'Sub (a constant, or polynomials in one value)',
  'Neg (of a polynomial in one value)',
  'AveragePool',
  'Pad (zero, folded into the following AveragePool/Conv)',
  'GlobalAveragePool',
  'Flatten',
  'Reshape',
  'Gemm',
  'MatMul',
  'Identity',
  'Dropout',
  'Constant',
  'Shape/Gather/Unsqueeze/Squeeze/Concat/Cast/Slice (constant shape arithmetic only)',
];

/**
 * Thrown when a model uses an op or attribute Veil cannot run under encryption.
 * The message names the node, the op, the attribute and what to change in the export.
 */
export class UnsupportedOpError extends VeilError {
  static override readonly code: string = 'UNSUPPORTED_OP';
  /** ONNX node name (or output name when the node is unnamed). */
  readonly nodeName: string;
  /** ONNX op type. */
  readonly opType: string;
  /** Offending attribute or input, if the op itself is supported. */
  readonly attribute: string | undefined;
  /** What to change. */
  readonly hint: string;

  constructor(nodeName: string, opType: string, attribute: string | undefined, detail: string, hint: string) {
    super(`Unsupported ${attribute !== undefined ? `attribute '${attribute}' of ` : ''}${opType} node '${nodeName}': ${detail}`, hint);
    this.nodeName = nodeName;
    this.opType = opType;
    this.attribute = attribute;
    this.hint = hint;
  }
}

/** Thrown for a structurally invalid graph: shape mismatches, undefined values, cycles. */
export class GraphError extends VeilError {
  static override readonly code: string = 'GRAPH';
  /** Node where the problem was found, if any. */
  readonly nodeName: string | undefined;

  constructor(message: string, nodeName?: string, fix = 'the model is malformed: check it with onnx.checker.check_model and export it again (torch.onnx.export)') {
    super(nodeName !== undefined ? `Node '${nodeName}': ${message}` : message, fix);
    this.nodeName = nodeName;
  }
}

/** Number of elements of a shape (1 for a scalar `[]`). */
export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * True for a polynomial the model itself holds (imported, not fitted) of degree ≥ 3: the compiler
 * evaluates it as a Chebyshev series on its calibrated input range, so calibration records it.
 */
export function isModelPolynomial(node: IrNode): node is PolyNode {
  return node.op === 'Poly' && node.replaces === 'Polynomial' && node.coeffs.length > 3;
}

/** True for activation nodes (Relu, Gelu, Square). */
export function isActivation(node: IrNode): node is ActivationNode {
  return node.op === 'Relu' || node.op === 'Gelu' || node.op === 'Square';
}

function fmt(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

function pooledSize(n: number, k: number, s: number, p0: number, p1: number): number {
  return Math.floor((n + p0 + p1 - k) / s) + 1;
}

/**
 * Computes a node's per-sample output shape from its per-sample input shapes.
 *
 * @param node - the node (its `outShape` is ignored)
 * @param inShapes - shapes of `node.inputs`, in order
 * @returns the output shape
 * @throws GraphError if the inputs do not fit the node
 */
export function inferShape(node: IrNode, inShapes: readonly (readonly number[])[]): number[] {
  const fail = (msg: string): never => {
    throw new GraphError(msg, node.name);
  };
  const want = node.op === 'Add' ? 2 : 1;
  if (inShapes.length !== want || node.inputs.length !== want) fail(`${node.op} expects ${want} input(s), got ${inShapes.length}`);
  const x = inShapes[0]!;
  for (const d of x) if (!Number.isSafeInteger(d) || d <= 0) fail(`input shape ${fmt(x)} has a non-positive dimension`);
  switch (node.op) {
    case 'Conv': {
      if (x.length !== 3) fail(`Conv expects a [C,H,W] input, got ${fmt(x)}`);
      const [co, ci, kh, kw] = node.weight.shape as [number, number, number, number];
      if (node.weight.shape.length !== 4) fail(`Conv weight must be [Cout,Cin,kh,kw], got ${fmt(node.weight.shape)}`);
      if (ci !== x[0]) fail(`Conv weight expects ${ci} input channels, input has ${x[0]} (${fmt(x)})`);
      if (kh !== node.kernel[0] || kw !== node.kernel[1]) fail(`kernel_shape ${fmt(node.kernel)} does not match weight ${fmt(node.weight.shape)}`);
      if (node.bias !== null && (node.bias.shape.length !== 1 || node.bias.shape[0] !== co)) fail(`Conv bias must be [${co}], got ${fmt(node.bias.shape)}`);
      checkWindow(node, x, fail);
      return [co, pooledSize(x[1]!, kh, node.strides[0], node.pads[0], node.pads[2]), pooledSize(x[2]!, kw, node.strides[1], node.pads[1], node.pads[3])];
    }
    case 'AveragePool': {
      if (x.length !== 3) fail(`AveragePool expects a [C,H,W] input, got ${fmt(x)}`);
      checkWindow(node, x, fail);
      const [kh, kw] = node.kernel;
      return [x[0]!, pooledSize(x[1]!, kh, node.strides[0], node.pads[0], node.pads[2]), pooledSize(x[2]!, kw, node.strides[1], node.pads[1], node.pads[3])];
    }
    case 'GlobalAveragePool':
      if (x.length < 2) fail(`GlobalAveragePool expects a [C,H,W] input, got ${fmt(x)}`);
      return [x[0]!, ...x.slice(1).map(() => 1)];
    case 'BatchNormalization': {
      const c = x[0]!;
      for (const [k, v] of [['scale', node.scale], ['bias', node.bias], ['mean', node.mean], ['variance', node.variance]] as const) {
        if (v.length !== c) fail(`BatchNormalization ${k} has ${v.length} entries, input has ${c} channels (${fmt(x)})`);
      }
      if (!(node.epsilon >= 0)) fail(`BatchNormalization epsilon must be >= 0, got ${node.epsilon}`);
      return [...x];
    }
    case 'Relu':
    case 'Gelu':
    case 'Square':
      return [...x];
    case 'Poly':
      if (node.mapScale.length !== x[0] || node.mapShift.length !== x[0]) fail(`Poly map has ${node.mapScale.length} channels, input has ${x[0]} (${fmt(x)})`);
      if (node.coeffs.length === 0) fail('Poly has no coefficients');
      if (node.coeffTensor) {
        const [k, ...b] = node.coeffTensor.shape;
        if (k !== node.coeffs.length || b.length !== x.length || b.some((d, i) => d !== 1 && d !== x[i])) {
          fail(`Poly coefficient tensor ${fmt(node.coeffTensor.shape)} does not hold ${node.coeffs.length} coefficients broadcasting to ${fmt(x)}`);
        }
        if (node.coeffTensor.data.length !== sizeOf(node.coeffTensor.shape)) fail('Poly coefficient tensor data length does not match its shape');
      }
      return [...x];
    case 'Add': {
      const y = inShapes[1]!;
      if (x.length !== y.length || x.some((d, i) => d !== y[i])) fail(`Add inputs must have the same shape, got ${fmt(x)} and ${fmt(y)}`);
      return [...x];
    }
    case 'AddConstant':
    case 'MulConstant': {
      const c = node.constant.shape;
      if (c.length !== x.length || c.some((d, i) => d !== 1 && d !== x[i])) {
        fail(`${node.op} constant ${fmt(c)} does not broadcast to ${fmt(x)}`);
      }
      if (node.constant.data.length !== sizeOf(c)) fail(`${node.op} constant data length ${node.constant.data.length} != ${sizeOf(c)}`);
      return [...x];
    }
    case 'Flatten':
      return [sizeOf(x)];
    case 'Reshape':
      if (node.shape.some((d) => !Number.isSafeInteger(d) || d <= 0) || sizeOf(node.shape) !== sizeOf(x)) {
        fail(`cannot reshape ${fmt(x)} to ${fmt(node.shape)}`);
      }
      return [...node.shape];
    case 'Dense': {
      if (node.weight.shape.length !== 2) fail(`Dense weight must be [out,in], got ${fmt(node.weight.shape)}`);
      const [o, i] = node.weight.shape as [number, number];
      if (x.length !== 1) fail(`Dense expects a flat [F] input, got ${fmt(x)}; insert a Flatten`);
      if (x[0] !== i) fail(`Dense weight expects ${i} inputs, got ${x[0]}`);
      if (node.bias !== null && (node.bias.shape.length !== 1 || node.bias.shape[0] !== o)) fail(`Dense bias must be [${o}], got ${fmt(node.bias.shape)}`);
      return [o];
    }
  }
}

function checkWindow(
  node: ConvNode | AveragePoolNode,
  x: readonly number[],
  fail: (msg: string) => never,
): void {
  const { kernel, strides, pads } = node;
  if (kernel.some((k) => !Number.isSafeInteger(k) || k <= 0)) fail(`kernel ${fmt(kernel)} must be positive`);
  if (strides.some((s) => !Number.isSafeInteger(s) || s <= 0)) fail(`strides ${fmt(strides)} must be positive`);
  if (pads.some((p) => !Number.isSafeInteger(p) || p < 0)) fail(`pads ${fmt(pads)} must be non-negative`);
  if (x[1]! + pads[0] + pads[2] < kernel[0] || x[2]! + pads[1] + pads[3] < kernel[1]) {
    fail(`kernel ${fmt(kernel)} is larger than the padded input ${fmt(x)} with pads ${fmt(pads)}`);
  }
  if (node.op === 'AveragePool' && (pads[0] >= kernel[0] || pads[2] >= kernel[0] || pads[1] >= kernel[1] || pads[3] >= kernel[1])) {
    fail(`pads ${fmt(pads)} must be smaller than the kernel ${fmt(kernel)}`);
  }
}

/**
 * Checks a graph: every input defined before use, no value defined twice, all shapes consistent
 * (recomputed with {@link inferShape} and compared with the stored `outShape`), output defined.
 *
 * @throws GraphError describing the first problem found
 */
export function validateGraph(graph: IrGraph): void {
  const shapes = new Map<string, number[]>([[graph.input.name, graph.input.shape]]);
  const names = new Set<string>();
  for (const node of graph.nodes) {
    if (names.has(node.name)) throw new GraphError('duplicate node name', node.name);
    names.add(node.name);
    const ins = node.inputs.map((v) => {
      const s = shapes.get(v);
      if (s === undefined) throw new GraphError(`input '${v}' is not defined before this node`, node.name);
      return s;
    });
    const out = inferShape(node, ins);
    if (out.length !== node.outShape.length || out.some((d, i) => d !== node.outShape[i])) {
      throw new GraphError(`stored outShape ${fmt(node.outShape)} differs from inferred ${fmt(out)}`, node.name);
    }
    if (shapes.has(node.output)) throw new GraphError(`value '${node.output}' is defined twice`, node.name);
    shapes.set(node.output, out);
  }
  const o = shapes.get(graph.output.name);
  if (o === undefined) throw new GraphError(`graph output '${graph.output.name}' is never produced`);
  if (o.length !== graph.output.shape.length || o.some((d, i) => d !== graph.output.shape[i])) {
    throw new GraphError(`graph output shape ${fmt(graph.output.shape)} differs from inferred ${fmt(o)}`);
  }
}

/** Number of consumers of each value (the graph output counts as one). */
export function consumerCounts(graph: IrGraph): Map<string, number> {
  const uses = new Map<string, number>();
  for (const n of graph.nodes) for (const v of n.inputs) uses.set(v, (uses.get(v) ?? 0) + 1);
  uses.set(graph.output.name, (uses.get(graph.output.name) ?? 0) + 1);
  return uses;
}

/**
 * Folds every BatchNormalization that directly follows a Conv or Dense whose output has no other
 * consumer into that layer's weights and bias (PAPER's `fuse_conv_batch`):
 * `w' = w·γ/√(σ²+ε)` per output channel, `b' = (b − μ)·γ/√(σ²+ε) + β`.
 * Other BatchNormalization nodes are kept. The input graph is not modified.
 *
 * @returns a new graph with fresh weight arrays for the folded layers
 */
export function foldBatchNorm(graph: IrGraph): IrGraph {
  const uses = consumerCounts(graph);
  const producer = new Map<string, IrNode>();
  const out: IrNode[] = [];
  for (const original of graph.nodes) {
    const node: IrNode = { ...original, inputs: [...original.inputs] };
    const prev = node.op === 'BatchNormalization' ? producer.get(node.inputs[0]!) : undefined;
    if (node.op === 'BatchNormalization' && prev !== undefined && (prev.op === 'Conv' || prev.op === 'Dense') && uses.get(prev.output) === 1) {
      const cout = prev.weight.shape[0]!;
      const per = prev.weight.data.length / cout;
      const w = new Float64Array(prev.weight.data);
      const b = new Float64Array(cout);
      for (let c = 0; c < cout; c++) {
        const s = node.scale[c]! / Math.sqrt(node.variance[c]! + node.epsilon);
        for (let k = 0; k < per; k++) w[c * per + k]! *= s;
        b[c] = ((prev.bias?.data[c] ?? 0) - node.mean[c]!) * s + node.bias[c]!;
      }
      const fused: IrNode = {
        ...prev,
        weight: { shape: [...prev.weight.shape], data: w },
        bias: { shape: [cout], data: b },
        output: node.output,
        sources: [...prev.sources, ...node.sources],
      };
      out[out.indexOf(prev)] = fused;
      producer.set(node.output, fused);
      continue;
    }
    out.push(node);
    producer.set(node.output, node);
  }
  return { ...graph, nodes: out };
}

/** Total number of weights and biases (constants of Conv, Dense, BN, Add/MulConstant). */
export function countParameters(graph: IrGraph): number {
  let n = 0;
  for (const node of graph.nodes) {
    switch (node.op) {
      case 'Conv':
      case 'Dense':
        n += node.weight.data.length + (node.bias?.data.length ?? 0);
        break;
      case 'BatchNormalization':
        n += 4 * node.scale.length;
        break;
      case 'AddConstant':
      case 'MulConstant':
        n += node.constant.data.length;
        break;
      case 'Poly':
        if (node.replaces === 'Polynomial') n += node.coeffTensor?.data.length ?? node.coeffs.length;
        break;
      default:
        break;
    }
  }
  return n;
}

/** 'per layer', 'per channel' or 'per element': how a polynomial's coefficients vary. */
export function coefficientGrain(p: PolyNode): 'per layer' | 'per channel' | 'per element' {
  const b = p.coeffTensor?.shape.slice(1);
  if (!b || b.every((d) => d === 1)) return 'per layer';
  return b.slice(1).every((d) => d === 1) ? 'per channel' : 'per element';
}

/**
 * One line per node: name, op, key attributes, output shape. For CLI `inspect` and logs.
 */
export function describeGraph(graph: IrGraph): string {
  const lines = [`${graph.name || 'graph'} (${graph.origin}): input '${graph.input.name}' ${fmt(graph.input.shape)}`];
  for (const n of graph.nodes) {
    let attrs = '';
    switch (n.op) {
      case 'Conv':
        attrs = ` ${n.weight.shape[1]}->${n.weight.shape[0]} k${fmt(n.kernel)} s${fmt(n.strides)} p${fmt(n.pads)}`;
        break;
      case 'AveragePool':
        attrs = ` k${fmt(n.kernel)} s${fmt(n.strides)} p${fmt(n.pads)}${n.countIncludePad ? ' include_pad' : ''}`;
        break;
      case 'Dense':
        attrs = ` ${n.weight.shape[1]}->${n.weight.shape[0]}`;
        break;
      case 'Gelu':
        attrs = ` ${n.approximate}`;
        break;
      case 'Poly':
        attrs = n.replaces === 'Polynomial'
          ? ` ${n.basis} deg ${n.coeffs.length - 1} ${coefficientGrain(n)}${n.mapFolded ? ' (map folded)' : ''}`
          : ` ${n.replaces}≈${n.basis} deg ${n.coeffs.length - 1} on [${n.interval.map((v) => +v.toFixed(3)).join(', ')}]${n.mapFolded ? ' (map folded)' : ''}`;
        break;
      case 'AddConstant':
      case 'MulConstant':
        attrs = ` ${fmt(n.constant.shape)}`;
        break;
      default:
        break;
    }
    lines.push(`  ${n.op}${attrs} '${n.name}' (${n.inputs.join(', ')}) -> ${fmt(n.outShape)}`);
  }
  lines.push(`output '${graph.output.name}' ${fmt(graph.output.shape)}; ${countParameters(graph)} parameters`);
  return lines.join('\n');
}
