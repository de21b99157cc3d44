/**
 * The packed layout's plan, checked at the slot level: layouts, linear maps, diagonals, fused
 * pools and rotate-and-sum reproduce the reference executor on small networks (strided convs,
 * projection shortcuts, residual adds, pools, global pooling, dense) and on the MNIST fixtures.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type IrGraph, type IrNode, type PolyNode, compileModel, runReference } from '../src/nn/index.js';
import {
  applyMap, composeMaps, diagonalsOf, gather, gridLayout, linearMapOf, planPacked, scatter, simulatePacked, applyDiagonals, runPackedOnce,
} from '../src/nn/packed/index.js';
import { loadModel, testDigits } from './fixtures.js';
import { makeKit, randomVector } from './helpers.js';

let seed = 1;
const tensor = (shape: number[], scale = 0.5) => ({ shape, data: randomVector(shape.reduce((a, b) => a * b, 1), seed++, -scale, scale) });

function conv(name: string, input: string, ci: number, co: number, k: number, stride: number, inHW: number): IrNode {
  const pad = (k - 1) >> 1;
  const o = Math.floor((inHW + 2 * pad - k) / stride) + 1;
  return {
    op: 'Conv', name, inputs: [input], output: name, outShape: [co, o, o], sources: [], weight: tensor([co, ci, k, k], 1 / Math.sqrt(ci * k * k)),
    bias: tensor([co], 0.1), kernel: [k, k], strides: [stride, stride], pads: [pad, pad, pad, pad],
  };
}
function poly(name: string, input: string, shape: number[]): PolyNode {
  return {
    op: 'Poly', name, inputs: [input], output: name, outShape: shape, sources: [], replaces: 'Relu', mapScale: new Float64Array(shape[0]).fill(1),
    mapShift: new Float64Array(shape[0]), mapFolded: true, basis: 'power', coeffs: Float64Array.of(0.2, 0.5, 1), interval: [-2, 2],
  };
}

/** A tiny ResNet: conv, a strided block with a 1×1 projection shortcut, residual add, GAP, dense. */
function tinyResNet(C = 3, HW = 8): IrGraph {
  const nodes: IrNode[] = [
    conv('c1', 'x', C, 4, 3, 1, HW), poly('a1', 'c1', [4, HW, HW]),
    conv('c2', 'a1', 4, 8, 3, 2, HW), poly('a2', 'c2', [8, HW / 2, HW / 2]),
    conv('c3', 'a2', 8, 8, 3, 1, HW / 2), conv('sc', 'a1', 4, 8, 1, 2, HW),
    { op: 'Add', name: 'add', inputs: ['c3', 'sc'], output: 'add', outShape: [8, HW / 2, HW / 2], sources: [] },
    poly('a3', 'add', [8, HW / 2, HW / 2]),
    { op: 'GlobalAveragePool', name: 'gap', inputs: ['a3'], output: 'gap', outShape: [8, 1, 1], sources: [], sum: true },
    { op: 'Flatten', name: 'flat', inputs: ['gap'], output: 'flat', outShape: [8], sources: [] },
    { op: 'Dense', name: 'fc', inputs: ['flat'], output: 'fc', outShape: [5], sources: [], weight: tensor([5, 8]), bias: tensor([5], 0.1) },
  ];
  return { name: 'tiny', input: { name: 'x', shape: [C, HW, HW] }, output: { name: 'fc', shape: [5] }, nodes, origin: 'test' };
}

