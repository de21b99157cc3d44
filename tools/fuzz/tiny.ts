/**
 * A tiny network (one 4×4 input channel, a 3×3 convolution, ReLU, global pooling, a dense layer) at
 * a small insecure ring degree: big enough to exercise both layouts, the client/server bundles and
 * the plan, small enough that fuzzing and validation tests run thousands of cases in seconds.
 * Tests and the fuzz campaign only: the parameters are NOT secure.
 */
import { Model } from '../../src/nn/model/model.js';
import type { IrGraph, Tensor } from '../../src/nn/graph.js';
import type { Layout } from '../../src/nn/compile/compile.js';

/** Deterministic values in [lo, hi) (mulberry32). */
export function values(n: number, seed: number, lo = -0.5, hi = 0.5): Float64Array {
  let s = seed >>> 0;
  return Float64Array.from({ length: n }, () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return lo + (((t ^ (t >>> 14)) >>> 0) / 4294967296) * (hi - lo);
  });
}

/** The graph: x[1,4,4] → Conv(1→2, 3×3, pad 1) → ReLU → GlobalAveragePool → Flatten → Dense(2→3). */
export function tinyGraph(): IrGraph {
  return {
    name: 'tiny', origin: 'test', input: { name: 'x', shape: [1, 4, 4] }, output: { name: 'logits', shape: [3] },
    nodes: [
      {
        op: 'Conv', name: 'conv', inputs: ['x'], output: 'conv', outShape: [2, 4, 4], sources: ['conv'],
        weight: { shape: [2, 1, 3, 3], data: values(18, 1) }, bias: { shape: [2], data: values(2, 2) },
        kernel: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1],
      },
      { op: 'Relu', name: 'relu', inputs: ['conv'], output: 'relu', outShape: [2, 4, 4], sources: ['relu'] },
      { op: 'GlobalAveragePool', name: 'gap', inputs: ['relu'], output: 'gap', outShape: [2, 1, 1], sources: ['gap'] },
      { op: 'Flatten', name: 'flat', inputs: ['gap'], output: 'flat', outShape: [2], sources: ['flat'] },
      { op: 'Dense', name: 'fc', inputs: ['flat'], output: 'logits', outShape: [3], sources: ['fc'], weight: { shape: [3, 2], data: values(6, 3) }, bias: null },
    ],
  } as IrGraph;
}

/** Calibration inputs in [0, 1]: [n, 1, 4, 4]. */
export function tinyInputs(n: number, seed = 7): Tensor {
  return { shape: [n, 1, 4, 4], data: values(n * 16, seed, 0, 1) };
}

/** The compiled tiny model (degree-2 activation) at ring degree 2^logN (insecure). */
export function tinyModel(layout: Layout, logN = 8): Model {
  return Model.compile(tinyGraph(), tinyInputs(64), { layout, degrees: { kind: 'uniform', degree: 2 }, insecureLogN: logN });
}
