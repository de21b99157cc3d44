import { describe, expect, it } from 'vitest';
import { compositeRelu } from '../src/approx/composite.js';
import { ApproxError } from '../src/approx/errors.js';
import { smartpafForm } from '../src/approx/sign.js';
import {
  reluMse,
  seededRandom,
  StaticScale,
  staticScale,
  tuneComposite,
  tuningGradient,
  tuningLoss,
} from '../src/approx/tuning.js';

/** A profiled-looking layer input: Gaussian bulk plus a few large outliers. */
function layerInputs(n: number, seed: number): Float64Array {
  const r = seededRandom(seed);
  const xs = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = r() || 1e-12;
    const v = r();
    xs[i] = 0.7 * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  return xs;
}

describe('static scale (SmartPAF SS)', () => {
  it('is the running max |x|, with its fold factor 1/s', () => {
    const ss = new StaticScale().observe([0.5, -2, 1]).observe([1.5, -0.1]);
    expect(ss.scale).toBe(2);
    expect(ss.count).toBe(5);
    expect(ss.foldFactor()).toBe(0.5);
    expect(staticScale([-3, 2])).toBe(3);
    expect(() => new StaticScale().scale).toThrow(ApproxError);
  });
});

describe('coefficient tuning (SmartPAF CT)', () => {
  it('analytic gradient equals central finite differences', () => {
    const xs = layerInputs(300, 5);
    const s = staticScale(xs);
    const flat = Float64Array.from([1.5, -0.5, 1.4, -0.45, 2.076171875, -1.3271484375, 2.1, -1.3]);
    const shapes = [2, 2, 2, 2];
    const g = tuningGradient(flat, shapes, xs, s);
    for (let j = 0; j < flat.length; j++) {
      const h = 1e-6;
      const p = Float64Array.from(flat);
      const m = Float64Array.from(flat);
      p[j] = p[j]! + h;
      m[j] = m[j]! - h;
      const fd = (tuningLoss(p, shapes, xs, s) - tuningLoss(m, shapes, xs, s)) / (2 * h);
      expect(Math.abs(g[j]! - fd)).toBeLessThan(1e-6 * Math.max(1e-3, Math.abs(fd)) + 1e-10);
    }
  });

  it('reduces the ReLU MSE of every SmartPAF form on the layer inputs, deterministically', () => {
    const xs = layerInputs(3000, 7);
    const s = staticScale(xs);
    for (const form of ['f1^2∘g1^2', 'f2∘g3', 'f2∘g2', 'f1∘g2'] as const) {
      const start = smartpafForm(form, s);
      const a = tuneComposite(start, xs, { batchSize: 256, seed: 3 });
      expect(a.initialMse).toBeCloseTo(reluMse(start, xs), 15);
      expect(a.finalMse).toBeLessThan(a.initialMse / 3);
      // independent recomputation of the tuned composite's MSE
      let e = 0;
      for (const x of xs) e += (compositeRelu(a.composite, x) - Math.max(0, x)) ** 2;
      expect(a.finalMse).toBeCloseTo(e / xs.length, 12);
      expect(a.composite.inputScale).toBe(s);
      const b = tuneComposite(start, xs, { batchSize: 256, seed: 3 });
      expect(Array.from(b.composite.components[0]!.coeffs)).toEqual(Array.from(a.composite.components[0]!.coeffs));
    }
  });

  it('max tuning is ReLU tuning on the differences a − b', () => {
    const a = layerInputs(500, 11);
    const b = layerInputs(500, 12);
    const d = a.map((v, i) => v - b[i]!);
    const start = smartpafForm('f1∘g2', staticScale(d));
    const rMax = tuneComposite(start, { a, b }, { epochs: 5 });
    const rRelu = tuneComposite(start, d, { epochs: 5 });
    expect(rMax.finalMse).toBe(rRelu.finalMse);
  });

  it('keeps the published α = 7 coefficients (SmartPAF Table 7: unchanged by CT) when they are already best', () => {
    const xs = layerInputs(2000, 13);
    const r = tuneComposite(smartpafForm('alpha7', staticScale(xs)), xs, { epochs: 10 });
    expect(r.finalMse).toBeLessThanOrEqual(r.initialMse);
  });
});
