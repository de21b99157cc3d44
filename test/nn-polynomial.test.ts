/**
 * Polynomial activations written as standard ONNX ops: the tensor-coefficient algebra against
 * direct evaluation, the importer's symbolic evaluation against a float64 ONNX evaluator
 * (test/onnx-eval.ts), the compiler's fusions and redistribution against the imported graph, and
 * encrypted inference against the simulation in both layouts.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { clenshaw } from '../src/approx/fit/chebyshev.js';
import { Client, Model, Server } from '../src/index.js';
import {
  type IrGraph, type PolyNode, type Tensor, argmaxRows, coefficientGrain, compileModel, describeGraph, importOnnx, planLevels,
  runReference, validateGraph,
} from '../src/nn/index.js';
import {
  type TensorPoly, compactTensor, composeChannelMap, expandTo, packCoefficients, polyAdd, polyMul, polyPow, powerToChebyshevTensor,
  unpackCoefficients,
} from '../src/nn/polynomial.js';
import { type N, type T, model } from './onnx-builder.js';
import { evalOnnx } from './onnx-eval.js';
import { randomVector } from './helpers.js';

const SHAPE = [2, 3, 3];

/** Σ c_k x^k element by element, from expanded coefficients (independent of polynomial.ts' algebra). */
function evalDirect(p: TensorPoly, x: Float64Array, shape: number[]): Float64Array {
  const full = p.map((c) => {
    const out = new Float64Array(x.length);
    const r = shape.length;
    for (let e = 0; e < x.length; e++) {
      let rem = e;
      let src = 0;
      let stride = 1;
      for (let d = r - 1; d >= 0; d--) {
        const i = rem % shape[d]!;
        rem = Math.floor(rem / shape[d]!);
        if (c.shape[d] !== 1) src += i * stride;
        stride *= c.shape[d]!;
      }
      out[e] = c.data[src]!;
    }
    return out;
  });
  return x.map((v, e) => full.reduce((s, c, k) => s + c[e]! * v ** k, 0));
}

const grainArb = fc.constantFrom<number[]>([1, 1, 1], [2, 1, 1], [2, 3, 3], [1, 3, 1]);
const coefArb = grainArb.chain((shape) =>
  fc.array(fc.double({ min: -2, max: 2, noNaN: true }), { minLength: shape[0]! * shape[1]! * shape[2]!, maxLength: shape[0]! * shape[1]! * shape[2]! })
    .map((v) => ({ shape, data: Float64Array.from(v) })));
const polyArb = fc.array(coefArb, { minLength: 1, maxLength: 4 });

describe('tensor-coefficient polynomial algebra', () => {
  const x = randomVector(18, 5, -1.5, 1.5);
  const close = (a: Float64Array, b: Float64Array) => {
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThanOrEqual(1e-9 * (1 + Math.abs(b[i]!)));
  };
  it('sum, product and power evaluate like the pointwise operations', () => {
    fc.assert(fc.property(polyArb, polyArb, (p, q) => {
      const ep = evalDirect(p, x, SHAPE);
      const eq = evalDirect(q, x, SHAPE);
      close(evalDirect(polyAdd(p, q), x, SHAPE), ep.map((v, i) => v + eq[i]!));
      close(evalDirect(polyAdd(p, q, -1), x, SHAPE), ep.map((v, i) => v - eq[i]!));
      close(evalDirect(polyMul(p, q), x, SHAPE), ep.map((v, i) => v * eq[i]!));
      close(evalDirect(polyPow(p, 3), x, SHAPE), ep.map((v) => v ** 3));
    }), { numRuns: 60 });
  });
  it('per-channel input maps compose into the coefficients; Chebyshev conversion keeps the polynomial', () => {
    fc.assert(fc.property(polyArb, fc.array(fc.double({ min: -2, max: 2, noNaN: true }), { minLength: 4, maxLength: 4 }), (p, m) => {
      const s = [m[0]!, m[1]!];
      const u = [m[2]!, m[3]!];
      const mapped = x.map((v, e) => s[Math.floor(e / 9)]! * v + u[Math.floor(e / 9)]!);
      close(evalDirect(composeChannelMap(p, s, u), x, SHAPE), evalDirect(p, mapped, SHAPE));
      const packed = packCoefficients(p);
      expect(unpackCoefficients(packed).map((c) => Array.from(c.data))).toEqual(p.map((c) => Array.from(expandTo(c, packed.shape.slice(1)))));
      const cheb = powerToChebyshevTensor(packed);
      const per = cheb.data.length / cheb.shape[0]!;
      const want = evalDirect(p, x, SHAPE);
      for (let e = 0; e < x.length; e++) {
        const col = Array.from({ length: cheb.shape[0]! }, (_, k) => cheb.data[k * per + (per === 1 ? 0 : e)]!);
        if (per === 1 || per === x.length) expect(Math.abs(clenshaw(col, x[e]!) - want[e]!)).toBeLessThanOrEqual(1e-9 * (1 + Math.abs(want[e]!)));
      }
    }), { numRuns: 40 });
  });
  it('compaction finds the smallest broadcast shape', () => {
    expect(compactTensor({ shape: [2, 3, 3], data: Float64Array.from({ length: 18 }, (_, i) => (i < 9 ? 1 : 2)) })).toEqual({ shape: [2, 1, 1], data: Float64Array.of(1, 2) });
    expect(compactTensor({ shape: [2, 1, 1], data: Float64Array.of(3, 3) })).toEqual({ shape: [1, 1, 1], data: Float64Array.of(3) });
  });
});