/** conv → poly → sum pool (fused into the next conv) → conv → poly → sum pool (its own transform: a poly reads it) → poly → dense. */
function pooled(HW = 8): IrGraph {
  const nodes: IrNode[] = [
    conv('c1', 'x', 1, 3, 3, 1, HW), poly('a1', 'c1', [3, HW, HW]),
    { op: 'AveragePool', name: 'p1', inputs: ['a1'], output: 'p1', outShape: [3, HW / 2, HW / 2], sources: [], kernel: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0], countIncludePad: true, sum: true },
    conv('c2', 'p1', 3, 4, 3, 1, HW / 2), poly('a2', 'c2', [4, HW / 2, HW / 2]),
    { op: 'AveragePool', name: 'p2', inputs: ['a2'], output: 'p2', outShape: [4, HW / 4, HW / 4], sources: [], kernel: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0], countIncludePad: true, sum: true },
    poly('a3', 'p2', [4, HW / 4, HW / 4]),
    { op: 'Flatten', name: 'flat', inputs: ['a3'], output: 'flat', outShape: [4 * (HW / 4) ** 2], sources: [] },
    { op: 'Dense', name: 'fc', inputs: ['flat'], output: 'fc', outShape: [3], sources: [], weight: tensor([3, 4 * (HW / 4) ** 2]), bias: null },
  ];
  return { name: 'pooled', input: { name: 'x', shape: [1, HW, HW] }, output: { name: 'fc', shape: [3] }, nodes, origin: 'test' };
}

function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number): void {
  expect(a.length).toBe(b.length);
  let scale = 1;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThanOrEqual(tol * scale);
}

