/**
 * @module nn/onnx
 *
 * {@link importOnnx} decodes an ONNX file ({@link module:nn/onnx-model}) and lowers the graph to
 * Veil's IR ({@link module:nn/graph}): constants are folded, exporter patterns are recognised
 * (GELU's erf expansion, `Mul(x,x)`, `Pad`+`AveragePool`, `MatMul`+`Add`, shape arithmetic feeding
 * `Reshape`), and every other op or attribute outside the supported set is rejected with an
 * {@link UnsupportedOpError}.
 */

import {
  GraphError,
  SUPPORTED_ONNX_OPS,
  UnsupportedOpError,
  inferShape,
  sizeOf,
  validateGraph,
  type AveragePoolNode,
  type BatchNormNode,
  type ConvNode,
  type DenseNode,
  type GeluNode,
  type IrGraph,
  type IrNode,
  type PolyNode,
  type Tensor,
} from './graph.js';
import {
  type TensorPoly, identityPoly, isScalarPoly, packCoefficients, polyAdd, polyDegree, polyMul, polyPow, polyScale, scalarTensor,
} from './polynomial.js';
import {
  OnnxDataType, dataTypeName, decodeOnnxModel, findAttribute, type OnnxAttribute, type OnnxGraph, type OnnxModel, type OnnxNode,
  type OnnxTensor,
} from './onnx-model.js';

export * from './onnx-model.js';

// ============================================================================ lowering to the IR

/** Options for {@link importOnnx} / {@link lowerOnnx}. */
export interface ImportOptions {
  /**
   * Per-sample input shape (batch excluded), e.g. `[1, 28, 28]`. Needed only when the model's
   * input shape is missing or symbolic beyond the batch dimension; overrides the model's shape.
   */
  inputShape?: number[];
}

/**
 * Decodes an ONNX file and lowers it to Veil's IR.
 *
 * @param bytes - the contents of a `.onnx` file
 * @param options - see {@link ImportOptions}
 * @returns a validated {@link IrGraph}
 * @throws OnnxParseError for malformed bytes, UnsupportedOpError for ops/attributes outside the
 *   supported set (the message names node, op, attribute and a fix), GraphError for
 *   inconsistent graphs (shape mismatches, undefined values)
 */
export function importOnnx(bytes: Uint8Array, options: ImportOptions = {}): IrGraph {
  return lowerOnnx(decodeOnnxModel(bytes), options);
}

/** Sentinel for the symbolic batch dimension inside constant shape tensors (from `Shape`). */
const BATCH = -(2 ** 52);

interface ConstVal {
  shape: number[];
  data: Float64Array;
  dataType: number;
  /** True if the tensor may contain the {@link BATCH} sentinel (derived from `Shape`). */
  fromShape: boolean;
}

interface PendingPad {
  /** The Pad node (for error messages). */
  node: OnnxNode;
  /** The un-padded IR value. */
  source: string;
  /** Spatial zero padding `[top, left, bottom, right]`. */
  pads: [number, number, number, number];
}

