/**
 * @module nn/onnx/writer
 *
 * Writes an IR graph ({@link module:nn/graph}) as an ONNX model (opset 13, float32 weights) that
 * onnxruntime and PyTorch-side tools run, and that {@link importOnnx} reads back exactly: every
 * node as standard ops, so trained polynomial activations travel without a custom op.
 *  - Conv, BatchNormalization, Relu, Add, AveragePool, GlobalAveragePool, Flatten as themselves;
 *    Dense as Gemm (transB = 1); Reshape with a `[-1, ...shape]` initializer;
 *  - GELU (erf form) as the pattern PyTorch exports: Div(√2) → Erf → Add 1 → Mul x → Mul ½;
 *  - x² as Mul(x, x); constants as Add/Mul with an initializer broadcasting over the batch;
 *  - polynomial activations in Horner form, t = Mul(x, c_d); t = Add(t, c_{d−1}); t = Mul(t, x); …;
 *    y = Add(t, c_0), with each c_k an initializer of shape [1] (per layer), [C,1,1] (per channel)
 *    or [C,H,W] (per element); a Chebyshev series is converted to power coefficients first, and a
 *    per-channel input map becomes a leading Mul/Add;
 *  - sum pools (compiled graphs) as the average pool followed by Mul(window size).
 * Field numbers are those of `onnx/onnx.proto` (listed in {@link module:nn/onnx-model}).
 */
import { chebToPower } from '../../approx/fit/chebyshev.js';
import { GraphError, type IrGraph, type IrNode, type PolyNode, type Tensor, sizeOf } from '../graph.js';
import { ProtoWriter, float32Bytes, int64Bytes } from './protobuf-writer.js';
import { compactTensor, expandTo, unpackCoefficients } from '../polynomial.js';

/** Options of {@link writeOnnx}. */
export interface WriteOnnxOptions {
  /** `producer_name` (default 'veil-fhe'). */
  producerName?: string;
  /** `producer_version` (default ''). */
  producerVersion?: string;
  /** Free text stored as the model's `doc_string` (e.g. the training recipe). */
  docString?: string;
}

const FLOAT = 1;
const INT64 = 7;
const OPSET = 13;
const IR_VERSION = 7;

interface OnnxNodeSpec {
  op: string;
  name: string;
  inputs: string[];
  output: string;
  attrs?: ProtoWriter[];
}

/** Attribute builders (AttributeProto: name 1, f 2, i 3, floats 7, ints 8, type 20). */
const attrInt = (name: string, v: number) => new ProtoWriter().string(1, name).int(3, v).int(20, 2);
const attrFloat = (name: string, v: number) => new ProtoWriter().string(1, name).float(2, v).int(20, 1);
const attrInts = (name: string, v: number[]) => new ProtoWriter().string(1, name).packedInts(8, v).int(20, 7);

class GraphBuilder {
  readonly nodes: OnnxNodeSpec[] = [];
  readonly inits: ProtoWriter[] = [];
  private readonly names = new Set<string>();

  /** Adds a float32 initializer (TensorProto: dims 1, data_type 2, name 8, raw_data 9). */
  floatInit(name: string, dims: number[], data: ArrayLike<number>): string {
    const n = this.unique(name);
    if (data.length !== sizeOf(dims)) throw new GraphError(`initializer '${n}' has ${data.length} values for dims [${dims}]`);
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i]!)) throw new GraphError(`initializer '${n}' holds ${data[i]} at ${i}; the weights must be finite`);
    }
    this.inits.push(new ProtoWriter().packedInts(1, dims).int(2, FLOAT).string(8, n).bytes(9, float32Bytes(data)));
    return n;
  }

  int64Init(name: string, dims: number[], data: number[]): string {
    const n = this.unique(name);
    this.inits.push(new ProtoWriter().packedInts(1, dims).int(2, INT64).string(8, n).bytes(9, int64Bytes(data)));
    return n;
  }

  /** A constant tensor broadcasting against a per-sample value (its own per-sample shape, compacted). */
  constant(name: string, t: Tensor): string {
    const c = compactTensor(t);
    const dims = c.shape.every((d) => d === 1) ? [1] : c.shape;
    return this.floatInit(name, dims, c.data);
  }

  unique(name: string): string {
    let n = name;
    for (let k = 1; this.names.has(n); k++) n = `${name}_${k}`;
    this.names.add(n);
    return n;
  }

  add(spec: OnnxNodeSpec): string {
    this.nodes.push(spec);
    return spec.output;
  }
}

/**
 * Encodes a graph as ONNX bytes.
 *
 * @param graph - an IR graph (imported, trained, or compiled)
 * @param options - see {@link WriteOnnxOptions}
 * @returns the `.onnx` file contents
 * @throws GraphError for non-finite weights or a node the writer cannot express (tanh-GELU)
 * @example
 * ```ts
 * const bytes = writeOnnx(graph);                 // model.poly.onnx
 * const again = importOnnx(bytes);                // the same graph (float32 weights)
 * ```
 */
