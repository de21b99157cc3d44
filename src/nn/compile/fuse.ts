/**
 * @module nn/compile/fuse
 *
 * The exact graph rewrites of compilation (PAPER, Chielle et al. arXiv 2509.22857, §2.3–2.5 of the
 * digest), passes 2–6 of `compile.ts`: fitted polynomials replace the activations, batch norms fuse
 * into the polynomial that follows (also through a residual Add), each polynomial's input map folds
 * into its producers, pool divisors fold into the next linear layer, and a quadratic's leading
 * coefficient is redistributed into the next linear layer so x² + c1·x + c0 costs one level. Every
 * rewrite keeps the function the graph computes (checked by `simulate` in tests).
 */
import { InternalError } from '../../errors.js';
import { type ActivationFit, polyFields } from './approximate.js';
import {
  type ConvNode, type DenseNode, type IrGraph, type IrNode, type PolyNode, type Tensor, isActivation, sizeOf,
  validateGraph,
} from '../graph.js';
import { powerToCheb } from '../../approx/fit/chebyshev.js';
import {
  type TensorPoly, compactTensor, composeChannelMap, expandTo, packCoefficients, powerToChebyshevTensor,
  unpackCoefficients,
} from '../polynomial.js';

class Surgery {
  nodes: IrNode[];
  readonly log: string[] = [];
  constructor(readonly g: IrGraph) {
    this.nodes = g.nodes.map((n) => cloneNode(n));
  }
  producer(v: string): IrNode | undefined {
    return this.nodes.find((n) => n.output === v);
  }
  consumers(v: string): IrNode[] {
    return this.nodes.filter((n) => n.inputs.includes(v));
  }
  /** Single consumer of v (and v is not the graph output), else undefined. */
  only(v: string): IrNode | undefined {
    if (v === this.g.output.name) return undefined;
    const cs = this.consumers(v);
    return cs.length === 1 && cs[0].inputs.filter((x) => x === v).length === 1 ? cs[0] : undefined;
  }
  remove(n: IrNode): void {
    this.nodes = this.nodes.filter((x) => x !== n);
  }
  result(): IrGraph {
    const g = { ...this.g, nodes: this.nodes };
    validateGraph(g);
    return g;
  }
}

function cloneNode(n: IrNode): IrNode {
  const c = { ...n, inputs: [...n.inputs], outShape: [...n.outShape], sources: [...n.sources] } as IrNode;
  if (c.op === 'Conv' || c.op === 'Dense') {
    c.weight = { shape: [...c.weight.shape], data: Float64Array.from(c.weight.data) };
    c.bias = c.bias ? { shape: [...c.bias.shape], data: Float64Array.from(c.bias.data) } : null;
  }
  if (c.op === 'Poly') {
    c.mapScale = Float64Array.from(c.mapScale);
    c.mapShift = Float64Array.from(c.mapShift);
    c.coeffs = Float64Array.from(c.coeffs);
    if (c.coeffTensor) c.coeffTensor = { shape: [...c.coeffTensor.shape], data: Float64Array.from(c.coeffTensor.data) };
  }
  return c;
}

/** Output channels of a node (dimension 0 of its output). */
const channelsOf = (shape: readonly number[]) => shape[0];

/** Scales output channel c of a Conv/Dense by s[c] and adds u[c] to its bias. */
function scaleRows(n: ConvNode | DenseNode, s: ArrayLike<number>, u: ArrayLike<number> | null): void {
  const co = n.weight.shape[0];
  const per = n.weight.data.length / co;
  if (!n.bias) n.bias = { shape: [co], data: new Float64Array(co) };
  for (let c = 0; c < co; c++) {
    for (let k = 0; k < per; k++) n.weight.data[c * per + k] *= s[c];
    n.bias.data[c] = n.bias.data[c] * s[c] + (u ? u[c] : 0);
  }
}

/** Scales the weights reading input channel c (of `channels`) by f[c], for a Conv or a Dense on a flattened [C, …] input. */
function scaleInputs(n: ConvNode | DenseNode, f: (c: number) => number, channels: number): void {
  if (n.op === 'Conv') {
    const [co, ci, kh, kw] = n.weight.shape;
    for (let o = 0; o < co; o++) for (let c = 0; c < ci; c++) {
      const v = f(c);
      const base = ((o * ci + c) * kh) * kw;
      for (let k = 0; k < kh * kw; k++) n.weight.data[base + k] *= v;
    }
  } else {
    const [o, i] = n.weight.shape;
    const per = i / channels;
    for (let r = 0; r < o; r++) for (let k = 0; k < i; k++) n.weight.data[r * i + k] *= f(Math.floor(k / per));
  }
}

