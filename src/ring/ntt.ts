/**
 * @module ring/ntt
 * Negacyclic number-theoretic transform over Z_p[X]/(X^N + 1), one RNS limb at a time.
 *
 * Forward: Cooley–Tukey with the ψ-twist merged into the twiddles (Longa–Naehrig, "Speeding up the
 * number theoretic transform for faster ideal lattice-based cryptography", eprint 2016/504, Alg. 1).
 * Inverse: Gentleman–Sande (ibid. Alg. 2) with N^−1 merged into the last stage (as SEAL does).
 * Twiddles are ψ^k stored at index bitrev(k) with precomputed float quotients (Shoup-float).
 * The output is in bit-reversed order: entry i holds the evaluation at ψ^(2·bitrev(i)+1).
 * Pointwise products do not care about the order.
 *
 * Speed (measured, Node 20 on a 2-vCPU AMD EPYC, N = 2^13..2^15; `bench/engine.ts --op=ntt`):
 *  - Harvey's fully lazy butterflies (arXiv 1205.2926, Alg. 4): values stay in [0, 4p) between
 *    stages and only x is corrected, once per butterfly. With p < 2^30, 4p does not fit in int32,
 *    so residues are kept as **uint32 bit patterns in the Int32Array**: additions wrap with `| 0`
 *    (exact mod 2^32), a value x ∈ [0, 4p) is brought to [0, 2p) through x − 2p ∈ [−2p, 2p), which
 *    is a valid int32, and the Shoup quotient reads the unsigned value `x >>> 0` (exact in float64).
 *    One correction per butterfly instead of two: 25–30% faster than the [0, 2p) form.
 *  - Radix-4: two stages per pass over the array (four values held in registers), which halves the
 *    loads and stores and matters once a limb (N·4 bytes) outgrows L1: another 10–15% at N ≥ 2^14.
 *    (Plain radix-2 lazy with 29-bit primes, the option of the design notes, was measured slower than
 *    this and costs a bit of scale per limb, so it was not kept.)
 * Entries between stages may read as negative int32 (the bit pattern of a value ≥ 2^31): only the
 * kernels in this file see them; every exported function returns values in the stated range.
 */
import { InvalidArgumentError, InternalError } from '../errors.js';
import { type Modulus, invMod, mulMod, powMod, shoup } from './modulus.js';
import { primitive2NthRoot } from './primes.js';

/** Precomputed tables for one (prime, N). */
export interface NttTable {
  readonly N: number;
  readonly logN: number;
  readonly mod: Modulus;
  /** ψ^k at index bitrev(k), in [0, p). */
  readonly psi: Int32Array;
  readonly psiF: Float64Array;
  /** ψ^−k at index bitrev(k), in [0, p). */
  readonly psiInv: Int32Array;
  readonly psiInvF: Float64Array;
  /** N^−1 mod p, merged into the last inverse stage. */
  readonly nInv: number;
  readonly nInvF: number;
  /** psiInv[1]·N^−1, the last-stage twiddle with N^−1 merged. */
  readonly lastInv: number;
  readonly lastInvF: number;
  /** The primitive 2N-th root ψ. */
  readonly root: number;
  /**
   * Twiddles of the forward transform's last radix-4 pass, three per group of four entries
   * (ψ-powers at m+i, 2(m+i), 2(m+i)+1 with m = N/4) and their quotients, interleaved: read as one
   * stream, which made that pass 35% faster than indexing `psi` three ways.
   */
  readonly lastW: Int32Array;
  readonly lastWF: Float64Array;
  /** The same for the inverse transform's first radix-4 pass (even log N: stages N/2 and N/4). */
  readonly firstInvW: Int32Array;
  readonly firstInvWF: Float64Array;
}

/** Bit reversal of x on `bits` bits. */
export function bitReverse(x: number, bits: number): number {
  let r = 0;
  for (let i = 0; i < bits; i++) {
    r = (r << 1) | (x & 1);
    x >>>= 1;
  }
  return r;
}

/**
 * Builds the NTT tables of prime `mod` for ring degree N (a power of two, N ≥ 8: the radix-4 kernels
 * run two butterflies per iteration). `root` fixes ψ (a primitive 2N-th root of unity mod p): the
 * tables of degree N/R with ψ_N^R evaluate m(Y) where the degree-N tables evaluate m(X^R), entry
 * i >> log2(R) for entry i (periodic plaintexts, `ckks/periodic.ts`).
 */
