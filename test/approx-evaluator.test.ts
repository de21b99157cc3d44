import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chebEval, clenshaw } from '../src/approx/fit/chebyshev.js';
import { compositeRelu, compositeSign, type CompositePoly } from '../src/approx/composite.js';
import { compositeCost, cost, polyDepth } from '../src/approx/eval/cost.js';
import { CountingBackend, type CountingValue } from '../src/approx/eval/counting.js';
import { InsufficientLevelsError } from '../src/approx/errors.js';
import {
  compositeInputFactor,
  evalChebyshev,
  evalComposite,
  evalCompositeMax,
  evalCompositeRelu,
  evalQuadratic,
} from '../src/approx/eval/evaluator.js';
import { alphaComposite, smartpafForm } from '../src/approx/sign.js';
import { seededRandom } from '../src/approx/tuning.js';

/** Independent depth reference: smallest m with 2^m ≥ d + 1. */
function minDepth(d: number): number {
  let m = 0;
  while (1 << m < d + 1) m++;
  return m;
}

/** Independent value reference: Σ c_j cos(j·arccos t). */
function chebDirect(c: ArrayLike<number>, t: number): number {
  const th = Math.acos(t);
  let s = 0;
  for (let j = 0; j < c.length; j++) s += c[j]! * Math.cos(j * th);
  return s;
}

const SLOTS = 9;
const XS = Array.from({ length: SLOTS }, (_, i) => (i === 0 ? -1 : i === SLOTS - 1 ? 1 : Math.cos(0.37 * i + 0.2)));

function randomCoeffs(d: number, odd: boolean, rand: () => number): Float64Array {
  const c = new Float64Array(d + 1);
  for (let j = 0; j <= d; j++) if (!odd || j % 2 === 1) c[j] = (rand() * 2 - 1) * (0.5 + rand()); // non-zero a.s.
  return c;
}

function run(c: ArrayLike<number>, level: number, opts = {}): { be: CountingBackend; y: CountingValue } {
  const be = new CountingBackend(SLOTS);
  const y = evalChebyshev(be, be.encrypt(XS, level), c, opts);
  return { be, y };
}

