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
 *
 * The conversion is split in three steps so that callers can fuse and parallelize them:
 *  1. y_i per source limb: `hatInv(i)` is the constant; key switching folds it into the inverse NTT
 *     that produces the coefficients (`nttInverseScaled`), so step 1 costs nothing extra;
 *  2. `computeV`: v for every coefficient (k float multiply-adds each);
 *  3. `convertTo`: one target limb at a time, so each target can be transformed (NTT) while it
 *     is still in cache, and targets can be shared out between threads.
 * Measured (N = 2^13, k = 2): ≈ 1.6 ns per target coefficient for step 3 against ≈ 6 ns for the
 * previous "all targets, float accumulator array" loop.
 */
import { type Modulus, invMod, mulMod, reduce, shoup } from './modulus.js';

/** Converts residues from a fixed source basis to any subset of a fixed target list. */
export class BasisConverter {
  readonly N: number;
  readonly from: readonly Modulus[];
  readonly to: readonly Modulus[];
  /** (A/a_i)^−1 mod a_i and its quotient. */
  private readonly hatInvs: Int32Array;
  private readonly hatInvF: Float64Array;
  /** 1/a_i. */
  private readonly fromInv: Float64Array;
  /** [A/a_i]_{b_j} at j·k + i, with quotients. */
  private readonly hat: Int32Array;
  private readonly hatF: Float64Array;
  /** [v·A]_{b_j} at j·(k+1) + v for v in [0, k]. */
  private readonly vA: Int32Array;
  /** Scratch of `convert`: y values (k·N) and v (N). */
  private y?: Int32Array;
  private v?: Int32Array;