/** Follows single-consumer links through layout-only and pooling nodes to a Conv/Dense. */
function linearConsumer(s: Surgery, v: string, throughPools: boolean): ConvNode | DenseNode | undefined {
  let cur = v;
  for (let guard = 0; guard < 64; guard++) {
    const c = s.only(cur);
    if (!c) return undefined;
    if (c.op === 'Conv' || c.op === 'Dense') return c;
    if (c.op === 'Flatten' || c.op === 'Reshape' || (throughPools && (c.op === 'AveragePool' || c.op === 'GlobalAveragePool'))) {
      cur = c.output;
      continue;
    }
    return undefined;
  }
  return undefined;
}

/** Builds the compiled graph for given fits (passes 2–6 of the module header). */
export function buildCompiled(base: IrGraph, fits: readonly ActivationFit[]): { graph: IrGraph; log: string[] } {
  const s = new Surgery(base);
  const byName = new Map(fits.map((f) => [f.node, f]));
  // 2. activations → Poly
  s.nodes = s.nodes.map((n) => {
    if (!isActivation(n)) return n;
    const f = byName.get(n.name);
    if (!f) throw new InternalError(`no fit for activation '${n.name}'`);
    const p: PolyNode = { ...n, op: 'Poly', ...polyFields(f, channelsOf(n.outShape)), sources: [...n.sources] } as unknown as PolyNode;
    delete (p as unknown as { approximate?: unknown }).approximate;
    s.log.push(`${n.name}: ${n.op} → ${f.basis === 'power' ? 'x² (exact)' : `Chebyshev degree ${f.degree} on [${f.interval[0].toFixed(3)}, ${f.interval[1].toFixed(3)}]`}`);
    return p;
  });
  // the model's own polynomials of degree ≥ 3: Chebyshev series of the same polynomial in the same
  // variable (identity map), so they evaluate at depth ⌈log2(d+1)⌉ like fitted ones
  for (const p of s.nodes) {
    if (p.op !== 'Poly' || p.basis !== 'power' || p.coeffs.length <= 3) continue;
    if (p.coeffTensor) p.coeffTensor = powerToChebyshevTensor(p.coeffTensor);
    else p.coeffs = powerToCheb(p.coeffs);
    p.basis = 'chebyshev';
    s.log.push(`${p.name}: degree-${p.coeffs.length - 1} polynomial of the model, evaluated as a Chebyshev series`);
  }
  // 3. BN → POLY (and through a residual Add when both branches are linear)
  for (const bn of s.nodes.filter((n) => n.op === 'BatchNormalization')) {
    if (bn.op !== 'BatchNormalization') continue;
    const p = s.only(bn.output);
    if (!p || p.op !== 'Poly' || p.mapFolded) continue;
    for (let c = 0; c < bn.scale.length; c++) {
      const g = bn.scale[c] / Math.sqrt(bn.variance[c] + bn.epsilon);
      const b = bn.bias[c] - bn.mean[c] * g;
      p.mapShift[c] = p.mapScale[c] * b + p.mapShift[c];
      p.mapScale[c] = p.mapScale[c] * g;
    }
    p.inputs[0] = bn.inputs[0];
    p.sources.push(...bn.sources);
    s.remove(bn);
    s.log.push(`${bn.name}: BatchNormalization fused into ${p.name}`);
  }
  // quadratics: power basis in x itself (a uniform map t = s·x + u composes into the coefficients),
  // so redistribution can act on c2 directly, also where the map could not be folded (bypass paths)
  for (const p of s.nodes) {
    if (p.op !== 'Poly' || p.coeffs.length !== 3) continue;
    if (p.coeffTensor) {
      // coefficient tensors take any per-channel map exactly
      if (p.basis === 'chebyshev') throw new InternalError(`Chebyshev coefficient tensor on quadratic '${p.name}'`);
      if (!isIdentityMap(p)) {
        p.coeffTensor = packCoefficients(composeChannelMap(unpackCoefficients(p.coeffTensor), p.mapScale, p.mapShift));
        p.mapScale.fill(1);
        p.mapShift.fill(0);
      }
      continue;
    }
    if (p.basis === 'chebyshev') {
      const [c0, c1, c2] = p.coeffs;
      p.coeffs = Float64Array.from([c0 - c2, c1, 2 * c2]);
      p.basis = 'power';
    }
    const a = p.mapScale[0];
    const u = p.mapShift[0];
    if (p.mapScale.some((v) => v !== a) || p.mapShift.some((v) => v !== u)) continue;
    const [c0, c1, c2] = p.coeffs;
    p.coeffs = Float64Array.from([c2 * u * u + c1 * u + c0, 2 * c2 * a * u + c1 * a, c2 * a * a]);
    p.mapScale.fill(1);
    p.mapShift.fill(0);
  }
  // 5a. pool divisors → next Conv/Dense (exact: W·(Σ/k) = (W/k)·Σ)
  for (const pool of s.nodes.filter((n) => n.op === 'AveragePool' || n.op === 'GlobalAveragePool')) {
    if (pool.op !== 'AveragePool' && pool.op !== 'GlobalAveragePool') continue;
    const div = poolDivisor(pool, s);
    if (div === undefined) continue;
    const lin = linearConsumer(s, pool.output, true);
    if (lin) {
      scaleInputs(lin, () => 1 / div, lin.op === 'Conv' ? lin.weight.shape[1] : 1);
      pool.sum = true;
      s.log.push(`${pool.name}: divisor ${div} folded into ${lin.name}`);
      continue;
    }
    const prod = s.producer(pool.inputs[0]);
    if (prod && prod.op === 'Poly' && s.only(prod.output) === pool && !(prod.basis === 'power' && prod.coeffs.length === 3)) {
      for (let i = 0; i < prod.coeffs.length; i++) prod.coeffs[i] /= div;
      if (prod.coeffTensor) for (let i = 0; i < prod.coeffTensor.data.length; i++) prod.coeffTensor.data[i] /= div;
      pool.sum = true;
      s.log.push(`${pool.name}: divisor ${div} folded into ${prod.name}'s coefficients`);
    }
  }
  // 6. quadratics (already in the power basis): leading coefficient → next Conv/Dense
  for (const p of s.nodes) {
    if (p.op !== 'Poly' || p.coeffs.length !== 3 || p.basis !== 'power') continue;
    if (p.coeffTensor) {
      redistributeTensorForward(s, p);
      continue;
    }
    const lead = p.coeffs[2];
    if (lead === 1 || lead === 0) continue;
    const lins = linearConsumers(s, p.output, true);
    if (!lins) continue;
    for (const lin of lins) scaleInputs(lin, () => lead, lin.op === 'Conv' ? lin.weight.shape[1] : 1);
    for (let i = 0; i < 3; i++) p.coeffs[i] /= lead;
    p.moved = new Float64Array(p.mapScale.length).fill(lead);
    s.log.push(`${p.name}: leading coefficient ${lead.toFixed(5)} redistributed into ${lins.map((l) => l.name).join(', ')}`);
  }
  // 4. polynomial input maps → producing Conv/Dense (or both producers of a residual Add)
  for (const p of s.nodes) {
    if (p.op !== 'Poly' || p.mapFolded) continue;
    if (isIdentityMap(p)) {
      p.mapFolded = true;
      continue;
    }
    const v = p.inputs[0];
    if (s.only(v) !== p) continue;
    const prod = s.producer(v);
    if (prod && (prod.op === 'Conv' || prod.op === 'Dense')) {
      scaleRows(prod, p.mapScale, p.mapShift);
      p.mapFolded = true;
      s.log.push(`${p.name}: input map folded into ${prod.name}`);
    } else if (prod && prod.op === 'Add') {
      const [a, b] = prod.inputs.map((x) => s.producer(x));
      if (a && b && a !== b && (a.op === 'Conv' || a.op === 'Dense') && (b.op === 'Conv' || b.op === 'Dense') && s.only(a.output) === prod && s.only(b.output) === prod) {
        scaleRows(a, p.mapScale, p.mapShift);
        scaleRows(b, p.mapScale, null);
        p.mapFolded = true;
        s.log.push(`${p.name}: input map folded into both branches of ${prod.name} (${a.name}, ${b.name})`);
      }
    }
  }
  // 6b. quadratics whose leading coefficient could not move forward: push √|c2| backward into the
  //     producing Conv/Dense (x' = √|c2|·x, so c2·x² = ±x'²), compensating every other consumer
  //     of that output (bypass paths) by 1/√|c2| (PAPER `redistribute_weights`, backward case);
  //     or into both branches of a residual Add (a branch that is not a Conv/Dense of its own takes
  //     a per-channel MulConstant: a level on that branch only, which a skip path has to spare).
  for (const p of s.nodes) {
    if (p.op !== 'Poly' || p.basis !== 'power' || p.coeffs.length !== 3 || !p.mapFolded) continue;
    if (p.coeffTensor) {
      redistributeTensorBackward(s, p);
      continue;
    }
    const lead = p.coeffs[2];
    if (lead === 0 || Math.abs(lead) === 1) continue;
    const r = Math.sqrt(Math.abs(lead));
    const where = pushBackward(s, p, new Float64Array(p.outShape[0]).fill(r));
    if (!where) continue;
    p.coeffs = Float64Array.from([p.coeffs[0], p.coeffs[1] / r, Math.sign(lead)]);
    s.log.push(`${p.name}: √|c2| = ${r.toFixed(5)} redistributed backward into ${where}`);
  }
  return { graph: s.result(), log: s.log };
}

