/**
 * @module nn/onnx/state
 *
 * The ONNX lowering's state and helpers (ONNX IR spec, https://onnx.ai/onnx/repo-docs/IR.html):
 * the values seen so far (folded constants, dynamic IR values, pending pads, symbolic polynomials),
 * attribute readers, and the typed errors that name the node, the op and a fix. The lowering itself
 * is split by concern: constant folding (`const-fold.ts`), arithmetic and polynomial recognition
 * (`arithmetic.ts`), and the layers (`lower.ts`).
 */

import { GraphError, SUPPORTED_ONNX_OPS, UnsupportedOpError, inferShape, type IrNode } from '../graph.js';
import { type TensorPoly } from '../polynomial.js';
import {
  OnnxDataType, dataTypeName, findAttribute, type OnnxAttribute, type OnnxGraph, type OnnxModel,
  type OnnxNode, type OnnxTensor,
} from './model.js';
import type { ImportOptions } from './index.js';

/** Sentinel for the symbolic batch dimension inside constant shape tensors (from `Shape`). */
export const BATCH = -(2 ** 52);

export interface ConstVal {
  shape: number[];
  data: Float64Array;
  dataType: number;
  /** True if the tensor may contain the {@link BATCH} sentinel (derived from `Shape`). */
  fromShape: boolean;
}

export interface PendingPad {
  /** The Pad node (for error messages). */
  node: OnnxNode;
  /** The un-padded IR value. */
  source: string;
  /** Spatial zero padding `[top, left, bottom, right]`. */
  pads: [number, number, number, number];
}

export interface DynVal {
  /** IR value name this ONNX value resolves to. */
  ir: string;
  /** Per-sample shape. */
  shape: number[];
  /** Set when the value is a not-yet-folded zero Pad of `pad.source`. */
  pad?: PendingPad;
  /**
   * True when this ONNX value is the only handle on the IR value (no other alias), so a
   * constant applied to it may be folded into the producing Conv/Dense.
   */
  exclusive?: boolean;
  /**
   * The value as a polynomial in another IR value (Mul/Add/Sub/Div/Pow/Neg over one dynamic input
   * and constants, evaluated symbolically). When `ir` is '' the value is not materialised yet: the
   * first non-polynomial consumer emits it as one node (see `materialize`).
   */
  poly?: PolyVal;
}

export interface PolyVal {
  /** The materialised IR value the polynomial is in (never itself a polynomial value). */
  root: DynVal;
  coeffs: TensorPoly;
  /** ONNX nodes evaluated into the polynomial, in order. */
  sources: string[];
  /** The ONNX node that produced the value (names the IR node). */
  node: OnnxNode;
  /** The materialised value, once emitted (shared by aliases). */
  done?: DynVal;
}

export interface GeluMatch {
  x: string;
  erf: OnnxNode;
  last: OnnxNode;
  nodes: OnnxNode[];
}

export const INT_TYPES = new Set<number>([
  OnnxDataType.INT64,
  OnnxDataType.INT32,
  OnnxDataType.INT16,
  OnnxDataType.INT8,
  OnnxDataType.UINT8,
  OnnxDataType.UINT16,
  OnnxDataType.UINT32,
  OnnxDataType.UINT64,
  OnnxDataType.BOOL,
]);

export const SHAPE_SAFE_OPS = new Set(['Identity', 'Cast', 'Unsqueeze', 'Squeeze', 'Concat', 'Gather', 'Slice', 'Reshape', 'Shape']);
export const CONST_OPS = new Set([
  'Constant',
  'Identity',
  'Dropout',
  'Cast',
  'Unsqueeze',
  'Squeeze',
  'Concat',
  'Gather',
  'Slice',
  'Reshape',
  'Flatten',
  'Transpose',
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Neg',
  'Sqrt',
  'Reciprocal',
  'Shape',
]);