export function makeNttTable(mod: Modulus, N: number, root = primitive2NthRoot(mod.p, N)): NttTable {
  const logN = Math.log2(N);
  if (!Number.isInteger(logN) || logN < 3) throw new InvalidArgumentError(`N = ${N} is not a power of two ≥ 8`, 'use a ring degree N = 2^logN with logN ≥ 3');
  const { p, pInv } = mod;
  const rootInv = invMod(root, p);
  const psi = new Int32Array(N);
  const psiF = new Float64Array(N);
  const psiInv = new Int32Array(N);
  const psiInvF = new Float64Array(N);
  let w = 1;
  let wi = 1;
  for (let k = 0; k < N; k++) {
    const j = bitReverse(k, logN);
    psi[j] = w;
    psiF[j] = shoup(w, p);
    psiInv[j] = wi;
    psiInvF[j] = shoup(wi, p);
    w = mulMod(w, root, p, pInv);
    wi = mulMod(wi, rootInv, p, pInv);
  }
  const nInv = invMod(N % p, p);
  const lastInv = mulMod(psiInv[1], nInv, p, pInv);
  if (powMod(root, N, p) !== p - 1) throw new InternalError('ψ is not a primitive 2N-th root');
  const q = N >> 2;
  const lastW = new Int32Array(3 * q);
  const lastWF = new Float64Array(3 * q);
  const firstInvW = new Int32Array(3 * q);
  const firstInvWF = new Float64Array(3 * q);
  for (let i = 0; i < q; i++) {
    const mi = q + i;
    const fw = [mi, 2 * mi, 2 * mi + 1];
    const iw = [2 * q + 2 * i, 2 * q + 2 * i + 1, q + i];
    for (let r = 0; r < 3; r++) {
      lastW[3 * i + r] = psi[fw[r]];
      lastWF[3 * i + r] = psiF[fw[r]];
      firstInvW[3 * i + r] = psiInv[iw[r]];
      firstInvWF[3 * i + r] = psiInvF[iw[r]];
    }
  }
  return {
    N, logN, mod, psi, psiF, psiInv, psiInvF, root,
    nInv, nInvF: shoup(nInv, p), lastInv, lastInvF: shoup(lastInv, p), lastW, lastWF, firstInvW, firstInvWF,
  };
}

/**
 * Forward negacyclic NTT in place on a[off .. off+N). Input in [0, 2p); output in [0, p),
 * bit-reversed order.
 */
export function nttForward(a: Int32Array, off: number, T: NttTable): void {
  forward(a, off, T, true);
}

/**
 * Forward NTT with output left in [0, 2p) (skips the final reduction; for consumers that accept
 * lazy inputs, e.g. products and the key-switching inner product). Input in [0, 2p).
 */
export function nttForwardLazy(a: Int32Array, off: number, T: NttTable): void {
  forward(a, off, T, false);
}

function forward(a: Int32Array, off: number, T: NttTable, strict: boolean): void {
  // Each pass is its own small function: V8 then optimizes each with complete type feedback
  // (one large function was compiled on-stack mid-call and deoptimized in its last pass).
  const N = T.N;
  const p = T.mod.p;
  let t = N;
  let m = 1;
  if (T.logN & 1) {
    t >>= 1;
    forwardRadix2(a, off, t, T.psi[1], T.psiF[1], p);
    m = 2;
  }
  const quarter = N >> 2;
  for (; m < quarter; m <<= 2) {
    forwardRadix4(a, off, m, t, T.psi, T.psiF, p);
    t >>= 2;
  }
  if (strict) forwardLastStrict(a, off, quarter, T.lastW, T.lastWF, p);
  else forwardLastLazy(a, off, quarter, T.lastW, T.lastWF, p);
}

/** Radix-2 stage at distance t (first stage of odd log N): inputs [0, 2p), outputs [0, 4p) (uint32). */
function forwardRadix2(a: Int32Array, off: number, t: number, w: number, wf: number, p: number): void {
  const p2 = (p << 1) | 0; // int32: `2 * p` ≥ 2^30 would be typed as a heap number (float64) by V8
  const e = off + t;
  for (let j = off; j < e; j++) {
    const x = a[j];
    const y = a[j + t];
    const r = (Math.imul(y, w) - Math.imul((y * wf) | 0, p)) | 0; // [0, 2p)
    a[j] = (x + r) | 0; // [0, 4p)
    a[j + t] = (x - r + p2) | 0; // (0, 4p)
  }
}