describe('packed layout plan (slot level)', () => {
  it('multiplexed positions are distinct and fill the cells of a strided map', () => {
    const l = gridLayout(8, 4, 4, 8, 8, 2, 1024);
    expect(new Set(l.pos).size).toBe(l.pos.length);
    expect(l.grid).toMatchObject({ t: 2, blocks: 2, blockSize: 64 });
    expect(l.period).toBe(128);
    // channels 0..3 share block 0, one per sub-position of each 2×2 cell
    expect([0, 1, 2, 3].map((c) => l.pos[c * 16])).toEqual([0, 1, 8, 9]);
  });

  it('a linear map as diagonals equals the map (property over random layouts and convs)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 6 }), fc.constantFrom(1, 2), fc.constantFrom(1, 3), fc.integer({ min: 1, max: 1e6 }), (ci, co, stride, k, s) => {
      seed = s;
      const HW = 8;
      const n = conv('c', 'x', ci, co, k, stride, HW);
      const map = linearMapOf(n, [ci, HW, HW]);
      const lin = gridLayout(ci, HW, HW, HW, HW, 1, 1024);
      const lout = gridLayout(co, HW / stride, HW / stride, HW, HW, stride, 1024);
      const x = randomVector(ci * HW * HW, s + 7);
      const want = applyMap(map, x);
      const y = applyDiagonals(diagonalsOf(map, lin, lout), scatter(lin, x, 1024), 1024);
      expectClose(gather(lout, y), want, 1e-12);
      // every replica of the output holds the same values
      for (let z = 0; z < 1024; z++) expect(y[z]).toBeCloseTo(y[z % lout.period], 12);
    }), { numRuns: 40 });
  });

  it('composing a pool into a conv is the conv of the pool', () => {
    const pool: IrNode = { op: 'AveragePool', name: 'p', inputs: ['x'], output: 'p', outShape: [2, 4, 4], sources: [], kernel: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0], countIncludePad: true, sum: true };
    const c = conv('c', 'p', 2, 3, 3, 1, 4);
    const pm = linearMapOf(pool, [2, 8, 8]);
    const cm = linearMapOf(c, [2, 4, 4]);
    const x = randomVector(128, 5);
    expectClose(applyMap(composeMaps(cm, pm), x), applyMap(cm, applyMap(pm, x)), 1e-12);
  });

  for (const [name, g] of [['tiny ResNet (strided conv, projection shortcut, add, GAP, dense)', tinyResNet()], ['pools fused and materialized', pooled()]] as const) {
    it(`${name}: slot simulation = reference`, () => {
      const plan = planPacked(g, 2048);
      for (let i = 0; i < 3; i++) {
        const x = randomVector(g.input.shape.reduce((a, b) => a * b, 1), 100 + i, 0, 1);
        const want = runReference(g, { shape: [1, ...g.input.shape], data: x }, { checkFinite: false }).data;
        expectClose(simulatePacked(g, plan, x).output, want, 1e-10);
      }
    });
  }

  it('levels: a pool read by a conv is free, a pool read by a polynomial costs one', () => {
    const plan = planPacked(pooled(), 2048);
    expect(plan.steps.get('p1')!.kind).toBe('fused');
    expect(plan.steps.get('p2')!.kind).toBe('transform');
    expect(plan.levels.cost.get('p1')).toBe(0);
    expect(plan.levels.cost.get('p2')).toBe(1);
    const r = planPacked(tinyResNet(), 2048);
    expect(r.steps.get('gap')!.kind).toBe('rotsum');
    // c1, a1, c2, a2, c3, a3, fc: 7 levels (quadratics with leading coefficient 1 cost one)
    expect(r.levels.depth).toBe(7);
  });

  it('a stride that does not divide the map (28 → 14 → 7 → 4 at t = 8) gets a larger input grid: mnist_relu_res on 32 × 32', () => {
    const cal = testDigits(64);
    const m = compileModel(loadModel('mnist_relu_res'), cal.x, { degrees: { kind: 'uniform', degree: 3 } });
    const plan = planPacked(m.graph, 2048);
    expect(plan.input.grid).toMatchObject({ Hg: 32, Wg: 32, t: 1, blockSize: 1024 });
    const xs = testDigits(2, 500).x;
    const want = runReference(m.graph, xs, { checkFinite: false }).data;
    for (let i = 0; i < 2; i++) expectClose(simulatePacked(m.graph, plan, xs.data.subarray(i * 784, (i + 1) * 784)).output, want.subarray(i * 10, i * 10 + 10), 1e-9);
    // a network whose strides divide its maps keeps its own grid
    expect(planPacked(tinyResNet(), 1024).input.grid).toMatchObject({ Hg: 8, Wg: 8 });
  });

  for (const model of ['mnist_relu_bn', 'mnist_gelu_res', 'mnist_square']) {
    it(`${model}: compiled model, slot simulation = reference`, () => {
      const cal = testDigits(64);
      const m = compileModel(loadModel(model), cal.x, { degrees: { kind: 'uniform', degree: 3 } });
      const plan = planPacked(m.graph, 8192);
      const xs = testDigits(2, 500).x;
      const want = runReference(m.graph, xs, { checkFinite: false }).data;
      for (let i = 0; i < 2; i++) expectClose(simulatePacked(m.graph, plan, xs.data.subarray(i * 784, (i + 1) * 784)).output, want.subarray(i * 10, i * 10 + 10), 1e-9);
    });
  }
});

describe('packed layout, encrypted (small insecure ring)', () => {
  for (const [name, mk] of [['tiny ResNet', () => tinyResNet()], ['pools', () => pooled()]] as const) {
    it(`${name}: decrypted slots = slot simulation`, () => {
      const g = mk();
      const logN = 10;
      const plan = planPacked(g, 1 << (logN - 1));
      const kit = makeKit({ logN, levels: plan.levels.depth, insecure: true }, plan.rotations);
      for (let i = 0; i < 2; i++) {
        const x = randomVector(g.input.shape.reduce((a, b) => a * b, 1), 300 + i, 0, 1);
        const sim = simulatePacked(g, plan, x);
        const got = runPackedOnce(g, plan, kit.ev, kit.enc, kit.encr, kit.dec, { shape: [1, ...g.input.shape], data: x });
        let worst = 0;
        for (let k = 0; k < got.length; k++) worst = Math.max(worst, Math.abs(got[k] - sim.output[k]));
        // Δ ≈ 2^30 at N = 2^10, a few layers of products and sums: well above 10 bits
        expect(Math.log2(worst / Math.max(1, ...sim.output.map(Math.abs)))).toBeLessThan(-10);
      }
    });
  }
});