describe('depth-optimal Chebyshev evaluation (counting backend)', () => {
  it('degrees 1…127: depth = ⌈log2(d+1)⌉, values = Clenshaw to 1e-9, cost() = counted operations', () => {
    const rand = seededRandom(42);
    for (const odd of [false, true]) {
      for (let d = 1; d <= 127; d++) {
        if (odd && d % 2 === 0) continue;
        const c = randomCoeffs(d, odd, rand);
        const L = 12;
        const { be, y } = run(c, L);
        expect(L - y.level).toBe(minDepth(d));
        expect(polyDepth(d)).toBe(minDepth(d));
        let scale = 0;
        for (const v of c) scale += Math.abs(v);
        for (let i = 0; i < SLOTS; i++) {
          expect(Math.abs(y.values[i]! - clenshaw(c, XS[i]!))).toBeLessThan(1e-9 * scale);
          expect(Math.abs(y.values[i]! - chebDirect(c, XS[i]!))).toBeLessThan(1e-9 * scale);
        }
        const k = cost(d, { odd });
        expect(k.depth).toBe(minDepth(d));
        expect({ ct: be.counts.ctMults, cm: be.counts.constMults, adds: be.counts.adds }).toEqual({
          ct: k.ctMults,
          cm: k.constMults,
          adds: k.adds,
        });
      }
    }
  });

  it('uses O(√d) ct×ct products: 3→2, 7→5, 15→8, 31→13, 63→18 (odd: 2, 5, 8, 12, 17)', () => {
    expect([3, 7, 15, 31, 63].map((d) => cost(d).ctMults)).toEqual([2, 5, 8, 13, 18]);
    expect([3, 7, 15, 31, 63].map((d) => cost(d, { odd: true }).ctMults)).toEqual([2, 5, 8, 12, 17]);
    for (let d = 2; d <= 127; d++) expect(cost(d).ctMults).toBeLessThanOrEqual(Math.ceil(2.5 * Math.sqrt(d)) + 2 * minDepth(d));
  });

  it('any baby-step size gives the optimal depth, correct values and matching counts', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 1, max: 6 }), fc.boolean(), fc.integer(), (d, l, odd, seed) => {
        if (odd && d % 2 === 0) d += 1;
        const c = randomCoeffs(d, odd, seededRandom(seed));
        const k = 2 ** l;
        const { be, y } = run(c, 10, { babyStep: k });
        expect(10 - y.level).toBe(minDepth(d));
        for (let i = 0; i < SLOTS; i++) expect(y.values[i]!).toBeCloseTo(clenshaw(c, XS[i]!), 8);
        const kc = cost(d, { odd, babyStep: k });
        expect(be.counts.ctMults).toBe(kc.ctMults);
        expect(be.counts.constMults).toBe(kc.constMults);
        expect(be.counts.adds).toBe(kc.adds);
      }),
      { numRuns: 120 },
    );
  });

  it('sparse coefficients: correct values, never deeper, never more operations than cost()', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 80 }), fc.integer(), (d, seed) => {
        const rand = seededRandom(seed);
        const c = randomCoeffs(d, false, rand);
        for (let j = 0; j < d; j++) if (rand() < 0.4) c[j] = 0;
        const { be, y } = run(c, 10);
        expect(10 - y.level).toBeLessThanOrEqual(minDepth(d));
        for (let i = 0; i < SLOTS; i++) expect(y.values[i]!).toBeCloseTo(clenshaw(c, XS[i]!), 8);
        expect(be.counts.ctMults).toBeLessThanOrEqual(cost(d).ctMults);
      }),
      { numRuns: 100 },
    );
  });

  it('the affine map costs one level (free when 2/(b − a) is an integer)', () => {
    const rand = seededRandom(3);
    const c = randomCoeffs(15, false, rand);
    const be = new CountingBackend(SLOTS);
    const iv = [-3, 5] as const;
    const xs = XS.map((t) => 1 + 4 * t);
    const y = evalChebyshev(be, be.encrypt(xs, 10), c, { interval: iv });
    expect(10 - y.level).toBe(5);
    for (let i = 0; i < SLOTS; i++) expect(y.values[i]!).toBeCloseTo(chebEval(c, xs[i]!, iv), 9);
    expect(cost(15, { interval: iv })).toEqual({ ...cost(15), depth: 5, constMults: cost(15).constMults + 1 });
    // [−0.5, 0.5]: t = 2x, a mulInt
    const be2 = new CountingBackend(SLOTS);
    const y2 = evalChebyshev(be2, be2.encrypt(XS.map((t) => t / 2), 10), c, { interval: [-0.5, 0.5] });
    expect(10 - y2.level).toBe(4);
    expect(cost(15, { interval: [-0.5, 0.5] }).depth).toBe(4);
  });

  it('per-slot coefficients evaluate one polynomial per slot', () => {
    const rand = seededRandom(9);
    const d = 13;
    const perSlot: Float64Array[] = Array.from({ length: SLOTS }, () => randomCoeffs(d, false, rand));
    const coefs = Array.from({ length: d + 1 }, (_, j) => Float64Array.from(perSlot, (c) => c[j]!));
    const be = new CountingBackend(SLOTS);
    const y = evalChebyshev(be, be.encrypt(XS, 6), coefs);
    expect(6 - y.level).toBe(4);
    for (let i = 0; i < SLOTS; i++) expect(y.values[i]!).toBeCloseTo(clenshaw(perSlot[i]!, XS[i]!), 10);
    expect(be.counts.ctMults).toBe(cost(d).ctMults);
  });

  it('too few levels → InsufficientLevelsError before any operation', () => {
    const c = randomCoeffs(31, false, seededRandom(1));
    const be = new CountingBackend(SLOTS);
    let err: unknown;
    try {
      evalChebyshev(be, be.encrypt(XS, 4), c);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InsufficientLevelsError);
    expect((err as InsufficientLevelsError).needed).toBe(5);
    expect((err as InsufficientLevelsError).available).toBe(4);
    expect(be.counts.ctMults + be.counts.constMults).toBe(0);
    expect(() => evalChebyshev(be, be.encrypt(XS, 5), c, { interval: [0, 3] })).toThrow(/needs 6 level/);
  });

  it('an odd polynomial plus a constant keeps the odd plan and its cost', () => {
    const c = randomCoeffs(29, true, seededRandom(8));
    c[0] = 0.3;
    const { be, y } = run(c, 6);
    expect(6 - y.level).toBe(5);
    const k = cost(29, { odd: true });
    expect([be.counts.ctMults, be.counts.constMults, be.counts.adds]).toEqual([k.ctMults, k.constMults, k.adds]);
    for (let i = 0; i < SLOTS; i++) expect(y.values[i]!).toBeCloseTo(clenshaw(c, XS[i]!), 10);
  });

  it('degree 0 yields a constant ciphertext without consuming levels', () => {
    const { y } = run([0.75], 3);
    expect(y.level).toBe(3);
    expect(Array.from(y.values)).toEqual(XS.map(() => 0.75));
  });
});

