/**
 * @module approx/fit/remez
 *
 * Remez exchange algorithm for minimax polynomial approximation (digest §5.3, §6 item 10):
 * - {@link remez}: best uniform approximation of a continuous f on [a, b] by a degree-d polynomial,
 *   returned as a Chebyshev series; at convergence the error equioscillates at d + 2 points.
 * - {@link remezSign}: best odd approximation of sign(x) on [−1, −ε] ∪ [ε, 1] (the building block of
 *   Lee et al.'s composite minimax sign, `sign.ts`). By oddness this is the one-sided problem
 *   "approximate 1 on [ε, 1] by Σ_j a_j T_{2j+1}(x)", with (d+1)/2 unknowns and (d+3)/2 reference points.
 *
 * Both are instances of one exchange loop over a Haar system {φ_j} on [lo, hi]:
 *  1. solve Σ_j c_j φ_j(x_k) + (−1)^k h = f(x_k) on the reference x_0 < … < x_n;
 *  2. locate the extrema of e = f − p: the error is sampled on a dense Chebyshev-spaced grid merged
 *     with the reference, split into runs of constant sign, and each run's maximum of |e| is refined
 *     by golden-section search (so the new reference alternates in sign by construction);
 *  3. keep n + 1 alternating extrema (dropping the smaller end point while there are too many: this
 *     never drops the global maximum), stop when (max|e_k| − min|e_k|)/max|e_k| < tolerance, or when
 *     the gap is below the float64 noise floor (~4e-16·n·max|f|; then the minimax error itself is
 *     close to rounding level and cannot be levelled further).
 * The loop is bounded by `maxIterations`; exceeding it throws {@link ConvergenceError} with the last
 * iterate attached — it never hangs.
 */

import { chebBasis, checkInterval, fromUnit, type Interval } from './chebyshev.js';
import { ApproxError, ConvergenceError } from '../errors.js';
import { solveSquare } from './linalg.js';

/** Options of the Remez algorithms. */
export interface RemezOptions {
  /** Iteration bound. Default 100. */
  maxIterations?: number;
  /** Relative levelling tolerance (max|e_k| − min|e_k|)/max|e_k| at the reference. Default 1e-10. */
  tolerance?: number;
  /** Number of grid points used to locate extrema. Default max(4000, 64·(n + 1)). */
  gridSize?: number;
}

/** Result of {@link remez}. */
export interface RemezResult {
  /** Chebyshev coefficients on `interval` (p(x) = Σ c_j T_j(t(x))). */
  coeffs: Float64Array;
  interval: Interval;
  degree: number;
  /** Measured max |f − p| over the search grid and refined extrema (the minimax error). */
  error: number;
  /** |h| of the last reference system (≤ error; equal at convergence). */
  levelledError: number;
  /** The d + 2 reference points (increasing). */
  reference: Float64Array;
  /** Signed errors f − p at the reference points (alternating in sign). */
  referenceErrors: Float64Array;
  iterations: number;
}

/** Result of {@link remezSign}. */
export interface RemezSignResult {
  /** Chebyshev coefficients on [−1, 1]; only odd entries are non-zero. */
  coeffs: Float64Array;
  epsilon: number;
  degree: number;
  /** max |sign(x) − p(x)| over [−1, −ε] ∪ [ε, 1]. */
  error: number;
  levelledError: number;
  /** The (d + 3)/2 positive reference points in [ε, 1]. */
  reference: Float64Array;
  /** Signed errors 1 − p at the reference points. */
  referenceErrors: Float64Array;
  iterations: number;
}

interface CoreProblem {
  lo: number;
  hi: number;
  nBasis: number;
  basis: (x: number, out: Float64Array) => void;
  target: (x: number) => number;
  grid: Float64Array;
  reference: Float64Array;
  maxIterations: number;
  tolerance: number;
  what: string;
}

interface CoreResult {
  c: Float64Array;
  h: number;
  error: number;
  reference: Float64Array;
  referenceErrors: Float64Array;
  iterations: number;
}

/**
 * Minimax approximation of a continuous f on [a, b] by a polynomial of degree `degree`.
 * @throws ConvergenceError (with `partial: RemezResult`) when the levelling gap stays above
 *   `tolerance` after `maxIterations` iterations — typical for non-smooth f at high degree; raise
 *   maxIterations / tolerance, or use least squares instead.
 */
