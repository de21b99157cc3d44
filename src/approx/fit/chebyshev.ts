/**
 * @module approx/fit/chebyshev
 *
 * Chebyshev series on an interval [a, b] (digest §6 items 9b and 10): interpolation at Chebyshev
 * nodes, Clenshaw evaluation, conversion to and from the power basis, the affine map x → [−1, 1],
 * and least squares on a dense uniform grid.
 *
 * Convention everywhere in `src/approx`: a Chebyshev coefficient vector `c` (a `Float64Array`,
 * `c[j]` multiplies T_j) together with an interval [a, b] denotes
 *   p(x) = Σ_j c[j] · T_j(t),   t = (2x − a − b) / (b − a) ∈ [−1, 1].
 * The Chebyshev basis is used because it is well conditioned on the interval (|T_j| ≤ 1); the power
 * basis is only produced for small degrees or for display, since its coefficients grow like 2^d.
 */

import { ApproxError } from '../errors.js';
import { leastSquares } from './linalg.js';

/** A closed interval [lo, hi] with lo < hi. */
export type Interval = readonly [number, number];

/** The standard interval [−1, 1]. */
export const UNIT_INTERVAL: Interval = [-1, 1];

/** Validate an interval and return it. */
export function checkInterval(interval: Interval): Interval {
  const [a, b] = interval;
  if (!(Number.isFinite(a) && Number.isFinite(b) && a < b)) {
    throw new ApproxError(`interval [${a}, ${b}] is invalid`, `pass finite bounds with lo < hi`);
  }
  return interval;
}

/**
 * The affine map t = scale·x + shift sending [a, b] onto [−1, 1].
 * scale = 2/(b − a), shift = −(a + b)/(b − a).
 */
export function unitMap(interval: Interval): { scale: number; shift: number } {
  const [a, b] = checkInterval(interval);
  return { scale: 2 / (b - a), shift: -(a + b) / (b - a) };
}

/** Map x ∈ [a, b] to t ∈ [−1, 1]. */
export function toUnit(x: number, interval: Interval): number {
  const [a, b] = interval;
  return (2 * x - a - b) / (b - a);
}

/** Map t ∈ [−1, 1] back to x ∈ [a, b]. */
export function fromUnit(t: number, interval: Interval): number {
  const [a, b] = interval;
  return 0.5 * (a + b) + 0.5 * (b - a) * t;
}

/** The n Chebyshev nodes of the first kind mapped to [a, b] (n = degree + 1), in increasing order. */
export function chebyshevNodes(degree: number, interval: Interval = UNIT_INTERVAL): Float64Array {
  checkDegree(degree);
  const n = degree + 1;
  const out = new Float64Array(n);
  for (let k = 0; k < n; k++) out[k] = fromUnit(-Math.cos((Math.PI * (k + 0.5)) / n), interval);
  return out;
}

/**
 * Interpolate f at the degree+1 Chebyshev nodes of [a, b] (discrete cosine transform).
 * For f analytic in a Bernstein ellipse the error decays geometrically; for f with d+1 continuous
 * derivatives, ‖f − p‖∞ ≤ ((b − a)/2)^{d+1} · ‖f^{(d+1)}‖∞ / (2^d (d+1)!).
 */
export function chebInterpolate(
  f: (x: number) => number,
  degree: number,
  interval: Interval = UNIT_INTERVAL,
): Float64Array {
  checkDegree(degree);
  checkInterval(interval);
  const n = degree + 1;
  const fv = new Float64Array(n);
  for (let k = 0; k < n; k++) fv[k] = f(fromUnit(Math.cos((Math.PI * (k + 0.5)) / n), interval));
  const c = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    let s = 0;
    for (let k = 0; k < n; k++) s += fv[k]! * Math.cos((Math.PI * j * (k + 0.5)) / n);
    c[j] = (2 / n) * s;
  }
  c[0] = c[0]! / 2;
  return c;
}

/** Evaluate Σ c[j] T_j(t) at t (Clenshaw's recurrence; stable for |t| ≤ 1). */
export function clenshaw(c: ArrayLike<number>, t: number): number {
  const n = c.length;
  if (n === 0) return 0;
  let b1 = 0;
  let b2 = 0;
  const t2 = 2 * t;
  for (let j = n - 1; j >= 1; j--) {
    const b0 = c[j]! + t2 * b1 - b2;
    b2 = b1;
    b1 = b0;
  }
  return c[0]! + t * b1 - b2;
}

