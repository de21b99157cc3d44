/**
 * Encrypted polynomial evaluation equals plaintext evaluation (Clenshaw / composite evaluation in
 * float64) within the engine's precision, uses exactly the promised depth, and the ct×ct product
 * count equals the cost model.
 */
import { describe, expect, it } from 'vitest';
import { precisionStats } from '../src/index.js';
import {
  CkksPolyBackend, InsufficientLevelsError, clenshaw, compositeDepth, compositeRelu, compositeSign, cost, evalChebyshev,
  evalComposite, evalCompositeRelu, evalQuadratic, polyDepth, smartpafForm,
} from '../src/approx/index.js';
import { makeKit, precisionFloor, randomVector } from './helpers.js';

const LOGN = 10;
const kit = makeKit({ logN: LOGN, levels: 10, insecure: true }, [1]);
const { ctx, enc, encr, dec, ev } = kit;
const n = ctx.params.slots;
const floor = precisionFloor(Math.log2(ctx.params.defaultScale), LOGN);

function coeffsFor(d: number, seed: number): Float64Array {
  // decaying random Chebyshev coefficients, |c_i| ≤ 1/(i+1), exact degree d
  const r = randomVector(d + 1, seed);
  return r.map((x, i) => (i === d ? (x >= 0 ? 1 : -1) * (0.5 + Math.abs(x) / 2) : x) / (i + 1));
}

describe('encrypted Chebyshev evaluation (N=2^10, Δ≈2^30, 10 levels)', () => {
  const x = randomVector(n, 77);
  const ct = encr.encrypt(enc.encode(x));
  for (const d of [2, 3, 4, 5, 7, 8, 12, 15, 16, 23, 31, 32, 47, 63]) {
    it(`degree ${d}: value, depth ⌈log2(d+1)⌉ = ${polyDepth(d)}, ct×ct = cost()`, () => {
      const c = coeffsFor(d, d);
      const b = new CkksPolyBackend(ev, enc, ct);
      const out = evalChebyshev(b, ct, c);
      expect(ct.level - out.level).toBe(polyDepth(d));
      expect(b.ctMults).toBe(cost(d).ctMults);
      const want = x.map((t) => clenshaw(c, t));
      const st = precisionStats(want, enc.decode(dec.decrypt(out)));
      // error budget: the engine's per-op floor (log2Δ − logN − 2), one share per level consumed
      expect(st.meanBits).toBeGreaterThanOrEqual(floor - Math.log2(polyDepth(d) + 1));
    });
  }

  it('an input interval costs one level and is mapped correctly', () => {
    const y = randomVector(n, 5, -3, 5);
    const cy = encr.encrypt(enc.encode(y));
    const c = coeffsFor(7, 1);
    const out = evalChebyshev(new CkksPolyBackend(ev, enc, cy), cy, c, { interval: [-3, 5] });
    expect(cy.level - out.level).toBe(polyDepth(7) + 1);
    const st = precisionStats(y.map((t) => clenshaw(c, (2 * t - 2) / 8)), enc.decode(dec.decrypt(out)));
    expect(st.meanBits).toBeGreaterThanOrEqual(floor - 4);
  });

  it('per-slot coefficients (one polynomial per slot)', () => {
    const c = [0, 1, 2, 3].map((i) => randomVector(n, 100 + i, -0.5, 0.5));
    const out = evalChebyshev(new CkksPolyBackend(ev, enc, ct), ct, c);
    const want = x.map((t, s) => clenshaw(c.map((v) => v[s]), t));
    expect(precisionStats(want, enc.decode(dec.decrypt(out))).meanBits).toBeGreaterThanOrEqual(floor - 3);
  });

  it('quadratic fast path: one level when c2 = 1, two otherwise', () => {
    const b = new CkksPolyBackend(ev, enc, ct);
    const q1 = evalQuadratic(b, ct, 1, 0.5, 0.1875);
    expect(ct.level - q1.level).toBe(1);
    expect(precisionStats(x.map((t) => t * t + 0.5 * t + 0.1875), enc.decode(dec.decrypt(q1))).meanBits).toBeGreaterThanOrEqual(floor - 2);
    const q2 = evalQuadratic(new CkksPolyBackend(ev, enc, ct), ct, 239 / 1024, 0.5, 193 / 1024);
    expect(ct.level - q2.level).toBe(2);
    expect(precisionStats(x.map((t) => (239 * t * t) / 1024 + 0.5 * t + 193 / 1024), enc.decode(dec.decrypt(q2))).meanBits).toBeGreaterThanOrEqual(floor - 2);
  });

  it('composites: f1²∘g1² sign and α=7 ReLU, part by part at the promised depth', () => {
    for (const form of ['f1^2∘g1^2', 'alpha7'] as const) {
      const cp = smartpafForm(form, 1);
      const b = new CkksPolyBackend(ev, enc, ct);
      const s = evalComposite(b, ct, cp);
      expect(ct.level - s.level).toBe(compositeDepth(cp));
      const got = enc.decode(dec.decrypt(s));
      expect(precisionStats(x.map((t) => compositeSign(cp, t)), got).meanBits).toBeGreaterThanOrEqual(floor - 6);
      const r = evalCompositeRelu(new CkksPolyBackend(ev, enc, ct), ct, cp);
      expect(ct.level - r.level).toBe(compositeDepth(cp) + 1);
      expect(precisionStats(x.map((t) => compositeRelu(cp, t)), enc.decode(dec.decrypt(r))).meanBits).toBeGreaterThanOrEqual(floor - 6);
    }
  });

  it('too few levels: InsufficientLevelsError naming needed and available', () => {
    let low = ct;
    for (let i = 0; i < 8; i++) low = ev.mulConstThenRescale(low, 1);
    expect(low.level).toBe(2);
    const e = (() => { try { evalChebyshev(new CkksPolyBackend(ev, enc, low), low, coeffsFor(15, 3)); } catch (err) { return err; } })();
    expect(e).toBeInstanceOf(InsufficientLevelsError);
    expect((e as Error).message).toMatch(/4.*2|needs 4/);
  });
});
