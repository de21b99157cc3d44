/**
 * @module approx/fit/linalg
 *
 * The small dense linear algebra the approximation code needs (digest §6 item 10): a square solver
 * (Gaussian elimination with partial pivoting, for Remez reference systems of size ≤ ~130) and a
 * weighted least-squares solver (Householder QR on the column-scaled, row-weighted design matrix,
 * with a ridge fallback when the matrix is numerically rank deficient).
 *
 * Why QR and not the normal equations: the normal equations square the condition number; for a
 * Chebyshev design matrix the condition number is modest, but histogram weights spanning many
 * orders of magnitude or clustered samples can still make VᵀWV singular to working precision.
 * Matrices are row-major `Float64Array`s of size rows·cols.
 */

import { ApproxError } from '../errors.js';

/**
 * Solve the square system A·x = b (A is n×n, row-major) by Gaussian elimination with partial
 * pivoting. A and b are not modified.
 * @throws ApproxError if A is singular to working precision.
 */
export function solveSquare(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const m = Float64Array.from(a);
  const x = Float64Array.from(b);
  let scale = 0;
  for (let i = 0; i < n * n; i++) scale = Math.max(scale, Math.abs(m[i]!));
  for (let col = 0; col < n; col++) {
    let piv = col;
    let best = Math.abs(m[col * n + col]!);
    for (let r = col + 1; r < n; r++) {
      const v = Math.abs(m[r * n + col]!);
      if (v > best) {
        best = v;
        piv = r;
      }
    }
    if (!(best > scale * 1e-300) || best === 0) {
      throw new ApproxError(`linear system is singular (pivot ${best} in column ${col})`, `the reference points are probably not distinct: check the interval and the degree`);
    }
    if (piv !== col) {
      for (let c = 0; c < n; c++) {
        const t = m[col * n + c]!;
        m[col * n + c] = m[piv * n + c]!;
        m[piv * n + c] = t;
      }
      const t = x[col]!;
      x[col] = x[piv]!;
      x[piv] = t;
    }
    const d = m[col * n + col]!;
    for (let r = col + 1; r < n; r++) {
      const f = m[r * n + col]! / d;
      if (f === 0) continue;
      for (let c = col; c < n; c++) m[r * n + c] = m[r * n + c]! - f * m[col * n + c]!;
      x[r] = x[r]! - f * x[col]!;
    }
  }
  for (let r = n - 1; r >= 0; r--) {
    let s = x[r]!;
    for (let c = r + 1; c < n; c++) s -= m[r * n + c]! * x[c]!;
    x[r] = s / m[r * n + r]!;
  }
  return x;
}

/** Result of {@link leastSquares}. */
export interface LeastSquaresSolution {
  /** The minimiser x of Σ_k w_k (A x − y)_k² (+ ridge·‖x‖² when a ridge was used). */
  x: Float64Array;
  /** Ridge parameter actually used (0 when the plain problem was well conditioned). */
  ridge: number;
  /** max|R_jj| / min|R_jj| of the column-scaled R factor: a cheap condition estimate. */
  conditionEstimate: number;
}

/** Options of {@link leastSquares}. */
export interface LeastSquaresOptions {
  /** Force this ridge (Tikhonov) parameter, relative to the column-scaled problem. Default: automatic. */
  ridge?: number;
  /** Condition estimate above which the ridge fallback is used. Default 1e12. */
  maxCondition?: number;
}

/**
 * Weighted linear least squares min_x Σ_k w_k·((A x)_k − y_k)² by Householder QR on
 * diag(√w)·A·S, where S scales every column to unit norm (so rank detection is scale free).
 *
 * Ridge fallback: if the condition estimate of the scaled R exceeds `maxCondition` (or a column is
 * all zero, e.g. fewer distinct sample points than unknowns), the problem is re-solved with rows
 * √λ·I appended, λ = (1e-12 or the caller's value) — this returns the minimum-norm-like solution
 * instead of garbage. The ridge actually used is reported.
 *
 * @param a rows×cols design matrix, row-major.
 * @param y right-hand side, length rows.
 * @param w non-negative weights, length rows (undefined = all 1).
 */
