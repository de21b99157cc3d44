/**
 * Compiler passes are exact (the folded graph computes the same function as the plain polynomial
 * network), OLA meets its target at fewer levels than uniform degrees, and level plans/parameters
 * are consistent.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { HE_STANDARD_128, InsecureParametersError, Parameters } from '../src/index.js';
import {
  type IrGraph, type PolyNode, accuracyOf, buildCompiled, chooseParameters, compileModel, fitAll, foldBatchNorm, isActivation,
  maskedPolys, planLevels, polyFields, runReference, calibrate, activationsWithStats, fitActivation,
} from '../src/nn/index.js';
import { loadModel, testDigits } from './fixtures.js';

/** The polynomial network without any folding: activations replaced in place, maps unfolded. */
function naivePolyGraph(g: IrGraph, fits: ReturnType<typeof fitAll>): IrGraph {
  const byName = new Map(fits.map((f) => [f.node, f]));
  return {
    ...g,
    nodes: g.nodes.map((n) => {
      if (!isActivation(n)) return n;
      const f = byName.get(n.name)!;
      const p = { ...n, op: 'Poly', ...polyFields(f, n.outShape[0]) } as unknown as PolyNode;
      return p;
    }),
  };
}

const calib = testDigits(300);
const models = ['mnist_square', 'mnist_relu_bn', 'mnist_relu_bnfolded', 'mnist_gelu_res'];

describe('compiler passes are exact', () => {
  for (const name of models) {
    it(`${name}: folded graph = unfolded polynomial network (uniform and mixed degrees)`, () => {
      const base = foldBatchNorm(loadModel(name));
      const cal = calibrate(base, calib.x);
      const acts = activationsWithStats(base, cal);
      fc.assert(fc.property(fc.array(fc.integer({ min: 2, max: 9 }), { minLength: acts.length, maxLength: acts.length }), (degs) => {
        const fits = acts.map((a, i) => fitActivation(a.node, a.stats, degs[i]));
        const folded = buildCompiled(base, fits).graph;
        const naive = naivePolyGraph(base, fits);
        const x = testDigits(16, 1200).x;
        const a = runReference(folded, x, { checkFinite: false }).data;
        const b = runReference(naive, x, { checkFinite: false }).data;
        let scale = 0;
        for (const v of b) scale = Math.max(scale, Math.abs(v));
        for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThanOrEqual(1e-9 * (1 + scale));
      }), { numRuns: name === 'mnist_gelu_res' ? 3 : 6 });
    });
  }

  it('folds what PAPER folds: BN into conv, maps into producers, pool divisors, quadratic leading coefficients', () => {
    const m = compileModel(loadModel('mnist_relu_bn'), calib.x, { degrees: { kind: 'uniform', degree: 2 } });
    const log = m.log.join('\n');
    expect(log).toMatch(/divisor 4 folded into \/conv2\/Conv/);
    expect(log).toMatch(/divisor 4 folded into \/fc\/Gemm/);
    expect(log).toMatch(/leading coefficient .* redistributed/);
    // higher degrees keep the Chebyshev map, folded into the producing convolution
    const m3 = compileModel(loadModel('mnist_relu_bn'), calib.x, { degrees: { kind: 'uniform', degree: 3 } });
    expect(m3.log.join('\n')).toMatch(/input map folded into \/conv1\/Conv/);
    expect(m.graph.nodes.some((n) => n.op === 'BatchNormalization')).toBe(false);
    for (const n of m.graph.nodes) if (n.op === 'Poly') expect(n.mapFolded).toBe(true);
    // degree-2 ReLUs are one-level quadratics after redistribution: conv 1 + act 1 + conv 1 + act 1 + dense 1
    expect(planLevels(m.graph, 'batch').depth).toBe(5);
  });
});

describe('OLA degree choice', () => {
  it('meets the accuracy target at fewer levels than the uniform degree of the same accuracy', () => {
    const cal = testDigits(1000);
    const m = compileModel(loadModel('mnist_relu_bn'), cal.x, { labels: cal.labels });
    const o = m.ola!;
    expect(o.metric).toBe('accuracy');
    const chosen = o.steps[o.chosen];
    expect(chosen.accuracy).toBeGreaterThanOrEqual(o.target);
    expect(o.target).toBeCloseTo(o.original - 0.01, 10);
    // the smallest uniform degree reaching the chosen accuracy needs more levels
    const uni = o.uniform.find((u) => u.accuracy >= chosen.accuracy);
    expect(uni).toBeDefined();
    expect(chosen.depth).toBeLessThan(uni!.depth);
    expect(Object.values(o.sensitivity!).every((s) => s > 0)).toBe(true);
    // held-out accuracy within a point of the original model
    const test = testDigits(1000, 1000);
    const orig = accuracyOf(loadModel('mnist_relu_bn'), test.x, test.labels);
    expect(accuracyOf(m.graph, test.x, test.labels)).toBeGreaterThanOrEqual(orig - 0.01);
  });
});

