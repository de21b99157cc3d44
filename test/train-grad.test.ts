/**
 * Every backward pass of src/train against central finite differences in float64: a layer's
 * output is contracted with a random tensor r (L = Σ r·y), and each analytic gradient (inputs and
 * parameters) is compared with (L(θ + h) − L(θ − h))/2h. fast-check draws the shapes, strides,
 * paddings and batch sizes. Then whole networks (residual fan-out, batch-norm in training mode,
 * polynomial activations, the losses) the same way.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { IrGraph, IrNode } from '../src/nn/graph.js';
import { smartpafForm } from '../src/approx/sign.js';
import {
  AddLayer, AvgPoolLayer, BatchNormLayer, ConvLayer, DenseLayer, GlobalPoolLayer, type Layer, Network, PafLayer, PolyLayer, lossAndGradient, pointwise,
} from '../src/train/index.js';
import { randomVector } from './helpers.js';

const H = 1e-5;

/** Checks dL/d(inputs) and dL/d(params) of a layer at `ins` against central differences. */
function checkLayer(layer: Layer, ins: Float64Array[], n: number, mode: 'train' | 'eval', seed: number, params?: Float64Array, skip?: (k: number, j: number) => boolean) {
  const size = layer.slots.reduce((a, s) => Math.max(a, s.offset + s.size), 0);
  const p = params ?? randomVector(size, seed + 1, -0.8, 0.8);
  const g = new Float64Array(p.length);
  layer.bind(p, g);
  const y0 = Float64Array.from(layer.forward(ins, n, mode));
  const r = randomVector(y0.length, seed + 2, -1, 1);
  const L = () => {
    const y = layer.forward(ins, n, mode);
    let s = (layer as { lastPenalty?: number }).lastPenalty ?? 0;
    for (let i = 0; i < y.length; i++) s += r[i] * y[i];
    return s;
  };
  layer.forward(ins, n, mode);
  const dins = layer.backward(r, n, ins.map(() => true)).map((d) => (d ? Float64Array.from(d) : null));
  const gs = Float64Array.from(g);
  const fd = (arr: Float64Array, j: number) => {
    const v = arr[j];
    arr[j] = v + H;
    const a = L();
    arr[j] = v - H;
    const b = L();
    arr[j] = v;
    return (a - b) / (2 * H);
  };
  const close = (an: number, num: number, what: string) => {
    expect(Math.abs(an - num), `${what}: analytic ${an}, numeric ${num}`).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(num)));
  };
  ins.forEach((x, k) => {
    for (let j = 0; j < x.length; j++) {
      if (skip?.(k, j)) continue;
      close(dins[k]![j], fd(x, j), `input ${k}[${j}]`);
    }
  });
  for (let j = 0; j < p.length; j++) close(gs[j], fd(p, j), `param[${j}]`);
}

const node = (op: string, extra: Record<string, unknown>, outShape: number[]): IrNode =>
  ({ op, name: op, inputs: ['x'], output: 'y', outShape, sources: [], ...extra }) as unknown as IrNode;
const prod = (s: number[]) => s.reduce((a, b) => a * b, 1);

