/**
 * @module bootstrap/dft
 * The homomorphic DFTs of bootstrapping as sparse factors in diagonal form, in float64 (Cheon–Han–
 * Kim–Kim–Song eprint 2018/1073 §3 and Chen–Chillotti–Song eprint 2018/1043 §4: the "special FFT"
 * of the canonical embedding factored into radix-2 stages, merged into a few levels).
 *
 * Slots and coefficients (the encoder's convention, `ckks/encoder.ts`): for n slots the message
 * is a polynomial in Y = X^{N/(2n)} with coefficients c_0..c_{2n−1}; with w_k = c_k + i·c_{k+n},
 * slot j is z_j = Σ_{k<n} w_k·x_j^k, x_j = e^{iπ·5^j/(2n)}. Splitting the sum by the parity of k
 * and using x_{j+n/2} = −x_j gives a decimation-in-time FFT whose input is bit-reversed and whose
 * output is in slot order: z = S_n ⋯ S_4·S_2·R·w, where R is the bit reversal and S_m (m = 2, 4,
 * …, n) does, in every block of m entries, for j < m/2,
 *   (u, v) = (x[j], x[j + m/2]) ↦ (u + ω_j·v, u − ω_j·v),   ω_j = e^{2πi·(5^j mod 4m)/(4m)}.
 * S_m has three diagonals (offsets 0, +m/2, −m/2). The bootstrapping circuit never applies R:
 * CoeffsToSlots computes R·U^{-1} = S_2^{-1}⋯S_n^{-1} (coefficients land in bit-reversed slots),
 * EvalMod works slot by slot, and SlotsToCoeffs computes U·R = S_n⋯S_2, so the two reversals cancel.
 *
 * A matrix M on vectors of dimension d is stored by its non-zero diagonals:
 *   (M·v)[i] = Σ_k diag_k[i]·v[(i + k) mod d],
 * the form a homomorphic linear transform evaluates (one rotation by k per diagonal, or BSGS).
 * Sparse slots (n < N/2) use d = 2n: the real and imaginary parts of the coefficients are laid
 * side by side (CoeffsToSlots' last factor keeps the first half, SlotsToCoeffs' first factor puts
 * the halves back together as re + i·im), so one EvalMod handles both.
 */
import { InvalidArgumentError } from '../ckks/index.js';

/** A complex vector as two float64 arrays. */
export interface ComplexArray {
  re: Float64Array;
  im: Float64Array;
}

/** A d×d complex matrix by its non-zero diagonals (offsets in [0, d)). */
export interface DiagonalMatrix {
  readonly dim: number;
  readonly diags: Map<number, ComplexArray>;
}

/** Which transform: CoeffsToSlots (homomorphic encoding, U^{-1}) or SlotsToCoeffs (decoding, U). */
export type DftKind = 'coeffsToSlots' | 'slotsToCoeffs';

/** Options of `dftFactors`. */
export interface DftOptions {
  kind: DftKind;
  /** log2 of the slot count n. */
  logSlots: number;
  /** Number of factors (levels): the log2(n) radix-2 stages are merged into this many. */
  levels: number;
  /** True when n < N/2 (real and imaginary parts side by side: dimension 2n). */
  sparse: boolean;
  /** A constant folded into the factors (spread evenly over them). Default 1. */
  scaling?: number;
}

const cplx = (d: number): ComplexArray => ({ re: new Float64Array(d), im: new Float64Array(d) });

/** ω_j of stage m: e^{2πi·(5^j mod 4m)/(4m)} for j < m/2. */
function twiddles(m: number): ComplexArray {
  const h = m >> 1;
  const w = cplx(h);
  let g = 1;
  const M = 4 * m;
  for (let j = 0; j < h; j++) {
    const a = (2 * Math.PI * g) / M;
    w.re[j] = Math.cos(a);
    w.im[j] = Math.sin(a);
    g = (g * 5) % M;
  }
  return w;
}

