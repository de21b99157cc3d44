/**
 * Bootstrap placement in the packed layout (`nn/packed/bootstraps.ts`, `bootstrap-runner.ts`):
 *  - placement against an exhaustive search (every subset of values) on random chains and random
 *    residual graphs: the greedy with its ancestor look-ahead needs no more bootstraps than the
 *    fewest that fit, and what it places fits;
 *  - the range: divisors cover the calibrated bounds; a value beyond ScaleUp's headroom is a
 *    BootstrapRangeError; a node deeper than the user levels a BootstrapPlacementError;
 *  - a tiny ResNet deeper than the 2 user levels of N11-BOOT-T, run encrypted with its bootstraps,
 *    against the float64 packed simulation;
 *  - the MNIST ReLU ResNet fixture (degree-15 ReLUs, depth 37) on N12-BOOT-T with 7
 *    user levels: 6 bootstraps, the digit's class and the logits of the simulation.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { IrGraph, IrNode } from '../src/nn/index.js';
import {
  BootstrapPlacementError, BootstrapRangeError, bootstrapRanges, bootstrapSeconds, maxBootstrapLogScale, placeBootstraps, placementFits, planPacked, simulatePacked,
} from '../src/nn/packed/index.js';
import { bootstrapPreset } from '../src/bootstrap/index.js';
import { randomVector } from './helpers.js';
import { maxError, packedBootstrapRun, perturbedOutput, tinyResNet } from './bootstrap-nets.js';
import { loadModel, testDigits } from './fixtures.js';
import { compileModel } from '../src/nn/index.js';

/** A node of the placement tests: only its wiring matters (costs come from the map). */
const dummy = (name: string, inputs: string[]): IrNode => (inputs.length === 2
  ? { op: 'Add', name, inputs, output: name, outShape: [1], sources: [] }
  : { op: 'Flatten', name, inputs, output: name, outShape: [1], sources: [] });

/** The fewest refreshed values that fit, by trying every subset in order of size. */
function bruteForce(g: IrGraph, cost: Map<string, number>, budget: number, opts: { inputLevel?: number; minRefreshLevel?: number } = {}): number {
  const values = g.nodes.map((n) => n.output).filter((v) => v !== g.output.name);
  let best = Infinity;
  for (let mask = 0; mask < 1 << values.length; mask++) {
    let k = 0;
    for (let m = mask; m; m &= m - 1) k++;
    if (k >= best) continue;
    if (placementFits(g, cost, budget, new Set(values.filter((_, i) => mask & (1 << i))), opts)) best = k;
  }
  return best;
}

/** A chain of nodes with the given costs. */
function chain(costs: number[]): { g: IrGraph; cost: Map<string, number> } {
  const nodes = costs.map((_, i) => dummy(`n${i}`, [i ? `n${i - 1}` : 'x']));
  return { g: { name: 'chain', input: { name: 'x', shape: [1] }, output: { name: nodes.at(-1)!.output, shape: [1] }, nodes, origin: 'test' }, cost: new Map(costs.map((c, i) => [`n${i}`, c])) };
}

/** Residual blocks: per block a branch of the given costs from the block input, then add(branch, skip), the skip optionally through a projection of cost `proj`. */
function residual(blocks: { branch: number[]; proj?: number }[], tail: number[]): { g: IrGraph; cost: Map<string, number> } {
  const nodes: IrNode[] = [];
  const cost = new Map<string, number>();
  let cur = 'x';
  let id = 0;
  const add = (inputs: string[], c: number): string => {
    const name = `v${id++}`;
    nodes.push(dummy(name, inputs));
    cost.set(name, c);
    return name;
  };
  for (const b of blocks) {
    let t = cur;
    for (const c of b.branch) t = add([t], c);
    const skip = b.proj === undefined ? cur : add([cur], b.proj);
    cur = add([t, skip], 0);
  }
  for (const c of tail) cur = add([cur], c);
  return { g: { name: 'res', input: { name: 'x', shape: [1] }, output: { name: cur, shape: [1] }, nodes, origin: 'test' }, cost };
}