// ---------------------------------------------------------------- ONNX graphs

const f32 = (v: ArrayLike<number>) => Array.from(v, (x) => Math.fround(x));
const vals = (n: number, seed: number, lo: number, hi: number) => f32(randomVector(n, seed, lo, hi));

/** Horner y = ((c2·x) + c1)·x + c0 from `x`, as the writer emits it. */
function horner(x: string, out: string, names: [string, string, string]): N[] {
  return [
    { op: 'Mul', inputs: [x, names[2]], outputs: [`${out}_t2`] },
    { op: 'Add', inputs: [`${out}_t2`, names[1]], outputs: [`${out}_t1`] },
    { op: 'Mul', inputs: [`${out}_t1`, x], outputs: [`${out}_t0`] },
    { op: 'Add', inputs: [`${out}_t0`, names[0]], outputs: [out] },
  ];
}

/** What torch.onnx emits for a*x*x + b*x + c (left to right). */
function torchQuadratic(x: string, out: string, [c, b, a]: [string, string, string]): N[] {
  return [
    { op: 'Mul', inputs: [a, x], outputs: [`${out}_ax`] },
    { op: 'Mul', inputs: [`${out}_ax`, x], outputs: [`${out}_axx`] },
    { op: 'Mul', inputs: [b, x], outputs: [`${out}_bx`] },
    { op: 'Add', inputs: [`${out}_axx`, `${out}_bx`], outputs: [`${out}_s`] },
    { op: 'Add', inputs: [`${out}_s`, c], outputs: [out] },
  ];
}

/** c0 + c1·x + c2·Pow(x, 2) with the constant first in the Sub. */
function powQuadratic(x: string, out: string, [c, b, a]: [string, string, string]): N[] {
  return [
    { op: 'Pow', inputs: [x, 'two'], outputs: [`${out}_sq`] },
    { op: 'Mul', inputs: [`${out}_sq`, a], outputs: [`${out}_asq`] },
    { op: 'Neg', inputs: [`${out}_asq`], outputs: [`${out}_nasq`] },
    { op: 'Mul', inputs: [x, b], outputs: [`${out}_bx`] },
    { op: 'Sub', inputs: [`${out}_bx`, `${out}_nasq`], outputs: [`${out}_s`] },
    { op: 'Sub', inputs: [c, `${out}_s`], outputs: [`${out}_m`] },
    { op: 'Neg', inputs: [`${out}_m`], outputs: [`${out}_p`] },
    { op: 'Add', inputs: [`${out}_p`, c], outputs: [`${out}_q`] },
    { op: 'Add', inputs: [`${out}_q`, c], outputs: [out] },
  ];
}

