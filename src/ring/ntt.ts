/**
 * @module ring/ntt
 * Negacyclic number-theoretic transform over Z_p[X]/(X^N + 1), one RNS limb at a time.
 *
 * Forward: Cooley–Tukey with the ψ-twist merged into the twiddles (Longa–Naehrig, "Speeding up the
 * number theoretic transform for faster ideal lattice-based cryptography", eprint 2016/504, Alg. 1).
 * Inverse: Gentleman–Sande (ibid. Alg. 2) with N^−1 merged into the last stage (as SEAL does).
 * Twiddles are ψ^k stored at index bitrev(k) with precomputed float quotients (Harvey's lazy
 * butterflies, arXiv 1205.2926): values stay in [0, 2p) between stages, with p < 2^30 so that every
 * intermediate sum fits in int32. The output is in bit-reversed order: entry i holds the
 * evaluation at ψ^(2·bitrev(i)+1). Pointwise products do not care about the order.
 */
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

/** Builds the NTT tables of prime `mod` for ring degree N (a power of two, N ≥ 4). */
export function makeNttTable(mod: Modulus, N: number): NttTable {
  const logN = Math.log2(N);
  if (!Number.isInteger(logN) || logN < 2) throw new RangeError(`N = ${N} must be a power of two ≥ 4`);
  const { p, pInv } = mod;
  const root = primitive2NthRoot(p, N);
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
  if (powMod(root, N, p) !== p - 1) throw new Error('internal: ψ is not a primitive 2N-th root');
  return {
    N, logN, mod, psi, psiF, psiInv, psiInvF, root,
    nInv, nInvF: shoup(nInv, p), lastInv, lastInvF: shoup(lastInv, p),
  };
}

/**
 * Forward negacyclic NTT in place on a[off .. off+N). Input in [0, 2p); output in [0, p),
 * bit-reversed order.
 */
export function nttForward(a: Int32Array, off: number, T: NttTable): void {
  const N = T.N;
  const p = T.mod.p;
  const p2 = T.mod.p2;
  const W = T.psi;
  const WF = T.psiF;
  let t = N;
  // Stages with butterfly distance t ≥ 2; values stay in [0, 2p).
  for (let m = 1; m < N >> 1; m <<= 1) {
    t >>= 1;
    for (let i = 0; i < m; i++) {
      const j1 = off + 2 * i * t;
      const j2 = j1 + t;
      const w = W[m + i];
      const wf = WF[m + i];
      for (let j = j1; j < j2; j++) {
        const x = a[j];
        const y = a[j + t];
        const r = (Math.imul(y, w) - Math.imul((y * wf) | 0, p)) | 0; // [0, 2p)
        let u = x - p2 + r;
        u += (u >> 31) & p2;
        let v = x - r;
        v += (v >> 31) & p2;
        a[j] = u;
        a[j + t] = v;
      }
    }
  }
  // Last stage (t = 1), with the final reduction to [0, p) merged in.
  const h = N >> 1;
  for (let i = 0; i < h; i++) {
    const j = off + 2 * i;
    const w = W[h + i];
    const wf = WF[h + i];
    const x = a[j];
    const y = a[j + 1];
    const r = (Math.imul(y, w) - Math.imul((y * wf) | 0, p)) | 0;
    let u = x - p2 + r; // [−2p, 2p)
    u += (u >> 31) & p2; // [0, 2p)
    u -= p;
    u += (u >> 31) & p; // [0, p)
    let v = x - r;
    v += (v >> 31) & p2;
    v -= p;
    v += (v >> 31) & p;
    a[j] = u;
    a[j + 1] = v;
  }
}

/**
 * Inverse negacyclic NTT in place on a[off .. off+N), input bit-reversed in [0, 2p), output in
 * natural order in [0, p), multiplied by N^−1 (so inverse∘forward is the identity).
 */
export function nttInverse(a: Int32Array, off: number, T: NttTable): void {
  const N = T.N;
  const p = T.mod.p;
  const p2 = T.mod.p2;
  const W = T.psiInv;
  const WF = T.psiInvF;
  // First stage (t = 1).
  const h = N >> 1;
  for (let i = 0; i < h; i++) {
    const j = off + 2 * i;
    const w = W[h + i];
    const wf = WF[h + i];
    const x = a[j];
    const y = a[j + 1];
    let u = x - p2 + y;
    u += (u >> 31) & p2;
    let d = x - y;
    d += (d >> 31) & p2;
    a[j] = u;
    a[j + 1] = (Math.imul(d, w) - Math.imul((d * wf) | 0, p)) | 0;
  }
  let t = 2;
  for (let m = N >> 2; m > 1; m >>= 1) {
    let j1 = off;
    for (let i = 0; i < m; i++) {
      const w = W[m + i];
      const wf = WF[m + i];
      const j2 = j1 + t;
      for (let j = j1; j < j2; j++) {
        const x = a[j];
        const y = a[j + t];
        let u = x - p2 + y;
        u += (u >> 31) & p2;
        let d = x - y;
        d += (d >> 31) & p2;
        a[j] = u;
        a[j + t] = (Math.imul(d, w) - Math.imul((d * wf) | 0, p)) | 0;
      }
      j1 += 2 * t;
    }
    t <<= 1;
  }
  // Last stage (m = 1, t = N/2) with N^−1 merged: a[j] = (x+y)/N, a[j+t] = (x−y)·ψ^−…/N.
  const ni = T.nInv;
  const nif = T.nInvF;
  const lw = T.lastInv;
  const lwf = T.lastInvF;
  const end = off + h;
  for (let j = off; j < end; j++) {
    const x = a[j];
    const y = a[j + h];
    let u = x - p2 + y;
    u += (u >> 31) & p2;
    let d = x - y;
    d += (d >> 31) & p2;
    let r0 = ((Math.imul(u, ni) - Math.imul((u * nif) | 0, p)) | 0) - p;
    r0 += (r0 >> 31) & p;
    let r1 = ((Math.imul(d, lw) - Math.imul((d * lwf) | 0, p)) | 0) - p;
    r1 += (r1 >> 31) & p;
    a[j] = r0;
    a[j + h] = r1;
  }
}
