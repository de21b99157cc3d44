import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cost, scalarCost } from '../src/approx/eval/cost.js';
import { InfeasibleBudgetError } from '../src/approx/errors.js';
import { histogram } from '../src/approx/fit/lsq.js';
import { ola, type OlaCandidate, olaCandidates, olaOptimize } from '../src/approx/ola.js';
import { seededRandom } from '../src/approx/tuning.js';

/** Independent reference: enumerate every assignment. Errors are integers, budget = steps (δ = 1). */
function bruteForce(cands: OlaCandidate[][], budget: number): number | null {
  let best: number | null = null;
  const rec = (l: number, c: number, e: number): void => {
    if (e > budget) return;
    if (l === cands.length) {
      if (best === null || c < best) best = c;
      return;
    }
    for (const k of cands[l]!) rec(l + 1, c + k.cost, e + k.error);
  };
  rec(0, 0, 0);
  return best;
}

const candArb = fc.array(
  fc.array(
    fc.record({
      degree: fc.integer({ min: 1, max: 63 }),
      error: fc.integer({ min: 0, max: 12 }),
      cost: fc.integer({ min: 0, max: 30 }),
    }),
    { minLength: 1, maxLength: 4 },
  ),
  { minLength: 1, maxLength: 5 },
);

describe('OLA dynamic program', () => {
  it('equals brute force on small random cases', () => {
    fc.assert(
      fc.property(candArb, fc.integer({ min: 1, max: 40 }), (cands, budget) => {
        const ref = bruteForce(cands, budget);
        if (ref === null) {
          expect(() => olaOptimize(cands, budget, { steps: budget })).toThrow(InfeasibleBudgetError);
          return;
        }
        const r = olaOptimize(cands, budget, { steps: budget });
        expect(r.best.totalCost).toBe(ref);
        expect(r.best.totalError).toBeLessThanOrEqual(budget);
        // the reported assignment is consistent with its totals
        expect(r.best.choice.reduce((s, i, l) => s + cands[l]![i]!.cost, 0)).toBe(r.best.totalCost);
      }),
      { numRuns: 400 },
    );
  });

  it('real-valued errors: the solution is within budget and no cheaper brute-force assignment has quantised error ≤ B', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 0, max: 9 })), { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 4 }),
        fc.double({ min: 0.2, max: 3, noNaN: true }),
        (raw, budget) => {
          const cands: OlaCandidate[][] = raw.map((l) => l.map(([e, c], i) => ({ degree: i + 1, error: e, cost: c })));
          const steps = 50;
          const delta = budget / steps;
          // brute force on the quantised problem
          const q = cands.map((l) => l.map((c) => ({ ...c, error: Math.ceil(c.error / delta) })));
          const ref = bruteForce(q, steps);
          if (ref === null) {
            expect(() => olaOptimize(cands, budget, { steps })).toThrow(InfeasibleBudgetError);
            return;
          }
          const r = olaOptimize(cands, budget, { steps });
          expect(r.best.totalCost).toBe(ref);
          expect(r.best.totalError).toBeLessThanOrEqual(budget * (1 + 1e-12));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('the Pareto front has increasing cost and strictly decreasing error, and its cheapest-within-budget point is best', () => {
    const rand = seededRandom(17);
    const cands: OlaCandidate[][] = Array.from({ length: 6 }, () =>
      [3, 7, 15, 31, 63].map((d, i) => ({ degree: d, error: (rand() + 0.2) * 2 ** (-2 * i), cost: scalarCost(cost(d)) })),
    );
    const r = olaOptimize(cands, 6, { steps: 600 });
    expect(r.front.length).toBeGreaterThan(3);
    for (let i = 1; i < r.front.length; i++) {
      expect(r.front[i]!.totalCost).toBeGreaterThan(r.front[i - 1]!.totalCost);
      expect(r.front[i]!.totalError).toBeLessThan(r.front[i - 1]!.totalError);
    }
    expect(r.front[0]!.totalCost).toBe(r.best.totalCost);
  });
});

describe('OLA end to end', () => {
  // Two "layers": narrow inputs (easy) and wide inputs (hard), ReLU and GELU.
  const rand = seededRandom(5);
  const gauss = (sd: number, n: number): number[] =>
    Array.from({ length: n }, () => sd * Math.sqrt(-2 * Math.log(rand() || 1e-12)) * Math.cos(2 * Math.PI * rand()));
  const layers = [
    { name: 'easy', activation: 'relu' as const, histogram: histogram(gauss(0.3, 4000), { bins: 128, symmetric: true }) },
    { name: 'hard', activation: 'gelu' as const, histogram: histogram(gauss(3, 4000), { bins: 128, symmetric: true }) },
    { name: 'sensitive', activation: 'relu' as const, histogram: histogram(gauss(1, 4000), { bins: 128, symmetric: true }), sensitivity: 10 },
  ];

  it('candidates: error falls with degree, cost from cost() by default', () => {
    const c = olaCandidates(layers[0]!, 0, { degrees: [2, 3, 7, 15] });
    expect(c.map((x) => x.degree)).toEqual([2, 3, 7, 15]);
    for (let i = 1; i < c.length; i++) expect(c[i]!.error).toBeLessThanOrEqual(c[i - 1]!.error * (1 + 1e-12));
    expect(c[2]!.cost).toBe(cost(7).ctMults + cost(7).depth);
    const custom = olaCandidates(layers[0]!, 4, { degrees: [3], cost: (d, l) => d * 100 + l });
    expect(custom[0]!.cost).toBe(304);
  });

  it('a tighter budget never lowers the cost; sensitivity raises the degree', () => {
    const loose = ola(layers, 0.05);
    const tight = ola(layers, 0.0005);
    expect(tight.totalCost).toBeGreaterThanOrEqual(loose.totalCost);
    expect(tight.totalError).toBeLessThanOrEqual(0.0005);
    expect(loose.totalError).toBeLessThanOrEqual(0.05);
    const noSens = ola(layers.map((l) => ({ ...l, sensitivity: 1 })), 0.0005);
    expect(tight.layers[2]!.degree).toBeGreaterThanOrEqual(noSens.layers[2]!.degree);
    expect(tight.layers.map((l) => l.name)).toEqual(['easy', 'hard', 'sensitive']);
  });

  it('an impossible budget throws InfeasibleBudgetError naming the best achievable error', () => {
    expect(() => ola(layers, 1e-12, { degrees: [2, 3] })).toThrow(/most accurate candidates give/);
  });
});
