/**
 * The channel layout's error model (`src/nn/channel/error.ts`): small networks and a compiled
 * fixture run encrypted in the channel layout at small insecure rings stay within the predicted
 * bound of the float64 reference, and reach it within 2^4 (not vacuous).
 */
import { describe, expect, it } from 'vitest';
import {
  type IrGraph, ChannelRunner, compileModel, decryptChannels, encryptChannels, planChannel, predictChannelError, runReference,
} from '../src/nn/index.js';
import { convQuad, residual, spatialDense } from './error-nets.js';
import { loadModel, testDigits } from './fixtures.js';
import { makeKit, randomVector } from './helpers.js';

/** The largest |encrypted − reference| / bound over the inputs; fails when one exceeds its bound. */
function worstRatio(g: IrGraph, logN: number, xs: ArrayLike<number>[]): number {
  const plan = planChannel(g, 1 << (logN - 1));
  const kit = makeKit({ logN, levels: plan.levels.depth, insecure: true }, plan.rotations);
  let worst = 0;
  for (const x of xs) {
    const pred = predictChannelError(g, kit.ctx.params, { samples: [x] }, plan);
    const image = { shape: [1, ...g.input.shape], data: Float64Array.from(x) };
    const want = runReference(g, image, { checkFinite: false }).data;
    const runner = new ChannelRunner(g, kit.ev, kit.enc);
    const got = decryptChannels(kit.enc, kit.dec, runner.run(encryptChannels(kit.ctx, kit.enc, kit.encr, runner.plan.input, image))).data;
    for (let k = 0; k < got.length; k++) {
      const e = Math.abs(got[k] - want[k]);
      expect(e).toBeLessThanOrEqual(pred.bound[k]);
      worst = Math.max(worst, e / pred.bound[k]);
    }
  }
  if (process.env.VEIL_VERBOSE) console.log(g.name, Math.log2(worst));
  return worst;
}

describe('channel error model, encrypted (small insecure rings)', () => {
  // ≥ 15 outputs per test: with σ right, all below 6σ/2^4 = 0.375σ with probability < 10^-8.
  // Measured: the largest |err| at 2^-0.7 … 2^-1.6 of the 6σ bound (2.0–3.8σ; 3.8σ over the
  // residual block's 768 outputs, where the largest of 768 Gaussian draws is about 3.3σ).
  for (const [name, mk] of [['conv + quadratic + GAP + dense', () => convQuad()], ['strided conv + dense on the map', () => spatialDense()], ['residual block', () => residual()]] as const) {
    it(`${name}: within the bound, reaching it within 2^4`, () => {
      const g = mk();
      const size = g.input.shape.reduce((a, b) => a * b, 1);
      expect(worstRatio(g, 11, [0, 1, 2].map((i) => randomVector(size, 500 + i, -1, 1)))).toBeGreaterThanOrEqual(2 ** -4);
    });
  }

  it('mnist_relu_bn (Chebyshev degree 3, masked activations, N = 2^12): within the bound, reaching it within 2^4', () => {
    const g = compileModel(loadModel('mnist_relu_bn'), testDigits(64).x, { degrees: { kind: 'uniform', degree: 3 } }).graph;
    const xs = testDigits(2, 500).x;
    expect(worstRatio(g, 12, [0, 1].map((i) => xs.data.subarray(i * 784, (i + 1) * 784)))).toBeGreaterThanOrEqual(2 ** -4);
  }, 120_000);
});
