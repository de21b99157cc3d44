/**
 * @module nn/onnx/lower
 *
 * Lowering an ONNX graph to Veil's IR, node by node: dispatch, the layers (Conv, BatchNormalization,
 * Gemm/MatMul, AveragePool with folded Pad, Flatten/Reshape, Dropout, Shape) and the pruning of
 * values that do not reach the output. Constant folding and arithmetic live in the base classes.
 */

import {
  GraphError, sizeOf, validateGraph, type AveragePoolNode, type BatchNormNode, type ConvNode, type GeluNode,
  type IrGraph, type IrNode, type Tensor,
} from '../graph.js';
import { OnnxDataType, type OnnxNode } from './model.js';
import { BATCH, CONST_OPS, addPads, genericHint, isDefaultDomain, type DynVal } from './state.js';
import { ArithmeticLowerer } from './arithmetic.js';

/** Lowers one ONNX model to a validated {@link IrGraph} (one use: `new Lowerer(model, options).run()`). */
export class Lowerer extends ArithmeticLowerer {
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
      origin: `onnx ir ${this.model.irVersion} opset ${this.opset}${producer}` };
    validateGraph(graph);
    return graph;
  }

  // ------------------------------------------------------------------ node dispatch

  protected lowerNode(n: OnnxNode): void {
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
        sources: gelu.nodes.map((k) => this.label(k)) };
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

  protected lowerDynamic(n: OnnxNode): void {
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

  protected lowerConv(n: OnnxNode): void {
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
      pads };
    if (xin.pad !== undefined) node.sources.unshift(this.label(xin.pad.node));
    this.emit(n, node, [x.shape]);
  }

  protected undefinedValue(n: OnnxNode, name: string): never {
    throw new GraphError(`value '${name}' is not defined`, this.label(n));
  }

  protected pair(n: OnnxNode, name: string, dflt: number): [number, number] {
    const v = this.attrInts(n, name);
    if (v === undefined) return [dflt, dflt];
    if (v.length !== 2) this.unsupported(n, name, `${name}=[${v}] is not 2-D`, 'only 2-D convolution and pooling are supported');
    return [v[0]!, v[1]!];
  }

  /** Resolves `pads` / `auto_pad` to `[top, left, bottom, right]`. */
  protected spatialPads(n: OnnxNode, xShape: number[], kernel: [number, number], strides: [number, number]): [number, number, number, number] {
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

  protected lowerBatchNorm(n: OnnxNode): void {
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
      epsilon: this.attrFloat(n, 'epsilon', 1e-5) };
    this.emit(n, node, [x.shape]);
  }

  protected lowerGelu(n: OnnxNode): void {
    const x = this.dynIn(n, 0);
    const approx = this.attrString(n, 'approximate', 'none');
    if (approx !== 'none' && approx !== 'tanh') this.unsupported(n, 'approximate', `approximate='${approx}'`, "use approximate='none' or 'tanh'");
    this.emit(n, { ...this.base(n, [x.ir]), op: 'Gelu', approximate: approx }, [x.shape]);
  }

  protected lowerPad(n: OnnxNode): void {
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
      pad: { node: n, source: n.inputs[0]!, pads: spatial } });
    if ((this.uses.get(n.outputs[0]!) ?? 0) > 1) this.padNotFoldable({ node: n, source: n.inputs[0]!, pads: spatial }, 'its output has several consumers');
  }

  protected lowerAveragePool(n: OnnxNode): void {
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

  protected lowerFlatten(n: OnnxNode): void {
    const x = this.dynIn(n, 0);
    const rank = x.shape.length + 1;
    let axis = this.attrInt(n, 'axis', 1);
    if (axis < 0) axis += rank;
    if (axis < 1 || axis > rank || x.shape.slice(0, axis - 1).some((d) => d !== 1)) {
      this.unsupported(n, 'axis', `axis=${this.attrInt(n, 'axis', 1)} would merge the batch dimension`, 'use torch.flatten(x, 1)');
    }
    this.flattenTo(n, x, axis === rank ? [1] : [sizeOf(x.shape)]);
  }

  protected flattenTo(n: OnnxNode, x: DynVal, target: number[]): void {
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

  protected lowerReshape(n: OnnxNode): void {
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

  protected lowerGemm(n: OnnxNode): void {
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

  protected lowerMatMul(n: OnnxNode): void {
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

  protected lowerDropout(n: OnnxNode): void {
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

  protected lowerShape(n: OnnxNode): void {
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
