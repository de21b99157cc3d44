/**
 * Training end to end: a small convolutional network learns a separable synthetic task (four
 * classes of noisy 8×8 images) to a known accuracy; runs are reproducible for a seed and a thread
 * count (one thread, and two workers); the trained graph written as ONNX reads back with the
 * trainer's logits.
 */
import { describe, expect, it } from 'vitest';
import { importOnnx, runReference, writeOnnx } from '../src/nn/index.js';
import { Network, evaluate, fit } from '../src/train/index.js';
import { smallNet, syntheticSet } from './train-helpers.js';

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