describe('layer backward passes = central finite differences (float64)', () => {
  it('Conv: shapes, strides and asymmetric paddings', () => {
    const arb = fc.record({
      n: fc.integer({ min: 1, max: 2 }), ci: fc.integer({ min: 1, max: 3 }), co: fc.integer({ min: 1, max: 3 }), h: fc.integer({ min: 2, max: 6 }),
      w: fc.integer({ min: 2, max: 6 }), kh: fc.integer({ min: 1, max: 3 }), kw: fc.integer({ min: 1, max: 3 }), sh: fc.integer({ min: 1, max: 3 }),
      sw: fc.integer({ min: 1, max: 2 }), pads: fc.tuple(fc.nat(2), fc.nat(2), fc.nat(2), fc.nat(2)), bias: fc.boolean(), seed: fc.nat(1000),
    }).filter((c) => c.h + c.pads[0] + c.pads[2] >= c.kh && c.w + c.pads[1] + c.pads[3] >= c.kw);
    fc.assert(fc.property(arb, (c) => {
      const oh = Math.floor((c.h + c.pads[0] + c.pads[2] - c.kh) / c.sh) + 1;
      const ow = Math.floor((c.w + c.pads[1] + c.pads[3] - c.kw) / c.sw) + 1;
      const n0 = node('Conv', {
        weight: { shape: [c.co, c.ci, c.kh, c.kw], data: new Float64Array(c.co * c.ci * c.kh * c.kw) }, bias: c.bias ? { shape: [c.co], data: new Float64Array(c.co) } : null,
        kernel: [c.kh, c.kw], strides: [c.sh, c.sw], pads: c.pads,
      }, [c.co, oh, ow]);
      const l = new ConvLayer(n0 as never, [c.ci, c.h, c.w]);
      let off = 0;
      for (const s of l.slots) { s.offset = off; off += s.size; }
      checkLayer(l, [randomVector(c.n * c.ci * c.h * c.w, c.seed, -1, 1)], c.n, 'train', c.seed);
    }), { numRuns: 40 });
  });

  it('Dense', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 5 }), fc.boolean(), fc.nat(1000), (n, i, o, bias, seed) => {
      const l = new DenseLayer(node('Dense', { weight: { shape: [o, i], data: new Float64Array(o * i) }, bias: bias ? { shape: [o], data: new Float64Array(o) } : null }, [o]) as never);
      let off = 0;
      for (const s of l.slots) { s.offset = off; off += s.size; }
      checkLayer(l, [randomVector(n * i, seed, -1, 1)], n, 'train', seed);
    }), { numRuns: 30 });
  });

  it('BatchNormalization in training mode (batch statistics) and in evaluation mode', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 }), fc.nat(1000), (n, C, hw, seed) => {
      if (n * hw * hw < 2) return;
      for (const mode of ['train', 'eval'] as const) {
        const l = new BatchNormLayer(node('BatchNormalization', {
          scale: new Float64Array(C), bias: new Float64Array(C), mean: randomVector(C, seed + 5, -0.2, 0.2), variance: randomVector(C, seed + 6, 0.5, 1.5), epsilon: 1e-5,
        }, [C, hw, hw]) as never);
        let off = 0;
        for (const s of l.slots) { s.offset = off; off += s.size; }
        checkLayer(l, [randomVector(n * C * hw * hw, seed, -2, 2)], n, mode, seed);
      }
    }), { numRuns: 30 });
  });

  it('ReLU, GELU (erf and tanh), x²', () => {
    for (const [op, extra] of [['Relu', {}], ['Gelu', { approximate: 'none' }], ['Gelu', { approximate: 'tanh' }], ['Square', {}]] as const) {
      const x = randomVector(24, 3, -2, 2);
      checkLayer(pointwise(node(op, extra, [2, 3, 4])), [x], 1, 'train', 7, new Float64Array(0), (_k, j) => op === 'Relu' && Math.abs(x[j]) < 1e-3);
    }
  });

  it('AveragePool (include-pad, exclude-pad, sum), GlobalAveragePool, Add', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 3, max: 6 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 2 }), fc.nat(1), fc.nat(2), fc.nat(500), (n, hw, k, s, p, mode, seed) => {
      if (p >= k) return;
      const o = Math.floor((hw + 2 * p - k) / s) + 1;
      const pool = new AvgPoolLayer(node('AveragePool', { kernel: [k, k], strides: [s, s], pads: [p, p, p, p], countIncludePad: mode === 0, sum: mode === 2 }, [2, o, o]) as never, [2, hw, hw]);
      checkLayer(pool, [randomVector(n * 2 * hw * hw, seed, -1, 1)], n, 'train', seed, new Float64Array(0));
      checkLayer(new GlobalPoolLayer(node('GlobalAveragePool', {}, [2, 1, 1]) as never, [2, hw, hw]), [randomVector(n * 2 * hw * hw, seed + 1, -1, 1)], n, 'train', seed, new Float64Array(0));
      checkLayer(new AddLayer(node('Add', {}, [2, hw]), [2, hw]), [randomVector(n * 2 * hw, seed, -1, 1), randomVector(n * 2 * hw, seed + 9, -1, 1)], n, 'train', seed, new Float64Array(0));
    }), { numRuns: 20 });
  });

  it('polynomial activations per layer, channel and element, with and without PAPER\'s clamp and penalty', () => {
    for (const grain of ['layer', 'channel', 'element'] as const) {
      for (const clip of [undefined, 1.2]) {
        const l = new PolyLayer(node('Relu', {}, [3, 2, 2]), { coeffs: [0.2, 0.5, 0.25, -0.05], grain, clip });
        l.slots[0].offset = 0;
        l.penaltyWeight = clip ? 0.37 : 0;
        const x = randomVector(2 * 12, 11, -2, 2);
        // the clamp is not differentiable at ±clip
        checkLayer(l, [x], 2, 'train', 13, undefined, (_k, j) => clip !== undefined && Math.abs(Math.abs(x[j]) - clip) < 1e-3);
      }
    }
  });

  it('the penalty is w·‖x − clamp(x)‖₂ and its gradient pushes outliers inside', () => {
    const l = new PolyLayer(node('Relu', {}, [4]), { coeffs: [0, 0, 1], grain: 'layer', clip: 1 });
    l.slots[0].offset = 0;
    const p = Float64Array.of(0, 0, 1);
    l.bind(p, new Float64Array(3));
    l.penaltyWeight = 2;
    l.forward([Float64Array.of(3, -0.5, -2, 0.5)], 1, 'train');
    expect(l.lastPenalty).toBeCloseTo(2 * Math.hypot(2, 1), 12);
    const d = l.backward(new Float64Array(4), 1, [true])[0]!;
    expect(d[0]).toBeGreaterThan(0);
    expect(d[2]).toBeLessThan(0);
    expect(d[1]).toBe(0);
    // no clamp, no penalty at evaluation
    expect(Array.from(l.forward([Float64Array.of(3, -0.5, -2, 0.5)], 1, 'eval'))).toEqual([9, 0.25, 4, 0.25]);
  });

  it('SmartPAF composite at a fixed (static) scale, and at the dynamic scale away from the maximum', () => {
    for (const form of ['f1∘g2', 'f1^2∘g1^2'] as const) {
      const l = new PafLayer(node('Relu', {}, [2, 3]), smartpafForm(form));
      l.slots[0].offset = 0;
      const p = new Float64Array(l.slots[0].size);
      l.initialise(p);
      const x = randomVector(12, 17, -3, 3);
      l.staticScale = 3.5;
      checkLayer(l, [x], 2, 'eval', 19, p);
      const arg = x.reduce((b, v, i) => (Math.abs(v) > Math.abs(x[b]) ? i : b), 0);
      checkLayer(l, [x], 2, 'train', 19, p, (_k, j) => j === arg);
    }
  });
});