interface DynVal {
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

interface PolyVal {
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

interface GeluMatch {
  x: string;
  erf: OnnxNode;
  last: OnnxNode;
  nodes: OnnxNode[];
}

const INT_TYPES = new Set<number>([
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

const SHAPE_SAFE_OPS = new Set(['Identity', 'Cast', 'Unsqueeze', 'Squeeze', 'Concat', 'Gather', 'Slice', 'Reshape', 'Shape']);
const CONST_OPS = new Set([
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

const HINTS: Record<string, string> = {
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
  InstanceNormalization: 'instance normalisation needs an encrypted division; use BatchNorm2d instead',
};

function genericHint(op: string): string {
  return HINTS[op] ?? `Veil supports: ${SUPPORTED_ONNX_OPS.join(', ')}; rewrite the model with these ops before export`;
}

/**
 * Lowers a decoded ONNX model to Veil's IR (see {@link importOnnx}).
 *
 * @param model - a model from {@link decodeOnnxModel}
 * @param options - see {@link ImportOptions}
 * @returns a validated {@link IrGraph}
 */
export function lowerOnnx(model: OnnxModel, options: ImportOptions = {}): IrGraph {
  return new Lowerer(model, options).run();
}

class Lowerer {
  private readonly g: OnnxGraph;
  private readonly opset: number;
  private readonly consts = new Map<string, ConstVal>();
  private readonly undecodable = new Map<string, OnnxTensor>();
  private readonly dyn = new Map<string, DynVal>();
  private readonly producer = new Map<string, OnnxNode>();
  private readonly uses = new Map<string, number>();
  private readonly irProducer = new Map<string, IrNode>();
  private readonly nodes: IrNode[] = [];
  private readonly nodeNames = new Set<string>();
  private readonly geluLast = new Map<OnnxNode, GeluMatch>();
  private readonly geluSkip = new Set<OnnxNode>();
  private staticBatch: number | undefined;

  constructor(
    private readonly model: OnnxModel,
    private readonly options: ImportOptions,
  ) {
    this.g = model.graph;
    const def = model.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx');
    this.opset = def?.version ?? 0;
  }

  run(): IrGraph {
    const g = this.g;
    for (const t of g.initializers) this.addInitializer(t);
    for (const n of g.nodes) {
      for (const o of n.outputs) if (o !== '') this.producer.set(o, n);
      for (const i of n.inputs) if (i !== '') this.uses.set(i, (this.uses.get(i) ?? 0) + 1);
    }
    for (const o of g.outputs) this.uses.set(o.name, (this.uses.get(o.name) ?? 0) + 1);

    const input = this.findInput();
    this.dyn.set(input.name, { ir: input.name, shape: input.shape });

    for (const n of g.nodes) if (n.opType === 'Erf' && isDefaultDomain(n)) this.matchGelu(n);

    for (const n of g.nodes) this.lowerNode(n);

    if (g.outputs.length !== 1) {
      throw new GraphError(`the model has ${g.outputs.length} outputs; Veil supports exactly one (the logits). Export a model returning a single tensor`);
    }
    const outName = g.outputs[0]!.name;
    const raw = this.dyn.get(outName);
    const out = raw === undefined ? undefined : this.materialize(raw);
    if (out === undefined) {
      if (this.consts.has(outName)) throw new GraphError(`graph output '${outName}' is a constant that does not depend on the input`);
      throw new GraphError(`graph output '${outName}' is never produced`);
    }
    if (out.pad !== undefined) this.padNotFoldable(out.pad, 'it is the graph output');

    const nodes = prune(this.nodes, out.ir);
    const producer = this.model.producerName !== '' ? `, ${this.model.producerName} ${this.model.producerVersion}`.trimEnd() : '';
    const graph: IrGraph = {
      name: g.name,
      input: { name: input.name, shape: input.shape },
      output: { name: out.ir, shape: [...out.shape] },
      nodes,
      origin: `onnx ir ${this.model.irVersion} opset ${this.opset}${producer}`,
    };
    validateGraph(graph);
    return graph;
  }

  // ------------------------------------------------------------------ setup

  private addInitializer(t: OnnxTensor): void {
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

  private findInput(): { name: string; shape: number[] } {
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

  private nodeName(n: OnnxNode): string {
    const base = n.name !== '' ? n.name : n.outputs[0] !== undefined && n.outputs[0] !== '' ? n.outputs[0] : n.opType;
    let name = base;
    for (let k = 1; this.nodeNames.has(name); k++) name = `${base}_${k}`;
    return name;
  }

  private label(n: OnnxNode): string {
    return n.name !== '' ? n.name : (n.outputs[0] ?? n.opType);
  }

  private unsupported(n: OnnxNode, attribute: string | undefined, detail: string, hint: string): never {
    throw new UnsupportedOpError(this.label(n), n.opType, attribute, detail, hint);
  }

  private attr(n: OnnxNode, name: string): OnnxAttribute | undefined {
    return findAttribute(n, name);
  }

  private attrInt(n: OnnxNode, name: string, dflt: number): number {
    const a = this.attr(n, name);
    if (a === undefined) return dflt;
    if (a.kind !== 'int') throw new GraphError(`attribute '${name}' must be an int, got ${a.kind}`, this.label(n));
    return a.value;
  }

  private attrFloat(n: OnnxNode, name: string, dflt: number): number {
    const a = this.attr(n, name);
    if (a === undefined) return dflt;
    if (a.kind !== 'float') throw new GraphError(`attribute '${name}' must be a float, got ${a.kind}`, this.label(n));
    return a.value;
  }

  private attrInts(n: OnnxNode, name: string): number[] | undefined {
    const a = this.attr(n, name);
    if (a === undefined) return undefined;
    if (a.kind !== 'ints') throw new GraphError(`attribute '${name}' must be a list of ints, got ${a.kind}`, this.label(n));
    return a.value;
  }

  private attrString(n: OnnxNode, name: string, dflt: string): string {
    const a = this.attr(n, name);
    if (a === undefined) return dflt;
    if (a.kind !== 'string') throw new GraphError(`attribute '${name}' must be a string, got ${a.kind}`, this.label(n));
    return a.value;
  }

  /** Constant value of `name`, evaluating a producing Constant node on demand; undefined if dynamic. */
  private constOf(name: string): ConstVal | undefined {
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

  private scalarConst(name: string): number | undefined {
    const c = this.constOf(name);
    if (c === undefined || c.data.length !== 1 || c.fromShape) return undefined;
    return c.data[0];
  }

  private requireConst(n: OnnxNode, index: number, what: string): ConstVal {
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

  private dynIn(n: OnnxNode, index: number, allowPad = false): DynVal {
    return this.materialize(this.dynRaw(n, index, allowPad));
  }

  /** Like {@link dynIn}, but a polynomial value stays symbolic. */
  private dynRaw(n: OnnxNode, index: number, allowPad = false): DynVal {
    const name = n.inputs[index];
    if (name === undefined || name === '') throw new GraphError(`missing required input ${index}`, this.label(n));
    const v = this.dyn.get(name);
    if (v === undefined) {
      throw new GraphError(`input '${name}' is used before it is defined (the graph is not topologically sorted or the value does not exist)`, this.label(n));
    }
    if (v.pad !== undefined && !allowPad) this.padNotFoldable(v.pad, `it feeds ${n.opType} '${this.label(n)}'`);
    return v;
  }

  private padNotFoldable(p: PendingPad, why: string): never {
    this.unsupported(
      p.node,
      undefined,
      `a standalone Pad cannot be folded (${why})`,
      'Pad is only supported directly before an AveragePool or Conv; use the padding argument of the pooling/conv layer instead',
    );
  }

  private emit(n: OnnxNode, node: IrNode, inShapes: number[][]): void {
    node.outShape = inferShape(node, inShapes);
    this.nodeNames.add(node.name);
    this.nodes.push(node);
    this.irProducer.set(node.output, node);
    this.dyn.set(n.outputs[0]!, { ir: node.output, shape: node.outShape, exclusive: true });
  }

  private base(n: OnnxNode, inputs: string[]): Omit<IrNodeBaseLike, 'op'> {
    return { name: this.nodeName(n), inputs, output: n.outputs[0]!, outShape: [], sources: [this.label(n)] };
  }

  /** Makes the node's output another name for `v` (the value of ONNX input `from`). */
  private alias(n: OnnxNode, v: DynVal, from: string): void {
    this.dyn.set(n.outputs[0]!, { ...v, exclusive: v.exclusive === true && (this.uses.get(from) ?? 0) === 1 });
  }

  // ------------------------------------------------------------------ GELU pattern

  /** Recognises 0.5·x·(1 + erf(x/√2)) in the Div/Erf/Add/Mul/Mul orderings exporters use. */
  private matchGelu(erf: OnnxNode): void {
    const single = (v: string): OnnxNode | undefined => {
      if ((this.uses.get(v) ?? 0) !== 1) return undefined;
      return this.g.nodes.find((m) => m.inputs.includes(v));
    };
    const near = (v: number | undefined, want: number): boolean => v !== undefined && Math.abs(v - want) <= 1e-6 * Math.abs(want);
    const other = (m: OnnxNode, v: string): string | undefined =>
      m.inputs.length === 2 && (m.inputs[0] === v || m.inputs[1] === v) ? (m.inputs[0] === v ? m.inputs[1] : m.inputs[0]) : undefined;

    const e = erf.inputs[0];
    if (e === undefined || (this.uses.get(e) ?? 0) !== 1) return;
    const d = this.producer.get(e);
    if (d === undefined) return;
    let x: string | undefined;
    if (d.opType === 'Div' && d.inputs.length === 2 && near(this.scalarConst(d.inputs[1]!), Math.SQRT2)) x = d.inputs[0];
    else if (d.opType === 'Mul' && d.inputs.length === 2) {
      if (near(this.scalarConst(d.inputs[1]!), Math.SQRT1_2)) x = d.inputs[0];
      else if (near(this.scalarConst(d.inputs[0]!), Math.SQRT1_2)) x = d.inputs[1];
    }
    if (x === undefined || this.constOf(x) !== undefined) return;
    const add = single(erf.outputs[0]!);
    if (add === undefined || add.opType !== 'Add' || !near(this.scalarConst(other(add, erf.outputs[0]!) ?? ''), 1)) return;
    const a = add.outputs[0]!;
    const m = single(a);
    if (m === undefined || m.opType !== 'Mul') return;
    const mo = other(m, a);
    if (mo === undefined) return;
    let match: GeluMatch | undefined;
    if (mo === x) {
      // Mul(x, 1+erf) -> Mul(., 0.5)
      const m2 = single(m.outputs[0]!);
      if (m2 !== undefined && m2.opType === 'Mul' && near(this.scalarConst(other(m2, m.outputs[0]!) ?? ''), 0.5)) {
        match = { x, erf, last: m2, nodes: [d, erf, add, m, m2] };
      }
    } else if (near(this.scalarConst(mo), 0.5)) {
      // Mul(1+erf, 0.5) -> Mul(x, .)
      const m2 = single(m.outputs[0]!);
      if (m2 !== undefined && m2.opType === 'Mul' && other(m2, m.outputs[0]!) === x) match = { x, erf, last: m2, nodes: [d, erf, add, m, m2] };
    } else {
      // Mul(x, 0.5) -> Mul(., 1+erf)
      const h = this.producer.get(mo);
      if (h !== undefined && h.opType === 'Mul' && (this.uses.get(mo) ?? 0) === 1) {
        const hx = h.inputs.includes(x) ? other(h, x) : undefined;
        if (hx !== undefined && near(this.scalarConst(hx), 0.5)) match = { x, erf, last: m, nodes: [h, d, erf, add, m] };
      }
    }
    if (match === undefined || match.nodes.some((k) => !isDefaultDomain(k) || this.geluSkip.has(k))) return;
    for (const k of match.nodes) this.geluSkip.add(k);
    this.geluLast.set(match.last, match);
  }

  // ------------------------------------------------------------------ node dispatch

  private lowerNode(n: OnnxNode): void {
    if (!isDefaultDomain(n)) {
      this.unsupported(n, undefined, `op from custom domain '${n.domain}'`, 'export with standard ONNX ops only (no custom or contrib domains)');
    }
    if (n.outputs.length === 0 || n.outputs[0] === '') throw new GraphError('node has no output', this.label(n));
    const gelu = this.geluLast.get(n);
    if (gelu !== undefined) {
      const xr = this.dyn.get(gelu.x);
      if (xr === undefined) throw new GraphError(`GELU input '${gelu.x}' is not defined before use`, this.label(n));
      const xv = this.materialize(xr);
      if (xv.pad !== undefined) this.padNotFoldable(xv.pad, 'it feeds a GELU');
      const node: GeluNode = {
        ...this.base(n, [xv.ir]),
        name: this.nodeName(gelu.erf),
        op: 'Gelu',
        approximate: 'none',
        sources: gelu.nodes.map((k) => this.label(k)),
      };
      this.emit(n, node, [xv.shape]);
      return;
    }
    if (this.geluSkip.has(n)) return;

    if (n.opType === 'Constant') {
      this.consts.set(n.outputs[0]!, this.constOf(n.outputs[0]!) ?? this.evalConstantNode(n));
      return;
    }
    if (n.opType === 'Shape') {
      this.lowerShape(n);
      return;
    }
    const present = n.inputs.filter((i) => i !== '');
    const allConst = present.every((i) => this.constOf(i) !== undefined || this.undecodable.has(i));
    if (allConst && present.length > 0) {
      if (!CONST_OPS.has(n.opType)) this.unsupported(n, undefined, 'op applied to constants only', 'constant-fold the model before export (do_constant_folding=True)');
      this.evalConstNode(n);
      return;
    }
    this.lowerDynamic(n);
  }

  private lowerDynamic(n: OnnxNode): void {
    switch (n.opType) {
      case 'Conv':
        return this.lowerConv(n);
      case 'BatchNormalization':
        return this.lowerBatchNorm(n);
      case 'Relu': {
        const x = this.dynIn(n, 0);
        this.emit(n, { ...this.base(n, [x.ir]), op: 'Relu' }, [x.shape]);
        return;
      }
      case 'Gelu':
        return this.lowerGelu(n);
      case 'Add':
      case 'Sub':
      case 'Mul':
      case 'Div':
      case 'Pow':
      case 'Neg':
        return this.lowerArithmetic(n);
      case 'AveragePool':
        return this.lowerAveragePool(n);
      case 'Pad':
        return this.lowerPad(n);
      case 'GlobalAveragePool': {
        const x = this.dynIn(n, 0);
        if (x.shape.length !== 3) this.unsupported(n, undefined, `input has per-sample shape [${x.shape}]`, 'GlobalAveragePool is supported on [N,C,H,W] tensors only');
        this.emit(n, { ...this.base(n, [x.ir]), op: 'GlobalAveragePool' }, [x.shape]);
        return;
      }
      case 'Flatten':
        return this.lowerFlatten(n);
      case 'Reshape':
        return this.lowerReshape(n);
      case 'Gemm':
        return this.lowerGemm(n);
      case 'MatMul':
        return this.lowerMatMul(n);
      case 'Identity':
        this.alias(n, this.dynRaw(n, 0, true), n.inputs[0]!);
        return;
      case 'Dropout':
        return this.lowerDropout(n);
      default:
        this.unsupported(n, undefined, `op ${n.opType} is not supported`, genericHint(n.opType));
    }
  }

  // ------------------------------------------------------------------ ops

  private lowerConv(n: OnnxNode): void {
    const xin = this.dynIn(n, 0, true);
    const w = this.requireConst(n, 1, 'W');
    if (w.shape.length !== 4) this.unsupported(n, 'W', `weight has shape [${w.shape}]`, 'only 2-D convolutions (nn.Conv2d) are supported');
    const group = this.attrInt(n, 'group', 1);
    if (group !== 1) {
      this.unsupported(n, 'group', `group=${group} (grouped/depthwise convolution)`, 'use groups=1 in nn.Conv2d (depthwise convolutions are not supported yet)');
    }
    const dil = this.attrInts(n, 'dilations');
    if (dil !== undefined && dil.some((d) => d !== 1)) {
      this.unsupported(n, 'dilations', `dilations=[${dil}]`, 'use dilation=1 in nn.Conv2d');
    }
    const ks = this.attrInts(n, 'kernel_shape');
    if (ks !== undefined && (ks.length !== 2 || ks[0] !== w.shape[2] || ks[1] !== w.shape[3])) {
      throw new GraphError(`kernel_shape [${ks}] does not match the weight shape [${w.shape}]`, this.label(n));
    }
    let b: Tensor | null = null;
    if (n.inputs.length > 2 && n.inputs[2] !== '') {
      const bc = this.requireConst(n, 2, 'B');
      b = { shape: [bc.data.length], data: new Float64Array(bc.data) };
    }
    const strides = this.pair(n, 'strides', 1);
    let x = xin;
    let pads = this.spatialPads(n, xin.shape, [w.shape[2]!, w.shape[3]!], strides);
    if (xin.pad !== undefined) {
      pads = addPads(pads, xin.pad.pads);
      x = this.dyn.get(xin.pad.source) ?? this.undefinedValue(n, xin.pad.source);
    }
    if (x.shape.length !== 3) this.unsupported(n, undefined, `input has per-sample shape [${x.shape}]`, 'only 2-D convolutions on [N,C,H,W] inputs are supported');
    const node: ConvNode = {
      ...this.base(n, [x.ir]),
      op: 'Conv',
      weight: { shape: [...w.shape], data: new Float64Array(w.data) },
      bias: b,
      kernel: [w.shape[2]!, w.shape[3]!],
      strides,
      pads,
    };
    if (xin.pad !== undefined) node.sources.unshift(this.label(xin.pad.node));
    this.emit(n, node, [x.shape]);
  }

  private undefinedValue(n: OnnxNode, name: string): never {
    throw new GraphError(`value '${name}' is not defined`, this.label(n));
  }

  private pair(n: OnnxNode, name: string, dflt: number): [number, number] {
    const v = this.attrInts(n, name);
    if (v === undefined) return [dflt, dflt];
    if (v.length !== 2) this.unsupported(n, name, `${name}=[${v}] is not 2-D`, 'only 2-D convolution and pooling are supported');
    return [v[0]!, v[1]!];
  }

  /** Resolves `pads` / `auto_pad` to `[top, left, bottom, right]`. */
  private spatialPads(n: OnnxNode, xShape: number[], kernel: [number, number], strides: [number, number]): [number, number, number, number] {
    const autoPad = this.attrString(n, 'auto_pad', 'NOTSET');
    if (autoPad === 'NOTSET') {
      const p = this.attrInts(n, 'pads');
      if (p === undefined) return [0, 0, 0, 0];
      if (p.length !== 4) this.unsupported(n, 'pads', `pads=[${p}] is not 2-D`, 'only 2-D convolution and pooling are supported');
      if (p.some((v) => v < 0)) this.unsupported(n, 'pads', `negative pads [${p}]`, 'use non-negative padding');
      return [p[0]!, p[1]!, p[2]!, p[3]!];
    }
    if (autoPad === 'VALID') return [0, 0, 0, 0];
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      const out: [number, number, number, number] = [0, 0, 0, 0];
      for (let i = 0; i < 2; i++) {
        const size = xShape[i + 1] ?? 1;
        const total = Math.max((Math.ceil(size / strides[i]!) - 1) * strides[i]! + kernel[i]! - size, 0);
        const small = Math.floor(total / 2);
        out[i] = autoPad === 'SAME_UPPER' ? small : total - small;
        out[i + 2] = total - out[i]!;
      }
      return out;
    }
    this.unsupported(n, 'auto_pad', `auto_pad='${autoPad}'`, "use explicit padding (auto_pad 'NOTSET')");
  }

  private lowerBatchNorm(n: OnnxNode): void {
    const x = this.dynIn(n, 0);
    const training = this.attrInt(n, 'training_mode', 0);
    if (training !== 0 || n.outputs.slice(1).some((o) => o !== '' && (this.uses.get(o) ?? 0) > 0)) {
      this.unsupported(n, 'training_mode', 'BatchNormalization exported in training mode', 'call model.eval() before torch.onnx.export');
    }
    if (this.attrInt(n, 'spatial', 1) !== 1) this.unsupported(n, 'spatial', 'spatial=0 (per-activation statistics)', 'use per-channel BatchNorm (spatial=1)');
    const [scale, bias, mean, variance] = [1, 2, 3, 4].map((k, i) => this.requireConst(n, k, ['scale', 'B', 'input_mean', 'input_var'][i]!).data) as [
      Float64Array,
      Float64Array,
      Float64Array,
      Float64Array,
    ];
    const node: BatchNormNode = {
      ...this.base(n, [x.ir]),
      op: 'BatchNormalization',
      scale: new Float64Array(scale),
      bias: new Float64Array(bias),
      mean: new Float64Array(mean),
      variance: new Float64Array(variance),
      epsilon: this.attrFloat(n, 'epsilon', 1e-5),
    };
    this.emit(n, node, [x.shape]);
  }

  private lowerGelu(n: OnnxNode): void {
    const x = this.dynIn(n, 0);
    const approx = this.attrString(n, 'approximate', 'none');
    if (approx !== 'none' && approx !== 'tanh') this.unsupported(n, 'approximate', `approximate='${approx}'`, "use approximate='none' or 'tanh'");
    this.emit(n, { ...this.base(n, [x.ir]), op: 'Gelu', approximate: approx }, [x.shape]);
  }

  /** Aligns an ONNX-broadcast constant to a per-sample value shape (batch dim must be 1). */
  private perSampleConstant(n: OnnxNode, c: ConstVal, shape: number[]): Tensor {
    const full = shape.length + 1;
    if (c.shape.length > full) this.unsupported(n, undefined, `constant of shape [${c.shape}] has higher rank than the input`, 'use a constant that broadcasts over one sample');
    const aligned = [...new Array<number>(full - c.shape.length).fill(1), ...c.shape];
    if (aligned[0] !== 1) this.unsupported(n, undefined, `constant of shape [${c.shape}] varies along the batch dimension`, 'use a constant that broadcasts over one sample');
    const per = aligned.slice(1);
    if (per.some((d, i) => d !== 1 && d !== shape[i])) {
      throw new GraphError(`constant of shape [${c.shape}] does not broadcast to the input's per-sample shape [${shape}]`, this.label(n));
    }
    return { shape: per, data: new Float64Array(c.data) };
  }

  /** If `k` is per output channel for a Conv/Dense producer with no other consumer, returns it. */
  private foldTarget(onnxValue: string, v: DynVal, k: Tensor): ConvNode | DenseNode | undefined {
    const p = this.irProducer.get(v.ir);
    if (p === undefined || (p.op !== 'Conv' && p.op !== 'Dense') || p.output !== v.ir || v.exclusive !== true) return undefined;
    if ((this.uses.get(onnxValue) ?? 0) !== 1 || this.g.outputs.some((o) => o.name === onnxValue)) return undefined;
    const channels = p.weight.shape[0]!;
    if (k.shape.slice(1).some((d) => d !== 1)) return undefined;
    if (k.shape[0] !== 1 && k.shape[0] !== channels) return undefined;
    return p;
  }

  private addConstant(n: OnnxNode, xName: string, x: DynVal, c: ConstVal, sign: number): void {
    const k = this.perSampleConstant(n, c, x.shape);
    if (sign < 0) for (let i = 0; i < k.data.length; i++) k.data[i] = -k.data[i]!;
    const p = this.foldTarget(xName, x, k);
    if (p !== undefined) {
      const co = p.weight.shape[0]!;
      const bias = p.bias === null ? new Float64Array(co) : new Float64Array(p.bias.data);
      for (let o = 0; o < co; o++) bias[o]! += k.data.length === 1 ? k.data[0]! : k.data[o]!;
      p.bias = { shape: [co], data: bias };
      p.sources.push(this.label(n));
      this.alias(n, x, xName);
      return;
    }
    this.emit(n, { ...this.base(n, [x.ir]), op: 'AddConstant', constant: k }, [x.shape]);
  }

  private mulConstant(n: OnnxNode, xName: string, x: DynVal, k: Tensor): void {
    const p = this.foldTarget(xName, x, k);
    if (p !== undefined) {
      const co = p.weight.shape[0]!;
      const per = p.weight.data.length / co;
      const w = new Float64Array(p.weight.data);
      for (let o = 0; o < co; o++) {
        const s = k.data.length === 1 ? k.data[0]! : k.data[o]!;
        for (let j = 0; j < per; j++) w[o * per + j]! *= s;
      }
      p.weight = { shape: [...p.weight.shape], data: w };
      if (p.bias !== null) {
        const b = new Float64Array(p.bias.data);
        for (let o = 0; o < co; o++) b[o]! *= k.data.length === 1 ? k.data[0]! : k.data[o]!;
        p.bias = { shape: [co], data: b };
      }
      p.sources.push(this.label(n));
      this.alias(n, x, xName);
      return;
    }
    this.emit(n, { ...this.base(n, [x.ir]), op: 'MulConstant', constant: k }, [x.shape]);
  }

  // ------------------------------------------------------------------ polynomials

  /**
   * Add/Sub/Mul/Div/Pow/Neg. Whatever is a polynomial in one dynamic value is evaluated
   * symbolically (`polynomial.ts`): a degree ≥ 2 result, or anything computed from a symbolic
   * value, stays symbolic until a non-polynomial consumer needs it, and is then emitted as one
   * node. Affine ops on a materialised value lower as before (MulConstant/AddConstant, or folded
   * into the producing Conv/Dense) and remember their polynomial form for later ops.
   */
  private lowerArithmetic(n: OnnxNode): void {
    const p = this.polynomialOf(n);
    if (p === 'symbolic') return;
    if (n.opType === 'Add' || n.opType === 'Sub') this.lowerAddSub(n);
    else if (n.opType === 'Mul' || n.opType === 'Div') this.lowerMulDiv(n);
    else if (n.opType === 'Pow') this.lowerPow(n);
    else this.unsupported(n, undefined, 'negation of an input-dependent tensor', 'fold the negation into the preceding layer');
    const out = this.dyn.get(n.outputs[0]!);
    // a new node was emitted (not folded into a Conv/Dense, which changes what its IR value means)
    if (p !== undefined && out !== undefined && out.ir === n.outputs[0]) out.poly = p;
  }

  /**
   * The node's result as a polynomial. 'symbolic' when it was recorded as a symbolic value;
   * undefined when it is not a polynomial in one value (the caller lowers it, or rejects it).
   */
  private polynomialOf(n: OnnxNode): PolyVal | 'symbolic' | undefined {
    const arity = n.opType === 'Neg' ? 1 : 2;
    if (n.inputs.length !== arity) return undefined;
    const ins: ({ v: DynVal } | { c: ConstVal })[] = [];
    for (const name of n.inputs) {
      const c = this.constOf(name);
      if (c !== undefined) ins.push({ c });
      else {
        const v = this.dyn.get(name);
        if (v === undefined || v.pad !== undefined) return undefined;
        ins.push({ v });
      }
    }
    const dyn = ins.flatMap((x) => ('v' in x ? [x.v] : []));
    const roots = dyn.map((v) => v.poly?.root ?? v);
    const root = roots[0]!;
    if (roots.some((r) => r.ir !== root.ir)) return undefined;
    const rank = root.shape.length;
    const asPoly = (x: { v: DynVal } | { c: ConstVal }, k: number): TensorPoly =>
      'v' in x ? (x.v.poly?.coeffs ?? identityPoly(rank)) : [this.perSampleConstant(n, this.requireConst(n, k, 'constant'), root.shape)];
    let r: TensorPoly;
    const [a, b] = ins;
    switch (n.opType) {
      case 'Add':
        r = polyAdd(asPoly(a!, 0), asPoly(b!, 1));
        break;
      case 'Sub':
        r = polyAdd(asPoly(a!, 0), asPoly(b!, 1), -1);
        break;
      case 'Mul':
        r = polyMul(asPoly(a!, 0), asPoly(b!, 1));
        break;
      case 'Neg':
        r = polyScale(asPoly(a!, 0), scalarTensor(-1, rank));
        break;
      case 'Div': {
        if (!('c' in b!)) return undefined;
        const k = this.perSampleConstant(n, this.requireConst(n, 1, 'constant'), root.shape);
        if (k.data.some((v) => v === 0)) throw new GraphError('division by a zero constant', this.label(n));
        r = polyScale(asPoly(a!, 0), { shape: k.shape, data: k.data.map((v) => 1 / v) });
        break;
      }
      case 'Pow': {
        if (!('c' in b!) || !('v' in a!)) return undefined;
        const e = b.c.data.length === 1 ? b.c.data[0]! : NaN;
        if (!Number.isInteger(e) || e < 1 || e > 16) return undefined;
        if (e === 1) {
          this.dyn.set(n.outputs[0]!, { ...a.v, exclusive: false });
          return 'symbolic';
        }
        r = polyPow(asPoly(a, 0), e);
        break;
      }
      default:
        return undefined;
    }
    const sources = [...new Set([...dyn.flatMap((v) => v.poly?.sources ?? []), this.label(n)])];
    const pv: PolyVal = { root, coeffs: r, sources, node: n };
    // what the affine lowering handles itself: x ± c, x·c, x/c on a materialised x
    const affine = dyn.length === 1 && dyn[0]!.ir !== '' && polyDegree(r) <= 1 && n.opType !== 'Neg' && n.opType !== 'Pow' &&
      !(n.opType === 'Sub' && 'c' in a!);
    if (affine) return pv;
    this.dyn.set(n.outputs[0]!, { ir: '', shape: [...root.shape], poly: pv });
    return 'symbolic';
  }

  /** Emits a symbolic polynomial value as IR (once; aliases share the result). */
  private materialize(v: DynVal): DynVal {
    const p = v.poly;
    if (p === undefined || v.ir !== '') return v;
    if (p.done !== undefined) return p.done;
    const coeffs = p.coeffs.slice(0, polyDegree(p.coeffs) + 1);
    const deg = coeffs.length - 1;
    const out = p.node.outputs[0]!;
    const shape = p.root.shape;
    const base = { inputs: [p.root.ir], outShape: [], sources: [...p.sources] };
    const scalar = isScalarPoly(coeffs);
    const cs = coeffs.map((c) => c.data[0]!);
    let node: IrNode;
    if (deg === 2 && scalar && cs[0] === 0 && cs[1] === 0 && cs[2] === 1) {
      node = { ...base, name: this.nodeName(p.node), output: out, op: 'Square' };
    } else if (deg >= 2) {
      const C = shape[0]!;
      const poly: PolyNode = {
        ...base, name: this.nodeName(p.node), output: out, op: 'Poly', replaces: 'Polynomial',
        mapScale: new Float64Array(C).fill(1), mapShift: new Float64Array(C), mapFolded: false, basis: 'power',
        coeffs: scalar ? Float64Array.from(cs) : new Float64Array(coeffs.length).fill(NaN), interval: [-1, 1],
      };
      if (!scalar) poly.coeffTensor = packCoefficients(coeffs);
      node = poly;
    } else {
      // degree ≤ 1 after cancellation: c1 ⊙ x + c0 as MulConstant then AddConstant
      const scale = coeffs[1] ?? { shape: shape.map(() => 1), data: Float64Array.of(0) };
      const mul: IrNode = { ...base, name: this.nodeName(p.node), output: `${out}#scale`, op: 'MulConstant', constant: scale };
      mul.outShape = inferShape(mul, [shape]);
      this.pushNode(mul);
      node = { ...base, inputs: [mul.output], name: this.nodeName(p.node), output: out, op: 'AddConstant', constant: coeffs[0]! };
    }
    node.outShape = inferShape(node, [shape]);
    this.pushNode(node);
    p.done = { ir: out, shape: node.outShape, exclusive: true };
    return p.done;
  }

  private pushNode(node: IrNode): void {
    this.nodeNames.add(node.name);
    this.nodes.push(node);
    this.irProducer.set(node.output, node);
  }

  private lowerAddSub(n: OnnxNode): void {
    if (n.inputs.length !== 2) throw new GraphError(`${n.opType} needs 2 inputs`, this.label(n));
    const [a, b] = n.inputs as [string, string];
    const ca = this.constOf(a);
    const cb = this.constOf(b);
    if (ca === undefined && cb === undefined) {
      const x = this.dynIn(n, 0);
      const y = this.dynIn(n, 1);
      if (n.opType === 'Sub') {
        this.unsupported(n, undefined, 'subtraction of two input-dependent tensors', 'use an addition (x + y) or fold the negation into the preceding layer');
      }
      if (x.shape.length !== y.shape.length || x.shape.some((d, i) => d !== y.shape[i])) {
        this.unsupported(n, undefined, `broadcasting Add of shapes [${x.shape}] and [${y.shape}]`, 'residual additions must have identical shapes (add a 1x1 conv or pooling on the shortcut)');
      }
      this.emit(n, { ...this.base(n, [x.ir, y.ir]), op: 'Add' }, [x.shape, y.shape]);
      return;
    }
    if (ca !== undefined && cb !== undefined) throw new GraphError('both inputs are constant (should have been folded)', this.label(n));
    const dynIndex = ca === undefined ? 0 : 1;
    if (n.opType === 'Sub' && dynIndex === 1) {
      this.unsupported(n, undefined, 'constant minus input (c - x)', 'rewrite as x * (-1) + c, or fold the negation into the preceding layer');
    }
    const x = this.dynIn(n, dynIndex);
    const c = this.requireConst(n, 1 - dynIndex, 'constant');
    this.addConstant(n, n.inputs[dynIndex]!, x, c, n.opType === 'Sub' ? -1 : 1);
  }

  private lowerMulDiv(n: OnnxNode): void {
    if (n.inputs.length !== 2) throw new GraphError(`${n.opType} needs 2 inputs`, this.label(n));
    const [a, b] = n.inputs as [string, string];
    const ca = this.constOf(a);
    const cb = this.constOf(b);
    if (ca === undefined && cb === undefined) {
      const x = this.dynIn(n, 0);
      const y = this.dynIn(n, 1);
      if (n.opType === 'Mul' && x.ir === y.ir) {
        this.emit(n, { ...this.base(n, [x.ir]), op: 'Square' }, [x.shape]);
        return;
      }
      this.unsupported(
        n,
        undefined,
        n.opType === 'Mul' ? 'product of two different input-dependent tensors (only x*x is supported)' : 'division by an input-dependent tensor',
        'use x*x activations or multiply by constants only',
      );
    }
    if (ca !== undefined && cb !== undefined) throw new GraphError('both inputs are constant (should have been folded)', this.label(n));
    const dynIndex = ca === undefined ? 0 : 1;
    if (n.opType === 'Div' && dynIndex === 1) this.unsupported(n, undefined, 'division by an input-dependent tensor', 'divide by constants only');
    const x = this.dynIn(n, dynIndex);
    const c = this.requireConst(n, 1 - dynIndex, 'constant');
    const k = this.perSampleConstant(n, c, x.shape);
    if (n.opType === 'Div') {
      for (let i = 0; i < k.data.length; i++) {
        if (k.data[i] === 0) throw new GraphError('division by a zero constant', this.label(n));
        k.data[i] = 1 / k.data[i]!;
      }
    }
    this.mulConstant(n, n.inputs[dynIndex]!, x, k);
  }

  private lowerPow(n: OnnxNode): void {
    const x = this.dynIn(n, 0);
    const e = this.requireConst(n, 1, 'Y');
    const p = e.data.length === 1 ? e.data[0] : undefined;
    if (p === 2) {
      this.emit(n, { ...this.base(n, [x.ir]), op: 'Square' }, [x.shape]);
      return;
    }
    if (p === 1) {
      this.alias(n, x, n.inputs[0]!);
      return;
    }
    this.unsupported(n, 'Y', `exponent ${e.data.length === 1 ? e.data[0] : `tensor [${e.shape}]`}`, 'use a scalar integer exponent from 1 to 16 (polynomial activations)');
  }

  private lowerPad(n: OnnxNode): void {
    const x = this.dynIn(n, 0);
    const mode = this.attrString(n, 'mode', 'constant');
    if (mode !== 'constant') this.unsupported(n, 'mode', `mode='${mode}'`, "only zero padding (mode='constant') is supported");
    let pads: number[];
    let value = this.attrFloat(n, 'value', 0);
    if (n.inputs.length > 1 && n.inputs[1] !== '') {
      pads = Array.from(this.requireConst(n, 1, 'pads').data);
      if (n.inputs.length > 2 && n.inputs[2] !== '') {
        const v = this.requireConst(n, 2, 'constant_value');
        if (v.data.length !== 1) throw new GraphError('constant_value must be a scalar', this.label(n));
        value = v.data[0]!;
      }
    } else {
      pads = this.attrInts(n, 'pads') ?? this.attrInts(n, 'paddings') ?? [];
    }
    if (value !== 0) this.unsupported(n, 'constant_value', `pad value ${value}`, 'only zero padding is supported');
    const rank = x.shape.length + 1;
    let full = new Array<number>(2 * rank).fill(0);
    if (n.inputs.length > 3 && n.inputs[3] !== '') {
      const axes = Array.from(this.requireConst(n, 3, 'axes').data).map((a) => (a < 0 ? a + rank : a));
      if (pads.length !== 2 * axes.length) throw new GraphError(`pads has ${pads.length} entries for ${axes.length} axes`, this.label(n));
      axes.forEach((ax, i) => {
        if (ax < 0 || ax >= rank) throw new GraphError(`pad axis ${ax} out of range`, this.label(n));
        full[ax] = pads[i]!;
        full[ax + rank] = pads[i + axes.length]!;
      });
    } else {
      if (pads.length !== 2 * rank) throw new GraphError(`pads has ${pads.length} entries, expected ${2 * rank}`, this.label(n));
      full = pads;
    }
    if (rank !== 4 || full[0] !== 0 || full[1] !== 0 || full[4] !== 0 || full[5] !== 0) {
      this.unsupported(n, 'pads', `pads [${full}] on a rank-${rank} tensor`, 'only spatial zero padding of [N,C,H,W] tensors, directly before AveragePool or Conv, is supported');
    }
    if (full.some((p) => p < 0)) this.unsupported(n, 'pads', `negative pads [${full}] (cropping)`, 'crop outside the model');
    if (x.pad !== undefined) this.padNotFoldable(x.pad, 'it feeds another Pad');
    const spatial: [number, number, number, number] = [full[2]!, full[3]!, full[6]!, full[7]!];
    this.dyn.set(n.outputs[0]!, {
      ir: `${x.ir}#pad`,
      shape: [x.shape[0]!, x.shape[1]! + spatial[0] + spatial[2], x.shape[2]! + spatial[1] + spatial[3]],
      pad: { node: n, source: n.inputs[0]!, pads: spatial },
    });
    if ((this.uses.get(n.outputs[0]!) ?? 0) > 1) this.padNotFoldable({ node: n, source: n.inputs[0]!, pads: spatial }, 'its output has several consumers');
  }

  private lowerAveragePool(n: OnnxNode): void {
    const xin = this.dynIn(n, 0, true);
    const ks = this.attrInts(n, 'kernel_shape');
    if (ks === undefined) throw new GraphError('AveragePool needs kernel_shape', this.label(n));
    if (ks.length !== 2) this.unsupported(n, 'kernel_shape', `kernel_shape=[${ks}] is not 2-D`, 'only 2-D pooling (nn.AvgPool2d) is supported');
    if (this.attrInt(n, 'ceil_mode', 0) !== 0) this.unsupported(n, 'ceil_mode', 'ceil_mode=1', 'use ceil_mode=False in nn.AvgPool2d (add padding instead)');
    const dil = this.attrInts(n, 'dilations');
    if (dil !== undefined && dil.some((d) => d !== 1)) this.unsupported(n, 'dilations', `dilations=[${dil}]`, 'use dilation 1');
    const kernel: [number, number] = [ks[0]!, ks[1]!];
    const strides = this.pair(n, 'strides', 1);
    let pads = this.spatialPads(n, xin.shape, kernel, strides);
    let countIncludePad = this.attrInt(n, 'count_include_pad', 0) !== 0;
    let x = xin;
    const sources = [this.label(n)];
    if (xin.pad !== undefined) {
      if (!countIncludePad && pads.some((p) => p !== 0)) {
        this.padNotFoldable(xin.pad, 'the AveragePool has its own padding with count_include_pad=0');
      }
      pads = addPads(pads, xin.pad.pads);
      countIncludePad = true;
      x = this.dyn.get(xin.pad.source) ?? this.undefinedValue(n, xin.pad.source);
      sources.unshift(this.label(xin.pad.node));
    }
    if (x.shape.length !== 3) this.unsupported(n, undefined, `input has per-sample shape [${x.shape}]`, 'only 2-D pooling of [N,C,H,W] tensors is supported');
    if (pads.every((p) => p === 0)) countIncludePad = true; // no padding: both conventions agree
    const node: AveragePoolNode = { ...this.base(n, [x.ir]), op: 'AveragePool', kernel, strides, pads, countIncludePad, sources };
    this.emit(n, node, [x.shape]);
  }

  private lowerFlatten(n: OnnxNode): void {
    const x = this.dynIn(n, 0);
    const rank = x.shape.length + 1;
    let axis = this.attrInt(n, 'axis', 1);
    if (axis < 0) axis += rank;
    if (axis < 1 || axis > rank || x.shape.slice(0, axis - 1).some((d) => d !== 1)) {
      this.unsupported(n, 'axis', `axis=${this.attrInt(n, 'axis', 1)} would merge the batch dimension`, 'use torch.flatten(x, 1)');
    }
    this.flattenTo(n, x, axis === rank ? [1] : [sizeOf(x.shape)]);
  }

  private flattenTo(n: OnnxNode, x: DynVal, target: number[]): void {
    if (target.length === x.shape.length && target.every((d, i) => d === x.shape[i])) {
      this.alias(n, x, n.inputs[0]!);
      return;
    }
    if (target.length === 1) {
      this.emit(n, { ...this.base(n, [x.ir]), op: 'Flatten' }, [x.shape]);
      return;
    }
    this.emit(n, { ...this.base(n, [x.ir]), op: 'Reshape', shape: target }, [x.shape]);
  }

  private lowerReshape(n: OnnxNode): void {
    const x = this.dynIn(n, 0);
    let t: number[];
    if (n.inputs.length > 1 && n.inputs[1] !== '') {
      const c = this.constOf(n.inputs[1]!);
      if (c === undefined) {
        this.unsupported(n, 'shape', 'the target shape depends on the input values', 'use a static shape, e.g. torch.flatten(x, 1) or x.reshape(-1, features)');
      }
      t = Array.from(c.data);
    } else {
      const s = this.attrInts(n, 'shape');
      if (s === undefined) throw new GraphError('Reshape has no shape', this.label(n));
      t = s;
    }
    const allowZero = this.attrInt(n, 'allowzero', 0) !== 0;
    const full = [this.staticBatch ?? BATCH, ...x.shape];
    t = t.map((d, i) => (d === 0 && !allowZero ? (full[i] ?? this.unsupported(n, 'shape', `0 at position ${i} beyond the input rank`, 'use a valid shape')) : d));
    const P = sizeOf(x.shape);
    const bad = (): never =>
      this.unsupported(
        n,
        'shape',
        `reshape of [N,${x.shape}] to [${t.map((d) => (d === BATCH ? 'N' : d))}] mixes the batch dimension with per-sample dimensions`,
        'keep the batch dimension first, e.g. torch.flatten(x, 1) or x.reshape(x.shape[0], -1)',
      );
    let rest: number[];
    if (t.length > 0 && (t[0] === BATCH || (this.staticBatch !== undefined && t[0] === this.staticBatch && t[0] !== -1))) {
      rest = t.slice(1);
    } else if (t.length > 0 && t[0] === -1) {
      rest = t.slice(1);
      if (rest.some((d) => d < 0) || sizeOf(rest) !== P) bad();
    } else {
      bad();
    }
    rest = rest!;
    if (rest.some((d) => d === BATCH || d < -1 || d === 0)) bad();
    const minus = rest.filter((d) => d === -1).length;
    if (minus > 1) throw new GraphError('Reshape shape has more than one -1', this.label(n));
    if (minus === 1) {
      const known = sizeOf(rest.filter((d) => d !== -1));
      if (known === 0 || P % known !== 0) bad();
      rest = rest.map((d) => (d === -1 ? P / known : d));
    }
    if (sizeOf(rest) !== P) bad();
    this.flattenTo(n, x, rest);
  }

  private lowerGemm(n: OnnxNode): void {
    const x = this.dynIn(n, 0);
    if (this.attrInt(n, 'transA', 0) !== 0) this.unsupported(n, 'transA', 'transA=1', 'keep the batch dimension first (export nn.Linear on [N, features] inputs)');
    if (x.shape.length !== 1) this.unsupported(n, undefined, `input has per-sample shape [${x.shape}]`, 'flatten the input before the linear layer');
    const B = this.requireConst(n, 1, 'B');
    if (B.shape.length !== 2) throw new GraphError(`Gemm B must be 2-D, got [${B.shape}]`, this.label(n));
    const transB = this.attrInt(n, 'transB', 0) !== 0;
    const alpha = this.attrFloat(n, 'alpha', 1);
    const beta = this.attrFloat(n, 'beta', 1);
    const [r, c] = B.shape as [number, number];
    const out = transB ? r : c;
    const inn = transB ? c : r;
    const w = new Float64Array(out * inn);
    for (let o = 0; o < out; o++) for (let i = 0; i < inn; i++) w[o * inn + i] = alpha * (transB ? B.data[o * c + i]! : B.data[i * c + o]!);
    let bias: Tensor | null = null;
    if (n.inputs.length > 2 && n.inputs[2] !== '') {
      const C = this.requireConst(n, 2, 'C');
      const aligned = C.shape.length === 2 ? C.shape : [1, ...(C.shape.length === 0 ? [1] : C.shape)];
      if (C.shape.length > 2 || aligned[0] !== 1 || (aligned[1] !== 1 && aligned[1] !== out)) {
        this.unsupported(n, 'C', `bias of shape [${C.shape}] does not broadcast per output`, 'use a per-output bias vector');
      }
      const b = new Float64Array(out);
      for (let o = 0; o < out; o++) b[o] = beta * (C.data.length === 1 ? C.data[0]! : C.data[o]!);
      bias = { shape: [out], data: b };
    }
    this.emit(n, { ...this.base(n, [x.ir]), op: 'Dense', weight: { shape: [out, inn], data: w }, bias }, [x.shape]);
  }

  private lowerMatMul(n: OnnxNode): void {
    if (this.constOf(n.inputs[0] ?? '') !== undefined) {
      this.unsupported(n, 'A', 'constant times input (W @ x)', 'write the layer as x @ W (or use nn.Linear)');
    }
    const x = this.dynIn(n, 0);
    if (x.shape.length !== 1) this.unsupported(n, undefined, `input has per-sample shape [${x.shape}]`, 'flatten the input to [N, features] before the matrix product');
    const B = this.requireConst(n, 1, 'B');
    if (B.shape.length !== 2) this.unsupported(n, 'B', `weight of shape [${B.shape}]`, 'use a 2-D weight matrix');
    const [inn, out] = B.shape as [number, number];
    const w = new Float64Array(out * inn);
    for (let o = 0; o < out; o++) for (let i = 0; i < inn; i++) w[o * inn + i] = B.data[i * out + o]!;
    this.emit(n, { ...this.base(n, [x.ir]), op: 'Dense', weight: { shape: [out, inn], data: w }, bias: null }, [x.shape]);
  }

  private lowerDropout(n: OnnxNode): void {
    const x = this.dynIn(n, 0);
    if (n.inputs.length > 2 && n.inputs[2] !== '') {
      const t = this.constOf(n.inputs[2]!);
      if (t === undefined || t.data[0] !== 0) this.unsupported(n, 'training_mode', 'Dropout in training mode', 'call model.eval() in PyTorch before export');
    }
    if (n.outputs.length > 1 && n.outputs[1] !== '' && (this.uses.get(n.outputs[1]!) ?? 0) > 0) {
      this.unsupported(n, 'mask', 'the dropout mask output is used', 'export in eval mode');
    }
    this.alias(n, x, n.inputs[0]!);
  }

  private lowerShape(n: OnnxNode): void {
    const name = n.inputs[0] ?? '';
    const c = this.constOf(name);
    let dims: number[];
    if (c !== undefined) dims = c.shape;
    else {
      const x = this.dynIn(n, 0, true);
      dims = [this.staticBatch ?? BATCH, ...x.shape];
    }
    const r = dims.length;
    let start = this.attrInt(n, 'start', 0);
    let end = this.attrInt(n, 'end', r);
    if (start < 0) start += r;
    if (end < 0) end += r;
    const sel = dims.slice(Math.max(0, Math.min(r, start)), Math.max(0, Math.min(r, end)));
    this.consts.set(n.outputs[0]!, { shape: [sel.length], data: Float64Array.from(sel), dataType: OnnxDataType.INT64, fromShape: c === undefined });
  }

  // ------------------------------------------------------------------ constant evaluation

  private evalConstantNode(n: OnnxNode): ConstVal {
    const a = n.attributes[0];
    if (n.attributes.length !== 1 || a === undefined) throw new GraphError('Constant node needs exactly one value attribute', this.label(n));
    switch (a.name) {
      case 'value': {
        if (a.kind !== 'tensor') throw new GraphError("Constant 'value' must be a tensor", this.label(n));
        if (a.value.data === null) this.unsupported(n, 'value', `constant of type ${dataTypeName(a.value.dataType)}`, 'use float or integer constants');
        return { shape: [...a.value.dims], data: a.value.data, dataType: a.value.dataType, fromShape: false };
      }
      case 'value_float':
        return { shape: [], data: Float64Array.of(this.attrFloat(n, 'value_float', 0)), dataType: OnnxDataType.FLOAT, fromShape: false };
      case 'value_int':
        return { shape: [], data: Float64Array.of(this.attrInt(n, 'value_int', 0)), dataType: OnnxDataType.INT64, fromShape: false };
      case 'value_floats': {
        const a2 = this.attr(n, 'value_floats');
        const v = a2 !== undefined && a2.kind === 'floats' ? a2.value : [];
        return { shape: [v.length], data: Float64Array.from(v), dataType: OnnxDataType.FLOAT, fromShape: false };
      }
      case 'value_ints': {
        const v = this.attrInts(n, 'value_ints') ?? [];
        return { shape: [v.length], data: Float64Array.from(v), dataType: OnnxDataType.INT64, fromShape: false };
      }
      default:
        this.unsupported(n, a.name, `Constant with '${a.name}'`, 'use dense numeric constants');
    }
  }

  private evalConstNode(n: OnnxNode): void {
    const ins = n.inputs.map((i) => (i === '' ? undefined : this.constOf(i)));
    for (const [k, i] of n.inputs.entries()) {
      if (i !== '' && ins[k] === undefined) this.requireConst(n, k, `input ${k}`); // throws for undecodable types
    }
    const x = ins[0]!;
    if (ins.some((c) => c?.fromShape) && !SHAPE_SAFE_OPS.has(n.opType)) {
      const tainted = ins.some((c) => c?.fromShape && c.data.includes(BATCH));
      if (tainted) {
        this.unsupported(n, undefined, 'arithmetic on the dynamic batch size', 'use torch.flatten(x, 1) or x.reshape(-1, features) instead of computing shapes');
      }
    }
    const set = (v: ConstVal): void => {
      this.consts.set(n.outputs[0]!, v);
    };
    const fromShape = ins.some((c) => c?.fromShape === true);
    switch (n.opType) {
      case 'Identity':
      case 'Dropout':
        return set(x);
      case 'Cast': {
        const to = this.attrInt(n, 'to', OnnxDataType.FLOAT);
        const data = new Float64Array(x.data);
        if (INT_TYPES.has(to)) for (let i = 0; i < data.length; i++) data[i] = data[i] === BATCH ? BATCH : Math.trunc(data[i]!);
        else if (to === OnnxDataType.FLOAT) for (let i = 0; i < data.length; i++) data[i] = Math.fround(data[i]!);
        return set({ shape: [...x.shape], data, dataType: to, fromShape });
      }
      case 'Unsqueeze': {
        const axes = this.axesOf(n, 1) ?? [];
        const r = x.shape.length + axes.length;
        const norm = axes.map((a) => (a < 0 ? a + r : a)).sort((p, q) => p - q);
        const shape = [...x.shape];
        for (const a of norm) {
          if (a < 0 || a > shape.length) throw new GraphError(`Unsqueeze axis ${a} out of range`, this.label(n));
          shape.splice(a, 0, 1);
        }
        return set({ ...x, shape, fromShape });
      }
      case 'Squeeze': {
        const axes = this.axesOf(n, 1);
        const r = x.shape.length;
        const drop = new Set((axes ?? x.shape.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0)).map((a) => (a < 0 ? a + r : a)));
        for (const a of drop) if (x.shape[a] !== 1) throw new GraphError(`cannot squeeze axis ${a} of shape [${x.shape}]`, this.label(n));
        return set({ ...x, shape: x.shape.filter((_, i) => !drop.has(i)), fromShape });
      }
      case 'Concat': {
        const parts = ins.filter((c): c is ConstVal => c !== undefined);
        const r = x.shape.length;
        let axis = this.attrInt(n, 'axis', 0);
        if (axis < 0) axis += r;
        if (axis < 0 || axis >= r) throw new GraphError(`Concat axis out of range for rank ${r}`, this.label(n));
        for (const p of parts) {
          if (p.shape.length !== r || p.shape.some((d, i) => i !== axis && d !== x.shape[i])) throw new GraphError('Concat inputs have incompatible shapes', this.label(n));
        }
        const outer = sizeOf(x.shape.slice(0, axis));
        const inner = sizeOf(x.shape.slice(axis + 1));
        const total = parts.reduce((s, p) => s + p.shape[axis]!, 0);
        const data = new Float64Array(outer * total * inner);
        let off = 0;
        for (let o = 0; o < outer; o++) {
          for (const p of parts) {
            const len = p.shape[axis]! * inner;
            data.set(p.data.subarray(o * len, (o + 1) * len), off);
            off += len;
          }
        }
        const shape = [...x.shape];
        shape[axis] = total;
        return set({ shape, data, dataType: x.dataType, fromShape });
      }
      case 'Gather': {
        const idx = ins[1];
        if (idx === undefined) throw new GraphError('Gather needs indices', this.label(n));
        const r = x.shape.length;
        let axis = this.attrInt(n, 'axis', 0);
        if (axis < 0) axis += r;
        if (axis < 0 || axis >= r) throw new GraphError('Gather axis out of range', this.label(n));
        const outer = sizeOf(x.shape.slice(0, axis));
        const inner = sizeOf(x.shape.slice(axis + 1));
        const len = x.shape[axis]!;
        const data = new Float64Array(outer * idx.data.length * inner);
        let off = 0;
        for (let o = 0; o < outer; o++) {
          for (const raw of idx.data) {
            const j = raw < 0 ? raw + len : raw;
            if (!(j >= 0 && j < len)) throw new GraphError(`Gather index ${raw} out of range`, this.label(n));
            data.set(x.data.subarray((o * len + j) * inner, (o * len + j + 1) * inner), off);
            off += inner;
          }
        }
        return set({ shape: [...x.shape.slice(0, axis), ...idx.shape, ...x.shape.slice(axis + 1)], data, dataType: x.dataType, fromShape });
      }
      case 'Slice':
        return set(this.evalSlice(n, x, ins, fromShape));
      case 'Reshape': {
        const t = ins[1] !== undefined ? Array.from(ins[1].data) : (this.attrInts(n, 'shape') ?? []);
        const allowZero = this.attrInt(n, 'allowzero', 0) !== 0;
        const shape = t.map((d, i) => (d === 0 && !allowZero ? (x.shape[i] ?? 0) : d));
        const known = sizeOf(shape.filter((d) => d !== -1));
        const res = shape.map((d) => (d === -1 ? (known === 0 ? 0 : x.data.length / known) : d));
        if (sizeOf(res) !== x.data.length || res.some((d) => !Number.isInteger(d) || d < 0)) throw new GraphError(`cannot reshape constant [${x.shape}] to [${t}]`, this.label(n));
        return set({ ...x, shape: res, fromShape });
      }
      case 'Flatten': {
        let axis = this.attrInt(n, 'axis', 1);
        if (axis < 0) axis += x.shape.length;
        return set({ ...x, shape: [sizeOf(x.shape.slice(0, axis)), sizeOf(x.shape.slice(axis))] });
      }
      case 'Transpose': {
        const r = x.shape.length;
        const perm = this.attrInts(n, 'perm') ?? x.shape.map((_, i) => r - 1 - i);
        if (perm.length !== r || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) throw new GraphError(`invalid perm [${perm}]`, this.label(n));
        const shape = perm.map((p) => x.shape[p]!);
        const inStrides = stridesOf(x.shape);
        const data = new Float64Array(x.data.length);
        const idx = new Array<number>(r).fill(0);
        for (let k = 0; k < data.length; k++) {
          let src = 0;
          for (let d = 0; d < r; d++) src += idx[d]! * inStrides[perm[d]!]!;
          data[k] = x.data[src]!;
          for (let d = r - 1; d >= 0; d--) {
            if (++idx[d]! < shape[d]!) break;
            idx[d] = 0;
          }
        }
        return set({ shape, data, dataType: x.dataType, fromShape: false });
      }
      case 'Neg':
      case 'Sqrt':
      case 'Reciprocal': {
        const f = n.opType === 'Neg' ? (v: number) => -v : n.opType === 'Sqrt' ? Math.sqrt : (v: number) => 1 / v;
        return set({ ...x, data: x.data.map(f) });
      }
      case 'Add':
      case 'Sub':
      case 'Mul':
      case 'Div': {
        const y = ins[1];
        if (y === undefined) throw new GraphError(`${n.opType} needs 2 inputs`, this.label(n));
        const isInt = INT_TYPES.has(x.dataType) && INT_TYPES.has(y.dataType);
        const op =
          n.opType === 'Add'
            ? (a: number, b: number) => a + b
            : n.opType === 'Sub'
              ? (a: number, b: number) => a - b
              : n.opType === 'Mul'
                ? (a: number, b: number) => a * b
                : isInt
                  ? (a: number, b: number) => Math.trunc(a / b)
                  : (a: number, b: number) => a / b;
        return set(this.broadcastBinary(n, x, y, op));
      }
      default:
        this.unsupported(n, undefined, `op ${n.opType} on constants`, genericHint(n.opType));
    }
  }

  private axesOf(n: OnnxNode, inputIndex: number): number[] | undefined {
    const name = n.inputs[inputIndex];
    if (name !== undefined && name !== '') return Array.from(this.requireConst(n, inputIndex, 'axes').data);
    return this.attrInts(n, 'axes');
  }

  private evalSlice(n: OnnxNode, x: ConstVal, ins: (ConstVal | undefined)[], fromShape: boolean): ConstVal {
    const r = x.shape.length;
    const get = (k: number, attr: string): number[] | undefined =>
      ins[k] !== undefined ? Array.from(ins[k].data) : n.inputs.length > k ? undefined : this.attrInts(n, attr);
    const starts = get(1, 'starts') ?? [];
    const ends = get(2, 'ends') ?? [];
    const axes = get(3, 'axes') ?? starts.map((_, i) => i);
    const steps = (ins[4] !== undefined ? Array.from(ins[4].data) : undefined) ?? starts.map(() => 1);
    const lo = x.shape.map(() => 0);
    const step = x.shape.map(() => 1);
    const count = [...x.shape];
    axes.forEach((a0, i) => {
      const a = a0 < 0 ? a0 + r : a0;
      const dim = x.shape[a];
      const st = steps[i] ?? 1;
      if (dim === undefined || st === 0) throw new GraphError('invalid Slice axes or steps', this.label(n));
      const clamp = (v: number, lo2: number, hi2: number): number => Math.max(lo2, Math.min(hi2, v));
      let s = starts[i] ?? 0;
      let e = ends[i] ?? dim;
      if (s < 0) s += dim;
      if (e < 0) e += dim;
      if (st > 0) {
        s = clamp(s, 0, dim);
        e = clamp(e, 0, dim);
        count[a] = Math.max(0, Math.ceil((e - s) / st));
      } else {
        s = clamp(s, 0, dim - 1);
        e = clamp(e, -1, dim - 1);
        count[a] = Math.max(0, Math.ceil((e - s) / st));
      }
      lo[a] = s;
      step[a] = st;
    });
    const inStrides = stridesOf(x.shape);
    const data = new Float64Array(sizeOf(count));
    const idx = new Array<number>(r).fill(0);
    for (let k = 0; k < data.length; k++) {
      let src = 0;
      for (let d = 0; d < r; d++) src += (lo[d]! + idx[d]! * step[d]!) * inStrides[d]!;
      data[k] = x.data[src]!;
      for (let d = r - 1; d >= 0; d--) {
        if (++idx[d]! < count[d]!) break;
        idx[d] = 0;
      }
    }
    return { shape: count, data, dataType: x.dataType, fromShape };
  }

  private broadcastBinary(n: OnnxNode, x: ConstVal, y: ConstVal, op: (a: number, b: number) => number): ConstVal {
    const r = Math.max(x.shape.length, y.shape.length);
    const xs = [...new Array<number>(r - x.shape.length).fill(1), ...x.shape];
    const ys = [...new Array<number>(r - y.shape.length).fill(1), ...y.shape];
    const shape = xs.map((d, i) => {
      const e = ys[i]!;
      if (d !== e && d !== 1 && e !== 1) throw new GraphError(`cannot broadcast [${x.shape}] with [${y.shape}]`, this.label(n));
      return d === 1 ? e : d;
    });
    const xst = stridesOf(xs).map((s, i) => (xs[i] === 1 ? 0 : s));
    const yst = stridesOf(ys).map((s, i) => (ys[i] === 1 ? 0 : s));
    const data = new Float64Array(sizeOf(shape));
    const idx = new Array<number>(r).fill(0);
    for (let k = 0; k < data.length; k++) {
      let a = 0;
      let b = 0;
      for (let d = 0; d < r; d++) {
        a += idx[d]! * xst[d]!;
        b += idx[d]! * yst[d]!;
      }
      data[k] = op(x.data[a]!, y.data[b]!);
      for (let d = r - 1; d >= 0; d--) {
        if (++idx[d]! < shape[d]!) break;
        idx[d] = 0;
      }
    }
    const dataType = x.dataType === OnnxDataType.DOUBLE || y.dataType === OnnxDataType.DOUBLE ? OnnxDataType.DOUBLE : x.dataType;
    return { shape, data, dataType, fromShape: false };
  }
}

type IrNodeBaseLike = { name: string; inputs: string[]; output: string; outShape: number[]; sources: string[]; op: string };

function isDefaultDomain(n: OnnxNode): boolean {
  return n.domain === '' || n.domain === 'ai.onnx';
}

function addPads(a: [number, number, number, number], b: [number, number, number, number]): [number, number, number, number] {
  return [a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3]];
}

function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** Drops IR nodes that do not contribute to the output. */
function prune(nodes: IrNode[], output: string): IrNode[] {
  const live = new Set<string>([output]);
  const keep: boolean[] = new Array<boolean>(nodes.length).fill(false);
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i]!;
    if (!live.has(n.output)) continue;
    keep[i] = true;
    for (const v of n.inputs) live.add(v);
  }
  return nodes.filter((_, i) => keep[i]);
}