/**
 * Stage S_m (or its inverse) on dimension d, for an n-slot transform (d = n or 2n; entries
 * repeat with period n).
 */
export function stageMatrix(m: number, n: number, d: number, inverse: boolean): DiagonalMatrix {
  const h = m >> 1;
  const w = twiddles(m);
  const d0 = cplx(d);
  const dPlus = cplx(d);
  const dMinus = cplx(d);
  for (let i = 0; i < d; i++) {
    const p = i % n;
    const j = p % m;
    if (j < h) {
      // first half of a block: out = u + ω·v (forward) or (u + v)/2 (inverse)
      d0.re[i] = inverse ? 0.5 : 1;
      if (inverse) dPlus.re[i] = 0.5;
      else {
        dPlus.re[i] = w.re[j];
        dPlus.im[i] = w.im[j];
      }
    } else {
      // second half: out = u − ω·v (forward) or (u − v)/(2ω) (inverse), u at offset −m/2
      const jj = j - h;
      if (inverse) {
        // 1/(2ω) = conj(ω)/2 (|ω| = 1)
        dMinus.re[i] = 0.5 * w.re[jj];
        dMinus.im[i] = -0.5 * w.im[jj];
        d0.re[i] = -0.5 * w.re[jj];
        d0.im[i] = 0.5 * w.im[jj];
      } else {
        d0.re[i] = -w.re[jj];
        d0.im[i] = -w.im[jj];
        dMinus.re[i] = 1;
      }
    }
  }
  // +m/2 and −m/2 coincide when m/2 = d/2 (the last stage of full slots): their entries sit in
  // different halves of each block, so the sum is the diagonal
  const diags = new Map<number, ComplexArray>([[0, d0], [h % d, dPlus]]);
  const km = (d - h) % d;
  const prev = diags.get(km);
  if (prev) {
    for (let i = 0; i < d; i++) {
      prev.re[i] += dMinus.re[i];
      prev.im[i] += dMinus.im[i];
    }
  } else diags.set(km, dMinus);
  return { dim: d, diags };
}

/** B·A (apply A, then B): diag_{k+j}[i] += b_k[i]·a_j[i + k]. */
export function multiplyMatrices(b: DiagonalMatrix, a: DiagonalMatrix): DiagonalMatrix {
  const d = a.dim;
  if (b.dim !== d) throw new InvalidArgumentError(`matrices of dimensions ${b.dim} and ${d}`, 'multiply matrices of equal dimension');
  const out = new Map<number, ComplexArray>();
  for (const [k, bk] of b.diags) {
    for (const [j, aj] of a.diags) {
      const o = (k + j) % d;
      let acc = out.get(o);
      if (!acc) out.set(o, (acc = cplx(d)));
      for (let i = 0; i < d; i++) {
        const br = bk.re[i];
        const bi = bk.im[i];
        if (br === 0 && bi === 0) continue;
        const t = (i + k) % d;
        const ar = aj.re[t];
        const ai = aj.im[t];
        acc.re[i] += br * ar - bi * ai;
        acc.im[i] += br * ai + bi * ar;
      }
    }
  }
  // drop diagonals that cancelled to zero
  for (const [k, v] of out) if (v.re.every((x) => x === 0) && v.im.every((x) => x === 0)) out.delete(k);
  return { dim: d, diags: out };
}

/** M·v in float64 (the reference the homomorphic evaluation is tested against). */
export function applyMatrix(M: DiagonalMatrix, v: ComplexArray): ComplexArray {
  const d = M.dim;
  const out = cplx(d);
  for (const [k, dk] of M.diags) {
    for (let i = 0; i < d; i++) {
      const t = (i + k) % d;
      out.re[i] += dk.re[i] * v.re[t] - dk.im[i] * v.im[t];
      out.im[i] += dk.re[i] * v.im[t] + dk.im[i] * v.re[t];
    }
  }
  return out;
}

