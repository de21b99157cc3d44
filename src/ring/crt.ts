/**
 * @module ring/crt
 * RNS → float64 reconstruction of small signed integers by Garner's mixed-radix conversion with
 * centred digits: x = d_0 + q_0·(d_1 + q_1·(d_2 + …)), d_i ∈ (−q_i/2, q_i/2]. Exact digits, then a
 * Horner evaluation whose relative error is ~2^−52 of |x| however many limbs are used, so decoding a
 * 2^−30-precise message from a 2^60-sized residue loses nothing (a plain float CRT would cancel
 * catastrophically). O(k²) word operations per coefficient for k limbs; decoding uses k ≤ 4.
 */
import { type Modulus, invMod, mulMod, reduce } from './modulus.js';

/** Precomputed Garner constants for the first k moduli. */
export class GarnerTable {
  readonly k: number;
  readonly moduli: readonly Modulus[];
  /** [q_0⋯q_{i−1}]_{q_j} at j·k + i (i < j). */
  private readonly prefix: Int32Array;
  /** (q_0⋯q_{j−1})^−1 mod q_j. */
  private readonly inv: Int32Array;

  constructor(moduli: readonly Modulus[]) {
    const k = moduli.length;
    this.k = k;
    this.moduli = moduli;
    this.prefix = new Int32Array(k * k);
    this.inv = new Int32Array(k);
    for (let j = 0; j < k; j++) {
      const qj = moduli[j].p;
      let m = 1 % qj;
      for (let i = 0; i < j; i++) {
        this.prefix[j * k + i] = m;
        m = mulMod(m, reduce(moduli[i].p, qj), qj, 1 / qj);
      }
      this.inv[j] = j === 0 ? 1 : invMod(m, qj);
    }
  }

  /**
   * Reconstructs coefficients n ∈ [0, N) from limbs 0..k−1 of `src` (limb i at i·N, residues in
   * [0, q_i), coefficient domain) into `out` as float64 (centred representative). `digits` is
   * scratch of k·N int32.
   */
  reconstruct(src: Int32Array, N: number, out: Float64Array, digits: Int32Array): void {
    const k = this.k;
    const ms = this.moduli;
    for (let j = 0; j < k; j++) {
      const qj = ms[j].p;
      const qInv = ms[j].pInv;
      const half = qj >> 1;
      const dOff = j * N;
      const sOff = j * N;
      const invj = this.inv[j];
      for (let n = 0; n < N; n++) {
        // acc = Σ_{i<j} d_i·[q_0⋯q_{i−1}]_{q_j} mod q_j
        let acc = 0;
        for (let i = 0; i < j; i++) {
          let d = digits[i * N + n] % qj;
          d += (d >> 31) & qj;
          acc += mulMod(d, this.prefix[j * k + i], qj, qInv);
          acc -= qj;
          acc += (acc >> 31) & qj;
        }
        let t = src[sOff + n] - acc;
        t += (t >> 31) & qj;
        if (j > 0) t = mulMod(t, invj, qj, qInv);
        digits[dOff + n] = t > half ? t - qj : t;
      }
    }
    for (let n = 0; n < N; n++) {
      let v = digits[(k - 1) * N + n];
      for (let i = k - 2; i >= 0; i--) v = v * ms[i].p + digits[i * N + n];
      out[n] = v;
    }
  }
}