type Form = typeof horner;
type Grain = 'layer' | 'channel' | 'channel4' | 'element' | 'element4';

/** Coefficient initializers a (x²), b (x), c (1) of a grain for a [C,H,W] value. */
function coefInits(prefix: string, grain: Grain, [C, H, W]: number[], seed: number): { inits: T[]; names: [string, string, string] } {
  const dims = grain === 'layer' ? [1] : grain === 'channel' ? [C!, 1, 1] : grain === 'channel4' ? [1, C!, 1, 1] : grain === 'element' ? [C!, H!, W!] : [1, C!, H!, W!];
  const n = dims.reduce((a, b) => a * b, 1);
  const names: [string, string, string] = [`${prefix}_c0`, `${prefix}_c1`, `${prefix}_c2`];
  const inits: T[] = [
    { name: names[0], dims, values: vals(n, seed, 0.1, 0.3) },
    { name: names[1], dims, values: vals(n, seed + 1, 0.3, 0.7) },
    { name: names[2], dims, values: vals(n, seed + 2, 0.05, 0.4) },
  ];
  return { inits, names };
}

interface Net {
  nodes: N[];
  inits: T[];
  input: [string, (number | string)[]];
}

/**
 * Conv(1→3, 3×3, p1) → BN → poly A → Conv(3→4, 3×3, s2, p1) → poly B → Flatten → Gemm(→5):
 * A before a Conv, B before a Dense.
 */
function plainNet(form: Form, gA: Grain, gB: Grain): Net {
  const a = coefInits('pa', gA, [3, 6, 6], 11);
  const b = coefInits('pb', gB, [4, 3, 3], 21);
  return {
    input: ['x', ['N', 1, 6, 6]],
    inits: [
      { name: 'W1', dims: [3, 1, 3, 3], values: vals(27, 1, -0.6, 0.6) },
      { name: 'b1', dims: [3], values: vals(3, 2, -0.1, 0.1) },
      { name: 'g', dims: [3], values: vals(3, 3, 0.8, 1.2) },
      { name: 'be', dims: [3], values: vals(3, 4, -0.2, 0.2) },
      { name: 'mu', dims: [3], values: vals(3, 5, -0.1, 0.1) },
      { name: 'var', dims: [3], values: vals(3, 6, 0.5, 1.5) },
      { name: 'W2', dims: [4, 3, 3, 3], values: vals(108, 7, -0.3, 0.3) },
      { name: 'b2', dims: [4], values: vals(4, 8, -0.1, 0.1) },
      { name: 'W3', dims: [5, 36], values: vals(180, 9, -0.3, 0.3) },
      { name: 'b3', dims: [5], values: vals(5, 10, -0.1, 0.1) },
      { name: 'two', dims: [], values: [2] },
      ...a.inits, ...b.inits,
    ],
    nodes: [
      { op: 'Conv', inputs: ['x', 'W1', 'b1'], outputs: ['c1'], attrs: { pads: { ints: [1, 1, 1, 1] } } },
      { op: 'BatchNormalization', inputs: ['c1', 'g', 'be', 'mu', 'var'], outputs: ['n1'] },
      ...form('n1', 'pA', a.names),
      { op: 'Conv', inputs: ['pA', 'W2', 'b2'], outputs: ['c2'], attrs: { pads: { ints: [1, 1, 1, 1] }, strides: { ints: [2, 2] } } },
      ...form('c2', 'pB', b.names),
      { op: 'Flatten', inputs: ['pB'], outputs: ['f'] },
      { op: 'Gemm', inputs: ['f', 'W3', 'b3'], outputs: ['y'], attrs: { transB: { i: 1 } } },
    ],
  };
}

