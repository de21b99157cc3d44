/**
 * @module nn/onnx/arithmetic
 *
 * Element-wise arithmetic during ONNX lowering: Add/Sub/Mul/Div/Pow/Neg over one dynamic value and
 * constants are evaluated as polynomials (`polynomial.ts`) and emitted as one node when a
 * non-polynomial consumer needs them; affine ops fold into the producing Conv/Dense; GELU's erf
 * expansion 0.5·x·(1 + erf(x/√2)) is recognised as one node (Hendrycks–Gimpel, arXiv 1606.08415).
 */

import {
  GraphError, inferShape, type ConvNode, type DenseNode, type IrNode, type PolyNode, type Tensor,
} from '../graph.js';
import {
  type TensorPoly, identityPoly, isScalarPoly, packCoefficients, polyAdd, polyDegree, polyMul, polyPow,
  polyScale, scalarTensor,
} from '../polynomial.js';
import { type OnnxNode } from './model.js';
import { isDefaultDomain, type ConstVal, type DynVal, type GeluMatch, type PolyVal } from './state.js';
import { ConstFolder } from './const-fold.js';

/** The lowering's element-wise arithmetic, polynomial recognition and GELU matching. */
export abstract class ArithmeticLowerer extends ConstFolder {
  // ------------------------------------------------------------------ GELU pattern

  /** Recognises 0.5·x·(1 + erf(x/√2)) in the Div/Erf/Add/Mul/Mul orderings exporters use. */
  protected matchGelu(erf: OnnxNode): void {
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

  /** Aligns an ONNX-broadcast constant to a per-sample value shape (batch dim must be 1). */
  protected perSampleConstant(n: OnnxNode, c: ConstVal, shape: number[]): Tensor {
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
  protected foldTarget(onnxValue: string, v: DynVal, k: Tensor): ConvNode | DenseNode | undefined {
    const p = this.irProducer.get(v.ir);
    if (p === undefined || (p.op !== 'Conv' && p.op !== 'Dense') || p.output !== v.ir || v.exclusive !== true) return undefined;
    if ((this.uses.get(onnxValue) ?? 0) !== 1 || this.g.outputs.some((o) => o.name === onnxValue)) return undefined;
    const channels = p.weight.shape[0]!;
    if (k.shape.slice(1).some((d) => d !== 1)) return undefined;
    if (k.shape[0] !== 1 && k.shape[0] !== channels) return undefined;
    return p;
  }

  protected addConstant(n: OnnxNode, xName: string, x: DynVal, c: ConstVal, sign: number): void {
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

  protected mulConstant(n: OnnxNode, xName: string, x: DynVal, k: Tensor): void {
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
  protected lowerArithmetic(n: OnnxNode): void {
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
  protected polynomialOf(n: OnnxNode): PolyVal | 'symbolic' | undefined {
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
  protected materialize(v: DynVal): DynVal {
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
        coeffs: scalar ? Float64Array.from(cs) : new Float64Array(coeffs.length).fill(NaN), interval: [-1, 1] };
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

  protected lowerAddSub(n: OnnxNode): void {
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

  protected lowerMulDiv(n: OnnxNode): void {
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

  protected lowerPow(n: OnnxNode): void {
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
}
