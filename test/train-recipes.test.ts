/**
 * The recipes on a tiny synthetic set (unit-test time): each turns a trained ReLU network into a
 * polynomial one, its reported validation accuracy is what the written ONNX file gives under Veil's
 * float64 executor, and the compiler takes the result without fitting at the recipe's depth.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { type IrGraph, type IrNode, argmaxRows, compileModel, importOnnx, planLevels, runReference, writeOnnx } from '../src/nn/index.js';
import { Network, PafLayer, type RecipeResult, pafComposite, activationNodes, fit, profileActivations, pafDegree, paperWarmup, trainBeaa, trainPaper, trainSmartPaf } from '../src/train/index.js';
import type { Dataset } from '../src/train/index.js';
import { smallNet, syntheticSet } from './train-helpers.js';

const train = syntheticSet(384, 11);
const val = syntheticSet(128, 12);
let relu: IrGraph;

beforeAll(async () => {
  const net = new Network(smallNet());
  await fit(net, train, { epochs: 6, batchSize: 32, lr: 0.01, seed: 3, validation: val });
  relu = net.toGraph();
});

function writtenAccuracy(r: RecipeResult, d: Dataset): number {
  const g = importOnnx(writeOnnx(r.graph));
  const pred = argmaxRows(runReference(g, { shape: [d.count, 1, 8, 8], data: Float64Array.from(d.x) }, { checkFinite: false }));
  return pred.filter((p, i) => p === d.labels[i]).length / d.count;
}

function check(r: RecipeResult, minAccuracy: number) {
  expect(r.baseline).toBeGreaterThanOrEqual(0.9);
  expect(r.graph.nodes.filter((n) => n.op === 'Relu')).toEqual([]);
  expect(r.graph.nodes.filter((n) => n.op === 'Poly' && n.replaces === 'Polynomial').length).toBe(2);
  expect(r.validation).toBeGreaterThanOrEqual(minAccuracy);
  // the trainer computes in float32: a near tie may flip one prediction
  expect(Math.abs(writtenAccuracy(r, val) - r.validation)).toBeLessThanOrEqual(1 / 128 + 1e-12);
  expect(r.history.length).toBeGreaterThan(0);
}

describe('recipes on a tiny synthetic set', () => {
  it('PAPER: warm-up schedule as in PAPER\'s trainer', () => {
    expect([0, 1, 2, 3, 4, 9].map((e) => paperWarmup(e))).toEqual([
      { ceWeight: 0, factor: 0.01 }, { ceWeight: 1, factor: 0.02 }, { ceWeight: 1, factor: 0.1 }, { ceWeight: 1, factor: 0.2 },
      { ceWeight: 1, factor: 1 }, { ceWeight: 1, factor: 1 },
    ]);
  });

  it('PAPER: per-layer quadratics, one level each after compilation', async () => {
    const r = await trainPaper(relu, train, val, { epochs: 6, zeta: 1, batchSize: 32, lr: 0.02 });
    check(r, 0.85);
    expect(r.degree).toBe(2);
    const polys = r.graph.nodes.filter((n) => n.op === 'Poly');
    for (const p of polys) if (p.op === 'Poly') expect(Array.from(p.coeffs)).toEqual([193 / 1024, 0.5, 239 / 1024]);
    const m = compileModel(importOnnx(writeOnnx(r.graph)), { shape: [64, 1, 8, 8], data: Float64Array.from(val.x.subarray(0, 64 * 64)) });
    expect(m.fits).toEqual([]);
    // conv, act, (pool folded), conv, act, (GAP folded), dense
    expect(planLevels(m.graph, 'batch').depth).toBe(5);
  });

  it('PAPER with clip auto: PAPER\'s quadratic rescaled to each layer\'s profiled input range', async () => {
    const [q0, q1, q2] = [193 / 1024, 0.5, 239 / 1024];
    const prof = profileActivations(relu, train, activationNodes(relu));
    const r = await trainPaper(relu, train, val, { epochs: 3, batchSize: 32, lr: 0.02, clip: 'auto' });
    check(r, 0.85);
    const clips = r.details.clips as Record<string, number>;
    for (const p of prof) expect(clips[p.node]).toBe(Math.max(2, p.maxAbs));
    for (const n of r.graph.nodes) {
      if (n.op !== 'Poly') continue;
      const B = clips[n.name];
      // stored as float32 parameters: 2^-24 relative
      const c = Array.from(n.coeffs);
      const want = [(q0 * B) / 2, q1, (q2 * 2) / B];
      for (let k = 0; k < 3; k++) expect(Math.abs(c[k] - want[k]) / want[k]).toBeLessThan(2 ** -23);
    }
  });

  it('activation profiles: a seeded random subset with the statistics of all inputs', () => {
    const acts = activationNodes(relu);
    const prof = profileActivations(relu, train, acts, 384, 500);
    for (const p of prof) {
      expect(p.samples.length).toBeGreaterThan(300);
      expect(p.samples.length).toBeLessThanOrEqual(500);
      let s = 0;
      let s2 = 0;
      for (const v of p.samples) {
        s += v;
        s2 += v * v;
      }
      const sd = Math.sqrt(s2 / p.samples.length - (s / p.samples.length) ** 2);
      expect(Math.abs(sd - p.std) / p.std).toBeLessThan(0.25);
    }
    // deterministic
    expect(profileActivations(relu, train, acts, 384, 500)[0].samples).toEqual(prof[0].samples);
  });

  it('SmartPAF layer: static scale in training (SS) gives the deployed function, DS the batch max', () => {
    const node = { name: 'r', op: 'Relu', inputs: ['x'], outShape: [4] } as unknown as IrNode;
    const l = new PafLayer(node, pafComposite('f1', 1));
    l.slots[0].offset = 0;
    const params = new Float64Array(l.slots[0].size);
    l.initialise(params);
    l.bind(params, new Float64Array(params.length));
    const x = Float64Array.from([0.5, -1, 2, -0.25]);
    l.staticScale = 4;
    l.staticInTraining = true;
    const ss = Array.from(l.forward([x], 1, 'train'));
    expect(l.lastScale).toBe(4);
    expect(l.lastMax).toBe(2);
    expect(Array.from(l.forward([x], 1, 'eval'))).toEqual(ss);
    l.staticInTraining = false;
    const ds = Array.from(l.forward([x], 1, 'train'));
    expect(l.lastScale).toBe(2);
    // f1 at u = x/2: 0.5·(x + x·(1.5u − 0.5u³))
    ds.forEach((y, i) => {
      const u = x[i] / 2;
      expect(y).toBeCloseTo(0.5 * (x[i] + x[i] * (1.5 * u - 0.5 * u ** 3)), 14);
    });
    expect(ds).not.toEqual(ss);
  });

  it('SmartPAF with static-scale final epochs', async () => {
    const r = await trainSmartPaf(relu, train, val, { form: 'f1', stepEpochs: 1, epochs: 2, staticEpochs: 1, batchSize: 32 });
    // degree 4 on a tiny set: the point is the written model equals the trained one
    check(r, 0.6);
    expect(r.details.staticEpochs).toBe(1);
  });

  it('SmartPAF (CT, PA, AT, DS→SS): the composite of form f1∘g2 as one degree-16 polynomial', async () => {
    const logs: string[] = [];
    const r = await trainSmartPaf(relu, train, val, { form: 'f1∘g2', stepEpochs: 2, epochs: 2, batchSize: 32, log: (l) => logs.push(l) });
    check(r, 0.8);
    expect(r.degree).toBe(1 + pafDegree('f1∘g2'));
    expect(r.degree).toBe(16);
    expect(logs.filter((l) => l.startsWith('SmartPAF CT')).length).toBe(2);
    // CT lowers the ReLU error on the profiled inputs
    for (const v of Object.values(r.details.ct as Record<string, { before: number; after: number }>)) expect(v.after).toBeLessThan(v.before);
    // one PA step per activation, then the final phase
    expect([...new Set(r.history.map((h) => h.phase))]).toEqual(['smartpaf step 1/2 (r1)', 'smartpaf step 2/2 (r2)', 'smartpaf final']);
  });

  it('BEAA: per-element quadratics with distillation', async () => {
    const r = await trainBeaa(relu, train, val, { epochs: 4, stageEpochs: 1, batchSize: 32 });
    check(r, 0.85);
    const polys = r.graph.nodes.filter((n) => n.op === 'Poly');
    for (const p of polys) if (p.op === 'Poly') expect(p.coeffTensor!.shape).toEqual([3, ...p.outShape]);
  });
});
