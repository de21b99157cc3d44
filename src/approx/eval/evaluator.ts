/**
 * @module approx/eval/evaluator
 *
 * Depth-optimal evaluation of Chebyshev series, composites, ReLU/max and quadratics over any
 * {@link PolyBackend} (digest §6 item 9: "guarantee depth ⌈log2(d+1)⌉"; §1.3 odd BSGS; §2.4
 * quadratic fast path). Written once, generically: the CKKS engine plugs in a ciphertext backend,
 * `counting.ts` a float64 backend that counts operations.
 *
 * Why not plain baby-step giant-step: under the level model of `backend.ts`, multiplying by a
 * non-integer constant costs a level, so BSGS (baby polynomials Σ c_j T_j at depth log2 k + 1,
 * then log2(d/k) giant levels) ends one level above the optimum ⌈log2(d + 1)⌉.
 *
 * Algorithm (input t ∈ [−1, 1], T_1 = t, target depth m = ⌈log2(d + 1)⌉):
 * - Chebyshev long division by T_N (from T_a·T_b = (T_{a+b} + T_{|a−b|})/2): p = q·T_N + r with
 *   q_0 = c_N, q_j = 2·c_{N+j} (j ≥ 1), r_0 = c_0, r_i = c_i − c_{2N−i} (1 ≤ i < N), deg r < N.
 * - EXACT(p, D), deg p ≤ 2^D − 1, must finish at depth ≤ D:
 *     deg p < 2^{D−1} → SLACK(p) (it has a spare level);
 *     deg p = 1       → leaf c_1·T_1 + c_0 (one `linear`, depth 1);
 *     otherwise       → N = 2^{D−1}: EXACT(q, D−1)·T_N + SLACK(r). This is the "spine": q must
 *                       meet depth D−1 exactly and is split again; T_N sits at depth D−1.
 * - SLACK(p), deg p < 2^j, may use depth j + 1 (one more than the minimum): baby-step giant-step
 *   with baby size k: deg p < k → leaf Σ c_i T_i + c_0 in one `linear` (depth ⌈log2 deg⌉ + 1);
 *   else N = largest power of two ≤ deg: SLACK(q)·T_N + SLACK(r).
 *   Induction: SLACK of degree < 2^j ends at depth ≤ j + 1, so every remainder of the spine fits.
 * - T_i is built lazily at depth ⌈log2 i⌉ as T_i = 2·T_a·T_b − T_{a−b}, a = 2^{⌈log2 i⌉−1}, b = i − a
 *   (one ct×ct product each); baby steps are the T_i < k that leaves use, giant steps the T_{2^j}.
 * - k is chosen per degree by the cost model (`cost.ts::chooseBabyStep`), which walks the same plan
 *   symbolically. Odd polynomials need no special code: their zero coefficients stay zero through
 *   the division, leaves then only touch odd T_i, and odd T_i's recipes only involve odd T's and
 *   powers of two; only k's choice differs.
 * ct×ct products (generic coefficients; `cost()`): degree 3 → 2, 7 → 5, 15 → 8, 31 → 13, 63 → 18;
 * odd: 3 → 2, 7 → 5, 15 → 8, 31 → 12, 63 → 17.
 *
 * Input map: `evalChebyshev(…, {interval: [a, b]})` computes T_1 = (2x − a − b)/(b − a) with one
 * `linear` (one level) — free when 2/(b − a) is an integer. Callers who fold the map into a previous
 * linear layer pass interval [−1, 1] (the default).
 */

import {
  type Coef,
  coefAdd,
  coefEquals,
  coefIntValue,
  coefIsInteger,
  coefIsZero,
  coefScale,
  coefSub,
  type PolyBackend,
} from './backend.js';
import { checkInterval, type Interval, unitMap } from '../fit/chebyshev.js';
import { type CompositePoly, componentToChebyshev } from '../composite.js';
import { chebDepth, chebRecipe, chooseBabyStep, isBabyStep, polyDepth } from './cost.js';
import { ApproxError, InsufficientLevelsError } from '../errors.js';