describe('quadratic fast path', () => {
  it('c2 = 1 (after weight redistribution): depth 1, one ct×ct product', () => {
    const be = new CountingBackend(SLOTS);
    const y = evalQuadratic(be, be.encrypt(XS, 1), 1, 0.5, 0.2);
    expect(y.level).toBe(0);
    expect(be.counts.ctMults).toBe(1);
    for (let i = 0; i < SLOTS; i++) expect(y.values[i]!).toBeCloseTo(XS[i]! ** 2 + 0.5 * XS[i]! + 0.2, 14);
    expect(cost(2, { redistributed: true })).toEqual({ depth: 1, ctMults: 1, constMults: 1, adds: 1 });
    expect(be.counts.constMults).toBe(1);
    expect(be.counts.adds).toBe(1);
  });

  it('general c2 (PAPER 239/1024): depth 2; per-slot c2 = 1 stays depth 1', () => {
    const be = new CountingBackend(SLOTS);
    const y = evalQuadratic(be, be.encrypt(XS, 2), 239 / 1024, 0.5, 193 / 1024);
    expect(y.level).toBe(0);
    for (let i = 0; i < SLOTS; i++) expect(y.values[i]!).toBeCloseTo((239 * XS[i]! ** 2 + 512 * XS[i]! + 193) / 1024, 14);
    expect(() => evalQuadratic(be, be.encrypt(XS, 1), 0.3, 0.5, 0.1)).toThrow(InsufficientLevelsError);
    const c1 = Float64Array.from(XS, (_, i) => i / 10);
    const y2 = evalQuadratic(be, be.encrypt(XS, 1), new Float64Array(SLOTS).fill(1), c1, 0);
    expect(y2.level).toBe(0);
    for (let i = 0; i < SLOTS; i++) expect(y2.values[i]!).toBeCloseTo(XS[i]! ** 2 + (i / 10) * XS[i]!, 14);
  });
});

