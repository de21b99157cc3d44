/**
 * @module ckks/encoder
 * CKKS encoding by the canonical embedding (Cheon–Kim–Kim–Song, "Homomorphic encryption for
 * arithmetic of approximate numbers", Asiacrypt 2017, §3.1), computed with one N/2-point FFT.
 *
 * Slot j is the evaluation at ζ^(5^j), ζ = e^(iπ/N). Every 5^j ≡ 1 (mod 4), say 5^j = 4·t_j + 1, and
 * X^(N/2) evaluates to i there, so with w_k = c_k + i·c_{k+N/2} (k < n = N/2):
 *   z_j = Σ_k w_k ζ^(k(4t_j+1)) = DFT_n(w_k ζ^k)[t_j],   ω = ζ^4 = e^(2πi/n).
 * Encoding runs it backwards: place z_j at t_j, inverse DFT, untwist by ζ^−k, split real and
 * imaginary parts into the two halves of the coefficients, scale and round. Decoding reconstructs
 * the coefficients from RNS exactly (Garner, `ring/crt.ts`) and runs it forwards.
 */
import { reduceFloat, shoup } from '../ring/modulus.js';
import { nttForward, nttInverse } from '../ring/ntt.js';
import { Poly } from '../ring/poly.js';
import { Plaintext } from './ciphertext.js';
import type { CkksContext } from './context.js';
import { InvalidArgumentError, LevelError, ValueTooLargeError } from './errors.js';

/** 1.5·2^52: adding and subtracting it rounds a double below 2^51 to the nearest integer. */
const ROUND_MAGIC = 6755399441055744;

/** Most limbs a decode reconstructs (≈ 240 bits: any message at any supported scale). */
const MAX_DECODE_LIMBS = 8;

/** Complex vector as separate real and imaginary parts. */
export interface ComplexVector {
  re: ArrayLike<number>;
  im: ArrayLike<number>;
}

/** Options of `encode`. */
export interface EncodeOptions {
  /** Level to encode at (default: the parameters' default level, normally the top). */
  level?: number;
  /** Scale (default: the canonical scale of that level). */
  scale?: number;
  /**
   * What fills the slots beyond the given values: 'zero' (default) pads with zeros; 'repeat'
   * replicates the vector (its length must divide the slot count), which keeps rotations cyclic
   * with period = length.
   */
  fill?: 'zero' | 'repeat';
}

/** Encoder/decoder for one context. Holds FFT tables and scratch; not re-entrant. */
export class Encoder {
  readonly ctx: CkksContext;
  readonly slots: number;
  /** t_j for slot j (position of slot j in the DFT output). */
  private readonly slotPos: Int32Array;
  /** ζ^k, k < n. */
  private readonly twRe: Float64Array;
  private readonly twIm: Float64Array;
  /** ω^k, k < n/2 (FFT twiddles). */
  private readonly omRe: Float64Array;
  private readonly omIm: Float64Array;
  private readonly bitrev: Int32Array;
  private readonly re: Float64Array;
  private readonly im: Float64Array;
  private readonly coeffs: Float64Array;
  private readonly digits: Int32Array;
  private readonly work: Int32Array;