/** Scales every entry of M by c (in place). */
function scaleMatrix(M: DiagonalMatrix, c: number): void {
  for (const v of M.diags.values()) {
    for (let i = 0; i < M.dim; i++) {
      v.re[i] *= c;
      v.im[i] *= c;
    }
  }
}

/** How log2(n) stages split into `levels` groups (the first groups take the remainder). */
export function stageGroups(logSlots: number, levels: number): number[] {
  const out: number[] = [];
  let left = logSlots;
  for (let i = 0; i < levels; i++) {
    const g = Math.ceil(left / (levels - i));
    out.push(g);
    left -= g;
  }
  return out;
}

/**
 * The factors of CoeffsToSlots or SlotsToCoeffs, in the order they are applied.
 *  - CoeffsToSlots: (1/2)·S_2^{-1}⋯S_n^{-1} (the 1/2 is the real/imaginary extraction's), grouped
 *    from S_n^{-1} on; sparse: the last factor keeps the first n of the 2n entries.
 *  - SlotsToCoeffs: S_n⋯S_2, grouped from S_2 on; sparse: the first factor starts with the
 *    recombination x[p] + i·x[p + n] (repeated on both halves).
 * `scaling` multiplies the product.
 */
export function dftFactors(opts: DftOptions): DiagonalMatrix[] {
  const { kind, logSlots, levels, sparse } = opts;
  if (!Number.isInteger(logSlots) || logSlots < 1) throw new InvalidArgumentError(`logSlots = ${logSlots}`, 'use a positive integer');
  if (!Number.isInteger(levels) || levels < 1 || levels > logSlots) throw new InvalidArgumentError(`${levels} DFT levels for ${logSlots} stages`, `use 1..${logSlots} levels`);
  const n = 1 << logSlots;
  const d = sparse ? 2 * n : n;
  const groups = stageGroups(logSlots, levels);
  const cts = kind === 'coeffsToSlots';
  // stage sizes in application order
  const ms: number[] = [];
  for (let s = 1; s <= logSlots; s++) ms.push(1 << s); // 2, 4, …, n
  if (cts) ms.reverse(); // S_n^{-1} first
  const factors: DiagonalMatrix[] = [];
  let at = 0;
  for (let g = 0; g < levels; g++) {
    let F: DiagonalMatrix | undefined;
    if (!cts && sparse && g === 0) F = repackMatrix(n);
    for (let s = 0; s < groups[g]; s++) {
      const S = stageMatrix(ms[at++], n, d, cts);
      F = F ? multiplyMatrices(S, F) : S;
    }
    factors.push(F!);
  }
  if (cts && sparse) {
    // keep the first n entries of the 2n (the second half becomes the imaginary part's place)
    for (const v of factors[levels - 1].diags.values()) {
      v.re.fill(0, n);
      v.im.fill(0, n);
    }
  }
  const total = (cts ? 0.5 : 1) * (opts.scaling ?? 1);
  const per = Math.sign(total) * Math.abs(total) ** (1 / levels);
  for (let g = 0; g < levels; g++) scaleMatrix(factors[g], g === 0 ? per : Math.abs(per));
  return factors;
}

/** x[p] + i·x[p + n] on both halves (dimension 2n): the sparse recombination of re and im. */
function repackMatrix(n: number): DiagonalMatrix {
  const d = 2 * n;
  const a = cplx(d);
  const b = cplx(d);
  for (let p = 0; p < n; p++) {
    a.re[p] = 1;
    b.im[p] = 1; // + i·x[p + n]
    a.im[p + n] = 1; // i·x[p + n] at p + n
    b.re[p + n] = 1; // + x[p + 2n] = x[p]
  }
  return { dim: d, diags: new Map([[0, a], [n, b]]) };
}

/** The product of factors (applied in order) as one matrix. */
export function productMatrix(factors: readonly DiagonalMatrix[]): DiagonalMatrix {
  let M = factors[0];
  for (let i = 1; i < factors.length; i++) M = multiplyMatrices(factors[i], M);
  return M;
}
