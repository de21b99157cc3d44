/**
 * Bootstraps in the channel layout (`nn/channel/bootstraps.ts`, `bootstrap-runner.ts`):
 *  - the placement, checked by an independent walk over real levels (a refresh needs the value at
 *    ≥ 1 and gives U − 1, the input starts at U), and the packing counts;
 *  - typed errors: fewer than 2 user levels, a refresh that finds no spare level, a value out of range;
 *  - a tiny ResNet deeper than its user levels, run encrypted with its bootstraps at N = 2^11,
 *    against the float64 reference, within the bound that bootstrap errors of the stated size
 *    give when propagated through the network.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { IrGraph, IrNode } from '../src/nn/index.js';
import {
  BootstrapPlacementError, BootstrapRangeError, ChannelBootstrapRunner, channelBootstrapRanges, cleanValues, decryptChannels, encryptChannels,
  genChannelBootstrapKeys, maxBootstrapLogScale, planChannel, planChannelBootstraps, runReference,
} from '../src/nn/index.js';
import { Bootstrapper, bootstrapPreset } from '../src/bootstrap/index.js';
import { CkksContext, Decryptor, Encoder, Encryptor, KeyGenerator, Evaluator } from '../src/index.js';
import { randomVector } from './helpers.js';
import { conv, maxError, perturbedReference, poly, tensor } from './bootstrap-nets.js';

/** Conv, a strided block with a 1×1 projection shortcut, residual add, GAP, dense, poly on the vector, dense. */
function tinyResNet(C = 2, HW = 8): IrGraph {
  const h = HW / 2;
  const nodes: IrNode[] = [
    conv('c1', 'x', C, 4, 3, 1, HW), poly('a1', 'c1', [4, HW, HW]),
    conv('c2', 'a1', 4, 8, 3, 2, HW), poly('a2', 'c2', [8, h, h]),
    conv('c3', 'a2', 8, 8, 3, 1, h), conv('sc', 'a1', 4, 8, 1, 2, HW),
    { op: 'Add', name: 'add', inputs: ['c3', 'sc'], output: 'add', outShape: [8, h, h], sources: [] },
    poly('a3', 'add', [8, h, h]),
    { op: 'GlobalAveragePool', name: 'gap', inputs: ['a3'], output: 'gap', outShape: [8, 1, 1], sources: [], sum: true },
    { op: 'Flatten', name: 'flat', inputs: ['gap'], output: 'flat', outShape: [8], sources: [] },
    { op: 'Dense', name: 'fc1', inputs: ['flat'], output: 'fc1', outShape: [6], sources: [], weight: tensor([6, 8], 0.3), bias: tensor([6], 0.1) },
    poly('a4', 'fc1', [6], true),
    { op: 'Dense', name: 'fc2', inputs: ['a4'], output: 'fc2', outShape: [5], sources: [], weight: tensor([5, 6], 0.3), bias: tensor([5], 0.1) },
  ];
  return { name: 'tiny', input: { name: 'x', shape: [C, HW, HW] }, output: { name: 'fc2', shape: [5] }, nodes, origin: 'test' };
}

/** Real levels of a channel run with `refreshed` values: fails (returns false) where a node lacks levels or a refresh finds level 0. */
function fitsReal(g: IrGraph, cost: ReadonlyMap<string, number>, U: number, refreshed: ReadonlySet<string>, clean: ReadonlySet<string>): boolean {
  const level = new Map<string, number>([[g.input.name, U]]);
  for (const n of g.nodes) {
    const ins = n.inputs.map((v) => level.get(v)!);
    const c = cost.get(n.name) ?? 0;
    if (ins.some((l) => l < c)) return false;
    let l = Math.min(...ins) - c;
    if (refreshed.has(n.output)) {
      if (l < (clean.has(n.output) ? 0 : 1)) return false;
      l = U - 1;
    }
    level.set(n.output, l);
  }
  return true;
}

/** The tiny ResNet's values that are zero outside their maps: the input and the masked activations on maps (the vector's a4 is not). */
const CLEAN = new Set(['x', 'a1', 'a2', 'a3']);