  constructor(N: number, from: readonly Modulus[], to: readonly Modulus[]) {
    this.N = N;
    this.from = from;
    this.to = to;
    const k = from.length;
    this.hatInvs = new Int32Array(k);
    this.hatInvF = new Float64Array(k);
    this.fromInv = new Float64Array(k);
    for (let i = 0; i < k; i++) {
      const ai = from[i].p;
      // (A/a_i) mod a_i = Π_{l≠i} a_l mod a_i
      let h = 1;
      for (let l = 0; l < k; l++) if (l !== i) h = mulMod(h, reduce(from[l].p, ai), ai, 1 / ai);
      this.hatInvs[i] = invMod(h, ai);
      this.hatInvF[i] = shoup(this.hatInvs[i], ai);
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
  }

  /** Number of source primes. */
  get k(): number {
    return this.from.length;
  }

  /** (A/a_i)^−1 mod a_i: y_i = x_i·hatInv(i) mod a_i (step 1). */
  hatInv(i: number): number {
    return this.hatInvs[i];
  }

  /** Step 1 as a separate pass: y[yOff + i·N + n] = x·hatInv(i) mod a_i for x = src[srcOff + n] ∈ [0, 2a_i). */
  computeY(src: Int32Array, srcOff: number, i: number, y: Int32Array, yOff: number): void {
    const a = this.from[i].p;
    const hi = this.hatInvs[i];
    const hf = this.hatInvF[i];
    const N = this.N;
    const yo = yOff + i * N;
    for (let n = 0; n < N; n++) {
      const x = src[srcOff + n];
      let r = ((Math.imul(x, hi) - Math.imul((x * hf) | 0, a)) | 0) - a;
      r += (r >> 31) & a;
      y[yo + n] = r;
    }
  }

  /**
   * Step 2: v[vOff + n] = ⌊Σ_i y_i[n]/a_i⌉ ∈ [0, k] for n ∈ [n0, n1), with y_i at y[yOff + i·N + n]
   * in [0, a_i).
   */
  computeV(y: Int32Array, yOff: number, v: Int32Array, vOff: number, n0 = 0, n1 = this.N): void {
    const N = this.N;
    const k = this.from.length;
    const inv = this.fromInv;
    if (k === 1) {
      const i0 = inv[0];
      for (let n = n0; n < n1; n++) v[vOff + n] = (y[yOff + n] * i0 + 0.5) | 0;
      return;
    }
    if (k === 2) {
      const i0 = inv[0];
      const i1 = inv[1];
      const o1 = yOff + N;
      let n = n0;
      for (const e4 = n1 - 3; n < e4; n += 4) {
        v[vOff + n] = (y[yOff + n] * i0 + y[o1 + n] * i1 + 0.5) | 0;
        v[vOff + n + 1] = (y[yOff + n + 1] * i0 + y[o1 + n + 1] * i1 + 0.5) | 0;
        v[vOff + n + 2] = (y[yOff + n + 2] * i0 + y[o1 + n + 2] * i1 + 0.5) | 0;
        v[vOff + n + 3] = (y[yOff + n + 3] * i0 + y[o1 + n + 3] * i1 + 0.5) | 0;
      }
      for (; n < n1; n++) v[vOff + n] = (y[yOff + n] * i0 + y[o1 + n] * i1 + 0.5) | 0;
      return;
    }
    for (let n = n0; n < n1; n++) {
      let s = 0.5;
      for (let i = 0, o = yOff + n; i < k; i++, o += N) s += y[o] * inv[i];
      v[vOff + n] = s | 0; // s ≥ 0: truncation = floor
    }
  }

  /**
   * Step 3: target j (index into `to`) for coefficients [n0, n1): out[outOff + n] = the centred
   * representative of x reduced mod b_j, in [0, b_j). y and v as produced by steps 1 and 2.
   */
  convertTo(y: Int32Array, yOff: number, v: Int32Array, vOff: number, j: number, out: Int32Array, outOff: number, n0 = 0, n1 = this.N): void {
    this.convertToSub(y, yOff, v, vOff, j, out, outOff, n0, n1, this.to[j].p);
  }

  /**
   * Step 3 with the output left in [0, 2b_j) (same residue as `convertTo`), for consumers that
   * accept lazy inputs such as the forward NTT. The last correction sits at the end of each
   * kernel's dependency chain: dropping it made the two-source conversion 20% faster (25.8 → 20.7 µs
   * at N = 2^13, measured).
   */
  convertToLazy(y: Int32Array, yOff: number, v: Int32Array, vOff: number, j: number, out: Int32Array, outOff: number): void {
    this.convertToSub(y, yOff, v, vOff, j, out, outOff, 0, this.N, 0);
  }

  /**
   * `convertToLazy` for two targets j1, j2 in one pass: the sources' residues and v are loaded
   * once for both. With two source primes (the case of key switching at logN 13) this has its own
   * kernel: V8 re-checks every array (map, bounds, backing store) once per loop iteration, so two
   * targets per iteration halve that overhead as well as the loads; measured 23% less than two
   * single-target passes at N = 2^13. Other source counts run the single-target kernel twice.
   */
  convertToLazyPair(
    y: Int32Array, yOff: number, v: Int32Array, vOff: number,
    j1: number, out1: Int32Array, o1: number, j2: number, out2: Int32Array, o2: number,
  ): void {
    if (this.from.length !== 2) {
      this.convertToSub(y, yOff, v, vOff, j1, out1, o1, 0, this.N, 0);
      this.convertToSub(y, yOff, v, vOff, j2, out2, o2, 0, this.N, 0);
      return;
    }
    const H = this.hat;
    const HF = this.hatF;
    convert2Pair(
      y, yOff, yOff + this.N, v, vOff, this.vA, 3 * j1, 3 * j2,
      H[2 * j1], HF[2 * j1], H[2 * j1 + 1], HF[2 * j1 + 1], this.to[j1].p,
      H[2 * j2], HF[2 * j2], H[2 * j2 + 1], HF[2 * j2 + 1], this.to[j2].p,
      out1, o1, out2, o2, this.N,
    );
  }

  /** The kernels end with x − sb, corrected: sb = b gives [0, b), sb = 0 leaves [0, 2b). */
  private convertToSub(y: Int32Array, yOff: number, v: Int32Array, vOff: number, j: number, out: Int32Array, outOff: number, n0: number, n1: number, sb: number): void {
    // one small function per source count: V8 then keeps each loop's constants in registers
    // (a single function with all cases was measured ≈ 30% slower)
    const k = this.from.length;
    const b = this.to[j].p;
    const H = this.hat;
    const HF = this.hatF;
    const hb = j * k;
    const vb = j * (k + 1);
    switch (k) {
      case 1:
        convert1(y, yOff, v, vOff, this.vA, vb, H[hb], HF[hb], b, sb, out, outOff, n0, n1);
        return;
      case 2:
        convert2(y, yOff, yOff + this.N, v, vOff, this.vA, vb, H[hb], HF[hb], H[hb + 1], HF[hb + 1], b, sb, out, outOff, n0, n1);
        return;
      case 3:
        convert3(y, yOff, this.N, v, vOff, this.vA, vb, H, HF, hb, b, sb, out, outOff, n0, n1);
        return;
      default:
        convertN(y, yOff, this.N, k, v, vOff, this.vA, vb, H, HF, hb, b, sb, out, outOff, n0, n1);
    }
  }

  /**
   * All three steps: converts the source limbs read from `src` (limb i at srcOff[i], in [0, 2a_i))
   * into the target moduli listed in `targets` (indices into `to`), written to outs[t] at
   * outOff[t]. Outputs in [0, b_j): the centred representative of x reduced mod b_j.
   */
  convert(
    src: Int32Array, srcOff: readonly number[],
    targets: readonly number[], outs: readonly Int32Array[], outOff: readonly number[],
  ): void {
    const N = this.N;
    const k = this.from.length;
    if (!this.y) {
      this.y = new Int32Array(k * N);
      this.v = new Int32Array(N);
    }
    const y = this.y;
    const v = this.v!;
    for (let i = 0; i < k; i++) this.computeY(src, srcOff[i], i, y, 0);
    this.computeV(y, 0, v, 0);
    for (let t = 0; t < targets.length; t++) this.convertTo(y, 0, v, 0, targets[t], outs[t], outOff[t]);
  }
}

// ----------------------------------------------------------------------------- step-3 kernels
// x mod b = Σ_i y_i·[A/a_i]_b − v·[A]_b: each product lazily in [0, 2b) (Shoup, no correction); a
// sum of two is below 4b < 2^32 and is kept as a uint32 bit pattern, folded back to [0, 2b).

function convert1(
  y: Int32Array, yo: number, v: Int32Array, vo: number, vA: Int32Array, vb: number, h0: number, f0: number, b: number, sb: number,
  out: Int32Array, oo: number, n0: number, n1: number,
): void {
  for (let n = n0; n < n1; n++) {
    const x0 = y[yo + n];
    let r = (((Math.imul(x0, h0) - Math.imul((x0 * f0) | 0, b)) | 0) - vA[vb + v[vo + n]]) | 0; // (−b, 2b)
    r = (r + ((r >> 31) & b)) | 0;
    r = (r - sb) | 0;
    r = (r + ((r >> 31) & sb)) | 0;
    out[oo + n] = r;
  }
}

function convert2(
  y: Int32Array, yo: number, yo1: number, v: Int32Array, vo: number, vA: Int32Array, vb: number,
  h0: number, f0: number, h1: number, f1: number, b: number, sb: number, out: Int32Array, oo: number, n0: number, n1: number,
): void {
  const b2 = (b << 1) | 0;
  // unrolled by four, one block per coefficient (see `addVec` in ring/ring.ts): 12–15% faster at
  // N = 2^13 (measured in isolation)
  let n = n0;
  for (const e4 = n1 - 3; n < e4; n += 4) {
    {
      const x0 = y[yo + n];
      const x1 = y[yo1 + n];
      const r0 = (Math.imul(x0, h0) - Math.imul((x0 * f0) | 0, b)) | 0; // [0, 2b)
      const r1 = (Math.imul(x1, h1) - Math.imul((x1 * f1) | 0, b)) | 0;
      let s = (((r0 + r1) | 0) - b2) | 0; // [−2b, 2b)
      s = (s + ((s >> 31) & b2)) | 0; // [0, 2b)
      s = (s - vA[vb + v[vo + n]]) | 0; // (−b, 2b)
      s = (s + ((s >> 31) & b)) | 0;
      s = (s - sb) | 0;
      s = (s + ((s >> 31) & sb)) | 0;
      out[oo + n] = s;
    }
    {
      const x0 = y[yo + n + 1];
      const x1 = y[yo1 + n + 1];
      const r0 = (Math.imul(x0, h0) - Math.imul((x0 * f0) | 0, b)) | 0;
      const r1 = (Math.imul(x1, h1) - Math.imul((x1 * f1) | 0, b)) | 0;
      let s = (((r0 + r1) | 0) - b2) | 0;
      s = (s + ((s >> 31) & b2)) | 0;
      s = (s - vA[vb + v[vo + n + 1]]) | 0;
      s = (s + ((s >> 31) & b)) | 0;
      s = (s - sb) | 0;
      s = (s + ((s >> 31) & sb)) | 0;
      out[oo + n + 1] = s;
    }
    {
      const x0 = y[yo + n + 2];
      const x1 = y[yo1 + n + 2];
      const r0 = (Math.imul(x0, h0) - Math.imul((x0 * f0) | 0, b)) | 0;
      const r1 = (Math.imul(x1, h1) - Math.imul((x1 * f1) | 0, b)) | 0;
      let s = (((r0 + r1) | 0) - b2) | 0;
      s = (s + ((s >> 31) & b2)) | 0;
      s = (s - vA[vb + v[vo + n + 2]]) | 0;
      s = (s + ((s >> 31) & b)) | 0;
      s = (s - sb) | 0;
      s = (s + ((s >> 31) & sb)) | 0;
      out[oo + n + 2] = s;
    }
    {
      const x0 = y[yo + n + 3];
      const x1 = y[yo1 + n + 3];
      const r0 = (Math.imul(x0, h0) - Math.imul((x0 * f0) | 0, b)) | 0;
      const r1 = (Math.imul(x1, h1) - Math.imul((x1 * f1) | 0, b)) | 0;
      let s = (((r0 + r1) | 0) - b2) | 0;
      s = (s + ((s >> 31) & b2)) | 0;
      s = (s - vA[vb + v[vo + n + 3]]) | 0;
      s = (s + ((s >> 31) & b)) | 0;
      s = (s - sb) | 0;
      s = (s + ((s >> 31) & sb)) | 0;
      out[oo + n + 3] = s;
    }
  }
  for (; n < n1; n++) {
    const x0 = y[yo + n];
    const x1 = y[yo1 + n];
    const r0 = (Math.imul(x0, h0) - Math.imul((x0 * f0) | 0, b)) | 0;
    const r1 = (Math.imul(x1, h1) - Math.imul((x1 * f1) | 0, b)) | 0;
    let s = (((r0 + r1) | 0) - b2) | 0;
    s = (s + ((s >> 31) & b2)) | 0;
    s = (s - vA[vb + v[vo + n]]) | 0;
    s = (s + ((s >> 31) & b)) | 0;
    s = (s - sb) | 0;
    s = (s + ((s >> 31) & sb)) | 0;
    out[oo + n] = s;
  }
}

/**
 * Two-source conversion to targets b and c at once, outputs lazy in [0, 2b) and [0, 2c). Two
 * coefficients per iteration (N is even), each in its own block.
 */
function convert2Pair(
  y: Int32Array, yo: number, yo1: number, v: Int32Array, vo: number, vA: Int32Array, vb: number, vc: number,
  hb0: number, fb0: number, hb1: number, fb1: number, b: number,
  hc0: number, fc0: number, hc1: number, fc1: number, c: number,
  outB: Int32Array, ob: number, outC: Int32Array, oc: number, N: number,
): void {
  const b2 = (b << 1) | 0;
  const c2 = (c << 1) | 0;
  for (let n = 0; n < N; n += 2) {
    {
      const x0 = y[yo + n];
      const x1 = y[yo1 + n];
      const w = v[vo + n];
      let r0 = (Math.imul(x0, hb0) - Math.imul((x0 * fb0) | 0, b)) | 0; // [0, 2b)
      let r1 = (Math.imul(x1, hb1) - Math.imul((x1 * fb1) | 0, b)) | 0;
      let s = (((r0 + r1) | 0) - b2) | 0; // [−2b, 2b)
      s = (s + ((s >> 31) & b2)) | 0; // [0, 2b)
      s = (s - vA[vb + w]) | 0; // (−b, 2b)
      outB[ob + n] = (s + ((s >> 31) & b)) | 0; // [0, 2b)
      r0 = (Math.imul(x0, hc0) - Math.imul((x0 * fc0) | 0, c)) | 0;
      r1 = (Math.imul(x1, hc1) - Math.imul((x1 * fc1) | 0, c)) | 0;
      s = (((r0 + r1) | 0) - c2) | 0;
      s = (s + ((s >> 31) & c2)) | 0;
      s = (s - vA[vc + w]) | 0;
      outC[oc + n] = (s + ((s >> 31) & c)) | 0;
    }
    {
      const m = n + 1;
      const x0 = y[yo + m];
      const x1 = y[yo1 + m];
      const w = v[vo + m];
      let r0 = (Math.imul(x0, hb0) - Math.imul((x0 * fb0) | 0, b)) | 0;
      let r1 = (Math.imul(x1, hb1) - Math.imul((x1 * fb1) | 0, b)) | 0;
      let s = (((r0 + r1) | 0) - b2) | 0;
      s = (s + ((s >> 31) & b2)) | 0;
      s = (s - vA[vb + w]) | 0;
      outB[ob + m] = (s + ((s >> 31) & b)) | 0;
      r0 = (Math.imul(x0, hc0) - Math.imul((x0 * fc0) | 0, c)) | 0;
      r1 = (Math.imul(x1, hc1) - Math.imul((x1 * fc1) | 0, c)) | 0;
      s = (((r0 + r1) | 0) - c2) | 0;
      s = (s + ((s >> 31) & c2)) | 0;
      s = (s - vA[vc + w]) | 0;
      outC[oc + m] = (s + ((s >> 31) & c)) | 0;
    }
  }
}

function convert3(
  y: Int32Array, yo: number, N: number, v: Int32Array, vo: number, vA: Int32Array, vb: number,
  H: Int32Array, HF: Float64Array, hb: number, b: number, sb: number, out: Int32Array, oo: number, n0: number, n1: number,
): void {
  const b2 = (b << 1) | 0;
  const h0 = H[hb];
  const f0 = HF[hb];
  const h1 = H[hb + 1];
  const f1 = HF[hb + 1];
  const h2 = H[hb + 2];
  const f2 = HF[hb + 2];
  const yo1 = yo + N;
  const yo2 = yo + 2 * N;
  for (let n = n0; n < n1; n++) {
    const x0 = y[yo + n];
    const x1 = y[yo1 + n];
    const x2 = y[yo2 + n];
    const r0 = (Math.imul(x0, h0) - Math.imul((x0 * f0) | 0, b)) | 0;
    const r1 = (Math.imul(x1, h1) - Math.imul((x1 * f1) | 0, b)) | 0;
    const r2 = (Math.imul(x2, h2) - Math.imul((x2 * f2) | 0, b)) | 0;
    let s = (((r0 + r1) | 0) - b2) | 0;
    s = (s + ((s >> 31) & b2)) | 0;
    s = (((s + r2) | 0) - b2) | 0;
    s = (s + ((s >> 31) & b2)) | 0;
    s = (s - vA[vb + v[vo + n]]) | 0;
    s = (s + ((s >> 31) & b)) | 0;
    s = (s - sb) | 0;
    s = (s + ((s >> 31) & sb)) | 0;
    out[oo + n] = s;
  }
}

function convertN(
  y: Int32Array, yo: number, N: number, k: number, v: Int32Array, vo: number, vA: Int32Array, vb: number,
  H: Int32Array, HF: Float64Array, hb: number, b: number, sb: number, out: Int32Array, oo: number, n0: number, n1: number,
): void {
  // sources in blocks of four, then two, then one (fewer passes over the output row: 14 → 5 for
  // k = 13, ModUp's digits at N = 2^16; measured 1.6× faster there), the running sums kept in the
  // output row in [0, 2b); the last pass subtracts v·A and corrects
  let i = 0;
  for (; i + 4 <= k; i += 4) {
    convertBlock4(y, yo + i * N, N, H, HF, hb + i, b, out, oo, n0, n1, i === 0);
  }
  if (i + 2 <= k) {
    convertBlock2(y, yo + i * N, N, H, HF, hb + i, b, out, oo, n0, n1, i === 0);
    i += 2;
  }
  for (; i < k; i++) {
    const h = H[hb + i];
    const f = HF[hb + i];
    const yi = yo + i * N;
    if (i === 0) {
      for (let n = n0; n < n1; n++) {
        const x = y[yi + n];
        out[oo + n] = (Math.imul(x, h) - Math.imul((x * f) | 0, b)) | 0;
      }
      continue;
    }
    const b2 = (b << 1) | 0;
    for (let n = n0; n < n1; n++) {
      const x = y[yi + n];
      let s = (((out[oo + n] + ((Math.imul(x, h) - Math.imul((x * f) | 0, b)) | 0)) | 0) - b2) | 0;
      s = (s + ((s >> 31) & b2)) | 0;
      out[oo + n] = s;
    }
  }
  for (let n = n0; n < n1; n++) {
    let s = (out[oo + n] - vA[vb + v[vo + n]]) | 0;
    s = (s + ((s >> 31) & b)) | 0;
    s = (s - sb) | 0;
    s = (s + ((s >> 31) & sb)) | 0;
    out[oo + n] = s;
  }
}

/** Two sources' products added into (or, `first`, written to) the output row, in [0, 2b). */
function convertBlock2(
  y: Int32Array, yo: number, N: number, H: Int32Array, HF: Float64Array, h: number, b: number,
  out: Int32Array, oo: number, n0: number, n1: number, first: boolean,
): void {
  const b2 = (b << 1) | 0;
  const h0 = H[h], h1 = H[h + 1];
  const f0 = HF[h], f1 = HF[h + 1];
  const o1 = yo + N;
  for (let n = n0; n < n1; n++) {
    const x0 = y[yo + n];
    const x1 = y[o1 + n];
    const r0 = (Math.imul(x0, h0) - Math.imul((x0 * f0) | 0, b)) | 0; // [0, 2b)
    const r1 = (Math.imul(x1, h1) - Math.imul((x1 * f1) | 0, b)) | 0;
    let s = (((r0 + r1) | 0) - b2) | 0;
    s = (s + ((s >> 31) & b2)) | 0;
    if (!first) {
      s = (((s + out[oo + n]) | 0) - b2) | 0;
      s = (s + ((s >> 31) & b2)) | 0;
    }
    out[oo + n] = s;
  }
}

/** Four sources' products added into (or, `first`, written to) the output row, in [0, 2b). */
function convertBlock4(
  y: Int32Array, yo: number, N: number, H: Int32Array, HF: Float64Array, h: number, b: number,
  out: Int32Array, oo: number, n0: number, n1: number, first: boolean,
): void {
  const b2 = (b << 1) | 0;
  const h0 = H[h], h1 = H[h + 1], h2 = H[h + 2], h3 = H[h + 3];
  const f0 = HF[h], f1 = HF[h + 1], f2 = HF[h + 2], f3 = HF[h + 3];
  const o1 = yo + N, o2 = yo + 2 * N, o3 = yo + 3 * N;
  for (let n = n0; n < n1; n++) {
    const x0 = y[yo + n];
    const x1 = y[o1 + n];
    const x2 = y[o2 + n];
    const x3 = y[o3 + n];
    const r0 = (Math.imul(x0, h0) - Math.imul((x0 * f0) | 0, b)) | 0; // [0, 2b)
    const r1 = (Math.imul(x1, h1) - Math.imul((x1 * f1) | 0, b)) | 0;
    const r2 = (Math.imul(x2, h2) - Math.imul((x2 * f2) | 0, b)) | 0;
    const r3 = (Math.imul(x3, h3) - Math.imul((x3 * f3) | 0, b)) | 0;
    let s = (((r0 + r1) | 0) - b2) | 0;
    s = (s + ((s >> 31) & b2)) | 0;
    let t = (((r2 + r3) | 0) - b2) | 0;
    t = (t + ((t >> 31) & b2)) | 0;
    s = (((s + t) | 0) - b2) | 0;
    s = (s + ((s >> 31) & b2)) | 0;
    if (!first) {
      s = (((s + out[oo + n]) | 0) - b2) | 0;
      s = (s + ((s >> 31) & b2)) | 0;
    }
    out[oo + n] = s;
  }
}
