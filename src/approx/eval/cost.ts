/**
 * @module approx/eval/cost
 *
 * Cost model of the depth-optimal Chebyshev evaluator (`evaluator.ts`), used by OLA's degree
 * choice (digest §1.4 step 4, §6 item 9). For a degree-d polynomial it returns the multiplicative
 * depth, the number of ct×ct products (relinearisations), of ciphertext×constant products and of
 * ciphertext additions that `evalChebyshev` performs for GENERIC coefficients (no coefficient
 * exactly 0 except the structural zeros of odd polynomials; zeros only make the real evaluation
 * cheaper).
 *
 * How it is computed: the plan of the evaluator (see `evaluator.ts` for the algorithm) is walked
 * symbolically on non-zero patterns instead of values — Chebyshev long division, slack/exact
 * recursion and leaves are mirrored, the set of T_i the plan touches is closed under the recipe
 * T_i = 2·T_a·T_b − T_{a−b}, and every T_i with i ≥ 2 costs one product. The test suite checks
 * these numbers against the counting backend running the real evaluator, for degrees 1…127.
 *
 * Counting conventions: `adds` counts ciphertext+ciphertext additions/subtractions including the
 * (terms − 1) additions inside each `linear`; constant additions and small-integer multiples
 * (mulInt) are free and not counted. `constMults` counts ciphertext×constant terms of `linear`.
 */

import { type Interval, unitMap } from '../fit/chebyshev.js';
import { type CompositePoly, componentDegree, componentToChebyshev, isOddComponent } from '../composite.js';
import { ApproxError } from '../errors.js';

/** Operation counts and depth of one evaluation. */
export interface CostBreakdown {
  /** Levels consumed. */
  depth: number;
  /** ct×ct products (each one relinearisation + rescale). */
  ctMults: number;
  /** ciphertext × constant products (terms of `linear`). */
  constMults: number;
  /** ciphertext additions / subtractions. */
  adds: number;
}

/** Options of {@link cost}. */
export interface CostOptions {
  /** Odd polynomial (only odd T_i; used for sign components). Default false. */
  odd?: boolean;
  /**
   * Input interval. Anything other than [−1, 1] adds the affine map x → [−1, 1]: one level and one
   * constant product, unless 2/(b − a) is an integer (then mulInt + addConst, free).
   */
  interval?: Interval;
  /** Baby-step size (a power of two ≥ 2). Default: the one minimising ctMults ({@link chooseBabyStep}). */
  babyStep?: number;
  /**
   * Degree 2 only: the leading coefficient is exactly 1 (PAPER weight redistribution), so the
   * quadratic fast path `evalQuadratic` applies: depth 1.
   */
  redistributed?: boolean;
}

/** ⌈log2(d + 1)⌉: the minimal multiplicative depth of a degree-d polynomial (0 for d ≤ 0). */
export function polyDepth(degree: number): number {
  if (!Number.isInteger(degree) || degree < 0) {
    throw new ApproxError(`degree ${degree} is invalid`, `pass an integer ≥ 0`);
  }
  let m = 0;
  while (2 ** m < degree + 1) m++;
  return m;
}

/** ⌈log2 i⌉ for i ≥ 1: the depth at which the evaluator produces T_i. */
export function chebDepth(i: number): number {
  let m = 0;
  while (2 ** m < i) m++;
  return m;
}

/**
 * The recipe for T_i (i ≥ 2): T_i = 2·T_a·T_b − T_c with a = 2^{⌈log2 i⌉−1}, b = i − a, c = a − b
 * (T_0 = 1 when c = 0). Both factors have depth ≤ ⌈log2 i⌉ − 1, so T_i lands at depth ⌈log2 i⌉;
 * odd i gives odd b and c, so odd polynomials only ever touch odd T's and powers of two.
 */
export function chebRecipe(i: number): { a: number; b: number; c: number } {
  const a = 2 ** (chebDepth(i) - 1);
  const b = i - a;
  return { a, b, c: a - b };
}