export function leastSquares(
  a: Float64Array,
  y: ArrayLike<number>,
  w: ArrayLike<number> | undefined,
  rows: number,
  cols: number,
  opts: LeastSquaresOptions = {},
): LeastSquaresSolution {
  if (rows < 1 || cols < 1) {
    throw new ApproxError(`least squares needs at least one row and one column (got ${rows}×${cols})`, 'pass at least one sample and degree ≥ 0');
  }
  const maxCond = opts.maxCondition ?? 1e12;
  // Row weighting by √w, then column scaling to unit norm.
  const m = new Float64Array(rows * cols);
  const rhs = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const wr = w === undefined ? 1 : w[r]!;
    if (!(wr >= 0) || !Number.isFinite(wr)) {
      throw new ApproxError(`weight ${r} is ${wr}`, `weights must be finite and ≥ 0`);
    }
    const s = Math.sqrt(wr);
    rhs[r] = s * y[r]!;
    for (let c = 0; c < cols; c++) m[r * cols + c] = s * a[r * cols + c]!;
  }
  const colScale = new Float64Array(cols);
  for (let c = 0; c < cols; c++) {
    let s = 0;
    for (let r = 0; r < rows; r++) s += m[r * cols + c]! ** 2;
    colScale[c] = s > 0 ? 1 / Math.sqrt(s) : 1;
    for (let r = 0; r < rows; r++) m[r * cols + c] = m[r * cols + c]! * colScale[c]!;
  }
  let ridge = opts.ridge ?? 0;
  let sol = ridge > 0 ? null : qrSolve(m, rhs, rows, cols);
  if (sol === null || sol.cond > maxCond) {
    if (ridge === 0) ridge = 1e-12;
    // Augment with √λ·I rows: [M; √λ I] x = [rhs; 0].
    const rr = rows + cols;
    const m2 = new Float64Array(rr * cols);
    m2.set(m);
    const sq = Math.sqrt(ridge);
    for (let c = 0; c < cols; c++) m2[(rows + c) * cols + c] = sq;
    const rhs2 = new Float64Array(rr);
    rhs2.set(rhs);
    sol = qrSolve(m2, rhs2, rr, cols);
    if (sol === null) {
      throw new ApproxError(`least squares failed even with ridge ${ridge}: the design matrix has an all-zero column or non-finite entries`, `check the samples and weights`);
    }
  }
  const x = sol.x;
  for (let c = 0; c < cols; c++) x[c] = x[c]! * colScale[c]!;
  return { x, ridge, conditionEstimate: sol.cond };
}

/** Householder QR least squares on an already scaled matrix; null when R has an exact zero pivot. */
function qrSolve(
  m0: Float64Array,
  b0: Float64Array,
  rows: number,
  cols: number,
): { x: Float64Array; cond: number } | null {
  if (rows < cols) return null;
  const m = Float64Array.from(m0);
  const b = Float64Array.from(b0);
  const v = new Float64Array(rows);
  for (let k = 0; k < cols; k++) {
    let norm = 0;
    for (let r = k; r < rows; r++) norm += m[r * cols + k]! ** 2;
    norm = Math.sqrt(norm);
    if (norm === 0) return null;
    const akk = m[k * cols + k]!;
    const alpha = akk > 0 ? -norm : norm;
    // v = x − alpha·e1, normalised implicitly via vtv.
    for (let r = k; r < rows; r++) v[r] = m[r * cols + k]!;
    v[k] = akk - alpha;
    let vtv = 0;
    for (let r = k; r < rows; r++) vtv += v[r]! * v[r]!;
    if (vtv === 0) continue;
    for (let c = k; c < cols; c++) {
      let s = 0;
      for (let r = k; r < rows; r++) s += v[r]! * m[r * cols + c]!;
      const f = (2 * s) / vtv;
      for (let r = k; r < rows; r++) m[r * cols + c] = m[r * cols + c]! - f * v[r]!;
    }
    let s = 0;
    for (let r = k; r < rows; r++) s += v[r]! * b[r]!;
    const f = (2 * s) / vtv;
    for (let r = k; r < rows; r++) b[r] = b[r]! - f * v[r]!;
  }
  let dmax = 0;
  let dmin = Infinity;
  for (let k = 0; k < cols; k++) {
    const d = Math.abs(m[k * cols + k]!);
    dmax = Math.max(dmax, d);
    dmin = Math.min(dmin, d);
  }
  if (dmin === 0) return null;
  const x = new Float64Array(cols);
  for (let r = cols - 1; r >= 0; r--) {
    let s = b[r]!;
    for (let c = r + 1; c < cols; c++) s -= m[r * cols + c]! * x[c]!;
    x[r] = s / m[r * cols + r]!;
  }
  return { x, cond: dmax / dmin };
}
