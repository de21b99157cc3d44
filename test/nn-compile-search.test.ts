/**
 * The fast compilation (src/nn/compile/ola-search.ts, jobs.ts, forward-pool.ts) against the plain
 * algorithm it replaces: the sensitivity equals `layerSensitivity` (full passes), the chosen point
 * is the first of the front whose full-pass accuracy meets the target, early-stopped points carry
 * true upper bounds, the fallback picks the most accurate of its contenders (the K points of least
 * estimated error), and worker threads (1, 2, 3) give bit-identical results.
 * The worker entry is the built one: run `npm run build` first (the integration does).
 */
import { describe, expect, test } from 'vitest';
import { activationsWithStats, fitActivation, layerSensitivity, olaFront } from '../src/nn/compile/approximate.js';
import {
  type CompiledModel, buildCompiled, compileModel, compileModelAsync, simulate, simulateAsync,
} from '../src/nn/compile/compile.js';
import { ForwardPool } from '../src/nn/forward/pool.js';
import { type IrGraph, type Tensor, foldBatchNorm } from '../src/nn/graph.js';
import { NumericalError, argmaxRows, runReference } from '../src/nn/reference.js';
import { loadModel, testDigits } from './fixtures.js';

const N = 96;
const { x } = testDigits(N);

/** Full-pass agreement of a graph with the original model's predictions. */
function agreement(g: IrGraph, data: Tensor, want: number[]): number {
  const p = argmaxRows(runReference(g, data, { checkFinite: false }));
  return p.filter((v, i) => v === want[i]).length / p.length;
}

/** Everything a compilation decides, for bit-for-bit comparison. */
function decisions(m: CompiledModel) {
  return {
    fits: m.fits.map((f) => ({ node: f.node, degree: f.degree, coeffs: Array.from(f.coeffs), interval: f.interval, error: f.error })),
    steps: m.ola?.steps, chosen: m.ola?.chosen, sensitivity: m.ola?.sensitivity, uniform: m.ola?.uniform,
    hist: m.calibration.activations.map((a) => [a.min, a.max, Array.from(a.histogram.counts), Array.from(a.samples)]),
    weights: m.graph.nodes.map((n) => (n.op === 'Conv' || n.op === 'Dense' ? Array.from(n.weight.data) : n.op === 'Poly' ? Array.from(n.coeffs) : n.op)),
  };
}