describe('networks and losses = central finite differences (float64)', () => {
  /** conv → BN → poly → conv + skip → relu → GAP → dense, with a Gelu side. */
  function graph(): IrGraph {
    const t = (shape: number[], seed: number, s = 0.5) => ({ shape, data: randomVector(prod(shape), seed, -s, s) });
    const nodes = [
      { op: 'Conv', name: 'c1', inputs: ['x'], output: 'c1', outShape: [2, 4, 4], sources: [], weight: t([2, 1, 3, 3], 1), bias: null, kernel: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1] },
      { op: 'BatchNormalization', name: 'bn', inputs: ['c1'], output: 'bn', outShape: [2, 4, 4], sources: [], scale: randomVector(2, 2, 0.8, 1.2), bias: randomVector(2, 3, -0.1, 0.1), mean: new Float64Array(2), variance: new Float64Array(2).fill(1), epsilon: 1e-5 },
      { op: 'Relu', name: 'a1', inputs: ['bn'], output: 'a1', outShape: [2, 4, 4], sources: [] },
      { op: 'Conv', name: 'c2', inputs: ['a1'], output: 'c2', outShape: [2, 4, 4], sources: [], weight: t([2, 2, 3, 3], 4), bias: t([2], 5, 0.1), kernel: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1] },
      { op: 'Add', name: 'add', inputs: ['c2', 'a1'], output: 'add', outShape: [2, 4, 4], sources: [] },
      { op: 'Gelu', name: 'a2', inputs: ['add'], output: 'a2', outShape: [2, 4, 4], sources: [], approximate: 'none' },
      { op: 'AveragePool', name: 'pool', inputs: ['a2'], output: 'pool', outShape: [2, 2, 2], sources: [], kernel: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0], countIncludePad: true },
      { op: 'Flatten', name: 'f', inputs: ['pool'], output: 'f', outShape: [8], sources: [] },
      { op: 'Dense', name: 'fc', inputs: ['f'], output: 'fc', outShape: [3], sources: [], weight: t([3, 8], 6), bias: t([3], 7, 0.1) },
    ] as IrNode[];
    return { name: 't', input: { name: 'x', shape: [1, 4, 4] }, output: { name: 'fc', shape: [3] }, nodes, origin: 'test' };
  }

  for (const [name, act] of [
    ['ReLU', undefined],
    ['per-element quadratic', { a1: { kind: 'poly', coeffs: [0.2, 0.5, 0.25], grain: 'element' } }],
    ['clamped per-layer quadratic (PAPER)', { a1: { kind: 'poly', coeffs: [0.19, 0.5, 0.23], grain: 'layer', clip: 0.7 } }],
  ] as const) {
    it(`residual network with ${name}: parameter gradients of cross-entropy and distillation losses`, () => {
      const net = new Network(graph(), { dtype: 'float64', activations: act as never });
      for (const p of net.polyLayers()) p.penaltyWeight = 0.3;
      const n = 3;
      const x = randomVector(n * 16, 21, 0, 1);
      const labels = [0, 2, 1];
      const teacher = randomVector(n * 3, 23, -2, 2);
      for (const spec of [{ kind: 'ce' }, { kind: 'distill', temperature: 3, alpha: 0.4 }] as const) {
        const L = () => {
          const z = net.forward(x, n, 'train');
          const dz = new Float64Array(z.length);
          return lossAndGradient(spec, z, labels, teacher, n, 3, n, dz).loss + net.penalty();
        };
        net.zeroGrad();
        const z = net.forward(x, n, 'train');
        const dz = new Float64Array(z.length);
        lossAndGradient(spec, z, labels, teacher, n, 3, n, dz);
        net.backward(dz, n);
        const g = Float64Array.from(net.grads);
        const p = net.params as Float64Array;
        for (let j = 0; j < p.length; j++) {
          const v = p[j];
          p[j] = v + H;
          const a = L();
          p[j] = v - H;
          const b = L();
          p[j] = v;
          const num = (a - b) / (2 * H);
          expect(Math.abs(g[j] - num), `${net.slots.find((s) => j >= s.offset && j < s.offset + s.size)!.name}[${j}]`).toBeLessThanOrEqual(2e-6 * (1 + Math.abs(num)));
        }
      }
    });
  }
});