/** Evaluate the Chebyshev series `c` on `interval` at x (maps x to [−1, 1], then Clenshaw). */
export function chebEval(c: ArrayLike<number>, x: number, interval: Interval = UNIT_INTERVAL): number {
  return clenshaw(c, toUnit(x, interval));
}

/** Evaluate a power-basis polynomial Σ p[i] x^i by Horner's rule. */
export function powerEval(p: ArrayLike<number>, x: number): number {
  let s = 0;
  for (let i = p.length - 1; i >= 0; i--) s = s * x + p[i]!;
  return s;
}

/** Fill out[j] = T_j(t) for j = 0..out.length−1 (three-term recurrence). */
export function chebBasis(t: number, out: Float64Array): Float64Array {
  const n = out.length;
  if (n > 0) out[0] = 1;
  if (n > 1) out[1] = t;
  for (let j = 2; j < n; j++) out[j] = 2 * t * out[j - 1]! - out[j - 2]!;
  return out;
}

/**
 * Convert a Chebyshev series on `interval` to power-basis coefficients in x
 * (p(x) = Σ out[i] x^i). Exact in exact arithmetic; in float64 the result loses about
 * log10(2^d) digits relative to the coefficient size, so use it for small degrees or display.
 */
export function chebToPower(c: ArrayLike<number>, interval: Interval = UNIT_INTERVAL): Float64Array {
  const n = c.length;
  if (n === 0) return new Float64Array(0);
  // Power coefficients in t: accumulate Σ c_j T_j with T_j built by T_{j+1} = 2t T_j − T_{j−1}.
  const pt = new Float64Array(n);
  let prev = new Float64Array(n);
  let cur = new Float64Array(n);
  prev[0] = 1;
  pt[0] = c[0]!;
  if (n > 1) {
    cur[1] = 1;
    pt[1] = c[1]!;
  }
  for (let j = 2; j < n; j++) {
    const next = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const up = i > 0 ? 2 * cur[i - 1]! : 0;
      next[i] = up - prev[i]!;
    }
    for (let i = 0; i < n; i++) pt[i] = pt[i]! + c[j]! * next[i]!;
    prev = cur;
    cur = next;
  }
  const { scale, shift } = unitMap(interval);
  if (scale === 1 && shift === 0) return pt;
  return composeAffine(pt, scale, shift);
}

/**
 * Convert power-basis coefficients in x to a Chebyshev series on `interval`.
 * Inverse of {@link chebToPower}.
 */
export function powerToCheb(p: ArrayLike<number>, interval: Interval = UNIT_INTERVAL): Float64Array {
  const n = p.length;
  if (n === 0) return new Float64Array(0);
  const { scale, shift } = unitMap(interval);
  // x = (t − shift)/scale: compose, giving power coefficients in t.
  const pt = scale === 1 && shift === 0 ? Float64Array.from(p) : composeAffine(p, 1 / scale, -shift / scale);
  // Horner in the Chebyshev basis: r ← r·t + pt[i], using t·T_j = (T_{j+1} + T_{|j−1|})/2.
  let r = new Float64Array(n);
  r[0] = pt[n - 1]!;
  for (let i = n - 2; i >= 0; i--) {
    const nr = new Float64Array(n);
    for (let j = 0; j < n - 1; j++) {
      const v = r[j]!;
      if (v === 0) continue;
      if (j === 0) nr[1] = nr[1]! + v;
      else {
        nr[j + 1] = nr[j + 1]! + v / 2;
        nr[j - 1] = nr[j - 1]! + v / 2;
      }
    }
    nr[0] = nr[0]! + pt[i]!;
    r = nr;
  }
  return r;
}

/** Power coefficients of q(x) = p(α·x + β) given power coefficients of p (Horner on polynomials). */
export function composeAffine(p: ArrayLike<number>, alpha: number, beta: number): Float64Array {
  const n = p.length;
  const r = new Float64Array(n);
  if (n === 0) return r;
  r[0] = p[n - 1]!;
  let deg = 0;
  for (let i = n - 2; i >= 0; i--) {
    // r ← r·(α x + β) + p[i]
    for (let k = deg + 1; k >= 1; k--) r[k] = r[k]! * beta + r[k - 1]! * alpha;
    r[0] = r[0]! * beta + p[i]!;
    deg++;
  }
  return r;
}