/** Is `k` a valid baby-step size (a power of two ≥ 2)? */
export function isBabyStep(k: number): boolean {
  return Number.isInteger(k) && k >= 2 && (k & (k - 1)) === 0 && k <= 2 ** 20;
}

// ---------------------------------------------------------------------------------------------
// Symbolic walk. A node's "kind" mirrors the evaluator's value kinds: a ciphertext or a constant.
// ---------------------------------------------------------------------------------------------

type Kind = 'ct' | 'const' | 'zero';

interface Tally {
  cm: number;
  adds: number;
  ct: number; // products other than T_i construction
  used: Set<number>; // T indices referenced by leaves and giant steps
}

interface Sym {
  kind: Kind;
  depth: number; // −1 for constants
}

function trimMask(m: boolean[]): boolean[] {
  let n = m.length - 1;
  while (n > 0 && !m[n]) n--;
  return m.slice(0, n + 1);
}

function degreeOf(m: boolean[]): number {
  for (let i = m.length - 1; i >= 0; i--) if (m[i]) return i;
  return -1;
}

/** Non-zero patterns of q, r in p = q·T_N + r (Chebyshev long division; see evaluator.ts). */
export function splitMask(m: boolean[], n: number): { q: boolean[]; r: boolean[] } {
  const deg = m.length - 1;
  const q: boolean[] = [];
  for (let j = 0; j <= deg - n; j++) q.push(m[n + j]!);
  const r: boolean[] = [];
  for (let i = 0; i < n; i++) {
    const other = i >= 1 && 2 * n - i <= deg ? m[2 * n - i]! : false;
    r.push(m[i]! || other);
  }
  return { q: trimMask(q), r: trimMask(r) };
}

function symLeaf(m: boolean[], t: Tally): Sym {
  let terms = 0;
  let depth = -1;
  for (let j = 1; j < m.length; j++) {
    if (!m[j]) continue;
    terms++;
    t.used.add(j);
    depth = Math.max(depth, chebDepth(j));
  }
  if (terms === 0) return { kind: m[0] ? 'const' : 'zero', depth: -1 };
  t.cm += terms;
  t.adds += terms - 1;
  return { kind: 'ct', depth: depth + 1 };
}

function symMulT(q: Sym, n: number, t: Tally): Sym {
  if (q.kind === 'zero') return q;
  t.used.add(n);
  if (q.kind === 'const') {
    t.cm += 1;
    return { kind: 'ct', depth: chebDepth(n) + 1 };
  }
  t.ct += 1;
  return { kind: 'ct', depth: Math.max(q.depth, chebDepth(n)) + 1 };
}

function symAdd(a: Sym, b: Sym, t: Tally): Sym {
  if (a.kind === 'ct' && b.kind === 'ct') {
    t.adds += 1;
    return { kind: 'ct', depth: Math.max(a.depth, b.depth) };
  }
  if (a.kind === 'ct') return a;
  if (b.kind === 'ct') return b;
  return { kind: a.kind === 'const' || b.kind === 'const' ? 'const' : 'zero', depth: -1 };
}

function symSlack(m: boolean[], k: number, t: Tally): Sym {
  const n = degreeOf(m);
  if (n <= 0) return { kind: n === 0 ? 'const' : 'zero', depth: -1 };
  if (n < k) return symLeaf(m, t);
  const split = 2 ** (chebDepth(n + 1) - 1);
  const { q, r } = splitMask(m, split);
  const qv = symMulT(symSlack(q, k, t), split, t);
  return symAdd(qv, symSlack(r, k, t), t);
}

function symExact(m: boolean[], d: number, k: number, t: Tally): Sym {
  const n = degreeOf(m);
  if (n <= 0) return { kind: n === 0 ? 'const' : 'zero', depth: -1 };
  if (n < 2 ** (d - 1)) return symSlack(m, k, t);
  if (n === 1) return symLeaf(m, t);
  const split = 2 ** (d - 1);
  const { q, r } = splitMask(m, split);
  const qv = symMulT(symExact(q, d - 1, k, t), split, t);
  return symAdd(qv, symSlack(r, k, t), t);
}