/**
 * Radix-4 pass: stage (m, t) then (2m, t/2) on a[j], a[j+h], a[j+2h], a[j+3h] with h = t/4.
 * Inputs and outputs in [0, 4p) (uint32 bit patterns).
 */
function forwardRadix4(a: Int32Array, off: number, m: number, t: number, W: Int32Array, WF: Float64Array, p: number): void {
  const p2 = (p << 1) | 0; // int32: `2 * p` ≥ 2^30 would be typed as a heap number (float64) by V8
  const h = t >> 2; // ≥ 4 and even here (the t = 4 pass is forwardLast*)
  const t2 = t >> 1;
  for (let i = 0; i < m; i++) {
    const j1 = (off + i * t) | 0;
    const k = 2 * (m + i);
    const w1 = W[m + i];
    const f1 = WF[m + i];
    const w2 = W[k];
    const f2 = WF[k];
    const w3 = W[k + 1];
    const f3 = WF[k + 1];
    const e = (j1 + h) | 0;
    // Two butterflies per iteration, indices in wrapping int32 arithmetic: V8 then drops the
    // overflow checks and pays the loop's per-iteration checks (array map, stack) once per two
    // (7% faster at N = 2^13..2^15, measured; a helper function for the body was not inlined: 2× slower).
    for (let j0 = j1; j0 < e; j0 = (j0 + 2) | 0) {
      let j = j0;
      {
        const jb = (j + h) | 0;
        const jc = (j + t2) | 0;
        const jd = (jc + h) | 0;
        let x0 = (a[j] - p2) | 0; // [−2p, 2p)
        let x1 = (a[jb] - p2) | 0;
        const x2 = a[jc];
        const x3 = a[jd];
        x0 = (x0 + ((x0 >> 31) & p2)) | 0; // [0, 2p)
        x1 = (x1 + ((x1 >> 31) & p2)) | 0;
        let r = (Math.imul(x2, w1) - Math.imul(((x2 >>> 0) * f1) | 0, p)) | 0; // [0, 2p)
        let y0 = (x0 + r - p2) | 0; // [−2p, 2p): already shifted for the next correction
        let y2 = (x0 - r) | 0; // (−2p, 2p)
        r = (Math.imul(x3, w1) - Math.imul(((x3 >>> 0) * f1) | 0, p)) | 0;
        const y1 = (x1 + r) | 0; // [0, 4p)
        const y3 = (x1 - r + p2) | 0; // (0, 4p)
        y0 = (y0 + ((y0 >> 31) & p2)) | 0; // [0, 2p)
        y2 = (y2 + ((y2 >> 31) & p2)) | 0;
        r = (Math.imul(y1, w2) - Math.imul(((y1 >>> 0) * f2) | 0, p)) | 0;
        a[j] = (y0 + r) | 0;
        a[jb] = (y0 - r + p2) | 0;
        r = (Math.imul(y3, w3) - Math.imul(((y3 >>> 0) * f3) | 0, p)) | 0;
        a[jc] = (y2 + r) | 0;
        a[jd] = (y2 - r + p2) | 0;
      }
      j = (j0 + 1) | 0;
      {
        const jb = (j + h) | 0;
        const jc = (j + t2) | 0;
        const jd = (jc + h) | 0;
        let x0 = (a[j] - p2) | 0; // [−2p, 2p)
        let x1 = (a[jb] - p2) | 0;
        const x2 = a[jc];
        const x3 = a[jd];
        x0 = (x0 + ((x0 >> 31) & p2)) | 0; // [0, 2p)
        x1 = (x1 + ((x1 >> 31) & p2)) | 0;
        let r = (Math.imul(x2, w1) - Math.imul(((x2 >>> 0) * f1) | 0, p)) | 0; // [0, 2p)
        let y0 = (x0 + r - p2) | 0; // [−2p, 2p): already shifted for the next correction
        let y2 = (x0 - r) | 0; // (−2p, 2p)
        r = (Math.imul(x3, w1) - Math.imul(((x3 >>> 0) * f1) | 0, p)) | 0;
        const y1 = (x1 + r) | 0; // [0, 4p)
        const y3 = (x1 - r + p2) | 0; // (0, 4p)
        y0 = (y0 + ((y0 >> 31) & p2)) | 0; // [0, 2p)
        y2 = (y2 + ((y2 >> 31) & p2)) | 0;
        r = (Math.imul(y1, w2) - Math.imul(((y1 >>> 0) * f2) | 0, p)) | 0;
        a[j] = (y0 + r) | 0;
        a[jb] = (y0 - r + p2) | 0;
        r = (Math.imul(y3, w3) - Math.imul(((y3 >>> 0) * f3) | 0, p)) | 0;
        a[jc] = (y2 + r) | 0;
        a[jd] = (y2 - r + p2) | 0;
      }
    }
  }
}