/** Options of {@link chebLeastSquares}. */
export interface ChebLeastSquaresOptions {
  /** Number of uniformly spaced grid points (endpoints included). Default max(2001, 20·(degree+1)). */
  gridSize?: number;
  /** Fit only odd T_j (requires a symmetric interval). Default false. */
  odd?: boolean;
}

/**
 * Least-squares Chebyshev fit of f on a dense uniform grid of [a, b]: the discrete analogue of the
 * continuous L2 projection with uniform weight. Returns Chebyshev coefficients on `interval`
 * (even entries are 0 when `odd`).
 */
export function chebLeastSquares(
  f: (x: number) => number,
  degree: number,
  interval: Interval = UNIT_INTERVAL,
  opts: ChebLeastSquaresOptions = {},
): Float64Array {
  checkDegree(degree);
  checkInterval(interval);
  const m = opts.gridSize ?? Math.max(2001, 20 * (degree + 1));
  if (m < degree + 1) {
    throw new ApproxError(`gridSize ${m} < degree + 1 = ${degree + 1}`, `use a denser grid`);
  }
  const xs = new Float64Array(m);
  const ys = new Float64Array(m);
  const [a, b] = interval;
  for (let k = 0; k < m; k++) {
    xs[k] = m === 1 ? (a + b) / 2 : a + ((b - a) * k) / (m - 1);
    ys[k] = f(xs[k]!);
  }
  return chebFitSamples(xs, ys, undefined, degree, interval, opts.odd ?? false).coeffs;
}

/**
 * Weighted least-squares Chebyshev fit of samples (xs, ys) with weights w on `interval`.
 * Building block shared by {@link chebLeastSquares} and `lsq.ts`.
 */
export function chebFitSamples(
  xs: ArrayLike<number>,
  ys: ArrayLike<number>,
  w: ArrayLike<number> | undefined,
  degree: number,
  interval: Interval,
  odd: boolean,
): { coeffs: Float64Array; ridge: number; conditionEstimate: number } {
  checkDegree(degree);
  checkInterval(interval);
  if (odd && Math.abs(interval[0] + interval[1]) > 1e-12 * Math.abs(interval[1])) {
    throw new ApproxError(`odd fit needs a symmetric interval [-r, r], got [${interval[0]}, ${interval[1]}]`, `pass interval [-r, r] or drop the odd option`);
  }
  const rows = xs.length;
  const idx: number[] = [];
  for (let j = 0; j <= degree; j++) if (!odd || j % 2 === 1) idx.push(j);
  const cols = idx.length;
  if (cols === 0) {
    throw new ApproxError(`an odd fit of degree ${degree} has no basis functions`, `use degree ≥ 1`);
  }
  const a = new Float64Array(rows * cols);
  const tb = new Float64Array(degree + 1);
  for (let r = 0; r < rows; r++) {
    chebBasis(toUnit(xs[r]!, interval), tb);
    for (let c = 0; c < cols; c++) a[r * cols + c] = tb[idx[c]!]!;
  }
  const sol = leastSquares(a, ys, w, rows, cols);
  const coeffs = new Float64Array(degree + 1);
  for (let c = 0; c < cols; c++) coeffs[idx[c]!] = sol.x[c]!;
  return { coeffs, ridge: sol.ridge, conditionEstimate: sol.conditionEstimate };
}

/** Degree of a coefficient vector: index of the last entry with |c| > tol·max|c| (−1 if all zero). */
export function effectiveDegree(c: ArrayLike<number>, tol = 0): number {
  let mx = 0;
  for (let i = 0; i < c.length; i++) mx = Math.max(mx, Math.abs(c[i]!));
  for (let i = c.length - 1; i >= 0; i--) if (Math.abs(c[i]!) > tol * mx && c[i] !== 0) return i;
  return -1;
}

function checkDegree(degree: number): void {
  if (!Number.isInteger(degree) || degree < 0 || degree > 4096) {
    throw new ApproxError(`degree ${degree} is invalid`, `pass an integer in [0, 4096]`);
  }
}