/** Close a set of T indices under the recipe; returns #products and #subtractions to build them. */
function closeT(used: Set<number>): { products: number; subs: number } {
  const all = new Set<number>();
  const visit = (i: number): void => {
    if (i <= 1 || all.has(i)) return;
    all.add(i);
    const { a, b, c } = chebRecipe(i);
    visit(a);
    visit(b);
    if (c > 0) visit(c);
  };
  for (const i of used) visit(i);
  let subs = 0;
  for (const i of all) if (chebRecipe(i).c > 0) subs++;
  return { products: all.size, subs };
}

/** The generic non-zero pattern of a degree-d (odd) Chebyshev series. */
export function genericMask(degree: number, odd: boolean): boolean[] {
  const m: boolean[] = [];
  for (let i = 0; i <= degree; i++) m.push(!odd || i % 2 === 1);
  return m;
}

/** Cost of the evaluator's plan for a given non-zero pattern and baby step (no input map). */
export function planCost(mask: boolean[], k: number): CostBreakdown {
  const m = trimMask(mask.length === 0 ? [false] : mask);
  const n = degreeOf(m);
  const t: Tally = { cm: 0, adds: 0, ct: 0, used: new Set() };
  if (n <= 0) return { depth: 0, ctMults: 0, constMults: 0, adds: 0 };
  const res = symExact(m, polyDepth(n), k, t);
  const tc = closeT(t.used);
  return { depth: Math.max(0, res.depth), ctMults: t.ct + tc.products, constMults: t.cm, adds: t.adds + tc.subs };
}

const babyCache = new Map<string, number>();

/**
 * The baby-step size k ∈ {2, 4, …, 2^{m−1}} minimising ct×ct products for a generic degree-d (odd)
 * polynomial (ties: fewer constant products, then fewer additions, then smaller k).
 */
export function chooseBabyStep(degree: number, odd: boolean): number {
  const key = `${degree}/${odd ? 1 : 0}`;
  const hit = babyCache.get(key);
  if (hit !== undefined) return hit;
  const m = polyDepth(degree);
  const mask = genericMask(degree, odd);
  let best = 2;
  let bc: CostBreakdown | null = null;
  for (let l = 1; l <= Math.max(1, m - 1); l++) {
    const k = 2 ** l;
    const c = planCost(mask, k);
    if (
      bc === null ||
      c.ctMults < bc.ctMults ||
      (c.ctMults === bc.ctMults &&
        (c.constMults < bc.constMults || (c.constMults === bc.constMults && c.adds < bc.adds)))
    ) {
      bc = c;
      best = k;
    }
  }
  babyCache.set(key, best);
  return best;
}

/** Levels and constant products of the affine input map for `interval` (0 when folded/integer). */
export function mapCost(interval: Interval | undefined): { depth: number; constMults: number } {
  if (interval === undefined) return { depth: 0, constMults: 0 };
  const { scale } = unitMap(interval);
  if (Number.isInteger(scale) && Math.abs(scale) <= 2 ** 20) return { depth: 0, constMults: 0 };
  return { depth: 1, constMults: 1 };
}

/**
 * Depth and operation counts of evaluating a generic degree-`degree` polynomial with
 * `evalChebyshev` (or `evalQuadratic` when `redistributed` and degree = 2).
 */
export function cost(degree: number, opts: CostOptions = {}): CostBreakdown {
  polyDepth(degree);
  if (opts.redistributed) {
    if (degree !== 2) {
      throw new ApproxError(`'redistributed' applies to degree 2 only (got ${degree})`, `drop the option`);
    }
    const mc = mapCost(opts.interval);
    return { depth: 1 + mc.depth, ctMults: 1, constMults: 1 + mc.constMults, adds: 1 };
  }
  const odd = opts.odd ?? false;
  if (odd && degree % 2 === 0) {
    throw new ApproxError(`an odd polynomial has odd degree`, `got ${degree} with odd: true`);
  }
  const k = opts.babyStep ?? chooseBabyStep(degree, odd);
  if (!isBabyStep(k)) throw new ApproxError(`babyStep ${k} must be a power of two ≥ 2`, 'use a power of two ≥ 2 (or leave babyStep unset)');
  const pc = planCost(genericMask(degree, odd), k);
  const mc = mapCost(opts.interval);
  return { ...pc, depth: pc.depth + mc.depth, constMults: pc.constMults + mc.constMults };
}