/**
 * Forward redistribution of a quadratic whose coefficients are tensors: the leading coefficient
 * L (per layer, channel or element) moves into the next linear layer's input weights, and the
 * node's coefficients are divided by L, so the node computes x² + (c1/L)·x + c0/L at one level.
 * A Conv or a pool between takes per-channel factors only; a Dense right after (through
 * Flatten/Reshape) takes any factor per input element.
 */
function redistributeTensorForward(s: Surgery, p: PolyNode): void {
  const cs = unpackCoefficients(p.coeffTensor!);
  const lead = compactTensor(cs[2]!);
  if (lead.data.every((v) => v === 1) || lead.data.some((v) => v === 0 || !Number.isFinite(v))) return;
  const perChannel = lead.shape.slice(1).every((d) => d === 1);
  const C = p.outShape[0];
  const chan = expandTo(lead, [C, ...p.outShape.slice(1).map(() => 1)]);
  const lins = linearConsumers(s, p.output, perChannel);
  if (!lins) return;
  const f = expandTo(lead, p.outShape);
  if (!perChannel && lins.some((l) => l.op === 'Conv' || l.weight.shape[1] !== f.length)) return;
  for (const lin of lins) {
    if (perChannel) scaleInputs(lin, (c) => chan[c], lin.op === 'Conv' ? lin.weight.shape[1] : C);
    else {
      // per element, straight into a Dense (flatten order = row-major element order)
      const [o, i] = lin.weight.shape;
      for (let r = 0; r < o; r++) for (let k = 0; k < i; k++) lin.weight.data[r * i + k] *= f[k];
    }
  }
  p.coeffTensor = packCoefficients(divideCoefficients(cs, lead));
  if (perChannel) p.moved = Float64Array.from(chan);
  s.log.push(`${p.name}: leading coefficients (${lead.data.length === 1 ? 'per layer' : perChannel ? 'per channel' : 'per element'}) redistributed into ${lins.map((l) => l.name).join(', ')}`);
}