/** Last radix-4 pass (t = 4, h = 1) with the reduction to [0, p) merged in. */
function forwardLastStrict(a: Int32Array, off: number, quarter: number, L: Int32Array, LF: Float64Array, p: number): void {
  const p2 = (p << 1) | 0;
  for (let i = 0; i < quarter; i++) {
    const j = (off + 4 * i) | 0;
    const k = (3 * i) | 0;
    const w1 = L[k];
    const w2 = L[(k + 1) | 0];
    const w3 = L[(k + 2) | 0];
    const f1 = LF[k];
    const f2 = LF[(k + 1) | 0];
    const f3 = LF[(k + 2) | 0];
    let x0 = (a[j] - p2) | 0;
    let x1 = (a[(j + 1) | 0] - p2) | 0;
    const x2 = a[(j + 2) | 0];
    const x3 = a[(j + 3) | 0];
    x0 = (x0 + ((x0 >> 31) & p2)) | 0;
    x1 = (x1 + ((x1 >> 31) & p2)) | 0;
    let r = (Math.imul(x2, w1) - Math.imul(((x2 >>> 0) * f1) | 0, p)) | 0;
    let y0 = (x0 + r - p2) | 0;
    let y2 = (x0 - r) | 0;
    r = (Math.imul(x3, w1) - Math.imul(((x3 >>> 0) * f1) | 0, p)) | 0;
    const y1 = (x1 + r) | 0;
    const y3 = (x1 - r + p2) | 0;
    y0 = (y0 + ((y0 >> 31) & p2)) | 0;
    y2 = (y2 + ((y2 >> 31) & p2)) | 0;
    r = (Math.imul(y1, w2) - Math.imul(((y1 >>> 0) * f2) | 0, p)) | 0; // [0, 2p)
    let z0 = (y0 + r - p2) | 0; // [−2p, 2p)
    z0 = (z0 + ((z0 >> 31) & p2)) | 0; // [0, 2p)
    z0 = (z0 - p) | 0;
    z0 = (z0 + ((z0 >> 31) & p)) | 0; // [0, p)
    let z1 = (y0 - r) | 0; // (−2p, 2p)
    z1 = (z1 + ((z1 >> 31) & p2)) | 0;
    z1 = (z1 - p) | 0;
    z1 = (z1 + ((z1 >> 31) & p)) | 0;
    r = (Math.imul(y3, w3) - Math.imul(((y3 >>> 0) * f3) | 0, p)) | 0;
    let z2 = (y2 + r - p2) | 0;
    z2 = (z2 + ((z2 >> 31) & p2)) | 0;
    z2 = (z2 - p) | 0;
    z2 = (z2 + ((z2 >> 31) & p)) | 0;
    let z3 = (y2 - r) | 0;
    z3 = (z3 + ((z3 >> 31) & p2)) | 0;
    z3 = (z3 - p) | 0;
    z3 = (z3 + ((z3 >> 31) & p)) | 0;
    a[j] = z0;
    a[(j + 1) | 0] = z1;
    a[(j + 2) | 0] = z2;
    a[(j + 3) | 0] = z3;
  }
}