describe('OLA search: the same decisions as full passes', () => {
  const graph = loadModel('mnist_relu_bn');
  const m = compileModel(graph, x);

  test('sensitivity equals the full-pass probe bit for bit', () => {
    const base = foldBatchNorm(graph);
    const names = activationsWithStats(base, m.calibration).filter((a) => a.node.op !== 'Square').map((a) => a.node.name);
    expect(m.ola!.sensitivity).toEqual(Object.fromEntries(layerSensitivity(base, x, names)));
  });

  test('the chosen point is the first whose full-pass agreement meets the target; early stops are upper bounds', () => {
    const base = foldBatchNorm(graph);
    const plan = olaFront(base, m.calibration, undefined, new Map(Object.entries(m.ola!.sensitivity!)));
    const want = argmaxRows(runReference(graph, x));
    const { steps, chosen, target } = m.ola!;
    expect(chosen).toBe(steps.length - 1);
    let stopped = 0;
    steps.forEach((s, k) => {
      const fits = plan.nodes.map((n, i) => fitActivation(n, plan.stats[i]!, plan.front[k]!.degrees[i]!));
      const exact = agreement(buildCompiled(base, fits).graph, x, want);
      if (s.evaluated === N) expect(s.accuracy).toBe(exact);
      else {
        stopped++;
        expect(s.accuracy).toBeGreaterThanOrEqual(exact);
        expect(s.accuracy).toBeLessThan(target);
      }
      if (k < chosen) expect(exact).toBeLessThan(target);
      else expect(exact).toBeGreaterThanOrEqual(target);
    });
    expect(stopped).toBeGreaterThan(0);
  });

  test('nothing reaches the target: the most accurate point by full passes (first of equals)', () => {
    const base = foldBatchNorm(graph);
    const want = argmaxRows(runReference(graph, x));
    let maxExact = -1;
    // an unreachable target, then one just above the best point (realistic early stops)
    for (const target of [1.5, undefined]) {
      const u = compileModel(graph, x, { targetAccuracy: target ?? maxExact + 1e-9, olaDegrees: [2, 3, 4, 5], compareUniform: [], fallbackPoints: Infinity });
      const plan = olaFront(base, u.calibration, [2, 3, 4, 5], new Map(Object.entries(u.ola!.sensitivity!)));
      const exact = plan.front.map((p) => agreement(buildCompiled(base, plan.nodes.map((n, i) => fitActivation(n, plan.stats[i]!, p.degrees[i]!))).graph, x, want));
      let bi = 0;
      exact.forEach((a, i) => (a > exact[bi]! ? (bi = i) : 0));
      maxExact = exact[bi]!;
      expect(u.ola!.steps.length).toBe(plan.front.length);
      expect(u.ola!.chosen).toBe(bi);
      expect(u.ola!.steps[bi]!.accuracy).toBe(exact[bi]);
      expect(u.ola!.steps[bi]!.evaluated).toBe(N);
      u.ola!.steps.forEach((s, k) => (s.evaluated === N ? expect(s.accuracy).toBe(exact[k]) : expect(s.accuracy).toBeGreaterThanOrEqual(exact[k]!)));
      expect(u.log.some((l) => l.includes('no degree assignment reached the target'))).toBe(true);
    }
  });

  test('bounded fallback: only the K points of least estimated error (and points already complete) compete', () => {
    const base = foldBatchNorm(graph);
    const want = argmaxRows(runReference(graph, x));
    for (const K of [1, 2]) {
      const u = compileModel(graph, x, { targetAccuracy: 1.5, olaDegrees: [2, 3, 4, 5, 7], compareUniform: [], fallbackPoints: K });
      const plan = olaFront(base, u.calibration, [2, 3, 4, 5, 7], new Map(Object.entries(u.ola!.sensitivity!)));
      const L = plan.front.length;
      expect(u.ola!.steps.length).toBe(L);
      // the front's estimated error falls along it: its last K points are those of least error
      for (let i = 1; i < L; i++) expect(plan.front[i]!.error).toBeLessThan(plan.front[i - 1]!.error);
      const exact = plan.front.map((p) => agreement(buildCompiled(base, plan.nodes.map((n, i) => fitActivation(n, plan.stats[i]!, p.degrees[i]!))).graph, x, want));
      // a target of 1.5 stops every point at its first disagreement: no point completes in the sweep
      const contenders = exact.map((_, i) => i).filter((i) => i >= L - K);
      let bi = contenders[0]!;
      for (const i of contenders) if (exact[i]! > exact[bi]!) bi = i;
      expect(u.ola!.chosen).toBe(bi);
      expect(u.ola!.steps[bi]!.accuracy).toBe(exact[bi]);
      // points outside the contenders keep their early-stop upper bounds
      u.ola!.steps.forEach((s, k) => (k < L - K ? expect(s.evaluated).toBeLessThan(N) : undefined));
    }
    expect(() => compileModel(graph, x, { fallbackPoints: 0 })).toThrow(/fallbackPoints/);
    expect(() => compileModel(graph, x, { floorWeight: -1 })).toThrow(/floorWeight/);
  });
});

describe('worker threads: results independent of the thread count', () => {
  const graph = loadModel('mnist_relu_bn');

  test('compileModelAsync with 1, 2, 3 threads = compileModel, bit for bit; simulateAsync = simulate', async () => {
    const seen: string[] = [];
    const ref = compileModel(graph, x, { onProgress: (s, d, t) => seen.push(`${s} ${d}/${t}`) });
    for (const st of ['calibration', 'layer sensitivity', 'degree search', 'uniform comparison']) expect(seen.some((l) => l.startsWith(st))).toBe(true);
    expect(seen.some((l) => /^calibration (\d+)\/\1$/.test(l))).toBe(true);
    const want = decisions(ref);
    for (const threads of [1, 2, 3]) expect(decisions(await compileModelAsync(graph, x, { threads }))).toEqual(want);
    const pool = await ForwardPool.create(2);
    try {
      const sim = simulate(ref, x).data;
      expect(Array.from(sim)).toEqual(Array.from(runReference(ref.graph, x, { checkFinite: false }).data));
      expect(Array.from((await simulateAsync(ref, x, { pool })).data)).toEqual(Array.from(sim));
      // a pool serves several calls
      expect(decisions(await compileModelAsync(graph, x, { pool }))).toEqual(want);
    } finally {
      await pool.close();
    }
  }, 60_000);

  test('an error in a worker arrives typed: NumericalError on overflowing calibration data', async () => {
    const big = { shape: [4, 1, 28, 28], data: new Float64Array(4 * 784).fill(1.7e308) };
    expect(() => compileModel(graph, big)).toThrow(NumericalError);
    await expect(compileModelAsync(graph, big, { threads: 2 })).rejects.toBeInstanceOf(NumericalError);
    await expect(compileModelAsync(graph, big, { threads: 2 })).rejects.toThrow(/produced Infinity|produced -Infinity/);
  }, 30_000);
});