/** Options of {@link evalChebyshev}. */
export interface ChebEvalOptions {
  /** Interval of the series; [−1, 1] (default) means the input is already mapped. */
  interval?: Interval;
  /** Baby-step size (power of two ≥ 2). Default: chosen by the cost model. */
  babyStep?: number;
  /**
   * Treat as odd for the baby-step choice. Default: detected (every even coefficient c_j, j ≥ 2,
   * exactly 0; a constant term is allowed and costs nothing).
   */
  odd?: boolean;
}

/** A value during evaluation: a backend ciphertext, or a plaintext constant. */
type Val<T> = { ct: T } | { c: Coef };

class Ctx<T> {
  private readonly cache = new Map<number, T>();
  constructor(
    readonly b: PolyBackend<T>,
    t1: T,
    readonly k: number,
  ) {
    this.cache.set(1, t1);
  }

  /** T_i at depth ⌈log2 i⌉ (lazily, memoised). */
  t(i: number): T {
    const hit = this.cache.get(i);
    if (hit !== undefined) return hit;
    const { a, b, c } = chebRecipe(i);
    const prod = this.b.mulInt(this.b.mul(this.t(a), this.t(b)), 2);
    const out = c === 0 ? this.b.addConst(prod, -1) : this.b.sub(prod, this.t(c));
    this.cache.set(i, out);
    return out;
  }

  leaf(c: Coef[]): Val<T> {
    const xs: T[] = [];
    const cs: Coef[] = [];
    for (let j = 1; j < c.length; j++) {
      if (coefIsZero(c[j]!)) continue;
      xs.push(this.t(j));
      cs.push(c[j]!);
    }
    if (xs.length === 0) return { c: c[0] ?? 0 };
    return { ct: this.b.linear(xs, cs, c[0] ?? 0) };
  }

  mulT(q: Val<T>, n: number): Val<T> {
    if ('c' in q) {
      if (coefIsZero(q.c)) return { c: 0 };
      return { ct: this.b.linear([this.t(n)], [q.c], 0) };
    }
    return { ct: this.b.mul(q.ct, this.t(n)) };
  }

  add(x: Val<T>, y: Val<T>): Val<T> {
    if ('ct' in x && 'ct' in y) return { ct: this.b.add(x.ct, y.ct) };
    if ('ct' in x) return coefIsZero((y as { c: Coef }).c) ? x : { ct: this.b.addConst(x.ct, (y as { c: Coef }).c) };
    if ('ct' in y) return this.add(y, x);
    return { c: coefAdd(x.c, y.c) };
  }

  slack(c: Coef[]): Val<T> {
    const n = degreeOf(c);
    if (n <= 0) return { c: n === 0 ? c[0]! : 0 };
    if (n < this.k) return this.leaf(c.slice(0, n + 1));
    const split = 2 ** (chebDepth(n + 1) - 1);
    const { q, r } = chebDivide(c.slice(0, n + 1), split);
    return this.add(this.mulT(this.slack(q), split), this.slack(r));
  }

  exact(c: Coef[], d: number): Val<T> {
    const n = degreeOf(c);
    if (n <= 0) return { c: n === 0 ? c[0]! : 0 };
    if (n < 2 ** (d - 1)) return this.slack(c);
    if (n === 1) return this.leaf(c.slice(0, 2));
    const split = 2 ** (d - 1);
    const { q, r } = chebDivide(c.slice(0, n + 1), split);
    return this.add(this.mulT(this.exact(q, d - 1), split), this.slack(r));
  }
}

function degreeOf(c: Coef[]): number {
  for (let i = c.length - 1; i >= 0; i--) if (!coefIsZero(c[i]!)) return i;
  return -1;
}