/** Conv(1→3) → poly A → Conv(3→3) + skip(poly A) → poly B → GlobalAveragePool → Flatten → Gemm: a residual block. */
function residualNet(gA: Grain, gB: Grain): Net {
  const a = coefInits('pa', gA, [3, 4, 4], 31);
  const b = coefInits('pb', gB, [3, 4, 4], 41);
  return {
    input: ['x', ['N', 1, 4, 4]],
    inits: [
      { name: 'W1', dims: [3, 1, 3, 3], values: vals(27, 51, -0.6, 0.6) },
      { name: 'W2', dims: [3, 3, 3, 3], values: vals(81, 52, -0.3, 0.3) },
      { name: 'b2', dims: [3], values: vals(3, 53, -0.1, 0.1) },
      { name: 'W3', dims: [4, 3], values: vals(12, 54, -0.5, 0.5) },
      ...a.inits, ...b.inits,
    ],
    nodes: [
      { op: 'Conv', inputs: ['x', 'W1'], outputs: ['c1'], attrs: { pads: { ints: [1, 1, 1, 1] } } },
      ...horner('c1', 'pA', a.names),
      { op: 'Conv', inputs: ['pA', 'W2', 'b2'], outputs: ['c2'], attrs: { pads: { ints: [1, 1, 1, 1] } } },
      { op: 'Add', inputs: ['c2', 'pA'], outputs: ['r'] },
      ...horner('r', 'pB', b.names),
      { op: 'GlobalAveragePool', inputs: ['pB'], outputs: ['gp'] },
      { op: 'Flatten', inputs: ['gp'], outputs: ['f'] },
      { op: 'Gemm', inputs: ['f', 'W3'], outputs: ['y'], attrs: { transB: { i: 1 } } },
    ],
  };
}

/**
 * Two identity-shortcut residual blocks: stem → pA → [conv → pB → conv] + pA → pC → [conv → pD →
 * conv] + pC → pE → GlobalAveragePool → Gemm. pC fans out to a Conv and an Add (ResNet's shape).
 */
function resnetNet(g: Grain): Net {
  const ps = ['pA', 'pB', 'pC', 'pD', 'pE'].map((name, i) => ({ name, ...coefInits(name, g, [2, 4, 4], 70 + 3 * i) }));
  const conv = (x: string, w: string, out: string): N => ({ op: 'Conv', inputs: [x, w, `${w}b`], outputs: [out], attrs: { pads: { ints: [1, 1, 1, 1] } } });
  const ws: T[] = ['S', 'K1', 'K2', 'K3', 'K4'].flatMap((w, i) => [
    { name: w, dims: [2, i === 0 ? 1 : 2, 3, 3], values: vals(i === 0 ? 18 : 36, 90 + i, -0.5, 0.5) },
    { name: `${w}b`, dims: [2], values: vals(2, 95 + i, -0.1, 0.1) },
  ]);
  return {
    input: ['x', ['N', 1, 4, 4]],
    inits: [...ws, { name: 'D', dims: [3, 2], values: vals(6, 99, -0.5, 0.5) }, ...ps.flatMap((p) => p.inits)],
    nodes: [
      conv('x', 'S', 's'), ...horner('s', 'pA', ps[0]!.names),
      conv('pA', 'K1', 'k1'), ...horner('k1', 'pB', ps[1]!.names), conv('pB', 'K2', 'k2'),
      { op: 'Add', inputs: ['k2', 'pA'], outputs: ['r1'] }, ...horner('r1', 'pC', ps[2]!.names),
      conv('pC', 'K3', 'k3'), ...horner('k3', 'pD', ps[3]!.names), conv('pD', 'K4', 'k4'),
      { op: 'Add', inputs: ['k4', 'pC'], outputs: ['r2'] }, ...horner('r2', 'pE', ps[4]!.names),
      { op: 'GlobalAveragePool', inputs: ['pE'], outputs: ['gp'] },
      { op: 'Flatten', inputs: ['gp'], outputs: ['f'] },
      { op: 'Gemm', inputs: ['f', 'D'], outputs: ['y'], attrs: { transB: { i: 1 } } },
    ],
  };
}

const build = (n: Net) => model({ nodes: n.nodes, inits: n.inits, input: n.input });
const images = (count: number, seed: number, hw: number): Tensor => ({ shape: [count, 1, hw, hw], data: Float64Array.from(randomVector(count * hw * hw, seed, 0, 1), Math.fround) });
const polys = (g: IrGraph) => g.nodes.filter((n): n is PolyNode => n.op === 'Poly');

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]!));
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m / (1 + scale);
}

