/**
 * @module nn/onnx/const-fold
 *
 * Constant evaluation during ONNX lowering: `Constant` nodes and the shape arithmetic exporters
 * emit (Shape → Gather → Concat → Reshape, Slice, Cast, broadcasting element-wise ops) are folded
 * to constants, with the symbolic batch dimension carried as a sentinel (`BATCH`). Operator
 * semantics follow the ONNX operator specification (opset 9 to 21).
 */

import { GraphError, sizeOf } from '../graph.js';
import { OnnxDataType, dataTypeName, type OnnxNode } from './model.js';
import { BATCH, INT_TYPES, SHAPE_SAFE_OPS, LowerState, genericHint, stridesOf, type ConstVal } from './state.js';

/** The lowering's constant folding: constant subgraphs become {@link ConstVal}s. */
export abstract class ConstFolder extends LowerState {
  // ------------------------------------------------------------------ constant evaluation

  protected evalConstantNode(n: OnnxNode): ConstVal {
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

  protected evalConstNode(n: OnnxNode): void {
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

  protected axesOf(n: OnnxNode, inputIndex: number): number[] | undefined {
    const name = n.inputs[inputIndex];
    if (name !== undefined && name !== '') return Array.from(this.requireConst(n, inputIndex, 'axes').data);
    return this.attrInts(n, 'axes');
  }

  protected evalSlice(n: OnnxNode, x: ConstVal, ins: (ConstVal | undefined)[], fromShape: boolean): ConstVal {
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

  protected broadcastBinary(n: OnnxNode, x: ConstVal, y: ConstVal, op: (a: number, b: number) => number): ConstVal {
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