/**
 * Chebyshev long division p = q·T_n + r for deg p < 2n (T_a·T_b = (T_{a+b} + T_{|a−b|})/2):
 * q_0 = c_n, q_j = 2c_{n+j}; r_0 = c_0, r_i = c_i − c_{2n−i}. Per-slot coefficients are divided slot-wise.
 */
export function chebDivide(c: readonly Coef[], n: number): { q: Coef[]; r: Coef[] } {
  const deg = c.length - 1;
  if (deg >= 2 * n) {
    throw new ApproxError(`chebDivide needs degree < 2·${n}, got ${deg}`, `split by a larger T_n`);
  }
  const q: Coef[] = [];
  for (let j = 0; j <= deg - n; j++) q.push(j === 0 ? c[n]! : coefScale(c[n + j]!, 2));
  const r: Coef[] = [];
  for (let i = 0; i < n; i++) {
    const other = i >= 1 && 2 * n - i <= deg ? c[2 * n - i]! : 0;
    r.push(coefIsZero(other) ? c[i]! : coefSub(c[i]!, other));
  }
  return { q: trimCoefs(q), r: trimCoefs(r) };
}

function trimCoefs(c: Coef[]): Coef[] {
  let n = c.length - 1;
  while (n > 0 && coefIsZero(c[n]!)) n--;
  return c.slice(0, n + 1);
}

function toCoefs(coeffs: ArrayLike<number> | readonly Coef[]): Coef[] {
  const out: Coef[] = [];
  for (let i = 0; i < coeffs.length; i++) {
    const v = coeffs[i] as Coef;
    if (typeof v === 'number' && !Number.isFinite(v)) {
      throw new ApproxError(`coefficient ${i} is ${v}`, `coefficients must be finite`);
    }
    out.push(v);
  }
  return out;
}

/**
 * "Odd" for planning purposes: no even T_j with j ≥ 2. The constant term is allowed — it rides for
 * free in `linear`/`addConst` — so an odd sign component keeps its plan after (1 + p)/2 is folded in.
 */
function isOddCoefs(c: Coef[]): boolean {
  for (let i = 2; i < c.length; i += 2) if (!coefIsZero(c[i]!)) return false;
  return true;
}

/** T_1: x mapped from `interval` to [−1, 1] (one level unless the scale is an integer). */
function mapInput<T>(b: PolyBackend<T>, x: T, interval: Interval | undefined): T {
  if (interval === undefined) return x;
  const { scale, shift } = unitMap(checkInterval(interval));
  if (scale === 1 && shift === 0) return x;
  if (coefIsInteger(scale)) {
    const y = scale === 1 ? x : b.mulInt(x, scale);
    return shift === 0 ? y : b.addConst(y, shift);
  }
  return b.linear([x], [scale], shift);
}

function mapLevels(interval: Interval | undefined): number {
  if (interval === undefined) return 0;
  const { scale } = unitMap(interval);
  return coefIsInteger(scale) ? 0 : 1;
}

/** A ciphertext holding the constant c (no level): 0·x + c. */
function constantCt<T>(b: PolyBackend<T>, x: T, c: Coef): T {
  const z = b.mulInt(x, 0);
  return coefIsZero(c) ? z : b.addConst(z, c);
}

/**
 * Evaluate Σ_j coeffs[j]·T_j(t(x)) on `interval` at depth exactly ⌈log2(d + 1)⌉ (+1 for a
 * non-integer input map), d = index of the last non-zero coefficient.
 *
 * @param coeffs Chebyshev coefficients (numbers, or per-slot `Float64Array`s — one polynomial per slot).
 * @throws InsufficientLevelsError when `backend.level(x)` is below the depth needed (checked
 *   before any operation).
 */
