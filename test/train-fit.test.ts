/**
 * Training end to end: a small convolutional network learns a separable synthetic task (four
 * classes of noisy 8×8 images) to a known accuracy; runs are reproducible for a seed and a thread
 * count (one thread, and two workers); the trained graph written as ONNX reads back with the
 * trainer's logits.
 */
import { describe, expect, it } from 'vitest';
import type { IrGraph, IrNode } from '../src/nn/graph.js';
import { importOnnx, runReference, writeOnnx } from '../src/nn/index.js';
import { type Dataset, Network, evaluate, fit, withRandomWeights } from '../src/train/index.js';

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

const train = syntheticSet(512, 1);
const val = syntheticSet(256, 2);

describe('training', () => {
  it('a small network learns the separable synthetic task (validation ≥ 95 %)', async () => {
    const net = new Network(smallNet());
    const before = evaluate(net, val).accuracy;
    const r = await fit(net, train, { epochs: 6, batchSize: 32, lr: 0.01, seed: 3, validation: val });
    expect(before).toBeLessThan(0.5);
    expect(r.best!.validation).toBeGreaterThanOrEqual(0.95);
    expect(evaluate(net, val).accuracy).toBe(r.best!.validation);
    expect(r.history.map((h) => h.loss)[5]).toBeLessThan(r.history[0].loss);
  });

  it('reproducible for a seed: one thread twice, two workers twice (SGD with momentum, step schedule)', async () => {
    const run = async (threads: number) => {
      const net = new Network(smallNet(), { shared: threads > 1 });
      const r = await fit(net, train, {
        epochs: 2, batchSize: 64, lr: 0.05, seed: 9, threads, optimizer: { kind: 'sgd', momentum: 0.9 }, weightDecay: 5e-4,
        schedule: { kind: 'step', every: 1, gamma: 0.5 },
      });
      return { params: Array.from(net.params), loss: r.history.map((h) => h.loss), stats: net.runningStats().map((s) => Array.from(s.mean)) };
    };
    const a = await run(1);
    expect(await run(1)).toEqual(a);
    const b = await run(2);
    expect(await run(2)).toEqual(b);
    // shards use their own batch-norm statistics, so two threads differ from one, slightly
    expect(b.params).not.toEqual(a.params);
    expect(Math.abs(b.loss[1] - a.loss[1])).toBeLessThan(0.1);
  }, 60_000);

  it('the trained graph, written as ONNX and read back, gives the trainer\'s logits', async () => {
    for (const dtype of ['float64', 'float32'] as const) {
      const net = new Network(smallNet(), { dtype, activations: { r2: { kind: 'poly', coeffs: [0.2, 0.5, 0.2], grain: 'element' } } });
      await fit(net, train, { epochs: 1, batchSize: 64, lr: 0.01, seed: 4 });
      // float32-representable weights, so the file holds exactly what the trainer used
      for (let i = 0; i < net.params.length; i++) net.params[i] = Math.fround(net.params[i]);
      for (const s of net.runningStats()) {
        s.mean.set(s.mean.map(Math.fround));
        s.variance.set(s.variance.map(Math.fround));
      }
      const g = importOnnx(writeOnnx(net.toGraph()));
      expect(g.nodes.map((n) => n.op)).toEqual(['Conv', 'BatchNormalization', 'Relu', 'AveragePool', 'Conv', 'Poly', 'GlobalAveragePool', 'Flatten', 'Dense']);
      const mine = evaluate(net, val).logits;
      const ref = runReference(g, { shape: [val.count, 1, 8, 8], data: Float64Array.from(val.x) }).data;
      let scale = 0;
      let err = 0;
      for (let i = 0; i < ref.length; i++) {
        scale = Math.max(scale, Math.abs(ref[i]));
        err = Math.max(err, Math.abs(ref[i] - mine[i]));
      }
      // float64: summation order only; float32: the trainer rounds every stored activation
      expect(err / (1 + scale)).toBeLessThan(dtype === 'float64' ? 1e-6 : 1e-5);
    }
  });
});