export function writeOnnx(graph: IrGraph, options: WriteOnnxOptions = {}): Uint8Array {
  const b = new GraphBuilder();
  b.unique(graph.input.name);
  for (const n of graph.nodes) b.unique(n.output);
  const shapes = new Map<string, number[]>([[graph.input.name, graph.input.shape]]);
  for (const n of graph.nodes) shapes.set(n.output, n.outShape);
  for (const n of graph.nodes) lowerNode(b, n, n.inputs.map((v) => shapes.get(v)!));

  const g = new ProtoWriter();
  for (const n of b.nodes) {
    const w = new ProtoWriter();
    for (const i of n.inputs) w.string(1, i);
    w.string(2, n.output).string(3, n.name).string(4, n.op);
    for (const a of n.attrs ?? []) w.message(5, a);
    g.message(1, w);
  }
  g.string(2, graph.name || 'veil');
  for (const t of b.inits) g.message(5, t);
  g.message(11, valueInfo(graph.input.name, graph.input.shape));
  g.message(12, valueInfo(graph.output.name, graph.output.shape));

  const m = new ProtoWriter()
    .int(1, IR_VERSION)
    .string(2, options.producerName ?? 'veil-fhe')
    .string(3, options.producerVersion ?? '');
  if (options.docString) m.string(6, options.docString);
  m.message(7, g).message(8, new ProtoWriter().string(1, '').int(2, OPSET));
  return m.finish();
}

/** ValueInfoProto of a float tensor [N, ...shape] with a symbolic batch. */
function valueInfo(name: string, shape: number[]): ProtoWriter {
  const dims = new ProtoWriter().message(1, new ProtoWriter().string(2, 'N'));
  for (const d of shape) dims.message(1, new ProtoWriter().int(1, d));
  const tensor = new ProtoWriter().int(1, FLOAT).message(2, dims);
  return new ProtoWriter().string(1, name).message(2, new ProtoWriter().message(1, tensor));
}

function lowerNode(b: GraphBuilder, n: IrNode, inShapes: number[][]): void {
  const x = n.inputs[0]!;
  const sub = (k: string) => b.unique(`${n.output}/${k}`);
  switch (n.op) {
    case 'Conv': {
      const ins = [x, b.floatInit(`${n.name}.weight`, n.weight.shape, n.weight.data)];
      if (n.bias) ins.push(b.floatInit(`${n.name}.bias`, [n.bias.data.length], n.bias.data));
      b.add({
        op: 'Conv', name: n.name, inputs: ins, output: n.output,
        attrs: [attrInts('kernel_shape', [...n.kernel]), attrInts('strides', [...n.strides]), attrInts('pads', [...n.pads])],
      });
      return;
    }
    case 'BatchNormalization': {
      const c = n.scale.length;
      const ins = [x, ...(['scale', 'bias', 'mean', 'var'] as const).map((k, i) => b.floatInit(`${n.name}.${k}`, [c], [n.scale, n.bias, n.mean, n.variance][i]!))];
      b.add({ op: 'BatchNormalization', name: n.name, inputs: ins, output: n.output, attrs: [attrFloat('epsilon', n.epsilon)] });
      return;
    }
    case 'Relu':
      b.add({ op: 'Relu', name: n.name, inputs: [x], output: n.output });
      return;
    case 'Gelu': {
      if (n.approximate !== 'none') throw new GraphError("the ONNX writer emits GELU in its erf form only (approximate 'none')", n.name);
      const d = b.add({ op: 'Div', name: `${n.name}/div`, inputs: [x, b.floatInit(`${n.name}.sqrt2`, [], [Math.SQRT2])], output: sub('div') });
      const e = b.add({ op: 'Erf', name: n.name, inputs: [d], output: sub('erf') });
      const a = b.add({ op: 'Add', name: `${n.name}/add`, inputs: [e, b.floatInit(`${n.name}.one`, [], [1])], output: sub('add') });
      const m = b.add({ op: 'Mul', name: `${n.name}/mul`, inputs: [x, a], output: sub('mul') });
      b.add({ op: 'Mul', name: `${n.name}/half`, inputs: [m, b.floatInit(`${n.name}.half`, [], [0.5])], output: n.output });
      return;
    }
    case 'Square':
      b.add({ op: 'Mul', name: n.name, inputs: [x, x], output: n.output });
      return;
    case 'Add':
      b.add({ op: 'Add', name: n.name, inputs: [x, n.inputs[1]!], output: n.output });
      return;
    case 'AddConstant':
    case 'MulConstant':
      b.add({ op: n.op === 'AddConstant' ? 'Add' : 'Mul', name: n.name, inputs: [x, b.constant(`${n.name}.constant`, n.constant)], output: n.output });
      return;
    case 'AveragePool': {
      const attrs = [attrInts('kernel_shape', [...n.kernel]), attrInts('strides', [...n.strides]), attrInts('pads', [...n.pads]), attrInt('count_include_pad', n.countIncludePad || n.sum ? 1 : 0)];
      const out = n.sum ? sub('mean') : n.output;
      b.add({ op: 'AveragePool', name: n.name, inputs: [x], output: out, attrs });
      if (n.sum) b.add({ op: 'Mul', name: `${n.name}/sum`, inputs: [out, b.floatInit(`${n.name}.window`, [1], [n.kernel[0] * n.kernel[1]])], output: n.output });
      return;
    }
    case 'GlobalAveragePool': {
      const out = n.sum ? sub('mean') : n.output;
      b.add({ op: 'GlobalAveragePool', name: n.name, inputs: [x], output: out });
      const s = inShapes[0]!;
      if (n.sum) b.add({ op: 'Mul', name: `${n.name}/sum`, inputs: [out, b.floatInit(`${n.name}.window`, [1], [sizeOf(s) / s[0]!])], output: n.output });
      return;
    }
    case 'Flatten':
      b.add({ op: 'Flatten', name: n.name, inputs: [x], output: n.output, attrs: [attrInt('axis', 1)] });
      return;
    case 'Reshape':
      b.add({ op: 'Reshape', name: n.name, inputs: [x, b.int64Init(`${n.name}.shape`, [n.shape.length + 1], [-1, ...n.shape])], output: n.output });
      return;
    case 'Dense': {
      const ins = [x, b.floatInit(`${n.name}.weight`, n.weight.shape, n.weight.data)];
      if (n.bias) ins.push(b.floatInit(`${n.name}.bias`, [n.bias.data.length], n.bias.data));
      b.add({ op: 'Gemm', name: n.name, inputs: ins, output: n.output, attrs: [attrInt('transB', 1)] });
      return;
    }
    case 'Poly':
      lowerPoly(b, n);
      return;
  }
}