/** Last radix-4 pass with outputs left in [0, 2p). */
function forwardLastLazy(a: Int32Array, off: number, quarter: number, L: Int32Array, LF: Float64Array, p: number): void {
  const p2 = (p << 1) | 0;
  for (let i = 0; i < quarter; i++) {
    const j = (off + 4 * i) | 0;
    const k = (3 * i) | 0;
    const w1 = L[k];
    const w2 = L[(k + 1) | 0];
    const w3 = L[(k + 2) | 0];
    const f1 = LF[k];
    const f2 = LF[(k + 1) | 0];
    const f3 = LF[(k + 2) | 0];
    let x0 = (a[j] - p2) | 0;
    let x1 = (a[(j + 1) | 0] - p2) | 0;
    const x2 = a[(j + 2) | 0];
    const x3 = a[(j + 3) | 0];
    x0 = (x0 + ((x0 >> 31) & p2)) | 0;
    x1 = (x1 + ((x1 >> 31) & p2)) | 0;
    let r = (Math.imul(x2, w1) - Math.imul(((x2 >>> 0) * f1) | 0, p)) | 0;
    let y0 = (x0 + r - p2) | 0;
    let y2 = (x0 - r) | 0;
    r = (Math.imul(x3, w1) - Math.imul(((x3 >>> 0) * f1) | 0, p)) | 0;
    const y1 = (x1 + r) | 0;
    const y3 = (x1 - r + p2) | 0;
    y0 = (y0 + ((y0 >> 31) & p2)) | 0;
    y2 = (y2 + ((y2 >> 31) & p2)) | 0;
    r = (Math.imul(y1, w2) - Math.imul(((y1 >>> 0) * f2) | 0, p)) | 0;
    let z0 = (y0 + r - p2) | 0;
    z0 = (z0 + ((z0 >> 31) & p2)) | 0;
    let z1 = (y0 - r) | 0;
    z1 = (z1 + ((z1 >> 31) & p2)) | 0;
    r = (Math.imul(y3, w3) - Math.imul(((y3 >>> 0) * f3) | 0, p)) | 0;
    let z2 = (y2 + r - p2) | 0;
    z2 = (z2 + ((z2 >> 31) & p2)) | 0;
    let z3 = (y2 - r) | 0;
    z3 = (z3 + ((z3 >> 31) & p2)) | 0;
    a[j] = z0;
    a[(j + 1) | 0] = z1;
    a[(j + 2) | 0] = z2;
    a[(j + 3) | 0] = z3;
  }
}

/**
 * Inverse negacyclic NTT in place on a[off .. off+N), input bit-reversed in [0, 2p), output in
 * natural order in [0, p), multiplied by N^−1 (so inverse∘forward is the identity).
 */
export function nttInverse(a: Int32Array, off: number, T: NttTable): void {
  inverse(a, off, T, T.nInv, T.nInvF, T.lastInv, T.lastInvF, T.mod.p);
}

/** Inverse NTT with output left in [0, 2p) (for consumers that accept lazy inputs). */
export function nttInverseLazy(a: Int32Array, off: number, T: NttTable): void {
  inverse(a, off, T, T.nInv, T.nInvF, T.lastInv, T.lastInvF, 0);
}

/**
 * c·INTT(a) in place, c ∈ [0, p): the constant is merged into the last stage with N^−1, so the
 * scaling is free (the first step of a basis conversion, y = x·(A/a)^−1, uses this). Output [0, p).
 */
export function nttInverseScaled(a: Int32Array, off: number, T: NttTable, c: number): void {
  const { p, pInv } = T.mod;
  const ni = mulMod(T.nInv, c, p, pInv);
  const lw = mulMod(T.lastInv, c, p, pInv);
  inverse(a, off, T, ni, shoup(ni, p), lw, shoup(lw, p), p);
}

function inverse(a: Int32Array, off: number, T: NttTable, ni: number, nif: number, lw: number, lwf: number, sub: number): void {
  // Gentleman–Sande stages (m, t) = (N/2, 1), (N/4, 2), …, (1, N/2); butterfly
  // (x, y) ↦ (x + y, (x − y)·w) with x, y ∈ [0, 2p): x + y is corrected to [0, 2p), x − y + 2p ∈ (0, 4p)
  // (read as uint32) goes through a lazy Shoup product into [0, 2p). One correction per butterfly.
  let m = T.N >> 1;
  let t = 1;
  if (T.logN & 1) {
    inverseRadix2(a, off, m, T.psiInv, T.psiInvF, T.mod.p);
    m >>= 1;
    t = 2;
  } else if (m > 2) {
    inverseFirst4(a, off, T.N >> 2, T.firstInvW, T.firstInvWF, T.mod.p);
    m >>= 2;
    t = 4;
  }
  for (; m > 2; m >>= 2) {
    inverseRadix4(a, off, m, t, T.psiInv, T.psiInvF, T.mod.p);
    t <<= 2;
  }
  inverseLast(a, off, t, T, ni, nif, lw, lwf, sub);
}