  constructor(ctx: CkksContext) {
    this.ctx = ctx;
    const N = ctx.N;
    const n = N >> 1;
    this.slots = n;
    const M = 2 * N;
    this.slotPos = new Int32Array(n);
    let g = 1;
    for (let j = 0; j < n; j++) {
      this.slotPos[j] = (g - 1) >> 2;
      g = (g * 5) % M;
    }
    this.twRe = new Float64Array(n);
    this.twIm = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      const a = (Math.PI * k) / N;
      this.twRe[k] = Math.cos(a);
      this.twIm[k] = Math.sin(a);
    }
    // FFT twiddles stage by stage (len = 2, 4, …, n: e^(2πi·k/len) for k < len/2 at [len/2 − 1, len − 1)),
    // so every stage reads them with stride 1
    this.omRe = new Float64Array(Math.max(1, n - 1));
    this.omIm = new Float64Array(Math.max(1, n - 1));
    for (let len = 2; len <= n; len <<= 1) {
      for (let k = 0; k < len >> 1; k++) {
        const a = (2 * Math.PI * k) / len;
        this.omRe[(len >> 1) - 1 + k] = Math.cos(a);
        this.omIm[(len >> 1) - 1 + k] = Math.sin(a);
      }
    }
    const logn = Math.log2(n);
    this.bitrev = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      let r = 0;
      let x = i;
      for (let b = 0; b < logn; b++) {
        r = (r << 1) | (x & 1);
        x >>= 1;
      }
      this.bitrev[i] = r;
    }
    this.re = new Float64Array(n);
    this.im = new Float64Array(n);
    this.coeffs = new Float64Array(N);
    this.digits = new Int32Array(MAX_DECODE_LIMBS * N);
    this.work = new Int32Array(MAX_DECODE_LIMBS * N);
  }

  /**
   * In-place radix-2 DFT of (re, im): X[t] = Σ x[k]·e^(sign·2πi·kt/n). The first two stages (twiddles
   * 1 and sign·i) are one multiplication-free radix-4 pass; later stages run twiddle-outer while
   * blocks outnumber twiddles; radix-4 passes halve the loads and stores (100 → 48 µs at n = 2^12
   * against the plain radix-2 triple loop, measured).
   */
  private fft(sign: 1 | -1): void {
    const n = this.slots;
    const re = this.re;
    const im = this.im;
    const br = this.bitrev;
    for (let i = 0; i < n; i++) {
      const j = br[i];
      if (j > i) {
        let t = re[i]; re[i] = re[j]; re[j] = t;
        t = im[i]; im[i] = im[j]; im[j] = t;
      }
    }
    let len = 2;
    if (n >= 4) {
      for (let s = 0; s < n; s += 4) {
        const r0 = re[s], i0 = im[s], r1 = re[s + 1], i1 = im[s + 1];
        const r2 = re[s + 2], i2 = im[s + 2], r3 = re[s + 3], i3 = im[s + 3];
        const ar = r0 + r1, ai = i0 + i1, br0 = r0 - r1, bi = i0 - i1;
        const cr = r2 + r3, ci = i2 + i3;
        // (r2 − r3, i2 − i3)·(sign·i)
        const dr = -sign * (i2 - i3), di = sign * (r2 - r3);
        re[s] = ar + cr; im[s] = ai + ci;
        re[s + 2] = ar - cr; im[s + 2] = ai - ci;
        re[s + 1] = br0 + dr; im[s + 1] = bi + di;
        re[s + 3] = br0 - dr; im[s + 3] = bi - di;
      }
      len = 8;
    }
    const oRe = this.omRe;
    const oIm = this.omIm;
    // radix-4 passes: stages 2m and 4m on x[s+k], x[s+k+m], x[s+k+2m], x[s+k+3m]; the whole array
    // twiddle-outer while blocks outnumber twiddles, else block by block
    for (let m = len >> 1; 4 * m <= n; m <<= 2) {
      len = 8 * m;
      if (m < n / (4 * m)) this.fftRadix4(sign, m, 0, n);
      else for (let s = 0; s < n; s += 4 * m) this.fftRadix4(sign, m, s, s + 4 * m);
    }
    if (len <= n) {
      // one radix-2 stage left (stage n, when log2 n is odd)
      const half = n >> 1;
      for (let k = 0; k < half; k++) {
        const wr = oRe[half - 1 + k];
        const wi = sign * oIm[half - 1 + k];
        const b = k + half;
        const xr = re[b] * wr - im[b] * wi;
        const xi = re[b] * wi + im[b] * wr;
        re[b] = re[k] - xr;
        im[b] = im[k] - xi;
        re[k] += xr;
        im[k] += xi;
      }
    }
  }

  /** Radix-4 pass (stages 2m and 4m) over the blocks in [s0, s1), twiddle k outer. */
  private fftRadix4(sign: number, m: number, s0: number, s1: number): void {
    const re = this.re;
    const im = this.im;
    const oRe = this.omRe;
    const oIm = this.omIm;
    const step = 4 * m;
    for (let k = 0; k < m; k++) {
      const wr = oRe[m - 1 + k], wi = sign * oIm[m - 1 + k]; // stage 2m
      const ur = oRe[2 * m - 1 + k], ui = sign * oIm[2 * m - 1 + k]; // stage 4m
      for (let a = s0 + k; a < s1; a += step) {
        const b = a + m, c = b + m, d = c + m;
        // stage 2m: (a, b) and (c, d) with w
        let tr = re[b] * wr - im[b] * wi;
        let ti = re[b] * wi + im[b] * wr;
        const y0r = re[a] + tr, y0i = im[a] + ti, y1r = re[a] - tr, y1i = im[a] - ti;
        tr = re[d] * wr - im[d] * wi;
        ti = re[d] * wi + im[d] * wr;
        const y2r = re[c] + tr, y2i = im[c] + ti, y3r = re[c] - tr, y3i = im[c] - ti;
        // stage 4m: (a, c) with u, (b, d) with u·(sign·i)
        tr = y2r * ur - y2i * ui;
        ti = y2r * ui + y2i * ur;
        re[a] = y0r + tr; im[a] = y0i + ti; re[c] = y0r - tr; im[c] = y0i - ti;
        const vr = y3r * ur - y3i * ui;
        const vi = y3r * ui + y3i * ur;
        tr = -sign * vi;
        ti = sign * vr;
        re[b] = y1r + tr; im[b] = y1i + ti; re[d] = y1r - tr; im[d] = y1i - ti;
      }
    }
  }

  /** Real coefficients (unscaled) of the polynomial whose slots are `values`, written to this.coeffs. */
  private embed(values: ArrayLike<number> | ComplexVector, fill: 'zero' | 'repeat'): void {
    const n = this.slots;
    const re = this.re;
    const im = this.im;
    let vr: ArrayLike<number>;
    let vi: ArrayLike<number> | undefined;
    if (isComplex(values)) {
      vr = values.re;
      vi = values.im;
      if (vi.length !== vr.length) throw new InvalidArgumentError(`real part has ${vr.length} values, imaginary part ${vi.length}`, 'pass equal lengths');
    } else {
      vr = values;
    }
    const len = vr.length;
    if (len > n) throw new InvalidArgumentError(`${len} values do not fit in ${n} slots`, `split the vector into chunks of ${n}, or use a larger ring degree`);
    if (len === 0) throw new InvalidArgumentError('no values to encode', 'pass at least one value');
    if (fill === 'repeat' && n % len !== 0) throw new InvalidArgumentError(`fill 'repeat' needs a length dividing ${n}, got ${len}`, `pad the vector to a power of two`);
    re.fill(0);
    im.fill(0);
    const pos = this.slotPos;
    for (let j = 0; j < n; j++) {
      let src = j;
      if (j >= len) {
        if (fill === 'zero') break;
        src = j % len;
      }
      const x = vr[src];
      const y = vi ? vi[src] : 0;
      if (!Number.isFinite(x) || !Number.isFinite(y)) throw new InvalidArgumentError(`value ${src} is ${x}${vi ? ` + ${y}i` : ''}`, 'remove NaN/Infinity from the input');
      re[pos[j]] = x;
      im[pos[j]] = y;
    }
    this.fft(-1);
    const invn = 1 / n;
    const c = this.coeffs;
    const twRe = this.twRe;
    const twIm = this.twIm;
    for (let k = 0; k < n; k++) {
      // w_k = u_k·ζ^−k / n
      const ur = re[k] * invn;
      const ui = im[k] * invn;
      c[k] = ur * twRe[k] + ui * twIm[k];
      c[k + n] = ui * twRe[k] - ur * twIm[k];
    }
  }

  /**
   * Encodes real values (or a complex vector) into a plaintext at a level and scale. Fewer values
   * than slots are zero-padded unless `fill: 'repeat'`.
   */
  encode(values: ArrayLike<number> | ComplexVector, opts: EncodeOptions = {}): Plaintext {
    const P = this.ctx.params;
    const level = opts.level ?? P.defaultLevel;
    const scale = opts.scale ?? P.scales[level];
    const pt = new Plaintext(this.ctx, new Poly(this.ctx.N, P.limbsAt(level)), level, scale);
    this.encodeInto(values, pt, opts.fill ?? 'zero');
    return pt;
  }

  /** Encodes into an existing plaintext (its level, limbs and scale are used). */
  encodeInto(values: ArrayLike<number> | ComplexVector, pt: Plaintext, fill: 'zero' | 'repeat' = 'zero'): void {
    this.checkLevel(pt.level);
    if (!(pt.scale > 0) || !Number.isFinite(pt.scale)) throw new InvalidArgumentError(`scale ${pt.scale}`, 'use a positive finite scale');
    this.embed(values, fill);
    this.coeffsToPlaintext(this.coeffs, pt);
  }

  /**
   * round(scale·c) of the coefficients of the polynomial whose slots are `values` (filled as by
   * `encode`), as integer-valued doubles in out[o, o + N): the part of an encoding that does not
   * depend on the moduli, for callers that reduce and transform limbs themselves (the
   * double-hoisted transform encodes its plaintexts over QP that way, split by limb between
   * threads). Needs max|value|·scale < 2^50 (then every |coefficient| < 2^50).
   * @throws ValueTooLargeError when a rounded coefficient would reach 2^50.
   * @internal
   */
  roundedCoefficientsInto(values: ArrayLike<number> | ComplexVector, fill: 'zero' | 'repeat', scale: number, out: Float64Array, o: number): void {
    this.embed(values, fill);
    const N = this.ctx.N;
    const c = this.coeffs;
    let maxAbs = 0;
    for (let k = 0; k < N; k++) {
      const a = Math.abs(c[k]);
      if (a > maxAbs) maxAbs = a;
    }
    if (maxAbs * scale >= 2 ** 50) throw new ValueTooLargeError(maxAbs, scale, 50);
    for (let k = 0; k < N; k++) out[o + k] = c[k] * scale + ROUND_MAGIC - ROUND_MAGIC;
  }

  /** Writes round(scale·c) into the plaintext's limbs and transforms them to the NTT domain. */
  private coeffsToPlaintext(c: Float64Array, pt: Plaintext): void {
    const N = this.ctx.N;
    const ring = this.ctx.ringQ;
    const limbs = pt.poly.limbs;
    const scale = pt.scale;
    let maxAbs = 0;
    for (let k = 0; k < N; k++) {
      const a = Math.abs(c[k]);
      if (a > maxAbs) maxAbs = a;
    }
    const logQ = this.ctx.params.logQAt(pt.level);
    // The coefficient must stay below Q/2 with a bit to spare for noise.
    if (maxAbs > 0 && Math.log2(maxAbs * scale) + 2 > logQ) throw new ValueTooLargeError(maxAbs, scale, logQ);
    const out = pt.poly.coeffs;
    const safe = maxAbs * scale < 2 ** 51;
    let pMin = Infinity;
    for (let l = 0; l < limbs; l++) pMin = Math.min(pMin, ring.moduli[l].p);
    if (maxAbs * scale + 1 < pMin) {
      // Common case (|values| up to about 2^(30 − log Δ) · √n): every rounded coefficient is an
      // int32 in (−p, p) for every limb, so one sign correction reduces it. Rounded once into
      // `work`: 4.5× faster than the float reduction below per limb (measured at N = 2^13).
      const w = this.work;
      for (let k = 0; k < N; k++) w[k] = (c[k] * scale + ROUND_MAGIC - ROUND_MAGIC) | 0;
      for (let l = 0; l < limbs; l++) {
        const p = ring.moduli[l].p;
        const o = l * N;
        for (let k = 0; k < N; k++) {
          const x = w[k];
          out[o + k] = x + ((x >> 31) & p); // [0, p)
        }
        nttForward(out, o, ring.tables[l]);
      }
      return;
    }
    if (!safe && maxAbs * scale < 2 ** 80 && pMin > 2 ** 29) {
      this.coeffsToLimbsSplit(c, scale, out, limbs);
      return;
    }
    if (safe) {
      // round once per coefficient: (x + 1.5·2^52) − 1.5·2^52 rounds to nearest in two float ops
      // (Math.round and Math.floor are not inlined by this V8 on this CPU: ≈ 6–8 ns each)
      for (let k = 0; k < N; k++) c[k] = c[k] * scale + ROUND_MAGIC - ROUND_MAGIC;
    }
    for (let l = 0; l < limbs; l++) {
      const { p, pInv } = ring.moduli[l];
      const p2 = (p << 1) | 0;
      const o = l * N;
      if (safe) {
        for (let k = 0; k < N; k++) {
          const v = c[k]; // integer-valued, |v| < 2^51
          // q = v/p rounded to nearest (within ±1 of it: pInv is rounded), so v − q·p is exact in
          // float64 and lies in (−2p, 2p)
          const q = v * pInv + ROUND_MAGIC - ROUND_MAGIC;
          let r = (v - q * p) | 0;
          r = (r + ((r >> 31) & p2)) | 0; // [0, 2p)
          r = (r - p) | 0;
          r = (r + ((r >> 31) & p)) | 0; // [0, p)
          out[o + k] = r;
        }
      } else {
        for (let k = 0; k < N; k++) out[o + k] = reduceFloat(Math.round(c[k] * scale), p);
      }
      nttForward(out, o, ring.tables[l]);
    }
  }

  /**
   * Large coefficients (2^51 ≤ |round(scale·c)| < 2^80, e.g. Δ ≈ 2^60 with two-limb levels), limbs
   * with p > 2^29: each rounded v is split once as v = h·2^30 + l (h an integer below 2^50, l in
   * [−2^29, 2^29], both exact in float64), then per limb r = (h mod p)·[2^30]_p + l with one Shoup
   * product, instead of a recursive float reduction per limb and coefficient.
   */
  private coeffsToLimbsSplit(c: Float64Array, scale: number, out: Int32Array, limbs: number): void {
    const N = this.ctx.N;
    const ring = this.ctx.ringQ;
    const lo = this.work;
    for (let k = 0; k < N; k++) {
      const x = c[k] * scale;
      const v = Math.abs(x) < 2 ** 51 ? x + ROUND_MAGIC - ROUND_MAGIC : Math.round(x);
      const hf = v * 2 ** -30; // exact (power of two)
      const h = hf + ROUND_MAGIC - ROUND_MAGIC; // nearest integer, |h| < 2^50
      lo[k] = (v - h * 2 ** 30) | 0; // exact: an integer in [−2^29, 2^29]
      c[k] = h;
    }
    for (let l = 0; l < limbs; l++) {
      const { p, pInv } = ring.moduli[l];
      const p2 = (p << 1) | 0;
      const t = reduceFloat(2 ** 30, p);
      const tf = shoup(t, p); // shrunk: the quotient estimate never overshoots
      const o = l * N;
      for (let k = 0; k < N; k++) {
        const h = c[k];
        const q = h * pInv + ROUND_MAGIC - ROUND_MAGIC;
        let r = (h - q * p) | 0; // (−2p, 2p), exact
        r = (r + ((r >> 31) & p2)) | 0; // [0, 2p)
        r = (r - p) | 0;
        r = (r + ((r >> 31) & p)) | 0; // h mod p in [0, p)
        let m = (Math.imul(r, t) - Math.imul((r * tf) | 0, p)) | 0; // [0, 2p)
        m = (m - p) | 0;
        m = (m + ((m >> 31) & p)) | 0; // [0, p)
        const x = lo[k];
        let s = (m + x + ((x >> 31) & p)) | 0; // [0, 2p): l mod p is x or x + p (p > 2^29)
        s = (s - p) | 0;
        out[o + k] = (s + ((s >> 31) & p)) | 0; // [0, p)
      }
      nttForward(out, o, ring.tables[l]);
    }
  }

  /** Plaintext of a real constant (every slot = c), without an FFT: in the NTT domain all entries equal round(c·scale). */
  encodeConstant(c: number, opts: { level?: number; scale?: number } = {}): Plaintext {
    const P = this.ctx.params;
    const level = opts.level ?? P.defaultLevel;
    this.checkLevel(level);
    const scale = opts.scale ?? P.scales[level];
    if (!Number.isFinite(c)) throw new InvalidArgumentError(`constant ${c}`, 'pass a finite number');
    const logQ = P.logQAt(level);
    if (c !== 0 && Math.log2(Math.abs(c) * scale) + 2 > logQ) throw new ValueTooLargeError(Math.abs(c), scale, logQ);
    const limbs = P.limbsAt(level);
    const pt = new Plaintext(this.ctx, new Poly(this.ctx.N, limbs), level, scale);
    const v = Math.round(c * scale);
    const N = this.ctx.N;
    for (let l = 0; l < limbs; l++) pt.poly.coeffs.fill(reduceFloat(v, this.ctx.ringQ.moduli[l].p), l * N, (l + 1) * N);
    return pt;
  }

  /** Decodes the real parts of the slots. */
  decode(pt: Plaintext): Float64Array {
    this.decodeToSlots(pt);
    return this.re.slice();
  }

  /** Decodes complex slots. */
  decodeComplex(pt: Plaintext): { re: Float64Array; im: Float64Array } {
    this.decodeToSlots(pt);
    return { re: this.re.slice(), im: this.im.slice() };
  }

  /** Coefficients of the plaintext divided by its scale (float64), from an exact RNS reconstruction. */
  plaintextCoefficients(pt: Plaintext): Float64Array {
    this.reconstruct(pt);
    return this.coeffs.slice();
  }

  /**
   * Exact coefficients / scale into this.coeffs, from the fewest limbs that hold the value: start
   * with limbs covering scale·2^29 (|message| < 2^28); if any coefficient comes within 1/8 of the
   * reconstruction range and more limbs exist, retry with one more (no silent wrap-around).
   */
  private reconstruct(pt: Plaintext): void {
    const ctx = this.ctx;
    const N = ctx.N;
    const P = ctx.params;
    const limbs = pt.poly.limbs;
    let k = 0;
    let bits = 0;
    const need = Math.log2(pt.scale) + 29;
    while (k < limbs && (bits < need || k < 1)) bits += Math.log2(P.q[k++]);
    const work = this.work;
    const c = this.coeffs;
    for (let l = 0; l < k; l++) {
      work.set(pt.poly.coeffs.subarray(l * N, (l + 1) * N), l * N);
      nttInverse(work, l * N, ctx.ringQ.tables[l]);
    }
    for (;;) {
      ctx.garner(k).reconstruct(work, N, c, this.digits);
      if (k >= limbs || k >= MAX_DECODE_LIMBS) break;
      let range = 1;
      for (let l = 0; l < k; l++) range *= P.q[l];
      const lim = range / 16;
      let max = 0;
      for (let i = 0; i < N; i++) {
        const a = Math.abs(c[i]);
        if (a > max) max = a;
      }
      if (max < lim) break;
      work.set(pt.poly.coeffs.subarray(k * N, (k + 1) * N), k * N);
      nttInverse(work, k * N, ctx.ringQ.tables[k]);
      k++;
    }
    const inv = 1 / pt.scale;
    for (let i = 0; i < N; i++) c[i] *= inv;
  }

  private decodeToSlots(pt: Plaintext): void {
    this.ctx.check(pt, 'plaintext');
    this.reconstruct(pt);
    const n = this.slots;
    const c = this.coeffs;
    const re = this.re;
    const im = this.im;
    const twRe = this.twRe;
    const twIm = this.twIm;
    for (let k = 0; k < n; k++) {
      const wr = c[k];
      const wi = c[k + n];
      re[k] = wr * twRe[k] - wi * twIm[k];
      im[k] = wr * twIm[k] + wi * twRe[k];
    }
    this.fft(1);
    // permute DFT outputs into slot order (use coeffs as scratch)
    const pos = this.slotPos;
    for (let j = 0; j < n; j++) {
      c[j] = re[pos[j]];
      c[j + n] = im[pos[j]];
    }
    re.set(c.subarray(0, n));
    im.set(c.subarray(n, 2 * n));
  }

  private checkLevel(level: number): void {
    const L = this.ctx.params.levels;
    if (!Number.isInteger(level) || level < 0) throw new InvalidArgumentError(`level ${level}`, `use a level in 0..${L}`);
    if (level > L) throw new LevelError(level, L, `encoding at level ${level}`);
  }
}

function isComplex(v: ArrayLike<number> | ComplexVector): v is ComplexVector {
  return typeof (v as ComplexVector).re === 'object' && (v as ComplexVector).re !== null && 'length' in (v as ComplexVector).re;
}