export function remez(
  f: (x: number) => number,
  degree: number,
  interval: Interval,
  opts: RemezOptions = {},
): RemezResult {
  checkInterval(interval);
  if (!Number.isInteger(degree) || degree < 0 || degree > 256) {
    throw new ApproxError(`Remez degree ${degree} is invalid`, `use an integer in [0, 256]`);
  }
  const n = degree + 1;
  const m = opts.gridSize ?? Math.max(4000, 64 * (n + 1));
  const grid = new Float64Array(m + 1);
  for (let j = 0; j <= m; j++) grid[j] = -Math.cos((Math.PI * j) / m);
  const ref = new Float64Array(n + 1);
  for (let k = 0; k <= n; k++) ref[k] = -Math.cos((Math.PI * k) / n);
  const tb = new Float64Array(n);
  const r = runCore(
    {
      lo: -1,
      hi: 1,
      nBasis: n,
      basis: (t, out) => {
        chebBasis(t, tb);
        out.set(tb);
      },
      target: (t) => f(fromUnit(t, interval)),
      grid,
      reference: ref,
      maxIterations: opts.maxIterations ?? 100,
      tolerance: opts.tolerance ?? 1e-10,
      what: `Remez (degree ${degree} on [${interval[0]}, ${interval[1]}])`,
    },
    (core) => toResult(core),
  );
  return toResult(r);

  function toResult(core: CoreResult): RemezResult {
    const reference = core.reference.map((t) => fromUnit(t, interval));
    return {
      coeffs: core.c,
      interval,
      degree,
      error: core.error,
      levelledError: Math.abs(core.h),
      reference,
      referenceErrors: core.referenceErrors,
      iterations: core.iterations,
    };
  }
}

/**
 * Best odd approximation of sign(x) of odd degree `degree` on [−1, −ε] ∪ [ε, 1] (0 < ε < 1).
 * @throws ConvergenceError (with `partial: RemezSignResult`) when not converged.
 */
export function remezSign(epsilon: number, degree: number, opts: RemezOptions = {}): RemezSignResult {
  if (!(epsilon > 0 && epsilon < 1)) {
    throw new ApproxError(`sign approximation needs 0 < ε < 1, got ${epsilon}`, 'use ε in (0, 1)');
  }
  if (!Number.isInteger(degree) || degree < 1 || degree % 2 === 0 || degree > 255) {
    throw new ApproxError(`sign approximation degree must be an odd integer in [1, 255], got ${degree}`, 'use an odd degree in [1, 255]');
  }
  const n = (degree + 1) / 2;
  const m = opts.gridSize ?? Math.max(4000, 64 * (n + 1));
  // Grid clustered at both ends of [ε, 1] in the variable x² (the error of an odd polynomial
  // x·h(x²) varies on the scale of ε near ε).
  const grid = new Float64Array(m + 1);
  for (let j = 0; j <= m; j++) grid[j] = sqMap(epsilon, 0.5 - 0.5 * Math.cos((Math.PI * j) / m));
  const ref = new Float64Array(n + 1);
  for (let k = 0; k <= n; k++) ref[k] = sqMap(epsilon, 0.5 - 0.5 * Math.cos((Math.PI * k) / n));
  const tb = new Float64Array(degree + 1);
  const r = runCore(
    {
      lo: epsilon,
      hi: 1,
      nBasis: n,
      basis: (x, out) => {
        chebBasis(x, tb);
        for (let j = 0; j < n; j++) out[j] = tb[2 * j + 1]!;
      },
      target: () => 1,
      grid,
      reference: ref,
      maxIterations: opts.maxIterations ?? 100,
      tolerance: opts.tolerance ?? 1e-10,
      what: `Remez sign (degree ${degree}, ε = ${epsilon})`,
    },
    (core) => toResult(core),
  );
  return toResult(r);

  function toResult(core: CoreResult): RemezSignResult {
    const coeffs = new Float64Array(degree + 1);
    for (let j = 0; j < n; j++) coeffs[2 * j + 1] = core.c[j]!;
    return {
      coeffs,
      epsilon,
      degree,
      error: core.error,
      levelledError: Math.abs(core.h),
      reference: core.reference,
      referenceErrors: core.referenceErrors,
      iterations: core.iterations,
    };
  }
}