/** Power coefficients c_0 … c_d of a Poly node as tensors over its per-sample shape. */
export function powerCoefficients(p: PolyNode): Tensor[] {
  const rank = p.outShape.length;
  const ones = new Array<number>(rank).fill(1);
  if (!p.coeffTensor) {
    const c = p.basis === 'chebyshev' ? chebToPower(p.coeffs) : p.coeffs;
    return Array.from(c, (v) => ({ shape: ones, data: Float64Array.of(v) }));
  }
  const cs = unpackCoefficients(p.coeffTensor);
  if (p.basis === 'power') return cs;
  // Chebyshev per element → power per element
  const shape = p.coeffTensor.shape.slice(1);
  const per = sizeOf(shape);
  const full = cs.map((c) => expandTo(c, shape));
  const out = cs.map(() => new Float64Array(per));
  const col = new Float64Array(cs.length);
  for (let e = 0; e < per; e++) {
    for (let k = 0; k < cs.length; k++) col[k] = full[k]![e]!;
    const pw = chebToPower(col);
    for (let k = 0; k < cs.length; k++) out[k]![e] = pw[k]!;
  }
  return out.map((data) => ({ shape: [...shape], data }));
}

/** A polynomial activation in Horner form (the input map first, when it is not folded). */
function lowerPoly(b: GraphBuilder, p: PolyNode): void {
  let x = p.inputs[0]!;
  const name = p.name;
  const C = p.mapScale.length;
  const chShape = [C, ...new Array<number>(p.outShape.length - 1).fill(1)];
  if (!p.mapFolded && !(p.mapScale.every((v) => v === 1) && p.mapShift.every((v) => v === 0))) {
    const s = b.add({ op: 'Mul', name: `${name}/map_scale`, inputs: [x, b.constant(`${name}.map_scale`, { shape: chShape, data: p.mapScale })], output: b.unique(`${p.output}/map_scale`) });
    x = b.add({ op: 'Add', name: `${name}/map_shift`, inputs: [s, b.constant(`${name}.map_shift`, { shape: chShape, data: p.mapShift })], output: b.unique(`${p.output}/map`) });
  }
  const cs = powerCoefficients(p);
  const d = cs.length - 1;
  const isAll = (t: Tensor, v: number) => t.data.every((u) => u === v);
  if (d === 0) {
    const z = b.add({ op: 'Mul', name: `${name}/zero`, inputs: [x, b.floatInit(`${name}.zero`, [1], [0])], output: b.unique(`${p.output}/zero`) });
    b.add({ op: 'Add', name, inputs: [z, b.constant(`${name}.c0`, cs[0]!)], output: p.output });
    return;
  }
  // t = c_d·x (or x when c_d = 1); then for k = d−1 … 1: t = (t + c_k)·x; y = t + c_0
  let t = isAll(cs[d]!, 1) ? x : b.add({ op: 'Mul', name: `${name}/c${d}`, inputs: [x, b.constant(`${name}.c${d}`, cs[d]!)], output: b.unique(`${p.output}/t${d}`) });
  for (let k = d - 1; k >= 1; k--) {
    if (!isAll(cs[k]!, 0)) t = b.add({ op: 'Add', name: `${name}/c${k}`, inputs: [t, b.constant(`${name}.c${k}`, cs[k]!)], output: b.unique(`${p.output}/s${k}`) });
    t = b.add({ op: 'Mul', name: `${name}/x${k}`, inputs: [t, x], output: b.unique(`${p.output}/t${k}`) });
  }
  b.add({ op: 'Add', name, inputs: [t, b.constant(`${name}.c0`, cs[0]!)], output: p.output });
}