export const HINTS: Record<string, string> = {
  MaxPool: 'replace nn.MaxPool2d with nn.AvgPool2d (same kernel/stride) before training or export',
  GlobalMaxPool: 'replace the global max pool with nn.AdaptiveAvgPool2d(1) before export',
  Softmax: 'remove the final softmax from the exported model and apply it to the decrypted logits',
  LogSoftmax: 'remove the final log_softmax from the exported model and apply it to the decrypted logits',
  Sigmoid: 'replace the activation with ReLU, GELU or x*x before export (other activations are not yet approximated)',
  Tanh: 'replace the activation with ReLU, GELU or x*x before export (other activations are not yet approximated)',
  LeakyRelu: 'replace nn.LeakyReLU with nn.ReLU before training or export',
  PRelu: 'replace nn.PReLU with nn.ReLU before training or export',
  Clip: 'replace ReLU6/hardtanh/clamp with nn.ReLU before training or export',
  HardSigmoid: 'replace the activation with ReLU, GELU or x*x before export',
  HardSwish: 'replace the activation with ReLU, GELU or x*x before export',
  Erf: 'Erf is only supported inside the exported GELU pattern 0.5*x*(1+erf(x/sqrt(2))); use F.gelu',
  ConvTranspose: 'transposed convolutions are not supported; use Conv2d with upsampling outside the encrypted part',
  LayerNormalization: 'layer normalisation needs an encrypted division; use BatchNorm2d instead',
  InstanceNormalization: 'instance normalisation needs an encrypted division; use BatchNorm2d instead' };

export function genericHint(op: string): string {
  return HINTS[op] ?? `Veil supports: ${SUPPORTED_ONNX_OPS.join(', ')}; rewrite the model with these ops before export`;
}

/** What every part of the lowering shares: the ONNX graph, the values resolved so far, the emitted IR nodes. */
export abstract class LowerState {
  protected readonly g: OnnxGraph;
  protected readonly opset: number;
  protected readonly consts = new Map<string, ConstVal>();
  protected readonly undecodable = new Map<string, OnnxTensor>();
  protected readonly dyn = new Map<string, DynVal>();
  protected readonly producer = new Map<string, OnnxNode>();
  protected readonly uses = new Map<string, number>();
  protected readonly irProducer = new Map<string, IrNode>();
  protected readonly nodes: IrNode[] = [];
  protected readonly nodeNames = new Set<string>();
  protected readonly geluLast = new Map<OnnxNode, GeluMatch>();
  protected readonly geluSkip = new Set<OnnxNode>();
  protected staticBatch: number | undefined;

  constructor(
    protected readonly model: OnnxModel,
    protected readonly options: ImportOptions,
  ) {
    this.g = model.graph;
    const def = model.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx');
    this.opset = def?.version ?? 0;
  }

  /** Folds a `Constant` node (`const-fold.ts`). */
  protected abstract evalConstantNode(n: OnnxNode): ConstVal;

  /** Emits a symbolic polynomial value as one IR node (`arithmetic.ts`). */
  protected abstract materialize(v: DynVal): DynVal;

  // ------------------------------------------------------------------ setup

  protected addInitializer(t: OnnxTensor): void {
    if (t.external) {
      throw new GraphError(
        `initializer '${t.name}' is stored as external data; re-export with torch.onnx.export(..., export_params=True) for models under 2 GB, or onnx.save(model, path, save_as_external_data=False)`,
      );
    }
    if (t.data === null) {
      this.undecodable.set(t.name, t);
      return;
    }
    this.consts.set(t.name, { shape: [...t.dims], data: t.data, dataType: t.dataType, fromShape: false });
  }