describe('composites, ReLU and max', () => {
  const inputs = Array.from({ length: SLOTS }, (_, i) => -2.5 + (5 * i) / (SLOTS - 1) + 0.013);

  function check(cp: CompositePoly, expectDepth: number, expectCt: number): void {
    const L = expectDepth + 2;
    const be = new CountingBackend(SLOTS);
    const y = evalComposite(be, be.encrypt(inputs, L), cp);
    expect(L - y.level).toBe(expectDepth);
    expect(be.counts.ctMults).toBe(expectCt);
    const cc = compositeCost(cp);
    expect([cc.depth, cc.ctMults, cc.constMults, cc.adds]).toEqual([
      expectDepth,
      be.counts.ctMults,
      be.counts.constMults,
      be.counts.adds,
    ]);
    for (let i = 0; i < SLOTS; i++) expect(y.values[i]!).toBeCloseTo(compositeSign(cp, inputs[i]!), 9);

    const be2 = new CountingBackend(SLOTS);
    const r = evalCompositeRelu(be2, be2.encrypt(inputs, L), cp);
    expect(L - r.level).toBe(expectDepth + 1);
    for (let i = 0; i < SLOTS; i++) expect(r.values[i]!).toBeCloseTo(compositeRelu(cp, inputs[i]!), 9);
    const rc = compositeCost(cp, { relu: true });
    expect([rc.depth, rc.ctMults, rc.constMults, rc.adds]).toEqual([
      expectDepth + 1,
      be2.counts.ctMults,
      be2.counts.constMults,
      be2.counts.adds,
    ]);
  }

  it('f1²∘g1² (s = 2.5): depth 1 + 4·2, 8 ct×ct products (+1 for ReLU)', () => {
    check(smartpafForm('f1^2∘g1^2', 2.5), 9, 8);
  });

  it('α = 7 published and α = 10 computed (Chebyshev parts with ranges): depth 1 + Σ⌈log2(d_i+1)⌉', () => {
    check({ ...alphaComposite(7).composite, inputScale: 2.5 }, 1 + 3 + 3, 10);
    const a10 = alphaComposite(10, { inputScale: 2.5 }).composite;
    check(a10, 1 + 3 + 3 + 4, cost(7, { odd: true }).ctMults * 2 + cost(13, { odd: true }).ctMults);
  });

  it('α = 14 {15, 27, 29} ReLU: depth 1 + 4 + 5 + 5 + 1, counts equal compositeCost (odd plan kept after the (1 + p)/2 fold)', () => {
    const cp = alphaComposite(14, { inputScale: 2.5 }).composite;
    const be = new CountingBackend(SLOTS);
    const r = evalCompositeRelu(be, be.encrypt(inputs, 16), cp);
    expect(16 - r.level).toBe(16);
    const rc = compositeCost(cp, { relu: true });
    expect([rc.depth, rc.ctMults, rc.constMults, rc.adds]).toEqual([16, be.counts.ctMults, be.counts.constMults, be.counts.adds]);
    for (let i = 0; i < SLOTS; i++) expect(r.values[i]!).toBeCloseTo(compositeRelu(cp, inputs[i]!), 8);
  });

  it('inputFolded: no scaling level, results scale by the folded factor (ReLU is homogeneous)', () => {
    const cp = smartpafForm('f2∘g3', 2.5);
    const f = compositeInputFactor(cp);
    expect(f).toBeCloseTo(1 / 2.5, 15);
    const be = new CountingBackend(SLOTS);
    const r = evalCompositeRelu(be, be.encrypt(inputs.map((x) => x * f), 7), cp, { inputFolded: true });
    expect(7 - r.level).toBe(7);
    for (let i = 0; i < SLOTS; i++) expect(r.values[i]!).toBeCloseTo(compositeRelu(cp, inputs[i]!) * f, 10);
    expect(() => evalCompositeRelu(be, be.encrypt(inputs, 6), cp, { inputFolded: true })).toThrow(InsufficientLevelsError);
  });

  it('max(a, b) = b + ReLU(a − b) costs the ReLU depth and matches the plaintext formula', () => {
    const cp = smartpafForm('f1∘g2', 3);
    const a = inputs;
    const b = inputs.map((x, i) => Math.sin(x * 3 + i));
    const be = new CountingBackend(SLOTS);
    const m = evalCompositeMax(be, be.encrypt(a, 8), be.encrypt(b, 8), cp);
    expect(8 - m.level).toBe(compositeCost(cp, { max: true }).depth);
    expect(compositeCost(cp, { max: true }).adds).toBe(be.counts.adds);
    for (let i = 0; i < SLOTS; i++) {
      const s = compositeSign(cp, a[i]! - b[i]!);
      expect(m.values[i]!).toBeCloseTo((a[i]! + b[i]! + (a[i]! - b[i]!) * s) / 2, 10);
    }
  });
});