/** Cost of `evalQuadratic`: depth 1 when the leading coefficient is 1 (or an integer), else 2. */
export function quadraticCost(leadingIsInteger: boolean): CostBreakdown {
  return leadingIsInteger
    ? { depth: 1, ctMults: 1, constMults: 1, adds: 1 }
    : { depth: 2, ctMults: 1, constMults: 1, adds: 0 };
}

/** Options of {@link compositeCost}. */
export interface CompositeCostOptions {
  /** The caller already divided the input by inputScale·R_1 in a previous linear layer. */
  inputFolded?: boolean;
  /** Add the final ReLU product x·(1 + p)/2 (one level, one ct×ct product). */
  relu?: boolean;
  /** max(a, b) = b + ReLU(a − b): ReLU plus one subtraction and one addition. */
  max?: boolean;
}

/**
 * Cost of `evalComposite` / `evalCompositeRelu` / `evalCompositeMax`: the sum over components
 * (depth Σ ⌈log2(d_i + 1)⌉), plus the input scaling (one level unless folded or the factor is an
 * integer), plus the ReLU product. A list of degrees is treated as odd components with a
 * non-foldable input scale.
 */
export function compositeCost(cp: CompositePoly | readonly number[], opts: CompositeCostOptions = {}): CostBreakdown {
  const total: CostBreakdown = { depth: 0, ctMults: 0, constMults: 0, adds: 0 };
  const parts: { degree: number; odd: boolean }[] = [];
  let inputFactor = NaN;
  if (Array.isArray(cp)) {
    for (const d of cp as readonly number[]) parts.push({ degree: d, odd: d % 2 === 1 });
  } else {
    const c = cp as CompositePoly;
    for (const comp of c.components) {
      const ch = componentToChebyshev(comp);
      parts.push({ degree: componentDegree(comp), odd: isOddComponent({ basis: 'chebyshev', coeffs: ch.coeffs }) });
    }
    const r1 = c.components.length > 0 ? componentToChebyshev(c.components[0]!).range : 1;
    inputFactor = 1 / (c.inputScale * r1);
  }
  if (!opts.inputFolded && !(Number.isInteger(inputFactor) && Math.abs(inputFactor) <= 2 ** 20)) {
    total.depth += 1;
    total.constMults += 1;
  }
  for (const p of parts) {
    const c = cost(p.degree, { odd: p.odd });
    total.depth += c.depth;
    total.ctMults += c.ctMults;
    total.constMults += c.constMults;
    total.adds += c.adds;
  }
  if (opts.relu || opts.max) {
    total.depth += 1;
    total.ctMults += 1;
  }
  if (opts.max) total.adds += 2;
  return total;
}

/** Weights turning a {@link CostBreakdown} into one latency-like number (OLA's t_l(d)). */
export interface CostWeights {
  ctMult?: number;
  constMult?: number;
  add?: number;
  depth?: number;
}

/**
 * Scalar cost: Σ weight·count. Default weights {ctMult: 1, depth: 1, constMult: 0, add: 0}:
 * relinearisations dominate CKKS latency, and each level consumed costs roughly one more unit of
 * bootstrapping/modulus budget. Callers with measured timings should pass their own weights or a
 * cost function to OLA.
 */
export function scalarCost(c: CostBreakdown, w: CostWeights = {}): number {
  return (
    (w.ctMult ?? 1) * c.ctMults + (w.depth ?? 1) * c.depth + (w.constMult ?? 0) * c.constMults + (w.add ?? 0) * c.adds
  );
}