/** Map u ∈ [0, 1] to x ∈ [ε, 1] uniformly in x². */
function sqMap(eps: number, u: number): number {
  return Math.sqrt(eps * eps + (1 - eps * eps) * u);
}

function runCore<R>(p: CoreProblem, partial: (c: CoreResult) => R): CoreResult {
  const n = p.nBasis;
  const nr = n + 1;
  let ref: Float64Array = Float64Array.from(p.reference);
  const phi = new Float64Array(n);
  const coeffs = new Float64Array(n);
  const evalErr = (x: number): number => {
    p.basis(x, phi);
    let s = 0;
    for (let j = 0; j < n; j++) s += coeffs[j]! * phi[j]!;
    return p.target(x) - s;
  };
  let fScale = 0;
  for (let i = 0; i < p.grid.length; i++) fScale = Math.max(fScale, Math.abs(p.target(p.grid[i]!)));
  let last: CoreResult | null = null;
  let skews = 0;
  for (let iter = 1; iter <= p.maxIterations; iter++) {
    // 1. Reference system.
    const a = new Float64Array(nr * nr);
    const rhs = new Float64Array(nr);
    for (let k = 0; k < nr; k++) {
      p.basis(ref[k]!, phi);
      for (let j = 0; j < n; j++) a[k * nr + j] = phi[j]!;
      a[k * nr + n] = k % 2 === 0 ? 1 : -1;
      rhs[k] = p.target(ref[k]!);
    }
    const sol = solveSquare(a, rhs, nr);
    for (let j = 0; j < n; j++) coeffs[j] = sol[j]!;
    const h = sol[n]!;
    // 2. Extrema of the error on grid ∪ reference.
    const pts = mergeSorted(p.grid, ref);
    const ev = new Float64Array(pts.length);
    let scale = 0;
    for (let i = 0; i < pts.length; i++) {
      ev[i] = evalErr(pts[i]!);
      scale = Math.max(scale, Math.abs(ev[i]!));
    }
    const ext = alternatingExtrema(pts, ev, evalErr, p.lo, p.hi);
    let maxErr = 0;
    for (const e of ext) maxErr = Math.max(maxErr, Math.abs(e.e));
    if (ext.length < nr) {
      // Fewer sign changes than unknowns: f is (numerically) in the span, error is at noise level.
      if (scale <= 1e-14 * Math.max(1, fScale)) {
        return {
          c: Float64Array.from(coeffs),
          h,
          error: maxErr,
          reference: ref,
          referenceErrors: evalAt(ref, evalErr),
          iterations: iter,
        };
      }
      if (skews < 4) {
        // Degenerate reference, typically h = 0 for an even target with an even degree on a
        // symmetric reference (the best approximation of degree 2k is then also of degree 2k+1 and
        // equioscillates at more points). Break the symmetry and retry.
        skews++;
        ref = skewReference(ref, p.lo, p.hi, 0.03 * skews);
        continue;
      }
      throw new ConvergenceError(
        `${p.what}: the error has only ${ext.length} sign-alternating extrema, ${nr} needed (the search grid is too coarse for this problem)`,
        'raise gridSize',
        partial({
          c: Float64Array.from(coeffs),
          h,
          error: maxErr,
          reference: ref,
          referenceErrors: evalAt(ref, evalErr),
          iterations: iter,
        }),
      );
    }
    // 3. Exchange: trim to nr points, keeping the global maximum.
    while (ext.length > nr) {
      if (Math.abs(ext[0]!.e) < Math.abs(ext[ext.length - 1]!.e)) ext.shift();
      else ext.pop();
    }
    ref = Float64Array.from(ext.map((e) => e.x));
    let mn = Infinity;
    let mx = 0;
    for (const e of ext) {
      mn = Math.min(mn, Math.abs(e.e));
      mx = Math.max(mx, Math.abs(e.e));
    }
    last = {
      c: Float64Array.from(coeffs),
      h,
      error: mx,
      reference: ref,
      referenceErrors: Float64Array.from(ext.map((e) => e.e)),
      iterations: iter,
    };
    // Rounding noise floor: when the minimax error approaches float64 resolution of the target,
    // levelling cannot improve further and the gap is noise.
    const noise = 4e-16 * n * Math.max(fScale, scale);
    if (mx === 0 || mx - mn <= p.tolerance * mx + noise) {
      // Converged. The coefficients are this iteration's; `reference` holds the extrema of their
      // own error, so the reported errors are true errors of the returned polynomial.
      return last;
    }
  }
  const gap = last === null ? NaN : gapOf(last.referenceErrors);
  throw new ConvergenceError(
    `${p.what} did not converge in ${p.maxIterations} iterations (levelling gap ${gap.toExponential(2)} > tolerance ${p.tolerance})`,
    'raise maxIterations or tolerance, lower the degree, or use least squares for non-smooth targets',
    last === null ? undefined : partial(last),
  );
}