  protected findInput(): { name: string; shape: number[] } {
    const inputs = this.g.inputs.filter((v) => !this.consts.has(v.name) && !this.undecodable.has(v.name));
    if (inputs.length !== 1) {
      throw new GraphError(
        `the model has ${inputs.length} data inputs (${inputs.map((v) => v.name).join(', ')}); Veil supports exactly one image/feature input`,
      );
    }
    const v = inputs[0]!;
    if (v.elemType !== 0 && v.elemType !== OnnxDataType.FLOAT && v.elemType !== OnnxDataType.DOUBLE) {
      throw new GraphError(`input '${v.name}' has element type ${dataTypeName(v.elemType)}; export the model with a float32 input`);
    }
    if (v.shape !== null && v.shape.length > 0 && typeof v.shape[0] === 'number') this.staticBatch = v.shape[0];
    if (this.options.inputShape !== undefined) {
      const s = this.options.inputShape;
      if (s.length === 0 || s.some((d) => !Number.isSafeInteger(d) || d <= 0)) {
        throw new GraphError(`options.inputShape ${JSON.stringify(s)} must be a non-empty list of positive integers (batch excluded)`);
      }
      if (v.shape !== null && v.shape.length !== s.length + 1) {
        throw new GraphError(`options.inputShape ${JSON.stringify(s)} has rank ${s.length}, but the model input '${v.name}' has rank ${v.shape.length} including the batch dimension`);
      }
      return { name: v.name, shape: [...s] };
    }
    if (v.shape === null || v.shape.length < 2) {
      throw new GraphError(
        `input '${v.name}' has ${v.shape === null ? 'no shape' : `shape ${JSON.stringify(v.shape)}`}; pass options.inputShape (per sample, e.g. [1, 28, 28])`,
      );
    }
    const per = v.shape.slice(1);
    if (per.some((d) => typeof d !== 'number' || d <= 0)) {
      throw new GraphError(
        `input '${v.name}' has symbolic or unknown dimensions ${JSON.stringify(v.shape)} beyond the batch; pass options.inputShape (per sample)`,
      );
    }
    return { name: v.name, shape: per as number[] };
  }

  // ------------------------------------------------------------------ helpers

  protected nodeName(n: OnnxNode): string {
    const base = n.name !== '' ? n.name : n.outputs[0] !== undefined && n.outputs[0] !== '' ? n.outputs[0] : n.opType;
    let name = base;
    for (let k = 1; this.nodeNames.has(name); k++) name = `${base}_${k}`;
    return name;
  }

  protected label(n: OnnxNode): string {
    return n.name !== '' ? n.name : (n.outputs[0] ?? n.opType);
  }

  protected unsupported(n: OnnxNode, attribute: string | undefined, detail: string, hint: string): never {
    throw new UnsupportedOpError(this.label(n), n.opType, attribute, detail, hint);
  }

  protected attr(n: OnnxNode, name: string): OnnxAttribute | undefined {
    return findAttribute(n, name);
  }

  protected attrInt(n: OnnxNode, name: string, dflt: number): number {
    const a = this.attr(n, name);
    if (a === undefined) return dflt;
    if (a.kind !== 'int') throw new GraphError(`attribute '${name}' must be an int, got ${a.kind}`, this.label(n));
    return a.value;
  }

  protected attrFloat(n: OnnxNode, name: string, dflt: number): number {
    const a = this.attr(n, name);
    if (a === undefined) return dflt;
    if (a.kind !== 'float') throw new GraphError(`attribute '${name}' must be a float, got ${a.kind}`, this.label(n));
    return a.value;
  }

  protected attrInts(n: OnnxNode, name: string): number[] | undefined {
    const a = this.attr(n, name);
    if (a === undefined) return undefined;
    if (a.kind !== 'ints') throw new GraphError(`attribute '${name}' must be a list of ints, got ${a.kind}`, this.label(n));
    return a.value;
  }

  protected attrString(n: OnnxNode, name: string, dflt: string): string {
    const a = this.attr(n, name);
    if (a === undefined) return dflt;
    if (a.kind !== 'string') throw new GraphError(`attribute '${name}' must be a string, got ${a.kind}`, this.label(n));
    return a.value;
  }

  /** Constant value of `name`, evaluating a producing Constant node on demand; undefined if dynamic. */
  protected constOf(name: string): ConstVal | undefined {
    const c = this.consts.get(name);
    if (c !== undefined) return c;
    const p = this.producer.get(name);
    if (p !== undefined && p.opType === 'Constant' && isDefaultDomain(p)) {
      const v = this.evalConstantNode(p);
      this.consts.set(name, v);
      return v;
    }
    return undefined;
  }