describe('importing polynomial activations written as ONNX ops', () => {
  const grains: Grain[] = ['layer', 'channel', 'channel4', 'element', 'element4'];
  for (const [fname, form] of [['Horner', horner], ['torch a*x*x+b*x+c', torchQuadratic], ['Pow/Sub/Neg', powQuadratic]] as const) {
    for (const g of grains) {
      it(`${fname}, coefficients per ${g}: one Poly node each, logits = float64 ONNX evaluation`, () => {
        const net = plainNet(form, g, g === 'layer' ? 'element' : 'layer');
        const graph = importOnnx(build(net));
        expect(graph.nodes.map((n) => n.op)).toEqual(['Conv', 'BatchNormalization', 'Poly', 'Conv', 'Poly', 'Flatten', 'Dense']);
        const [pa, pb] = polys(graph);
        expect(pa!.replaces).toBe('Polynomial');
        expect(pa!.coeffs.length).toBe(3);
        expect(coefficientGrain(pa!)).toBe(g.startsWith('element') ? 'per element' : g.startsWith('channel') ? 'per channel' : 'per layer');
        expect(coefficientGrain(pb!)).toBe(g === 'layer' ? 'per element' : 'per layer');
        expect(pa!.sources.length).toBe(net.nodes.filter((n) => n.outputs[0]!.startsWith('pA')).length);
        const x = images(5, 7, 6);
        const want = evalOnnx(net.nodes, net.inits, 'x', x);
        expect(maxRelDiff(runReference(graph, x).data, want.data)).toBeLessThan(1e-12);
        expect(describeGraph(graph)).toMatch(/Poly power deg 2 per/);
      });
    }
  }

  it('cubic by Pow(x, 3) and by a Mul chain; x·x alone stays Square', () => {
    const nodes: N[] = [
      { op: 'Pow', inputs: ['x', 'three'], outputs: ['p3'] },
      { op: 'Mul', inputs: ['x', 'x'], outputs: ['sq'] },
      { op: 'Mul', inputs: ['sq', 'x'], outputs: ['cube'] },
      { op: 'Mul', inputs: ['cube', 'k'], outputs: ['kc'] },
      { op: 'Add', inputs: ['p3', 'kc'], outputs: ['y0'] },
      { op: 'Relu', inputs: ['y0'], outputs: ['r'] },
      { op: 'Mul', inputs: ['r', 'r'], outputs: ['y'] },
    ];
    const inits: T[] = [{ name: 'three', dims: [], values: [3] }, { name: 'k', dims: [2, 1, 1], values: [0.5, -2] }];
    const g = importOnnx(model({ nodes, inits, input: ['x', ['N', 2, 3, 3]] }));
    expect(g.nodes.map((n) => n.op)).toEqual(['Poly', 'Relu', 'Square']);
    const x = { shape: [3, 2, 3, 3], data: randomVector(54, 3, -2, 2) };
    expect(maxRelDiff(runReference(g, x).data, evalOnnx(nodes, inits, 'x', x).data)).toBeLessThan(1e-12);
  });

  it('a value used by a polynomial and by another op is emitted once for the other op; two roots make a residual Add', () => {
    const nodes: N[] = [
      { op: 'Mul', inputs: ['x', 'x'], outputs: ['sq'] },
      { op: 'Relu', inputs: ['sq'], outputs: ['r'] },
      { op: 'Mul', inputs: ['sq', 'a'], outputs: ['asq'] },
      { op: 'Add', inputs: ['asq', 'x'], outputs: ['p'] },
      { op: 'Add', inputs: ['p', 'r'], outputs: ['y'] },
    ];
    const inits: T[] = [{ name: 'a', dims: [1], values: [0.25] }];
    const g = importOnnx(model({ nodes, inits, input: ['x', ['N', 2, 3, 3]] }));
    expect(g.nodes.map((n) => n.op)).toEqual(['Square', 'Relu', 'Poly', 'Add']);
    validateGraph(g);
    const x = { shape: [2, 2, 3, 3], data: randomVector(36, 4, -2, 2) };
    expect(maxRelDiff(runReference(g, x).data, evalOnnx(nodes, inits, 'x', x).data)).toBeLessThan(1e-12);
  });

  it('terms that cancel leave an affine map (no polynomial node)', () => {
    const nodes: N[] = [
      { op: 'Mul', inputs: ['x', 'x'], outputs: ['sq'] },
      { op: 'Add', inputs: ['sq', 'x'], outputs: ['s'] },
      { op: 'Sub', inputs: ['s', 'sq'], outputs: ['d'] },
      { op: 'Sub', inputs: ['k', 'd'], outputs: ['y'] },
    ];
    const inits: T[] = [{ name: 'k', dims: [1], values: [3] }];
    const g = importOnnx(model({ nodes, inits, input: ['x', ['N', 2, 3, 3]] }));
    expect(g.nodes.map((n) => n.op)).toEqual(['MulConstant', 'AddConstant']);
    const x = { shape: [1, 2, 3, 3], data: randomVector(18, 5, -2, 2) };
    expect(maxRelDiff(runReference(g, x).data, evalOnnx(nodes, inits, 'x', x).data)).toBeLessThan(1e-12);
  });
});

