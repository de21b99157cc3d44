/**
 * @module nn/lincomb
 * Σ_i w_i·ct_i + b for many ciphertexts and real weights, the workhorse of linear layers in both
 * layouts (convolution and dense layers are sums of scalar multiples; BEAA, arXiv 2403.10920, and
 * PAPER's convolution with per-offset scalars).
 *
 * The weights are encoded as integers W_i = round(w_i·S) at a weight scale S (on the level ladder
 * S = t_ℓ, so the result's scale t_ℓ² becomes t_{ℓ−1} after one rescale). Per limb, each product
 * ct_i·W_i is a precomputed-quotient ("Shoup-float") product lazily in [0, 2q), and up to 2^21 of
 * them are summed exactly in a float64 accumulator before one final reduction: one multiply, one
 * add and no corrections per term and coefficient. When few distinct weights serve many terms
 * (after parameter clustering, `cluster.ts`), the inputs sharing a weight are summed first (one
 * add per term) and multiplied once per distinct weight (PAPER's "map" convolution).
 */
import { Ciphertext, type CkksContext } from '../ckks/index.js';
import { reduceFloat, shoup } from '../ring/modulus.js';
import { Poly } from '../ring/poly.js';

/** Precomputed residues and quotients of integer weights per limb. */
export interface EncodedWeights {
  /** weights.length × limbs residues (term-major). */
  res: Int32Array;
  quo: Float64Array;
  count: number;
  limbs: number;
}

/** Encodes real weights at scale S for the first `limbs` Q primes. */
export function encodeWeights(ctx: CkksContext, weights: ArrayLike<number>, S: number, limbs: number): EncodedWeights {
  const count = weights.length;
  const res = new Int32Array(count * limbs);
  const quo = new Float64Array(count * limbs);
  for (let i = 0; i < count; i++) {
    const W = Math.round(weights[i] * S);
    for (let j = 0; j < limbs; j++) {
      const q = ctx.params.q[j];
      const r = reduceFloat(W, q);
      res[i * limbs + j] = r;
      quo[i * limbs + j] = shoup(r, q);
    }
  }
  return { res, quo, count, limbs };
}

/** Scratch accumulator reused across calls (one per N). */
const ACC = new Map<number, Float64Array>();

/**
 * out = Σ_i W_i·cts[i] (+ round(bias·S·scale) on c0), not rescaled: scale = cts[0].scale·S.
 * All inputs must be degree-1 ciphertexts at the same level and scale; zero weights are skipped.
 */
export function linearCombination(
  ctx: CkksContext, cts: readonly Ciphertext[], weights: ArrayLike<number>, S: number, bias = 0, enc?: EncodedWeights,
  grouped: boolean | 'auto' = 'auto',
): Ciphertext {
  const N = ctx.N;
  const first = cts[0];
  const limbs = first.limbs;
  const ew = enc ?? encodeWeights(ctx, weights, S, limbs);
  let acc = ACC.get(N);
  if (!acc) {
    acc = new Float64Array(N);
    ACC.set(N, acc);
  }
  const out = new Ciphertext(ctx, [new Poly(N, limbs), new Poly(N, limbs)], first.level, first.scale * S);
  out.keyId = first.keyId;
  const biasInt = Math.round(bias * S * first.scale);
  // indices of non-zero terms
  const { idx, groups } = weightGroups(weights, S);
  if (grouped === true || (grouped === 'auto' && prefersGrouped(idx.length, groups.size))) {
    groupedCombination(ctx, cts, groups, biasInt, out, acc);
    return out;
  }
  for (let k = 0; k < 2; k++) {
    const dst = out.polys[k].coeffs;
    for (let j = 0; j < limbs; j++) {
      const q = ctx.params.q[j];
      const o = j * N;
      acc.fill(0);
      let t = 0;
      // four terms per pass: fewer accumulator loads and stores
      for (; t + 4 <= idx.length; t += 4) {
        const i0 = idx[t], i1 = idx[t + 1], i2 = idx[t + 2], i3 = idx[t + 3];
        const x0 = cts[i0].polys[k].coeffs, x1 = cts[i1].polys[k].coeffs, x2 = cts[i2].polys[k].coeffs, x3 = cts[i3].polys[k].coeffs;
        const w0 = ew.res[i0 * limbs + j], w1 = ew.res[i1 * limbs + j], w2 = ew.res[i2 * limbs + j], w3 = ew.res[i3 * limbs + j];
        const f0 = ew.quo[i0 * limbs + j], f1 = ew.quo[i1 * limbs + j], f2 = ew.quo[i2 * limbs + j], f3 = ew.quo[i3 * limbs + j];
        for (let n = 0; n < N; n++) {
          const a0 = x0[o + n], a1 = x1[o + n], a2 = x2[o + n], a3 = x3[o + n];
          acc[n] += ((Math.imul(a0, w0) - Math.imul((a0 * f0) | 0, q)) | 0)
            + ((Math.imul(a1, w1) - Math.imul((a1 * f1) | 0, q)) | 0)
            + ((Math.imul(a2, w2) - Math.imul((a2 * f2) | 0, q)) | 0)
            + ((Math.imul(a3, w3) - Math.imul((a3 * f3) | 0, q)) | 0);
        }
      }
      for (; t < idx.length; t++) {
        const i0 = idx[t];
        const x0 = cts[i0].polys[k].coeffs;
        const w0 = ew.res[i0 * limbs + j];
        const f0 = ew.quo[i0 * limbs + j];
        for (let n = 0; n < N; n++) {
          const a0 = x0[o + n];
          acc[n] += (Math.imul(a0, w0) - Math.imul((a0 * f0) | 0, q)) | 0;
        }
      }
      reduceAccumulator(acc, k === 0 && biasInt !== 0 ? reduceFloat(biasInt, q) : 0, dst, o, N, q);
    }
  }
  return out;
}