  protected scalarConst(name: string): number | undefined {
    const c = this.constOf(name);
    if (c === undefined || c.data.length !== 1 || c.fromShape) return undefined;
    return c.data[0];
  }

  protected requireConst(n: OnnxNode, index: number, what: string): ConstVal {
    const name = n.inputs[index];
    if (name === undefined || name === '') throw new GraphError(`missing required input ${index} (${what})`, this.label(n));
    const u = this.undecodable.get(name);
    if (u !== undefined) {
      this.unsupported(n, what, `initializer '${name}' has data type ${dataTypeName(u.dataType)}`, 'store weights as float32/float64 (or int64 for shapes)');
    }
    const c = this.constOf(name);
    if (c === undefined) {
      this.unsupported(
        n,
        what,
        `input ${index} ('${name}') must be a constant (initializer or Constant), but it depends on the model input`,
        'Veil multiplies encrypted data only by plaintext weights; export with export_params=True and keep weights as parameters',
      );
    }
    if (c.fromShape && c.data.includes(BATCH)) {
      this.unsupported(n, what, `input '${name}' depends on the dynamic batch size`, 'use torch.flatten(x, 1) or x.reshape(-1, features) instead of shape arithmetic');
    }
    return c;
  }

  protected dynIn(n: OnnxNode, index: number, allowPad = false): DynVal {
    return this.materialize(this.dynRaw(n, index, allowPad));
  }

  /** Like {@link dynIn}, but a polynomial value stays symbolic. */
  protected dynRaw(n: OnnxNode, index: number, allowPad = false): DynVal {
    const name = n.inputs[index];
    if (name === undefined || name === '') throw new GraphError(`missing required input ${index}`, this.label(n));
    const v = this.dyn.get(name);
    if (v === undefined) {
      throw new GraphError(`input '${name}' is used before it is defined (the graph is not topologically sorted or the value does not exist)`, this.label(n));
    }
    if (v.pad !== undefined && !allowPad) this.padNotFoldable(v.pad, `it feeds ${n.opType} '${this.label(n)}'`);
    return v;
  }

  protected padNotFoldable(p: PendingPad, why: string): never {
    this.unsupported(
      p.node,
      undefined,
      `a standalone Pad cannot be folded (${why})`,
      'Pad is only supported directly before an AveragePool or Conv; use the padding argument of the pooling/conv layer instead',
    );
  }

  protected emit(n: OnnxNode, node: IrNode, inShapes: number[][]): void {
    node.outShape = inferShape(node, inShapes);
    this.nodeNames.add(node.name);
    this.nodes.push(node);
    this.irProducer.set(node.output, node);
    this.dyn.set(n.outputs[0]!, { ir: node.output, shape: node.outShape, exclusive: true });
  }

  protected base(n: OnnxNode, inputs: string[]): Omit<IrNodeBaseLike, 'op'> {
    return { name: this.nodeName(n), inputs, output: n.outputs[0]!, outShape: [], sources: [this.label(n)] };
  }

  /** Makes the node's output another name for `v` (the value of ONNX input `from`). */
  protected alias(n: OnnxNode, v: DynVal, from: string): void {
    this.dyn.set(n.outputs[0]!, { ...v, exclusive: v.exclusive === true && (this.uses.get(from) ?? 0) === 1 });
  }

  protected pushNode(node: IrNode): void {
    this.nodeNames.add(node.name);
    this.nodes.push(node);
    this.irProducer.set(node.output, node);
  }
}

export type IrNodeBaseLike = { name: string; inputs: string[]; output: string; outShape: number[]; sources: string[]; op: string };

export function isDefaultDomain(n: OnnxNode): boolean {
  return n.domain === '' || n.domain === 'ai.onnx';
}

export function addPads(a: [number, number, number, number], b: [number, number, number, number]): [number, number, number, number] {
  return [a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3]];
}

export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}