describe('channel-layout bootstrap placement', () => {
  it('clean values: the input and masked polynomials, not convolutions, sums with them or vectors', () => {
    const g = tinyResNet();
    expect(cleanValues(g, planChannel(g, 1024))).toEqual(CLEAN);
  });

  it('fits in real levels, packs ⌊slots/span⌋ channels per bootstrap, and the rotations unpack what they pack', () => {
    const g = tinyResNet();
    fc.assert(fc.property(fc.integer({ min: 4, max: 9 }), fc.constantFrom(256, 512, 1024, 4096), (U, slots) => {
      const plan = planChannel(g, slots);
      const cbp = planChannelBootstraps(g, plan, U, slots);
      const R = new Set(cbp.placement.points.map((p) => p.value));
      expect(fitsReal(g, plan.levels.cost, U, R, CLEAN)).toBe(true);
      if (plan.levels.depth <= U - 1) expect(cbp.placement.count).toBe(0);
      let total = 0;
      for (const p of cbp.placement.points) {
        expect(p.levelBefore).toBeGreaterThanOrEqual(CLEAN.has(p.value) ? 0 : 1);
        expect(p.levelAfter).toBe(U - 1);
        const r = cbp.refreshes.get(p.value)!;
        expect(r.clean).toBe(CLEAN.has(p.value));
        const shape = g.nodes.find((n) => n.output === p.value)!.outShape;
        const spatial = shape.length === 3;
        expect(r.count).toBe(spatial ? shape[0] : shape.reduce((a, b) => a * b, 1));
        expect(r.block).toBe(spatial ? plan.span : 1);
        expect(r.perBootstrap).toBe(Math.min(r.count, Math.floor(slots / r.block)));
        expect(r.bootstraps).toBe(Math.ceil(r.count / r.perBootstrap));
        total += r.bootstraps;
        for (let j = 1; j < r.perBootstrap; j++) {
          expect(cbp.rotations).toContain((j * r.block) % slots);
          expect(cbp.rotations).toContain(slots - ((j * r.block) % slots));
        }
      }
      expect(cbp.bootstraps).toBe(total);
    }), { numRuns: 24 });
  });

  it('typed errors: fewer than 2 user levels, a refresh that finds no spare level, values out of range', () => {
    const g = tinyResNet();
    const plan = planChannel(g, 1024);
    expect(() => planChannelBootstraps(g, plan, 1, 1024)).toThrow(BootstrapPlacementError);
    expect(() => planChannelBootstraps(g, plan, 1, 1024)).toThrow(/≥ 2 user levels/);
    // a masked quadratic costs 2 levels: with U = 2 a refreshed value has 1
    expect(() => planChannelBootstraps(g, plan, 2, 1024)).toThrow(/keeps 1 of the 2 user levels/);
    // U = 3: the quadratic on the vector (not clean) from the refreshed level 2 leaves 0, where its refresh cannot start
    expect(() => planChannelBootstraps(g, plan, 3, 1024)).toThrow(/neither it nor a value before it/);
    const cbp = planChannelBootstraps(g, plan, 4, 1024);
    const calib = { shape: [3, 2, 8, 8], data: randomVector(3 * 128, 5) };
    channelBootstrapRanges(g, cbp, calib, { maxLogScale: 24 });
    const big = { shape: calib.shape, data: calib.data.map((v) => v * 2 ** 30) };
    expect(() => channelBootstrapRanges(g, cbp, big, { maxLogScale: 24 })).toThrow(BootstrapRangeError);
    expect(() => channelBootstrapRanges(g, cbp, { shape: [0, 2, 8, 8], data: new Float64Array(0) }, { maxLogScale: 24 })).toThrow(BootstrapRangeError);
  });
});

describe('channel-layout bootstrap run (N = 2^11, 4 user levels)', () => {
  it('a tiny ResNet deeper than the user levels runs encrypted with packed bootstraps and equals the reference', () => {
    const bp = bootstrapPreset('N11-BOOT-T', { userLevels: 4 });
    const g = tinyResNet();
    const slots = bp.params.slots;
    const plan = planChannel(g, slots);
    expect(plan.levels.depth).toBeGreaterThan(bp.outputLevel);
    const cbp = planChannelBootstraps(g, plan, bp.outputLevel, slots);
    expect(cbp.placement.count).toBeGreaterThanOrEqual(2);
    // more than one channel per bootstrap somewhere, and a vector refreshed or not: both paths run
    expect([...cbp.refreshes.values()].some((r) => r.perBootstrap > 1)).toBe(true);
    const calib = { shape: [4, 2, 8, 8], data: randomVector(4 * 128, 100) };
    channelBootstrapRanges(g, cbp, calib, { maxLogScale: maxBootstrapLogScale(bp.params, bp.evalMod.logMessageRatio) });
    const ctx = new CkksContext(bp.params);
    const kg = new KeyGenerator(ctx);
    const sk = kg.genSecretKey();
    const keys = genChannelBootstrapKeys(kg, sk, bp, plan, cbp);
    const enc = new Encoder(ctx);
    const ev = new Evaluator(ctx, keys);
    const runner = new ChannelBootstrapRunner(g, cbp, new Bootstrapper(ctx, bp, ev, enc, keys), enc);
    const x = randomVector(128, 7);
    const input = encryptChannels(ctx, enc, new Encryptor(ctx, kg.genPublicKey(sk)), plan.input, { shape: [2, 8, 8], data: x }, bp.outputLevel);
    const out = decryptChannels(enc, new Decryptor(ctx, sk), runner.run(input)).data;
    const want = runReference(g, { shape: [1, 2, 8, 8], data: x }).data;
    const { err, top } = maxError(out, want);
    // one bootstrap keeps ≥ 17 bits (mean, |message| ≤ 1: test/bootstrap.test.ts at N = 2^11);
    // 3 bits more for the worst slot: each refreshed element within s·2^−14
    const deltas = new Map(cbp.placement.points.map((p) => [p.value, p.scale! * 2 ** -14]));
    let dev = 0;
    for (let r = 0; r < 8; r++) {
      const y = perturbedReference(g, deltas, x, r + 1);
      for (let i = 0; i < want.length; i++) dev = Math.max(dev, Math.abs(y[i] - want[i]));
    }
    expect(err).toBeLessThanOrEqual(2 * dev);
    expect(Math.log2(top / err)).toBeGreaterThan(12);
    expect(runner.bootstraps.map((b) => b.value)).toEqual(cbp.placement.points.map((p) => p.value));
    // both refresh paths run: a clean value packed at level 0, a value masked on its way down
    expect(cbp.placement.points.some((p) => p.levelBefore === 0)).toBe(true);
    expect(cbp.placement.points.some((p) => p.levelBefore > 0 && !cbp.refreshes.get(p.value)!.clean)).toBe(true);
    console.log(cbp.placement.points.map((p) => `${p.value}@${p.levelBefore}${cbp.refreshes.get(p.value)!.clean ? ' clean' : ''}`).join(', '));
    console.log(`channel layout: ${cbp.placement.count} refreshes, ${cbp.bootstraps} bootstraps; max error 2^${Math.log2(err).toFixed(1)} (${Math.log2(top / err).toFixed(1)} bits of the largest output), bound 2^${Math.log2(2 * dev).toFixed(1)}`);
  }, 180_000);
});