describe('compiling imported polynomials', () => {
  const calib = images(64, 100, 6);
  const cases: [Grain, Grain, number][] = [
    // conv 1 + A 1 + conv 1 + B 1 + dense 1: every quadratic at one level
    ['layer', 'layer', 5],
    ['channel', 'element', 5],
    ['channel4', 'element4', 5],
    // a per-element leading coefficient cannot enter a convolution's shared weights: A costs two
    ['element', 'channel', 6],
  ];
  for (const [gA, gB, depth] of cases) {
    it(`A per ${gA}, B per ${gB}: compiled = imported, depth ${depth}, no fitting`, () => {
      const graph = importOnnx(build(plainNet(horner, gA, gB)));
      const m = compileModel(graph, calib, { degrees: { kind: 'uniform', degree: 2 } });
      expect(m.fits).toEqual([]);
      const x = images(8, 200, 6);
      expect(maxRelDiff(runReference(m.graph, x).data, runReference(graph, x).data)).toBeLessThan(1e-10);
      expect(planLevels(m.graph, 'batch').depth).toBe(depth);
      expect(m.graph.nodes.some((n) => n.op === 'BatchNormalization')).toBe(false);
      expect(m.log.join('\n')).toMatch(/redistributed/);
    });
  }

  it('OLA compiles a graph whose activations are all the model polynomials', () => {
    const graph = importOnnx(build(plainNet(horner, 'channel', 'layer')));
    const m = compileModel(graph, calib);
    expect(m.fits).toEqual([]);
    const x = images(8, 201, 6);
    expect(maxRelDiff(runReference(m.graph, x).data, runReference(graph, x).data)).toBeLessThan(1e-10);
  });

  it('residual block: backward redistribution before the fan-out, forward through the global pool; compiled = imported', () => {
    // conv 1 + A 1 + conv 1 + B 1 + dense 1 (the pool is a sum); a per-element A or B costs one more each
    for (const [gA, gB, depth] of [['layer', 'layer', 5], ['channel', 'channel', 5], ['element', 'element', 7]] as [Grain, Grain, number][]) {
      const graph = importOnnx(build(residualNet(gA, gB)));
      const m = compileModel(graph, images(32, 300, 4), { degrees: { kind: 'uniform', degree: 2 } });
      const x = images(8, 301, 4);
      expect(maxRelDiff(runReference(m.graph, x).data, runReference(graph, x).data)).toBeLessThan(1e-10);
      expect(planLevels(m.graph, 'batch').depth).toBe(depth);
    }
  });

  it('ResNet blocks: the post-Add quadratic that fans out moves √|c2| into both branches of its Add', () => {
    // stem, pA, then per block conv, act, conv, act: 1 + 1 + 4 + 4, dense 1
    for (const g of ['layer', 'channel'] as Grain[]) {
      const graph = importOnnx(build(resnetNet(g)));
      const m = compileModel(graph, images(32, 310, 4), { degrees: { kind: 'uniform', degree: 2 } });
      const x = images(8, 311, 4);
      expect(maxRelDiff(runReference(m.graph, x).data, runReference(graph, x).data)).toBeLessThan(1e-10);
      expect(m.log.join('\n')).toMatch(/pC.*redistributed backward into both branches/);
      expect(planLevels(m.graph, 'batch').depth).toBe(11);
      expect(planLevels(m.graph, 'channel').depth).toBeGreaterThanOrEqual(11);
    }
  });

  it('degree-4 polynomials evaluate as Chebyshev series at depth 3', () => {
    const nodes: N[] = [
      { op: 'Conv', inputs: ['x', 'W'], outputs: ['c'] },
      { op: 'Mul', inputs: ['c', 'c'], outputs: ['sq'] },
      { op: 'Mul', inputs: ['sq', 'sq'], outputs: ['q'] },
      { op: 'Mul', inputs: ['q', 'k'], outputs: ['kq'] },
      { op: 'Add', inputs: ['kq', 'c'], outputs: ['p'] },
      { op: 'Flatten', inputs: ['p'], outputs: ['f'] },
      { op: 'Gemm', inputs: ['f', 'D'], outputs: ['y'], attrs: { transB: { i: 1 } } },
    ];
    const inits: T[] = [
      { name: 'W', dims: [2, 1, 3, 3], values: vals(18, 61, -0.5, 0.5) },
      { name: 'k', dims: [2, 4, 4], values: vals(32, 62, -0.3, 0.3) },
      { name: 'D', dims: [3, 32], values: vals(96, 63, -0.3, 0.3) },
    ];
    const graph = importOnnx(model({ nodes, inits, input: ['x', ['N', 1, 6, 6]] }));
    const m = compileModel(graph, images(16, 64, 6), { degrees: { kind: 'uniform', degree: 2 } });
    const p = polys(m.graph)[0]!;
    expect(p.basis).toBe('chebyshev');
    expect(planLevels(m.graph, 'batch').depth).toBe(1 + 3 + 1);
    const x = images(4, 65, 6);
    expect(maxRelDiff(runReference(m.graph, x).data, runReference(graph, x).data)).toBeLessThan(1e-10);
  });
});