/**
 * Backward redistribution for per-channel leading coefficients that could not move forward:
 * √|L_c| into the producing Conv/Dense's output channel c, bypass consumers compensated by
 * 1/√|L_c|; the node keeps sign(L_c)·x² (PAPER `redistribute_weights`, backward case).
 */
function redistributeTensorBackward(s: Surgery, p: PolyNode): void {
  const cs = unpackCoefficients(p.coeffTensor!);
  const lead = compactTensor(cs[2]!);
  if (lead.data.every((v) => Math.abs(v) === 1) || lead.data.some((v) => v === 0 || !Number.isFinite(v))) return;
  if (!lead.shape.slice(1).every((d) => d === 1)) return;
  const C = p.outShape[0];
  const r = Float64Array.from({ length: C }, (_, c) => Math.sqrt(Math.abs(lead.data[lead.data.length === 1 ? 0 : c])));
  const where = pushBackward(s, p, r);
  if (!where) return;
  const shape = lead.shape;
  const rt: Tensor = { shape, data: lead.data.length === 1 ? Float64Array.of(r[0]) : r };
  const c1: Tensor = { shape: cs[1].shape, data: Float64Array.from(cs[1].data) };
  const scaled: TensorPoly = [cs[0], divideTensor(c1, rt), { shape, data: lead.data.map((v) => Math.sign(v)) }];
  p.coeffTensor = packCoefficients(scaled);
  s.log.push(`${p.name}: ${lead.data.length === 1 ? '' : 'per-channel '}√|c2| redistributed backward into ${where}`);
}

/**
 * Multiplies p's input by r (per channel) upstream, exactly: into the producing Conv/Dense's
 * output rows (other consumers of that output compensated by 1/r), or into both branches of a
 * producing residual Add (a Conv/Dense branch used only there is rescaled; any other branch gets a
 * MulConstant). Returns a description of where it went, or undefined when neither applies.
 */