describe('level plans and parameters', () => {
  it('x² network: depth 5 in both layouts, no masks needed', () => {
    const m = compileModel(loadModel('mnist_square'), calib.x);
    expect(planLevels(m.graph, 'batch').depth).toBe(5);
    expect(planLevels(m.graph, 'channel').depth).toBe(5);
    expect(maskedPolys(m.graph).size).toBe(0);
  });

  it('polynomials whose output reaches a convolution or a padded pool are masked in the channel layout', () => {
    const m = compileModel(loadModel('mnist_relu_bn'), calib.x, { degrees: { kind: 'uniform', degree: 3 } });
    expect([...maskedPolys(m.graph)].sort()).toEqual(['/Relu', '/Relu_1']);
  });

  it('chooseParameters: secure, enough levels, smallest ring first', () => {
    for (let depth = 1; depth <= 40; depth += 3) {
      const P = chooseParameters(depth);
      expect(P.levels).toBeGreaterThanOrEqual(depth);
      expect(P.logQP).toBeLessThanOrEqual(HE_STANDARD_128[P.logN]);
      expect(Math.log2(P.defaultScale)).toBeGreaterThanOrEqual(25);
      // minimality: the next smaller ring cannot hold the depth at the narrowest allowed levels
      if (P.logN > 13) expect(() => new Parameters({ logN: P.logN - 1, levels: depth, logScale: 25, specialLimbs: 1 })).toThrow(InsecureParametersError);
    }
    expect(chooseParameters(4).logN).toBe(13);
    expect(() => chooseParameters(100)).toThrow(/no 128-bit secure/);
  });
});

// ---------------------------------------------------------------- synthetic residual graphs
function rnd(n: number, seed: number, scale = 0.5): Float64Array {
  let s = seed >>> 0;
  return Float64Array.from({ length: n }, () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * scale;
  });
}
function conv(name: string, input: string, ci: number, co: number, k: number, p: number, h: number, seed: number) {
  return {
    op: 'Conv' as const, name, inputs: [input], output: name, outShape: [co, h, h], sources: [name],
    weight: { shape: [co, ci, k, k], data: rnd(co * ci * k * k, seed) }, bias: { shape: [co], data: rnd(co, seed + 1) },
    kernel: [k, k] as [number, number], strides: [1, 1] as [number, number], pads: [p, p, p, p] as [number, number, number, number],
  };
}
const H = 5;
const head = (input: string, c: number) => [
  { op: 'GlobalAveragePool' as const, name: 'gap', inputs: [input], output: 'gap', outShape: [c, 1, 1], sources: [] },
  { op: 'Flatten' as const, name: 'flat', inputs: ['gap'], output: 'flat', outShape: [c], sources: [] },
  { op: 'Dense' as const, name: 'fc', inputs: ['flat'], output: 'logits', outShape: [4], sources: [], weight: { shape: [4, c], data: rnd(4 * c, 99) }, bias: null },
];

describe('residual fusions (synthetic graphs)', () => {
  const data = { shape: [64, 2, H, H], data: rnd(64 * 2 * H * H, 5, 1) };

  it('BN + residual Add → polynomial: the map folds into both branches, exactly', () => {
    const g = {
      name: 'res', origin: 'test', input: { name: 'x', shape: [2, H, H] }, output: { name: 'logits', shape: [4] },
      nodes: [
        conv('a', 'x', 2, 3, 3, 1, H, 1), conv('b', 'x', 2, 3, 1, 0, H, 3),
        { op: 'Add' as const, name: 'add', inputs: ['a', 'b'], output: 'add', outShape: [3, H, H], sources: [] },
        { op: 'BatchNormalization' as const, name: 'bn', inputs: ['add'], output: 'bn', outShape: [3, H, H], sources: [], scale: rnd(3, 7, 1).map((v) => 1 + v / 2), bias: rnd(3, 8), mean: rnd(3, 9), variance: rnd(3, 10, 0.5).map((v) => 1 + v), epsilon: 1e-5 },
        { op: 'Relu' as const, name: 'relu', inputs: ['bn'], output: 'relu', outShape: [3, H, H], sources: [] },
        ...head('relu', 3),
      ],
    } as IrGraph;
    const m = compileModel(g, data, { degrees: { kind: 'uniform', degree: 5 } });
    expect(m.log.join('\n')).toMatch(/bn: BatchNormalization fused into relu/);
    expect(m.log.join('\n')).toMatch(/folded into both branches of add/);
    const naive = naivePolyGraph(foldBatchNorm(g), m.fits);
    const a = runReference(m.graph, data).data;
    const b = runReference(naive, data).data;
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThan(1e-9);
    expect(planLevels(m.graph, 'batch').depth).toBe(1 + 3 + 1); // conv, degree-5 poly, dense (map and BN free)
  });

  it('quadratic whose output fans out: √c2 moves backward, the bypass is compensated, exactly', () => {
    const g = {
      name: 'bypass', origin: 'test', input: { name: 'x', shape: [2, H, H] }, output: { name: 'logits', shape: [4] },
      nodes: [
        conv('c1', 'x', 2, 3, 3, 1, H, 11),
        { op: 'Relu' as const, name: 'relu', inputs: ['c1'], output: 'relu', outShape: [3, H, H], sources: [] },
        conv('cb', 'c1', 3, 3, 1, 0, H, 13),
        conv('c2', 'relu', 3, 3, 3, 1, H, 15),
        { op: 'Add' as const, name: 'addA', inputs: ['c2', 'relu'], output: 'addA', outShape: [3, H, H], sources: [] },
        { op: 'Add' as const, name: 'addB', inputs: ['addA', 'cb'], output: 'addB', outShape: [3, H, H], sources: [] },
        ...head('addB', 3),
      ],
    } as IrGraph;
    const m = compileModel(g, data, { degrees: { kind: 'uniform', degree: 2 } });
    const log = m.log.join('\n');
    expect(log).toMatch(/relu: √\|c2\| = [\d.]+ redistributed backward into c1 \(bypass compensated in cb\)/);
    const p = m.graph.nodes.find((n) => n.name === 'relu') as PolyNode;
    expect(Math.abs(p.coeffs[2])).toBe(1);
    const naive = naivePolyGraph(foldBatchNorm(g), m.fits);
    const a = runReference(m.graph, data).data;
    const b = runReference(naive, data).data;
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThan(1e-9);
  });
});