export function evalChebyshev<T>(
  backend: PolyBackend<T>,
  x: T,
  coeffs: ArrayLike<number> | readonly Coef[],
  opts: ChebEvalOptions = {},
): T {
  const c = toCoefs(coeffs);
  const n = degreeOf(c);
  const extra = mapLevels(opts.interval);
  const needed = polyDepth(Math.max(0, n)) + (n >= 1 ? extra : 0);
  const have = backend.level(x);
  if (have < needed) throw new InsufficientLevelsError(needed, have, `degree-${n} Chebyshev evaluation`);
  if (n <= 0) return constantCt(backend, x, n === 0 ? c[0]! : 0);
  const odd = opts.odd ?? isOddCoefs(c);
  if (odd && !isOddCoefs(c)) {
    throw new ApproxError(`odd: true was passed but an even Chebyshev coefficient c_j (j ≥ 2) is non-zero`, `drop the option`);
  }
  const k = opts.babyStep ?? chooseBabyStep(n, odd);
  if (!isBabyStep(k)) throw new ApproxError(`babyStep ${k} must be a power of two ≥ 2`, 'use a power of two ≥ 2 (or leave babyStep unset)');
  const t1 = mapInput(backend, x, opts.interval);
  const ctx = new Ctx(backend, t1, k);
  const v = ctx.exact(c.slice(0, n + 1), polyDepth(n));
  return 'ct' in v ? v.ct : constantCt(backend, x, v.c);
}

/**
 * Evaluate c2·x² + c1·x + c0 (coefficients scalar or per slot).
 * - c2 = 1 (after PAPER weight redistribution) or an integer: x² (ct×ct) and c1·x + c0 (`linear`)
 *   in parallel, then one addition: depth 1.
 * - otherwise: (c2·x + c1)·x + c0 — one `linear`, one ct×ct product: depth 2 (a constant factor on
 *   x² costs its own level under this level model, so depth 1 is impossible).
 * @throws InsufficientLevelsError when fewer levels are left than the path needs.
 */
export function evalQuadratic<T>(backend: PolyBackend<T>, x: T, c2: Coef, c1: Coef, c0: Coef): T {
  const fast = coefIsInteger(c2);
  const needed = coefIsZero(c2) ? (coefIsZero(c1) ? 0 : 1) : fast ? 1 : 2;
  const have = backend.level(x);
  if (have < needed) throw new InsufficientLevelsError(needed, have, 'quadratic evaluation');
  if (coefIsZero(c2)) {
    if (coefIsZero(c1)) return constantCt(backend, x, c0);
    return backend.linear([x], [c1], c0);
  }
  if (fast) {
    let sq = backend.mul(x, x);
    if (!coefEquals(c2, 1)) sq = backend.mulInt(sq, coefIntValue(c2));
    if (coefIsZero(c1)) return coefIsZero(c0) ? sq : backend.addConst(sq, c0);
    return backend.add(sq, backend.linear([x], [c1], c0));
  }
  const u = backend.linear([x], [c2], c1);
  const v = backend.mul(u, x);
  return coefIsZero(c0) ? v : backend.addConst(v, c0);
}

/** Options of the composite evaluators. */
export interface CompositeEvalOptions {
  /**
   * The caller already divided the input by inputScale·R_1 (`compositeInputFactor`) in a previous
   * linear layer, so no level is spent on it. ReLU and max are positively homogeneous, so the
   * results are then ReLU(x)·factor and max(a, b)·factor.
   */
  inputFolded?: boolean;
}

/** The factor 1/(inputScale·R_1) the composite multiplies its input by (to fold into a previous layer). */
export function compositeInputFactor(cp: CompositePoly): number {
  if (cp.components.length === 0) return 1 / cp.inputScale;
  return 1 / (cp.inputScale * componentToChebyshev(cp.components[0]!).range);
}