/** Conv → a degree-7 polynomial (odd, per channel) on inputs spanning about ±8 → Flatten → Gemm. */
function widePoly(): Net {
  const c = [0, 0.9, 0, -0.02, 0, 3e-4, 0, -1.5e-6];
  const conv: N = { op: 'Conv', inputs: ['x', 'W'], outputs: ['c'], attrs: { pads: { ints: [1, 1, 1, 1] } } };
  // Horner with per-channel coefficients (the second channel's scaled by 1.1)
  const horner: N[] = [{ op: 'Mul', inputs: ['c', 'k7'], outputs: ['t7'] }];
  for (let k = 6; k >= 0; k--) {
    horner.push({ op: 'Add', inputs: [`t${k + 1}`, `k${k}`], outputs: [`s${k}`] });
    if (k > 0) horner.push({ op: 'Mul', inputs: [`s${k}`, 'c'], outputs: [`t${k}`] });
  }
  return {
    input: ['x', ['N', 1, 4, 4]],
    inits: [
      { name: 'W', dims: [2, 1, 3, 3], values: vals(18, 81, 1.5, 2.5) },
      { name: 'D', dims: [3, 32], values: vals(96, 82, -0.3, 0.3) },
      ...c.map((v, k) => ({ name: `k${k}`, dims: [2, 1, 1], values: [v, 1.1 * v].map(Math.fround) })),
    ],
    nodes: [
      conv, ...horner,
      { op: 'Flatten', inputs: ['s0'], outputs: ['f'] },
      { op: 'Gemm', inputs: ['f', 'D'], outputs: ['y'], attrs: { transB: { i: 1 } } },
    ],
  };
}