describe('bootstrap placement', () => {
  it('a chain: as few bootstraps as the exhaustive search, and the count of the segment rule', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 4 }), fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 12 }), (U, raw) => {
      const costs = raw.map((c) => Math.min(c, U));
      const { g, cost } = chain(costs);
      const p = placeBootstraps(g, cost, U);
      expect(placementFits(g, cost, U, new Set(p.points.map((q) => q.value)))).toBe(true);
      expect(p.count).toBe(bruteForce(g, cost, U));
      // independent count: a new segment starts whenever the running sum would exceed U
      let segs = 0;
      let used = 0;
      for (const c of costs) {
        if (used + c > U) {
          segs++;
          used = 0;
        }
        used += c;
      }
      expect(p.count).toBe(segs);
      for (const q of p.points) expect(q.levelAfter).toBe(U);
    }), { numRuns: 60 });
  });

  it('refreshes that need a spare level (the channel layout\'s mask): fits, and as few as the exhaustive search on chains', () => {
    fc.assert(fc.property(fc.integer({ min: 2, max: 4 }), fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 12 }), (U, raw) => {
      const opts = { inputLevel: U + 1, minRefreshLevel: 1 };
      // a node leaving its value at level 0 from the top cannot feed a refresh: costs ≤ U − 1
      const { g, cost } = chain(raw.map((c) => Math.min(c, U - 1)));
      const p = placeBootstraps(g, cost, U, opts);
      expect(placementFits(g, cost, U, new Set(p.points.map((q) => q.value)), opts)).toBe(true);
      for (const q of p.points) expect(q.levelBefore).toBeGreaterThanOrEqual(1);
      expect(p.count).toBe(bruteForce(g, cost, U, opts));
    }), { numRuns: 60 });
    // a node that leaves its value at 0 from the top, with a consumer needing a level: a typed error naming it
    const { g, cost } = chain([1, 2, 1]);
    expect(() => placeBootstraps(g, cost, 2, { inputLevel: 3, minRefreshLevel: 1 })).toThrow(/input 'n1' is at level 0, and neither it nor a value before it .* is at the level 1 a refresh of it needs/);
    const block = fc.record({ branch: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 3 }), proj: fc.option(fc.integer({ min: 0, max: 1 }), { nil: undefined }) });
    fc.assert(fc.property(fc.integer({ min: 2, max: 4 }), fc.array(block, { minLength: 1, maxLength: 3 }), (U, blocks) => {
      const opts = { inputLevel: U + 1, minRefreshLevel: 1 };
      const cl = (c: number) => Math.min(c, U - 1);
      const { g, cost } = residual(blocks.map((b) => ({ branch: b.branch.map(cl), proj: b.proj })), []);
      fc.pre(g.nodes.length <= 12);
      const p = placeBootstraps(g, cost, U, opts);
      expect(placementFits(g, cost, U, new Set(p.points.map((q) => q.value)), opts)).toBe(true);
      expect(p.count).toBe(bruteForce(g, cost, U, opts));
    }), { numRuns: 60 });
    // a case where the latest refreshable ancestor is off the critical path (found by fast-check): 2, not 3
    const hard = residual([{ branch: [2] }, { branch: [0, 2, 1], proj: 1 }, { branch: [2] }], []);
    const hardOpts = { inputLevel: 4, minRefreshLevel: 1 };
    expect(placeBootstraps(hard.g, hard.cost, 3, hardOpts).count).toBe(2);
    expect(bruteForce(hard.g, hard.cost, 3, hardOpts)).toBe(2);
  });

  it('residual blocks: as few bootstraps as the exhaustive search', () => {
    const block = fc.record({ branch: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 3 }), proj: fc.option(fc.integer({ min: 0, max: 1 }), { nil: undefined }) });
    fc.assert(fc.property(fc.integer({ min: 2, max: 4 }), fc.array(block, { minLength: 1, maxLength: 3 }), fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 2 }), (U, blocks, tail) => {
      const cl = (c: number) => Math.min(c, U);
      const { g, cost } = residual(blocks.map((b) => ({ branch: b.branch.map(cl), proj: b.proj })), tail.map(cl));
      fc.pre(g.nodes.length <= 14);
      const p = placeBootstraps(g, cost, U);
      expect(placementFits(g, cost, U, new Set(p.points.map((q) => q.value)))).toBe(true);
      expect(p.count).toBe(bruteForce(g, cost, U));
    }), { numRuns: 80 });
  });

  it('a residual block whose input should be refreshed once for both paths', () => {
    // x → a(2) → [b(1) → c(1)] + a → d(1), U = 3: refreshing a serves the branch and the skip (1 bootstrap)
    const { g, cost } = residual([{ branch: [2] }, { branch: [1, 1] }], [1]);
    const p = placeBootstraps(g, cost, 3);
    expect(p.count).toBe(bruteForce(g, cost, 3));
    expect(p.count).toBe(1);
  });

  it('predicted time: the measured seconds per bootstrap of the preset and thread count, else none', () => {
    expect(bootstrapSeconds('N16-BOOT', 1, 6)).toBeCloseTo(6 * 46.8, 9);
    expect(bootstrapSeconds('N16-BOOT', 2, 3)).toBeCloseTo(3 * 32.3, 9);
    expect(bootstrapSeconds('N12-BOOT-T', 2, 1)).toBeUndefined();
    expect(bootstrapSeconds('N99', 1, 1)).toBeUndefined();
  });

  it('a node deeper than the user levels is a BootstrapPlacementError', () => {
    const { g, cost } = chain([1, 3, 1]);
    expect(() => placeBootstraps(g, cost, 2)).toThrow(BootstrapPlacementError);
    expect(() => placeBootstraps(g, cost, 2)).toThrow(/'n1' needs 3 levels/);
  });
});

