/**
 * @module ring/sampler
 * Samplers for RLWE: uniform residues (rejection), ternary secrets (uniform, or fixed Hamming
 * weight), and the discrete Gaussian with σ = 3.2 bounded at 6σ (HE standard, §2.1 of
 * "Homomorphic Encryption Standard", Albrecht et al. 2018). Randomness comes from a `RandomSource`:
 * the platform CSPRNG by default, or a seeded ChaCha20 stream for uniform polynomials that are
 * sent as a seed.
 */
import { InvalidArgumentError, InternalError } from '../errors.js';
import type { Modulus } from './modulus.js';
import type { Poly } from './poly.js';
import { ChaCha20, type RandomSource, systemRandom } from './prng.js';

/** Standard deviation of the RLWE error (HE standard). */
export const SIGMA = 3.2;
/** Tail bound: samples are in [−⌊6σ⌋, ⌊6σ⌋]. */
export const GAUSSIAN_BOUND = Math.floor(6 * SIGMA);

/**
 * Fills the first `limbs` limbs of `out` with independent uniform residues (uniform modulo
 * Π p_i by CRT, in either domain). Rejection sampling on ⌈log2 p⌉-bit words.
 *
 * The stream is read in chunks of N words per limb: each limb draws whole chunks until it has N
 * accepted words and drops the rest of its last chunk. (With p just below 2^30 about two words per
 * limb are rejected, so nearly every limb needs a second chunk for those two.) This fixes which
 * stream words become which coefficients, which is what a seed-expanded (serialized) polynomial
 * relies on. From a seekable ChaCha20 stream the dropped words are skipped instead of computed:
 * same output, about half the keystream work (430 → 244 µs for 4 limbs at N = 2^13, measured).
 */
export function sampleUniform(rng: RandomSource, moduli: readonly Modulus[], out: Poly, limbs: number): void {
  const N = out.N;
  // A chunk is read in pieces; from a seekable (block-aligned ChaCha20) stream, the part of the last
  // chunk not read yet is skipped once the limb is full. Otherwise a piece is the whole chunk.
  const seekable = rng instanceof ChaCha20 && rng.aligned && N % SEEK_PIECE === 0;
  const piece = seekable ? SEEK_PIECE : N;
  const buf = new Uint32Array(piece);
  const c = out.coeffs;
  for (let l = 0; l < limbs; l++) {
    const p = moduli[l].p;
    const mask = 2 ** moduli[l].bits - 1;
    const o = l * N;
    let filled = 0;
    let inChunk = 0; // words of the current N-word chunk drawn so far (0 at a chunk boundary)
    while (filled < N) {
      rng.fill(buf);
      inChunk += piece;
      if (inChunk === N) inChunk = 0;
      for (let i = 0; i < piece && filled < N; i++) {
        const x = buf[i] & mask;
        if (x < p) c[o + filled++] = x;
      }
    }
    if (inChunk > 0) (rng as ChaCha20).skipBlocks((N - inChunk) >> 4);
  }
}

/** Words drawn at a time from a seekable stream (a multiple of ChaCha20's 16-word block). */
const SEEK_PIECE = 1024;

/** Uniform ternary coefficients in {−1, 0, 1} (probability 1/3 each), as small integers. */
export function sampleTernary(rng: RandomSource, N: number): Int8Array {
  const out = new Int8Array(N);
  const buf = new Uint32Array(Math.ceil(N / 4) + 16);
  let filled = 0;
  while (filled < N) {
    rng.fill(buf);
    for (let i = 0; i < buf.length && filled < N; i++) {
      let w = buf[i];
      for (let b = 0; b < 4 && filled < N; b++) {
        const byte = w & 255;
        w >>>= 8;
        if (byte < 255) out[filled++] = (byte % 3) - 1; // 255 = 3·85: bytes below are uniform mod 3
      }
    }
  }
  return out;
}

/** Ternary coefficients with exactly h non-zeros (uniform positions, uniform signs). */
export function sampleTernaryHamming(rng: RandomSource, N: number, h: number): Int8Array {
  if (!Number.isInteger(h) || h < 1 || h > N) throw new InvalidArgumentError(`Hamming weight ${h} is not an integer in [1, ${N}]`, `use a Hamming weight in [1, ${N}]`);
  const idx = new Int32Array(N);
  for (let i = 0; i < N; i++) idx[i] = i;
  const w = new Uint32Array(2);
  const out = new Int8Array(N);
  // partial Fisher–Yates: the first h entries of idx become a uniform h-subset
  for (let i = 0; i < h; i++) {
    const range = N - i;
    const lim = Math.floor(2 ** 32 / range) * range;
    let r: number;
    do {
      rng.fill(w);
      r = w[0];
    } while (r >= lim);
    const j = i + (r % range);
    const t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
    out[idx[i]] = w[1] & 1 ? 1 : -1;
  }
  return out;
}

