/**
 * Resumable forward passes (src/nn/forward/forward.ts) and the job driver: a pass resumed from a cut, a
 * chunked pass and a pass with a kept slot are bit-identical to one full reference pass; the noise
 * of the sensitivity probe is the sequential Box–Muller stream; graph comparison finds the first
 * node that differs.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { fitAll } from '../src/nn/compile/approximate.js';
import { calibrate } from '../src/nn/compile/calibrate.js';
import { buildCompiled } from '../src/nn/compile/compile.js';
import { ForwardExecutor, addGaussianNoise, firstDifference, liveAfter, runFrom } from '../src/nn/forward/forward.js';
import { type IrGraph, type Tensor, foldBatchNorm } from '../src/nn/graph.js';
import { runStepsSync } from '../src/nn/forward/jobs.js';
import { chunkSize, simulateSteps } from '../src/nn/compile/ola-search.js';
import { runReference } from '../src/nn/reference.js';
import { loadModel, testDigits } from './fixtures.js';

const sameBits = (a: Float64Array, b: Float64Array) => {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) expect(a[i]).toBe(b[i]);
};

/** The values a full pass holds after node i (an independent walk of the graph). */
function valuesAfter(g: IrGraph, x: Tensor, i: number): Map<string, Tensor> {
  const all = new Map<string, Tensor>([[g.input.name, x]]);
  runReference(g, x, { onNode: (node, _ins, out) => void all.set(node.output, out) });
  const live = new Map<string, Tensor>();
  for (const v of liveAfter(g)[i]!) live.set(v, all.get(v)!);
  return live;
}

describe('resumable forward passes', () => {
  const g = foldBatchNorm(loadModel('mnist_relu_res'));
  const { x } = testDigits(24);

  test('liveAfter: every value a later node reads, and only those', () => {
    const live = liveAfter(g);
    g.nodes.forEach((_, i) => {
      for (const v of live[i]!) {
        const readLater = g.nodes.slice(i + 1).some((n) => n.inputs.includes(v));
        expect(readLater || v === g.output.name).toBe(true);
      }
      for (const n of g.nodes.slice(i + 1)) {
        for (const v of n.inputs) {
          const bornBefore = v === g.input.name || g.nodes.slice(0, i + 1).some((m) => m.output === v);
          if (bornBefore) expect(live[i]).toContain(v);
        }
      }
    });
  });

  test('a pass resumed after any node equals the full pass bit for bit', () => {
    const full = runReference(g, x).data;
    for (let i = 0; i < g.nodes.length; i++) sameBits(runFrom(g, i + 1, valuesAfter(g, x, i), 24).output.data, full);
  });

  test('chunks of any size give the full pass (simulateSteps)', () => {
    const full = runReference(g, x).data;
    sameBits(runStepsSync(simulateSteps(g, x)).data, full);
    expect([1, 16, 255, 256, 511, 512, 2000, 10 ** 6].map(chunkSize)).toEqual([1, 1, 8, 16, 16, 32, 32, 32]);
  });

  test('a kept slot: graphs differing from node d on resume after the last activation before d', () => {
    const base = foldBatchNorm(loadModel('mnist_relu_res'));
    const cal = calibrate(base, x);
    const a = buildCompiled(base, fitAll(base, cal, { kind: 'uniform', degree: 3 })).graph;
    // same fits except the last two activations: the graphs share a prefix
    const fa = fitAll(base, cal, { kind: 'uniform', degree: 3 });
    const fb = fitAll(base, cal, { kind: 'uniform', degree: 5 });
    const mixed = fa.map((f, i) => (i < fa.length - 2 ? f : fb[i]!));
    const b = buildCompiled(base, mixed).graph;
    const d = firstDifference(a, b);
    expect(d).toBeGreaterThan(0);
    expect(d).toBeLessThan(b.nodes.length);
    expect(firstDifference(a, a)).toBe(a.nodes.length);
    expect(firstDifference(a, buildCompiled(base, fa).graph)).toBe(a.nodes.length); // equal content, other objects
    const ex = new ForwardExecutor();
    const task = (graph: IrGraph) => ({ graph, data: x, start: 8, count: 8, chunk: 1, slot: 's', checkFinite: false });
    sameBits(ex.run(task(a)).output, runReference(a, { shape: [8, 1, 28, 28], data: x.data.subarray(8 * 784, 16 * 784) }, { checkFinite: false }).data);
    expect(ex.lastFrom).toBe(0);
    sameBits(ex.run(task(b)).output, runReference(b, { shape: [8, 1, 28, 28], data: x.data.subarray(8 * 784, 16 * 784) }, { checkFinite: false }).data);
    // resumed after the last activation before d
    expect(ex.lastFrom).toBeGreaterThan(0);
    expect(ex.lastFrom).toBeLessThanOrEqual(d);
    expect(['Poly']).toContain(b.nodes[ex.lastFrom - 1]!.op);
    expect(b.nodes.slice(ex.lastFrom, d).some((n) => n.op === 'Poly')).toBe(false);
    // another chunk, or another data set, has no kept values: full pass
    ex.run({ ...task(b), chunk: 2 });
    expect(ex.lastFrom).toBe(0);
    ex.run({ ...task(a), data: { shape: x.shape, data: Float64Array.from(x.data) } });
    expect(ex.lastFrom).toBe(0);
  });

  test('noise: draw i of the chunked stream is draw i of the sequential Box–Muller stream', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 31 }), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 1, max: 40 }), (seed, offset, len) => {
      // the probe's original form: one mulberry32 stream, two draws per normal
      let s = seed >>> 0;
      const u = () => {
        s = (s + 0x6d2b79f5) >>> 0;
        let t = s;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
      };
      const seq: number[] = [];
      for (let i = 0; i < offset + len; i++) seq.push(Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
      const d = new Float64Array(len);
      addGaussianNoise(d, 1, seed, offset);
      for (let k = 0; k < len; k++) expect(d[k]).toBe(0 + seq[offset + k]!);
    }), { numRuns: 50 });
  });
});