/** First stage (t = 1) for odd log N: [0, 2p) in and out. */
function inverseRadix2(a: Int32Array, off: number, m: number, W: Int32Array, WF: Float64Array, p: number): void {
  const p2 = (p << 1) | 0; // int32: `2 * p` ≥ 2^30 would be typed as a heap number (float64) by V8
  for (let i = 0; i < m; i++) {
    const j = off + 2 * i;
    const w = W[m + i];
    const wf = WF[m + i];
    const x = a[j];
    const y = a[j + 1];
    let u = x + y - p2;
    u = (u + ((u >> 31) & p2)) | 0;
    const d = (x - y + p2) | 0;
    a[j] = u;
    a[j + 1] = (Math.imul(d, w) - Math.imul(((d >>> 0) * wf) | 0, p)) | 0;
  }
}

/** First radix-4 pass of an even log N (t = 1: stages N/2 and N/4), interleaved twiddles. */
function inverseFirst4(a: Int32Array, off: number, groups: number, L: Int32Array, LF: Float64Array, p: number): void {
  const p2 = (p << 1) | 0;
  for (let g = 0; g < groups; g++) {
    const j = off + 4 * g;
    const k = 3 * g;
    const wa = L[k];
    const wb = L[k + 1];
    const wc = L[k + 2];
    const fa = LF[k];
    const fb = LF[k + 1];
    const fc = LF[k + 2];
    const x0 = a[j];
    const x1 = a[j + 1];
    const x2 = a[j + 2];
    const x3 = a[j + 3];
    let y0 = (x0 + x1 - p2) | 0;
    y0 = (y0 + ((y0 >> 31) & p2)) | 0;
    let d = (x0 - x1 + p2) | 0;
    const y1 = (Math.imul(d, wa) - Math.imul(((d >>> 0) * fa) | 0, p)) | 0;
    let y2 = (x2 + x3 - p2) | 0;
    y2 = (y2 + ((y2 >> 31) & p2)) | 0;
    d = (x2 - x3 + p2) | 0;
    const y3 = (Math.imul(d, wb) - Math.imul(((d >>> 0) * fb) | 0, p)) | 0;
    let z0 = (y0 + y2 - p2) | 0;
    z0 = (z0 + ((z0 >> 31) & p2)) | 0;
    d = (y0 - y2 + p2) | 0;
    const z2 = (Math.imul(d, wc) - Math.imul(((d >>> 0) * fc) | 0, p)) | 0;
    let z1 = (y1 + y3 - p2) | 0;
    z1 = (z1 + ((z1 >> 31) & p2)) | 0;
    d = (y1 - y3 + p2) | 0;
    const z3 = (Math.imul(d, wc) - Math.imul(((d >>> 0) * fc) | 0, p)) | 0;
    a[j] = z0;
    a[j + 1] = z1;
    a[j + 2] = z2;
    a[j + 3] = z3;
  }
}