function pushBackward(s: Surgery, p: PolyNode, r: Float64Array): string | undefined {
  const v = p.inputs[0];
  const prod = s.producer(v);
  if (!prod || v === s.g.output.name) return undefined;
  if (prod.op === 'Conv' || prod.op === 'Dense') {
    const others = s.consumers(v).filter((c) => c !== p);
    if (others.some((c) => c.op !== 'Conv' && c.op !== 'Dense')) return undefined;
    scaleRows(prod, r, null);
    for (const c of others) if (c.op === 'Conv' || c.op === 'Dense') scaleInputs(c, (ch) => 1 / r[ch], c.op === 'Conv' ? c.weight.shape[1] : r.length);
    return `${prod.name}${others.length ? ` (bypass compensated in ${others.map((o) => o.name).join(', ')})` : ''}`;
  }
  if (prod.op !== 'Add' || s.only(v) !== p || prod.inputs[0] === prod.inputs[1]) return undefined;
  const done: string[] = [];
  for (let k = 0; k < 2; k++) {
    const u = prod.inputs[k];
    const q = s.producer(u);
    if (q && (q.op === 'Conv' || q.op === 'Dense') && s.only(u) === prod) {
      scaleRows(q, r, null);
      done.push(q.name);
      continue;
    }
    const shape = p.outShape.map((d, i) => (i === 0 && !r.every((x) => x === r[0]) ? d : 1));
    const m: IrNode = {
      op: 'MulConstant', name: `${prod.name}#scale${k}`, inputs: [u], output: `${prod.output}#scale${k}`, outShape: [...p.outShape],
      sources: [], constant: { shape, data: shape[0] === 1 ? Float64Array.of(r[0]) : Float64Array.from(r) } };
    s.nodes.splice(s.nodes.indexOf(prod), 0, m);
    prod.inputs[k] = m.output;
    done.push(`a scale on ${u}`);
  }
  return `both branches of ${prod.name} (${done.join(', ')})`;
}

/**
 * Every consumer of v followed through single-consumer Flatten/Reshape (and pools when allowed)
 * chains to a Conv/Dense; undefined unless all of them reach one (v must not be the graph output).
 */
function linearConsumers(s: Surgery, v: string, throughPools: boolean): (ConvNode | DenseNode)[] | undefined {
  if (v === s.g.output.name) return undefined;
  const cs = s.consumers(v);
  if (cs.length === 0) return undefined;
  const out: (ConvNode | DenseNode)[] = [];
  for (const c of cs) {
    if (c.inputs.filter((x) => x === v).length !== 1) return undefined;
    if (c.op === 'Conv' || c.op === 'Dense') out.push(c);
    else if (c.op === 'Flatten' || c.op === 'Reshape' || (throughPools && (c.op === 'AveragePool' || c.op === 'GlobalAveragePool'))) {
      const l = linearConsumer(s, c.output, throughPools);
      if (!l) return undefined;
      out.push(l);
    } else return undefined;
  }
  return out;
}

/** a / b element-wise with broadcasting. */
function divideTensor(a: Tensor, b: Tensor): Tensor {
  const shape = a.shape.map((d, i) => Math.max(d, b.shape[i]));
  const x = expandTo(a, shape);
  const y = expandTo(b, shape);
  return { shape, data: x.map((v, i) => v / y[i]) };
}

/** Every coefficient divided by L (the leading one becomes exactly 1). */
function divideCoefficients(cs: TensorPoly, lead: Tensor): TensorPoly {
  const out = cs.map((c) => divideTensor(c, lead));
  out[out.length - 1] = { shape: lead.shape.map(() => 1), data: Float64Array.of(1) };
  return out;
}

function isIdentityMap(p: PolyNode): boolean {
  return p.mapScale.every((v) => v === 1) && p.mapShift.every((v) => v === 0);
}

/** Constant divisor of a pool, or undefined when it varies by position (count_include_pad = 0 with pads). */
function poolDivisor(n: IrNode, s: Surgery): number | undefined {
  if (n.op === 'GlobalAveragePool') {
    if (n.sum) return undefined;
    const inShape = s.producer(n.inputs[0])?.outShape ?? s.g.input.shape;
    return sizeOf(inShape) / inShape[0];
  }
  if (n.op !== 'AveragePool' || n.sum) return undefined;
  if (!n.countIncludePad && n.pads.some((x) => x > 0)) return undefined;
  return n.kernel[0] * n.kernel[1];
}
