/**
 * @module approx/paper
 *
 * PAPER's quadratic ReLU (Chielle et al., arXiv 2509.22857; code `training/src/polyfit.py`,
 * digest §2.2): least squares of ReLU on the grid linspace(−clip, clip, 2·clip/0.01) with the
 * coefficients constrained to k-bit fixed point (integers in [−2^{k−1}, 2^{k−1}] divided by 2^k).
 * PAPER solves the integer problem with a MINLP solver; we search a small box of integers around
 * the rounded real least-squares solution, which is exact for this tiny problem: with the defaults
 * (clip 2, k 10) it gives (193 + 512x + 239x²)/1024.
 */

import { chebLeastSquares, chebToPower, powerEval } from './fit/chebyshev.js';
import { relu } from './activations.js';
import { ApproxError } from './errors.js';

/** Options of {@link paperQuadratic}. */
export interface PaperQuadraticOptions {
  /** Clip range: fit on [−clip, clip]. Default 2. */
  clip?: number;
  /** Fixed-point bits k (coefficients are integers / 2^k). Default 10. */
  bits?: number;
  /** Grid spacing; the grid has round(2·clip/step) points including both ends. Default 0.01. */
  step?: number;
  /** Integer search radius around the rounded LS coefficients. Default 3. */
  radius?: number;
  /** Polynomial degree (≤ 4 keeps the box search small). Default 2. */
  degree?: number;
  /** Target function. Default ReLU. */
  target?: (x: number) => number;
}

/** Result of {@link paperQuadratic}. */
export interface PaperQuadraticResult {
  /** Fixed-point power coefficients [c0, c1, c2, …] as reals (= integers / 2^bits). */
  coeffs: Float64Array;
  /** The integer numerators. */
  integers: Int32Array;
  /** 2^bits. */
  denominator: number;
  /** Unconstrained least-squares power coefficients. */
  lsCoeffs: Float64Array;
  /** Mean squared error of the fixed-point polynomial on the grid. */
  mse: number;
  /** Mean squared error of the unconstrained least-squares polynomial on the grid. */
  lsMse: number;
}

/**
 * PAPER's fixed-point least-squares polynomial for ReLU (or `target`) on [−clip, clip].
 * @throws ApproxError for invalid options.
 */
export function paperQuadratic(opts: PaperQuadraticOptions = {}): PaperQuadraticResult {
  const clip = opts.clip ?? 2;
  const bits = opts.bits ?? 10;
  const step = opts.step ?? 0.01;
  const radius = opts.radius ?? 3;
  const degree = opts.degree ?? 2;
  const f = opts.target ?? relu;
  if (!(clip > 0) || !(step > 0)) throw new ApproxError(`clip (${clip}) and step (${step}) must be > 0`, 'use positive clip and step');
  if (!Number.isInteger(bits) || bits < 1 || bits > 30) throw new ApproxError(`bits ${bits} must be an integer in [1, 30]`, 'use an integer bits in [1, 30]');
  if (!Number.isInteger(radius) || radius < 0 || radius > 10) throw new ApproxError(`radius ${radius} must be in [0, 10]`, 'use an integer radius in [0, 10]');
  if (!Number.isInteger(degree) || degree < 0 || degree > 4) {
    throw new ApproxError(`degree ${degree} must be in [0, 4] (the integer search is exhaustive in a box)`, 'use a degree in [0, 4] (the integer search is exhaustive in a box)');
  }
  // numpy.linspace(-clip, clip, int(2*clip/step)): endpoints included.
  const m = Math.round((2 * clip) / step);
  if (m < degree + 1) throw new ApproxError(`grid of ${m} points is too small for degree ${degree}`, `lower step`);
  const xs = new Float64Array(m);
  const ys = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    xs[i] = -clip + (2 * clip * i) / (m - 1);
    ys[i] = f(xs[i]!);
  }
  const sse = (p: ArrayLike<number>): number => {
    let s = 0;
    for (let i = 0; i < m; i++) {
      const e = powerEval(p, xs[i]!) - ys[i]!;
      s += e * e;
    }
    return s;
  };
  const ls = chebToPower(
    chebLeastSquares(f, degree, [-clip, clip], { gridSize: m }),
    [-clip, clip],
  );
  const den = 2 ** bits;
  const lim = 2 ** (bits - 1);
  const base = Array.from(ls, (c) => Math.round(c * den));
  const n = degree + 1;
  const cur = new Float64Array(n);
  let best: Int32Array | null = null;
  let bestErr = Infinity;
  const total = (2 * radius + 1) ** n;
  for (let idx = 0; idx < total; idx++) {
    let r = idx;
    let ok = true;
    const ints = new Int32Array(n);
    for (let j = 0; j < n; j++) {
      const v = base[j]! + (r % (2 * radius + 1)) - radius;
      r = Math.floor(r / (2 * radius + 1));
      if (v < -lim || v > lim) ok = false;
      ints[j] = v;
      cur[j] = v / den;
    }
    if (!ok) continue;
    const e = sse(cur);
    if (e < bestErr) {
      bestErr = e;
      best = ints;
    }
  }
  if (best === null) {
    throw new ApproxError(`no ${bits}-bit coefficients within ±${radius} of the least-squares solution fit in [−2^${bits - 1}, 2^${bits - 1}]`, `raise bits or lower clip`);
  }
  return {
    coeffs: Float64Array.from(best, (v) => v / den),
    integers: best,
    denominator: den,
    lsCoeffs: ls,
    mse: bestErr / m,
    lsMse: sse(ls) / m,
  };
}