// Cumulative table of the discrete Gaussian restricted to [0, B] (one-sided, then a random sign),
// as thresholds on 31-bit uniforms: T[x] = round(2^31·P(|X| ≤ x)), T[B] = 2^31.
/** @internal Exported for tests. */
export const CDT31: Float64Array = /* @__PURE__ */ (() => {
  const B = GAUSSIAN_BOUND;
  const w = new Float64Array(B + 1);
  let total = 0;
  for (let x = 0; x <= B; x++) {
    w[x] = Math.exp(-(x * x) / (2 * SIGMA * SIGMA)) * (x === 0 ? 1 : 2); // ±x folded
    total += w[x];
  }
  const cdt = new Float64Array(B + 1);
  let acc = 0;
  for (let x = 0; x <= B; x++) {
    acc += w[x] / total;
    cdt[x] = Math.round(acc * 2 ** 31);
  }
  cdt[B] = 2 ** 31;
  return cdt;
})();

// T[x] − 1 for x < B as int32: u ≥ T[x] exactly when T[x] − 1 − u is negative (both below 2^31).
const CDT_LE: Int32Array = /* @__PURE__ */ (() => {
  const t = new Int32Array(GAUSSIAN_BOUND);
  for (let x = 0; x < GAUSSIAN_BOUND; x++) t[x] = CDT31[x] - 1;
  if (GAUSSIAN_BOUND !== 19 || CDT31[0] < 1 || CDT31[GAUSSIAN_BOUND - 1] >= 2 ** 31) throw new InternalError('sampleGaussian is unrolled for 19 thresholds below 2^31');
  return t;
})();

/**
 * Discrete Gaussian coefficients (σ = 3.2, |x| ≤ 19) by inversion of the cumulative table: one
 * 32-bit word per sample, 31 bits for |x| (resolution 2^−31, far below the smallest tail
 * probability of interest) and one for the sign. (Two words and a 53-bit float per sample before:
 * measured 2.3× slower.)
 *
 * |x| = #{k < 19 : u ≥ T[k]}, counted over all 19 thresholds with sign-bit arithmetic: no branch and
 * no early exit, so the time does not depend on the sample (a scan that stops at the first
 * threshold above u leaks |x| through timing and mispredicts; the count was measured 2.8× faster
 * than that scan at N = 2^13: 138 → 49 µs). The thresholds are hoisted into locals by hand.
 */
export function sampleGaussian(rng: RandomSource, N: number): Int8Array {
  const out = new Int8Array(N);
  const buf = new Uint32Array(N);
  rng.fill(buf);
  const T = CDT_LE;
  const t0 = T[0];
  const t1 = T[1];
  const t2 = T[2];
  const t3 = T[3];
  const t4 = T[4];
  const t5 = T[5];
  const t6 = T[6];
  const t7 = T[7];
  const t8 = T[8];
  const t9 = T[9];
  const t10 = T[10];
  const t11 = T[11];
  const t12 = T[12];
  const t13 = T[13];
  const t14 = T[14];
  const t15 = T[15];
  const t16 = T[16];
  const t17 = T[17];
  const t18 = T[18];
  for (let i = 0; i < N; i++) {
    const w = buf[i];
    const u = w >>> 1;
    const x =
      ((t0 - u) >>> 31) + ((t1 - u) >>> 31) + ((t2 - u) >>> 31) + ((t3 - u) >>> 31) +
      ((t4 - u) >>> 31) + ((t5 - u) >>> 31) + ((t6 - u) >>> 31) + ((t7 - u) >>> 31) +
      ((t8 - u) >>> 31) + ((t9 - u) >>> 31) + ((t10 - u) >>> 31) + ((t11 - u) >>> 31) +
      ((t12 - u) >>> 31) + ((t13 - u) >>> 31) + ((t14 - u) >>> 31) + ((t15 - u) >>> 31) +
      ((t16 - u) >>> 31) + ((t17 - u) >>> 31) + ((t18 - u) >>> 31);
    const s = -(w & 1); // 0 or −1
    out[i] = (x ^ s) - s;
  }
  buf.fill(0);
  return out;
}

/** Writes small signed integers into the first `limbs` limbs of `out` (coefficient domain). */
export function smallToPoly(v: Int8Array, moduli: readonly Modulus[], out: Poly, limbs: number): void {
  const N = out.N;
  for (let l = 0; l < limbs; l++) {
    const p = moduli[l].p;
    const o = l * N;
    for (let i = 0; i < N; i++) {
      const x = v[i];
      out.coeffs[o + i] = x + ((x >> 31) & p);
    }
  }
}

/** The default randomness source (platform CSPRNG). */
export { systemRandom };