describe('encrypted inference of imported polynomial models equals the simulation', () => {
  const calib = images(32, 400, 6);
  function roundTrip(m: Model, x: Tensor) {
    const client = new Client(m.plan);
    const server = new Server(m, client.evaluationKeys());
    return client.decrypt(server.infer(client.encrypt(x)));
  }
  it('ResNet blocks with per-channel quadratics, batch layout', () => {
    const m = Model.compile(importOnnx(build(resnetNet('channel'))), images(32, 403, 4), { degrees: { kind: 'uniform', degree: 2 }, insecureLogN: 10 });
    expect(m.plan.depth).toBe(11);
    const x = images(16, 404, 4);
    expect(maxRelDiff(roundTrip(m, x).data, m.simulate(x).data)).toBeLessThan(1e-3);
  });
  it('ResNet blocks with per-layer quadratics, channel layout', () => {
    const m = Model.compile(importOnnx(build(resnetNet('layer'))), images(32, 405, 4), { degrees: { kind: 'uniform', degree: 2 }, layout: 'channel', insecureLogN: 11 });
    const x = images(1, 406, 4);
    expect(maxRelDiff(roundTrip(m, x).data, m.simulate(x).data)).toBeLessThan(1e-3);
  });
  it('a degree-7 polynomial on inputs spanning ±8 runs on its calibrated range (Chebyshev map), batch layout', () => {
    const graph = importOnnx(build(widePoly()));
    const calibX = images(32, 409, 4);
    let mx = 0;
    const c = runReference({ ...graph, nodes: [graph.nodes[0]!], output: { name: graph.nodes[0]!.output, shape: graph.nodes[0]!.outShape } }, calibX);
    for (const v of c.data) mx = Math.max(mx, Math.abs(v));
    expect(mx).toBeGreaterThan(6);
    const m = Model.compile(graph, calibX, { degrees: { kind: 'uniform', degree: 2 }, insecureLogN: 10 });
    const p = polys(m.compiled.graph)[0]!;
    expect(p.basis).toBe('chebyshev');
    expect(p.interval[1]).toBeGreaterThan(6);
    expect(m.plan.depth).toBe(1 + 3 + 1);
    const x = images(16, 410, 4);
    const sim = m.simulate(x);
    expect(maxRelDiff(sim.data, runReference(graph, x).data)).toBeLessThan(1e-9);
    expect(maxRelDiff(roundTrip(m, x).data, sim.data)).toBeLessThan(1e-3);
  });
  it('packed layout: ResNet blocks per channel, and per-element coefficients', () => {
    for (const [net, hw] of [[resnetNet('channel'), 4], [plainNet(horner, 'element', 'channel'), 6]] as [Net, number][]) {
      const m = Model.compile(importOnnx(build(net)), images(32, 407, hw), { degrees: { kind: 'uniform', degree: 2 }, layout: 'packed', insecureLogN: 11 });
      const x = images(1, 408, hw);
      expect(maxRelDiff(roundTrip(m, x).data, m.simulate(x).data)).toBeLessThan(1e-3);
    }
  });
  for (const [gA, gB] of [['channel', 'element'], ['element', 'layer']] as [Grain, Grain][]) {
    it(`batch layout, A per ${gA}, B per ${gB}`, () => {
      const m = Model.compile(importOnnx(build(plainNet(horner, gA, gB))), calib, { degrees: { kind: 'uniform', degree: 2 }, insecureLogN: 10 });
      const x = images(16, 401, 6);
      const out = roundTrip(m, x);
      const sim = m.simulate(x);
      expect(maxRelDiff(out.data, sim.data)).toBeLessThan(1e-3);
      expect(argmaxRows({ shape: [16, 5], data: out.data })).toEqual(argmaxRows(sim));
    });
    it(`channel layout, A per ${gA}, B per ${gB}`, () => {
      const m = Model.compile(importOnnx(build(plainNet(horner, gA, gB))), calib, { degrees: { kind: 'uniform', degree: 2 }, layout: 'channel', insecureLogN: 11 });
      const x = images(1, 402, 6);
      const out = roundTrip(m, x);
      expect(maxRelDiff(out.data, m.simulate(x).data)).toBeLessThan(1e-3);
    });
  }
});