/** Indices of the non-zero integer weights round(w·S), and those indices grouped by weight. */
function weightGroups(weights: ArrayLike<number>, S: number): { idx: number[]; groups: Map<number, number[]> } {
  const idx: number[] = [];
  const groups = new Map<number, number[]>();
  for (let i = 0; i < weights.length; i++) {
    const W = Math.round(weights[i] * S);
    if (W === 0) continue;
    idx.push(i);
    const g = groups.get(W);
    if (g) g.push(i);
    else groups.set(W, [i]);
  }
  return { idx, groups };
}

/** Summing inputs per distinct weight first pays when each weight serves three terms or more. */
const prefersGrouped = (terms: number, distinct: number) => terms >= 8 && distinct * 3 <= terms;

/** Coefficients per block of the multi-output kernel: inputs stay in L1 while every output reads them. */
const BLOCK = 2048;
let MULTI_ACC: Float64Array | null = null;

/**
 * Several linear combinations of the same inputs: out_m = Σ_i W_{m,i}·cts[i] (+ round(bias_m·S·scale)
 * on c0), not rescaled, each equal to `linearCombination(ctx, cts, weights[m], S, biases[m])`
 * (exactly: the sums are exact integers before the one reduction). Every input block is read from
 * memory once for all outputs instead of once per output, which is what limits a convolution's
 * output channels or a dense layer's rows when both cores run (memory bandwidth, not arithmetic).
 * Clustered weights (few distinct values) take the grouped single-output path.
 */
