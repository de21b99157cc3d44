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
  const biasInt = Math.round(bias * S * first.scale);
  // indices of non-zero terms
  const idx: number[] = [];
  for (let i = 0; i < cts.length; i++) if (Math.round(weights[i] * S) !== 0) idx.push(i);
  const groups = new Map<number, number[]>();
  for (const i of idx) {
    const W = Math.round(weights[i] * S);
    const g = groups.get(W);
    if (g) g.push(i);
    else groups.set(W, [i]);
  }
  if (grouped === true || (grouped === 'auto' && idx.length >= 8 && groups.size * 3 <= idx.length)) {
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
  const qInv = 1 / q;
  for (let n = 0; n < N; n++) {
    const s = acc[n] + b;
    let r = (s - Math.floor(s * qInv) * q) | 0; // quotient off by ≤ 1 → (−q, 2q)
    r += (r >> 31) & q;
    r -= q;
    r += (r >> 31) & q;
    dst[o + n] = r;
  }
}