/** Move interior reference points towards hi by a smooth, order-preserving skew. */
function skewReference(ref: Float64Array, lo: number, hi: number, amount: number): Float64Array {
  const w = hi - lo;
  return ref.map((x) => {
    const u = (x - lo) / w;
    return lo + w * (u + amount * u * (1 - u));
  });
}

function gapOf(e: Float64Array): number {
  let mn = Infinity;
  let mx = 0;
  for (const v of e) {
    mn = Math.min(mn, Math.abs(v));
    mx = Math.max(mx, Math.abs(v));
  }
  return mx === 0 ? 0 : (mx - mn) / mx;
}

function evalAt(xs: Float64Array, f: (x: number) => number): Float64Array {
  return xs.map((x) => f(x));
}

function mergeSorted(a: Float64Array, b: Float64Array): Float64Array {
  const out = new Float64Array(a.length + b.length);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && a[i]! <= b[j]!)) out[k++] = a[i++]!;
    else out[k++] = b[j++]!;
  }
  return out;
}

/**
 * One extremum per maximal run of constant error sign, refined by golden-section search within the
 * neighbouring sample points. Exact zeros join the current run.
 */
function alternatingExtrema(
  pts: Float64Array,
  ev: Float64Array,
  f: (x: number) => number,
  lo: number,
  hi: number,
): { x: number; e: number }[] {
  const out: { x: number; e: number }[] = [];
  let i = 0;
  const n = pts.length;
  while (i < n) {
    let s = Math.sign(ev[i]!);
    let j = i;
    let best = i;
    while (j < n) {
      const sj = Math.sign(ev[j]!);
      if (s === 0) s = sj;
      else if (sj !== 0 && sj !== s) break;
      if (Math.abs(ev[j]!) > Math.abs(ev[best]!)) best = j;
      j++;
    }
    if (s !== 0) {
      const a = best > 0 ? pts[best - 1]! : lo;
      const b = best < n - 1 ? pts[best + 1]! : hi;
      const r = refine(f, a, b, pts[best]!, ev[best]!, s);
      out.push(r);
    }
    i = j;
  }
  return out;
}

/** Golden-section maximisation of s·f on [a, b], never returning worse than the starting sample. */
function refine(
  f: (x: number) => number,
  a: number,
  b: number,
  x0: number,
  e0: number,
  s: number,
): { x: number; e: number } {
  let bestX = x0;
  let bestE = e0;
  if (!(b > a)) return { x: bestX, e: bestE };
  const g = 0.6180339887498949;
  let lo = a;
  let hi = b;
  let x1 = hi - g * (hi - lo);
  let x2 = lo + g * (hi - lo);
  let f1 = s * f(x1);
  let f2 = s * f(x2);
  for (let it = 0; it < 40 && hi - lo > 1e-15 * Math.max(1, Math.abs(hi)); it++) {
    if (f1 > f2) {
      hi = x2;
      x2 = x1;
      f2 = f1;
      x1 = hi - g * (hi - lo);
      f1 = s * f(x1);
    } else {
      lo = x1;
      x1 = x2;
      f1 = f2;
      x2 = lo + g * (hi - lo);
      f2 = s * f(x2);
    }
  }
  const cands: [number, number][] = [
    [x1, f1],
    [x2, f2],
  ];
  for (const [x, v] of cands) {
    if (v > s * bestE) {
      bestX = x;
      bestE = s * v;
    }
  }
  return { x: bestX, e: bestE };
}

/** Evaluate a {@link remezSign} result at x ∈ [−1, 1]. */
export function evalSignResult(r: RemezSignResult, x: number): number {
  const tb = new Float64Array(r.degree + 1);
  chebBasis(x, tb);
  let s = 0;
  for (let j = 1; j <= r.degree; j += 2) s += r.coeffs[j]! * tb[j]!;
  return s;
}
