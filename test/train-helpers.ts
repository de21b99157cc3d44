/** Shared pieces of the training tests: a separable synthetic task and a small CNN over it. */
import type { IrGraph, IrNode } from '../src/nn/graph.js';
import { type Dataset, withRandomWeights } from '../src/train/index.js';

/** Class k: a bright 3×3 square near quadrant k (±1 pixel jitter), Gaussian noise σ = 0.35. */
export function syntheticSet(count: number, seed: number): Dataset {
  let s = seed >>> 0;
  const u = () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    return ((s >>> 8) + 0.5) / 16777216;
  };
  const g = () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  const x = new Float32Array(count * 64);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const k = Math.floor(u() * 4);
    labels[i] = k;
    const cy = (k >> 1) * 4 + 1 + Math.floor(u() * 3) - 1;
    const cx = (k & 1) * 4 + 1 + Math.floor(u() * 3) - 1;
    for (let p = 0; p < 64; p++) x[i * 64 + p] = 0.35 * g();
    for (let dy = 0; dy < 3; dy++) for (let dx = 0; dx < 3; dx++) {
      const yy = Math.min(7, Math.max(0, cy + dy));
      const xx = Math.min(7, Math.max(0, cx + dx));
      x[i * 64 + yy * 8 + xx] += 1;
    }
  }
  return { x, labels, shape: [1, 8, 8], count };
}

/** conv(1→4) → BN → ReLU → avgpool 2 → conv(4→8) → ReLU → GAP → dense(8→4). */
export function smallNet(): IrGraph {
  const z = (shape: number[]) => ({ shape, data: new Float64Array(shape.reduce((a, b) => a * b, 1)) });
  const nodes: IrNode[] = [
    { op: 'Conv', name: 'c1', inputs: ['x'], output: 'c1', outShape: [4, 8, 8], sources: [], weight: z([4, 1, 3, 3]), bias: null, kernel: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1] },
    { op: 'BatchNormalization', name: 'bn1', inputs: ['c1'], output: 'bn1', outShape: [4, 8, 8], sources: [], scale: new Float64Array(4), bias: new Float64Array(4), mean: new Float64Array(4), variance: new Float64Array(4), epsilon: Math.fround(1e-5) },
    { op: 'Relu', name: 'r1', inputs: ['bn1'], output: 'r1', outShape: [4, 8, 8], sources: [] },
    { op: 'AveragePool', name: 'p1', inputs: ['r1'], output: 'p1', outShape: [4, 4, 4], sources: [], kernel: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0], countIncludePad: true },
    { op: 'Conv', name: 'c2', inputs: ['p1'], output: 'c2', outShape: [8, 4, 4], sources: [], weight: z([8, 4, 3, 3]), bias: z([8]), kernel: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1] },
    { op: 'Relu', name: 'r2', inputs: ['c2'], output: 'r2', outShape: [8, 4, 4], sources: [] },
    { op: 'GlobalAveragePool', name: 'gap', inputs: ['r2'], output: 'gap', outShape: [8, 1, 1], sources: [] },
    { op: 'Flatten', name: 'flat', inputs: ['gap'], output: 'flat', outShape: [8], sources: [] },
    { op: 'Dense', name: 'fc', inputs: ['flat'], output: 'fc', outShape: [4], sources: [], weight: z([4, 8]), bias: z([4]) },
  ];
  return withRandomWeights({ name: 'small', input: { name: 'x', shape: [1, 8, 8] }, output: { name: 'fc', shape: [4] }, nodes, origin: 'test' }, 5);
}