describe('bootstrap value range', () => {
  const bp = bootstrapPreset('N11-BOOT-T');
  const maxLogScale = maxBootstrapLogScale(bp.params, bp.evalMod.logMessageRatio);

  it('ScaleUp\'s headroom: log2(q0) − r − log2(Δ_0)', () => {
    expect(maxLogScale).toBe(24);
    expect(maxBootstrapLogScale(bootstrapPreset('N16-BOOT').params, 6)).toBe(24);
  });

  it('divisors cover twice the calibrated bound; a value beyond 2^24 is a BootstrapRangeError', () => {
    const g = tinyResNet();
    const plan = planPacked(g, bp.slots);
    const placement = placeBootstraps(g, plan.levels.cost, bp.outputLevel);
    const calib = [0, 1].map((i) => randomVector(2 * 64, 200 + i));
    bootstrapRanges(g, plan, placement, calib, { maxLogScale });
    for (const p of placement.points) {
      let b = 0;
      for (const x of calib) b = Math.max(b, simulatePacked(g, plan, x).maxAbs.get(p.after)!);
      expect(p.bound).toBe(b);
      expect(p.scale!).toBeGreaterThanOrEqual(Math.max(1, 2 * b));
      expect(p.scale!).toBeLessThan(Math.max(2, 4 * b));
    }
    // the same network with inputs 2^26 times larger: the first refreshed value is out of reach
    const big = calib.map((x) => x.map((v) => v * 2 ** 26));
    expect(() => bootstrapRanges(g, plan, placement, big, { maxLogScale })).toThrow(BootstrapRangeError);
    expect(() => bootstrapRanges(g, plan, placement, big, { maxLogScale })).toThrow(/takes \|x\| ≤ 2\^24/);
    expect(() => bootstrapRanges(g, plan, placement, [], { maxLogScale })).toThrow(BootstrapRangeError);
  });
});

describe('bootstrap run (N = 2^11, 2 user levels)', () => {
  it('a tiny ResNet of depth 8 runs encrypted with its bootstraps and equals the simulation', () => {
    const bp = bootstrapPreset('N11-BOOT-T');
    const g = tinyResNet();
    const plan = planPacked(g, bp.slots);
    expect(plan.levels.depth).toBeGreaterThan(bp.outputLevel);
    const placement = placeBootstraps(g, plan.levels.cost, bp.outputLevel);
    const calib = [0, 1, 2, 3].map((i) => randomVector(2 * 64, 100 + i));
    bootstrapRanges(g, plan, placement, calib, { maxLogScale: maxBootstrapLogScale(bp.params, bp.evalMod.logMessageRatio) });
    const { runner, run } = packedBootstrapRun(bp, g, plan, placement);
    const x = randomVector(2 * 64, 7);
    const out = run(x);
    const want = simulatePacked(g, plan, x).output;
    const { err, top } = maxError(out, want);
    // one bootstrap keeps ≥ 17 bits (mean over slots, |message| ≤ 1: test/bootstrap.test.ts at
    // N = 2^10 and 2^11); allow 3 bits more for the worst of 2^10 slots: |error| ≤ s·2^−14
    const deltas = new Map(placement.points.map((p) => [p.value, p.scale! * 2 ** -14]));
    let dev = 0;
    for (let r = 0; r < 8; r++) {
      const y = perturbedOutput(g, deltas, x, bp.slots, r + 1);
      for (let i = 0; i < want.length; i++) dev = Math.max(dev, Math.abs(y[i] - want[i]));
    }
    expect(err).toBeLessThanOrEqual(2 * dev);
    expect(Math.log2(top / err)).toBeGreaterThan(12);
    expect(runner.bootstraps.map((b) => b.value)).toEqual(placement.points.map((p) => p.value));
    console.log(`encrypted vs simulation: max error 2^${Math.log2(err).toFixed(1)} (${Math.log2(top / err).toFixed(1)} bits of the largest output), bound 2^${Math.log2(2 * dev).toFixed(1)}`);
  }, 120_000);
});

describe('MNIST ReLU ResNet with bootstraps (N = 2^12, 7 user levels)', () => {
  it('depth 37 in 7-level segments: 6 bootstraps, the class and ≥ 12 bits of the simulated logits', () => {
    const bp = bootstrapPreset('N12-BOOT-T', { userLevels: 7 });
    const cal = testDigits(64);
    const m = compileModel(loadModel('mnist_relu_res'), cal.x, { degrees: { kind: 'uniform', degree: 15 } });
    const g = m.graph;
    const plan = planPacked(g, bp.slots);
    expect(plan.levels.depth).toBe(37);
    const placement = placeBootstraps(g, plan.levels.cost, bp.outputLevel);
    expect(placement.count).toBe(6);
    bootstrapRanges(g, plan, placement, [0, 1, 2, 3].map((i) => cal.x.data.subarray(i * 784, (i + 1) * 784)), { maxLogScale: maxBootstrapLogScale(bp.params, bp.evalMod.logMessageRatio) });
    const d = testDigits(1, 1001);
    const x = d.x.data.subarray(0, 784);
    const out = packedBootstrapRun(bp, g, plan, placement).run(x);
    const want = simulatePacked(g, plan, x).output;
    const argmax = (v: ArrayLike<number>) => Array.from(v).indexOf(Math.max(...Array.from(v)));
    expect(argmax(out)).toBe(argmax(want));
    const { err, top } = maxError(out, want);
    expect(Math.log2(top / err)).toBeGreaterThan(12);
  }, 120_000);
});