export function linearCombinations(
  ctx: CkksContext, cts: readonly Ciphertext[], weights: readonly ArrayLike<number>[], S: number, biases: readonly number[],
): Ciphertext[] {
  const m = weights.length;
  if (m === 1 || weights.some((w) => {
    const { idx, groups } = weightGroups(w, S);
    return prefersGrouped(idx.length, groups.size);
  })) {
    return weights.map((w, i) => linearCombination(ctx, cts, w, S, biases[i]));
  }
  const N = ctx.N;
  const first = cts[0];
  const limbs = first.limbs;
  const T = cts.length;
  const B = Math.min(BLOCK, N);
  const encs = weights.map((w) => encodeWeights(ctx, w, S, limbs));
  const outs = weights.map(() => {
    const o = new Ciphertext(ctx, [new Poly(N, limbs), new Poly(N, limbs)], first.level, first.scale * S);
    o.keyId = first.keyId;
    return o;
  });
  const biasInts = biases.map((b) => Math.round(b * S * first.scale));
  if (!MULTI_ACC || MULTI_ACC.length < m * B) MULTI_ACC = new Float64Array(m * B);
  const acc = MULTI_ACC;
  for (let k = 0; k < 2; k++) {
    for (let j = 0; j < limbs; j++) {
      const q = ctx.params.q[j];
      for (let n0 = 0; n0 < N; n0 += B) {
        const base = j * N + n0;
        acc.fill(0, 0, m * B);
        let t = 0;
        for (; t + 4 <= T; t += 4) {
          const x0 = cts[t].polys[k].coeffs, x1 = cts[t + 1].polys[k].coeffs, x2 = cts[t + 2].polys[k].coeffs, x3 = cts[t + 3].polys[k].coeffs;
          for (let o = 0; o < m; o++) {
            const { res, quo } = encs[o];
            const w0 = res[t * limbs + j], w1 = res[(t + 1) * limbs + j], w2 = res[(t + 2) * limbs + j], w3 = res[(t + 3) * limbs + j];
            const f0 = quo[t * limbs + j], f1 = quo[(t + 1) * limbs + j], f2 = quo[(t + 2) * limbs + j], f3 = quo[(t + 3) * limbs + j];
            const a = o * B;
            for (let n = 0; n < B; n++) {
              const a0 = x0[base + n], a1 = x1[base + n], a2 = x2[base + n], a3 = x3[base + n];
              acc[a + n] += ((Math.imul(a0, w0) - Math.imul((a0 * f0) | 0, q)) | 0)
                + ((Math.imul(a1, w1) - Math.imul((a1 * f1) | 0, q)) | 0)
                + ((Math.imul(a2, w2) - Math.imul((a2 * f2) | 0, q)) | 0)
                + ((Math.imul(a3, w3) - Math.imul((a3 * f3) | 0, q)) | 0);
            }
          }
        }
        for (; t < T; t++) {
          const x0 = cts[t].polys[k].coeffs;
          for (let o = 0; o < m; o++) {
            const w0 = encs[o].res[t * limbs + j];
            const f0 = encs[o].quo[t * limbs + j];
            const a = o * B;
            for (let n = 0; n < B; n++) {
              const a0 = x0[base + n];
              acc[a + n] += (Math.imul(a0, w0) - Math.imul((a0 * f0) | 0, q)) | 0;
            }
          }
        }
        for (let o = 0; o < m; o++) {
          const b = k === 0 && biasInts[o] !== 0 ? reduceFloat(biasInts[o], q) : 0;
          reduceBlock(acc, o * B, b, outs[o].polys[k].coeffs, base, B, q);
        }
      }
    }
  }
  return outs;
}

let GRP: Float64Array | null = null;

/** Σ_g W_g·(Σ_{i∈g} ct_i): exact float sums of raw residues per group, one product per group. */
function groupedCombination(
  ctx: CkksContext, cts: readonly Ciphertext[], groups: Map<number, number[]>, biasInt: number, out: Ciphertext, acc: Float64Array,
): void {
  const N = ctx.N;
  const limbs = out.limbs;
  if (!GRP || GRP.length !== N) GRP = new Float64Array(N);
  const grp = GRP;
  for (let k = 0; k < 2; k++) {
    const dst = out.polys[k].coeffs;
    for (let j = 0; j < limbs; j++) {
      const q = ctx.params.q[j];
      const qInv = 1 / q;
      const o = j * N;
      acc.fill(0);
      for (const [W, members] of groups) {
        const w = reduceFloat(W, q);
        const wf = shoup(w, q);
        grp.fill(0);
        for (const i of members) {
          const x = cts[i].polys[k].coeffs;
          for (let n = 0; n < N; n++) grp[n] += x[o + n];
        }
        for (let n = 0; n < N; n++) {
          const s = grp[n];
          let r = (s - Math.floor(s * qInv) * q) | 0; // [0, q) up to ±q
          r += (r >> 31) & q;
          r -= q;
          r += (r >> 31) & q;
          acc[n] += (Math.imul(r, w) - Math.imul((r * wf) | 0, q)) | 0;
        }
      }
      reduceAccumulator(acc, k === 0 && biasInt !== 0 ? reduceFloat(biasInt, q) : 0, dst, o, N, q);
    }
  }
}

/** dst[o + n] = (acc[n] + b) mod q for acc[n] < 2^52: one float-quotient reduction, result in [0, q). */
function reduceAccumulator(acc: Float64Array, b: number, dst: Int32Array, o: number, N: number, q: number): void {
  reduceBlock(acc, 0, b, dst, o, N, q);
}

/** dst[o + n] = (acc[a + n] + b) mod q for n < len, in [0, q). */
function reduceBlock(acc: Float64Array, a: number, b: number, dst: Int32Array, o: number, len: number, q: number): void {
  const qInv = 1 / q;
  for (let n = 0; n < len; n++) {
    const s = acc[a + n] + b;
    let r = (s - Math.floor(s * qInv) * q) | 0; // quotient off by ≤ 1 → (−q, 2q)
    r += (r >> 31) & q;
    r -= q;
    r += (r >> 31) & q;
    dst[o + n] = r;
  }
}