/** Radix-4 pass: stages (m, t) and (m/2, 2t) on a[j], a[j+t], a[j+2t], a[j+3t]; [0, 2p) in and out. */
function inverseRadix4(a: Int32Array, off: number, m: number, t: number, W: Int32Array, WF: Float64Array, p: number): void {
  const p2 = (p << 1) | 0; // int32: `2 * p` ≥ 2^30 would be typed as a heap number (float64) by V8
  const t2 = 2 * t;
  const t3 = 3 * t;
  const groups = m >> 1;
  for (let g = 0; g < groups; g++) {
    const j1 = (off + 4 * g * t) | 0;
    const wa = W[m + 2 * g];
    const fa = WF[m + 2 * g];
    const wb = W[m + 2 * g + 1];
    const fb = WF[m + 2 * g + 1];
    const wc = W[groups + g];
    const fc = WF[groups + g];
    const e = (j1 + t) | 0;
    // two butterflies per iteration (t ≥ 2 is even), as in forwardRadix4
    for (let j0 = j1; j0 < e; j0 = (j0 + 2) | 0) {
      let j = j0;
      {
        const jb = (j + t) | 0;
        const jc = (j + t2) | 0;
        const jd = (j + t3) | 0;
        const x0 = a[j];
        const x1 = a[jb];
        const x2 = a[jc];
        const x3 = a[jd];
        let y0 = (x0 + x1 - p2) | 0;
        y0 = (y0 + ((y0 >> 31) & p2)) | 0; // [0, 2p)
        let d = (x0 - x1 + p2) | 0; // (0, 4p)
        const y1 = (Math.imul(d, wa) - Math.imul(((d >>> 0) * fa) | 0, p)) | 0; // [0, 2p)
        let y2 = (x2 + x3 - p2) | 0;
        y2 = (y2 + ((y2 >> 31) & p2)) | 0;
        d = (x2 - x3 + p2) | 0;
        const y3 = (Math.imul(d, wb) - Math.imul(((d >>> 0) * fb) | 0, p)) | 0;
        let z0 = (y0 + y2 - p2) | 0;
        z0 = (z0 + ((z0 >> 31) & p2)) | 0;
        d = (y0 - y2 + p2) | 0;
        const z2 = (Math.imul(d, wc) - Math.imul(((d >>> 0) * fc) | 0, p)) | 0;
        let z1 = (y1 + y3 - p2) | 0;
        z1 = (z1 + ((z1 >> 31) & p2)) | 0;
        d = (y1 - y3 + p2) | 0;
        const z3 = (Math.imul(d, wc) - Math.imul(((d >>> 0) * fc) | 0, p)) | 0;
        a[j] = z0;
        a[jb] = z1;
        a[jc] = z2;
        a[jd] = z3;
      }
      j = (j0 + 1) | 0;
      {
        const jb = (j + t) | 0;
        const jc = (j + t2) | 0;
        const jd = (j + t3) | 0;
        const x0 = a[j];
        const x1 = a[jb];
        const x2 = a[jc];
        const x3 = a[jd];
        let y0 = (x0 + x1 - p2) | 0;
        y0 = (y0 + ((y0 >> 31) & p2)) | 0; // [0, 2p)
        let d = (x0 - x1 + p2) | 0; // (0, 4p)
        const y1 = (Math.imul(d, wa) - Math.imul(((d >>> 0) * fa) | 0, p)) | 0; // [0, 2p)
        let y2 = (x2 + x3 - p2) | 0;
        y2 = (y2 + ((y2 >> 31) & p2)) | 0;
        d = (x2 - x3 + p2) | 0;
        const y3 = (Math.imul(d, wb) - Math.imul(((d >>> 0) * fb) | 0, p)) | 0;
        let z0 = (y0 + y2 - p2) | 0;
        z0 = (z0 + ((z0 >> 31) & p2)) | 0;
        d = (y0 - y2 + p2) | 0;
        const z2 = (Math.imul(d, wc) - Math.imul(((d >>> 0) * fc) | 0, p)) | 0;
        let z1 = (y1 + y3 - p2) | 0;
        z1 = (z1 + ((z1 >> 31) & p2)) | 0;
        d = (y1 - y3 + p2) | 0;
        const z3 = (Math.imul(d, wc) - Math.imul(((d >>> 0) * fc) | 0, p)) | 0;
        a[j] = z0;
        a[jb] = z1;
        a[jc] = z2;
        a[jd] = z3;
      }
    }
  }
}

/**
 * Last radix-4 pass: stage (2, t) then (1, 2t) with N^−1 merged: a[j] = (x + y)/N,
 * a[j + N/2] = (x − y)·ψ^−1-twiddle/N; outputs in [0, p) when sub = p, [0, 2p) when sub = 0.
 */