/** Levels consumed by a composite (input map + Σ ⌈log2(d_i + 1)⌉). */
export function compositeDepth(cp: CompositePoly, opts: CompositeEvalOptions = {}): number {
  const parts = prepareComposite(cp, undefined);
  const f = compositeInputFactor(cp);
  let d = opts.inputFolded || coefIsInteger(f) ? 0 : 1;
  for (const p of parts) d += polyDepth(Math.max(0, degreeOf(toCoefs(p))));
  return d;
}

/**
 * Chebyshev coefficient vectors of each component with the next component's 1/R folded in, and
 * the optional output affine map (scale, shift) folded into the last one.
 */
function prepareComposite(cp: CompositePoly, out: { scale: number; shift: number } | undefined): Float64Array[] {
  if (cp.components.length === 0) throw new ApproxError(`composite has no components`, `add at least one`);
  const cheb = cp.components.map((c) => componentToChebyshev(c));
  return cheb.map((c, i) => {
    const coeffs = Float64Array.from(c.coeffs);
    const next = i + 1 < cheb.length ? 1 / cheb[i + 1]!.range : 1;
    for (let j = 0; j < coeffs.length; j++) coeffs[j] = coeffs[j]! * next;
    if (i === cheb.length - 1 && out !== undefined) {
      for (let j = 0; j < coeffs.length; j++) coeffs[j] = coeffs[j]! * out.scale;
      coeffs[0] = coeffs[0]! + out.shift;
    }
    return coeffs;
  });
}

function runComposite<T>(
  backend: PolyBackend<T>,
  x: T,
  cp: CompositePoly,
  opts: CompositeEvalOptions,
  out: { scale: number; shift: number } | undefined,
  extraLevels: number,
  what: string,
): T {
  const parts = prepareComposite(cp, out);
  const needed = compositeDepth(cp, opts) + extraLevels;
  const have = backend.level(x);
  if (have < needed) throw new InsufficientLevelsError(needed, have, what);
  let u = x;
  if (!opts.inputFolded) {
    const f = compositeInputFactor(cp);
    if (coefIsInteger(f)) u = f === 1 ? x : backend.mulInt(x, f);
    else u = backend.linear([x], [f], 0);
  }
  for (const p of parts) u = evalChebyshev(backend, u, p);
  return u;
}

/**
 * Evaluate a composite sign approximation p_k(…p_1(x/s)…) part by part: depth = input map (1 unless
 * folded) + Σ_i ⌈log2(d_i + 1)⌉. Each component runs on [−R_i, R_i] mapped to [−1, 1] for free:
 * the 1/R_{i+1} factor is folded into component i's coefficients.
 */
export function evalComposite<T>(
  backend: PolyBackend<T>,
  x: T,
  cp: CompositePoly,
  opts: CompositeEvalOptions = {},
): T {
  return runComposite(backend, x, cp, opts, undefined, 0, 'composite evaluation');
}

/**
 * ReLU(x) ≈ x·(1 + p(x/s))/2: the (1 + ·)/2 is folded into the last component, then one ct×ct
 * product. Depth = compositeDepth + 1.
 */
export function evalCompositeRelu<T>(
  backend: PolyBackend<T>,
  x: T,
  cp: CompositePoly,
  opts: CompositeEvalOptions = {},
): T {
  const h = runComposite(backend, x, cp, opts, { scale: 0.5, shift: 0.5 }, 1, 'composite ReLU');
  return backend.mul(x, h);
}

/**
 * max(a, b) ≈ b + (a − b)·(1 + p((a − b)/s))/2 (= ((a + b) + (a − b)·p)/2 without the level a
 * halving would cost). Depth = compositeDepth + 1.
 */
export function evalCompositeMax<T>(
  backend: PolyBackend<T>,
  a: T,
  b: T,
  cp: CompositePoly,
  opts: CompositeEvalOptions = {},
): T {
  const d = backend.sub(a, b);
  const h = runComposite(backend, d, cp, opts, { scale: 0.5, shift: 0.5 }, 1, 'composite max');
  return backend.add(b, backend.mul(d, h));
}
