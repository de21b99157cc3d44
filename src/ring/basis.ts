/**
 * @module ring/basis
 * Fast basis conversion between RNS bases with the exact floating-point correction
 * (Halevi–Polyakov–Shoup, eprint 2018/117 §2.2; Han–Ki, eprint 2019/688 §3; Lattigo
 * `ring/basis_extension.go` ModUpExact).
 *
 * For x given by residues x_i modulo the source primes a_i (A = Π a_i):
 *   y_i = [x_i · (A/a_i)^−1]_{a_i},   v = ⌊Σ y_i/a_i⌉,   x mod b = Σ y_i·[A/a_i]_b − v·[A]_b,
 * which is the centred representative of x in [−A/2, A/2). v is computed in float64; when x sits
 * within ~2^−40·A of ±A/2 the estimate may be off by one, which changes the result by ±A: harmless
 * for key switching (the excess is a multiple of a digit) and for ModDown (it becomes a ±1
 * rounding error), which are the two uses. (Flooring instead would give [0, A) but would be
 * fragile exactly where values are small, so it is not offered.)
 */
import { type Modulus, invMod, mulMod, reduce, shoup } from './modulus.js';

/** Converts residues from a fixed source basis to any subset of a fixed target list. */
export class BasisConverter {
  readonly N: number;
  readonly from: readonly Modulus[];
  readonly to: readonly Modulus[];
  /** (A/a_i)^−1 mod a_i and its quotient. */
  private readonly hatInv: Int32Array;
  private readonly hatInvF: Float64Array;
  /** 1/a_i. */
  private readonly fromInv: Float64Array;
  /** [A/a_i]_{b_j} at j·k + i, with quotients. */
  private readonly hat: Int32Array;
  private readonly hatF: Float64Array;
  /** [v·A]_{b_j} at j·(k+1) + v for v in [0, k]. */
  private readonly vA: Int32Array;
  /** Scratch: y values (k·N), v (N) and a float accumulator (N). */
  private readonly y: Int32Array;
  private readonly v: Int32Array;
  private readonly acc: Float64Array;

  constructor(N: number, from: readonly Modulus[], to: readonly Modulus[]) {
    this.N = N;
    this.from = from;
    this.to = to;
    const k = from.length;
    this.hatInv = new Int32Array(k);
    this.hatInvF = new Float64Array(k);
    this.fromInv = new Float64Array(k);
    for (let i = 0; i < k; i++) {
      const ai = from[i].p;
      // (A/a_i) mod a_i = Π_{l≠i} a_l mod a_i
      let h = 1;
      for (let l = 0; l < k; l++) if (l !== i) h = mulMod(h, reduce(from[l].p, ai), ai, 1 / ai);
      this.hatInv[i] = invMod(h, ai);
      this.hatInvF[i] = shoup(this.hatInv[i], ai);
      this.fromInv[i] = 1 / ai;
    }
    const T = to.length;
    this.hat = new Int32Array(T * k);
    this.hatF = new Float64Array(T * k);
    this.vA = new Int32Array(T * (k + 1));
    for (let j = 0; j < T; j++) {
      const b = to[j].p;
      const bInv = 1 / b;
      let Amod = 1;
      for (let l = 0; l < k; l++) Amod = mulMod(Amod, reduce(from[l].p, b), b, bInv);
      for (let i = 0; i < k; i++) {
        let h = 1;
        for (let l = 0; l < k; l++) if (l !== i) h = mulMod(h, reduce(from[l].p, b), b, bInv);
        this.hat[j * k + i] = h;
        this.hatF[j * k + i] = shoup(h, b);
      }
      for (let v = 0; v <= k; v++) this.vA[j * (k + 1) + v] = mulMod(reduce(v, b), Amod, b, bInv);
    }
    this.y = new Int32Array(k * N);
    this.v = new Int32Array(N);
    this.acc = new Float64Array(N);
  }

  /**
   * Converts the first `k` source limbs (`k` ≤ from.length; a partial digit uses a converter built
   * for exactly its primes, so normally k = from.length) read from `src` (limb i at srcOff[i]) into
   * the target moduli listed in `targets` (indices into `to`), written to outs[t] at outOff[t].
   * Inputs in [0, a_i), outputs in [0, b_j): the centred representative of x reduced mod b_j.
   */
  convert(
    src: Int32Array, srcOff: readonly number[],
    targets: readonly number[], outs: readonly Int32Array[], outOff: readonly number[],
  ): void {
    const N = this.N;
    const k = this.from.length;
    const y = this.y;
    const v = this.v;
    const acc = this.acc;
    acc.fill(0.5); // ⌊Σ y_i/a_i + 1/2⌋ = round
    for (let i = 0; i < k; i++) {
      const a = this.from[i].p;
      const hi = this.hatInv[i];
      const hf = this.hatInvF[i];
      const inv = this.fromInv[i];
      const so = srcOff[i];
      const yo = i * N;
      for (let n = 0; n < N; n++) {
        const x = src[so + n];
        let r = ((Math.imul(x, hi) - Math.imul((x * hf) | 0, a)) | 0) - a;
        r += (r >> 31) & a;
        y[yo + n] = r;
        acc[n] += r * inv;
      }
    }
    for (let n = 0; n < N; n++) v[n] = acc[n] | 0; // acc ≥ 0: truncation = floor
    const kp1 = k + 1;
    for (let t = 0; t < targets.length; t++) {
      const j = targets[t];
      const b = this.to[j].p;
      const bInv = 1 / b;
      const out = outs[t];
      const oo = outOff[t];
      const hb = j * k;
      const vb = j * kp1;
      // Σ_i y_i·hat_ij accumulated exactly in float64 (each term in [0, 2b), k·2b < 2^53).
      acc.fill(0);
      for (let i = 0; i < k; i++) {
        const h = this.hat[hb + i];
        const hf = this.hatF[hb + i];
        const yo = i * N;
        for (let n = 0; n < N; n++) {
          const x = y[yo + n];
          acc[n] += (Math.imul(x, h) - Math.imul((x * hf) | 0, b)) | 0;
        }
      }
      const vA = this.vA;
      for (let n = 0; n < N; n++) {
        const s = acc[n] - vA[vb + v[n]]; // (−b, k·2b)
        let r = (s - Math.floor(s * bInv) * b) | 0; // ±1 quotient error → (−b, 2b)
        r += (r >> 31) & b;
        r -= b;
        r += (r >> 31) & b;
        out[oo + n] = r;
      }
    }
  }
}