function inverseLast(
  a: Int32Array, off: number, t: number, T: NttTable, ni: number, nif: number, lw: number, lwf: number, sub: number,
): void {
  const p = T.mod.p;
  const p2 = (p << 1) | 0; // int32: `2 * p` ≥ 2^30 would be typed as a heap number (float64) by V8
  const W = T.psiInv;
  const WF = T.psiInvF;
  const wa = W[2];
  const fa = WF[2];
  const wb = W[3];
  const fb = WF[3];
  const t2 = 2 * t;
  const t3 = 3 * t;
  const e = off + t;
  for (let j = off; j < e; j++) {
    const x0 = a[j];
    const x1 = a[j + t];
    const x2 = a[j + t2];
    const x3 = a[j + t3];
    let y0 = x0 + x1 - p2;
    y0 = (y0 + ((y0 >> 31) & p2)) | 0;
    let d = (x0 - x1 + p2) | 0;
    const y1 = (Math.imul(d, wa) - Math.imul(((d >>> 0) * fa) | 0, p)) | 0;
    let y2 = x2 + x3 - p2;
    y2 = (y2 + ((y2 >> 31) & p2)) | 0;
    d = (x2 - x3 + p2) | 0;
    const y3 = (Math.imul(d, wb) - Math.imul(((d >>> 0) * fb) | 0, p)) | 0;
    let s = (y0 + y2) | 0; // [0, 4p)
    let z0 = ((Math.imul(s, ni) - Math.imul(((s >>> 0) * nif) | 0, p)) | 0) - sub;
    z0 = (z0 + ((z0 >> 31) & sub)) | 0;
    d = (y0 - y2 + p2) | 0;
    let z2 = ((Math.imul(d, lw) - Math.imul(((d >>> 0) * lwf) | 0, p)) | 0) - sub;
    z2 = (z2 + ((z2 >> 31) & sub)) | 0;
    s = (y1 + y3) | 0;
    let z1 = ((Math.imul(s, ni) - Math.imul(((s >>> 0) * nif) | 0, p)) | 0) - sub;
    z1 = (z1 + ((z1 >> 31) & sub)) | 0;
    d = (y1 - y3 + p2) | 0;
    let z3 = ((Math.imul(d, lw) - Math.imul(((d >>> 0) * lwf) | 0, p)) | 0) - sub;
    z3 = (z3 + ((z3 >> 31) & sub)) | 0;
    a[j] = z0;
    a[j + t] = z1;
    a[j + t2] = z2;
    a[j + t3] = z3;
  }
}

/**
 * The forward transform's loop structure (a radix-2 stage for odd log N, radix-4 passes, a last
 * pass over groups of four) with butterflies reduced to wrapping additions: no products, no
 * corrections, no twiddle loads. Not a transform: the benchmark's "plain loop" limit, i.e. what the
 * loads, stores and loop control of this access pattern cost in JS.
 */
export function nttPlainLoop(a: Int32Array, off: number, N: number): void {
  const logN = Math.log2(N);
  let t = N;
  let m = 1;
  if (logN & 1) {
    t >>= 1;
    for (let j = off, e = off + t; j < e; j++) {
      const x = a[j];
      const y = a[j + t];
      a[j] = (x + y) | 0;
      a[j + t] = (x - y) | 0;
    }
    m = 2;
  }
  const quarter = N >> 2;
  for (; m < quarter; m <<= 2) {
    const h = t >> 2;
    const t2 = t >> 1;
    for (let i = 0; i < m; i++) {
      const j1 = off + i * t;
      for (let j = j1, e = j1 + h; j < e; j++) {
        const x0 = a[j];
        const x1 = a[j + h];
        const x2 = a[j + t2];
        const x3 = a[j + t2 + h];
        const y0 = (x0 + x2) | 0;
        const y2 = (x0 - x2) | 0;
        const y1 = (x1 + x3) | 0;
        const y3 = (x1 - x3) | 0;
        a[j] = (y0 + y1) | 0;
        a[j + h] = (y0 - y1) | 0;
        a[j + t2] = (y2 + y3) | 0;
        a[j + t2 + h] = (y2 - y3) | 0;
      }
    }
    t >>= 2;
  }
  for (let i = 0; i < quarter; i++) {
    const j = off + 4 * i;
    const x0 = a[j];
    const x1 = a[j + 1];
    const x2 = a[j + 2];
    const x3 = a[j + 3];
    const y0 = (x0 + x2) | 0;
    const y2 = (x0 - x2) | 0;
    const y1 = (x1 + x3) | 0;
    const y3 = (x1 - x3) | 0;
    a[j] = (y0 + y1) | 0;
    a[j + 1] = (y0 - y1) | 0;
    a[j + 2] = (y2 + y3) | 0;
    a[j + 3] = (y2 - y3) | 0;
  }
}
