/**
 * @module ckks/keygen-phases
 * Key generation written as phase programs over limbs (see `phases.ts`), so one thread or a pool
 * runs the same code with the same result. All randomness that is not expanded from a seed (the
 * secret, the errors, the seeds themselves) is drawn by the calling thread, in a fixed order,
 * before the program runs; uniform halves come from ChaCha20 streams keyed by (seed, digit), which
 * any thread can expand. So keys generated from a given `RandomSource` are identical whatever the
 * number of threads.
 *
 * Slots: Q limbs 0..nQ−1, then P limbs nQ..nQ+K−1 (the layout of `SwitchingKey.packed`).
 */
import { galoisInverse } from '../ring/automorphism.js';
import type { Modulus } from '../ring/modulus.js';
import { nttForward } from '../ring/ntt.js';
import { Poly } from '../ring/poly.js';
import { ChaCha20, nonceFromTag } from '../ring/prng.js';
import { sampleUniform } from '../ring/sampler.js';
import type { CkksContext } from './context.js';
import type { Team } from './phases.js';

/** Nonce tag of the public key's uniform stream (as before: serialized keys stay readable). */
export const PK_NONCE = 0xffff_ffff;

/** The moduli and NTT tables of QP, by slot. */
function slotMod(ctx: CkksContext, s: number): Modulus {
  const nQ = ctx.ringQ.size;
  return s < nQ ? ctx.ringQ.moduli[s] : ctx.ringP.moduli[s - nQ];
}

function slotTable(ctx: CkksContext, s: number) {
  const nQ = ctx.ringQ.size;
  return s < nQ ? ctx.ringQ.tables[s] : ctx.ringP.tables[s - nQ];
}

/** out[o + n] = small[n] mod p for small signed integers (|x| < p), in [0, p). */
function smallToLimb(small: Int32Array, so: number, out: Int32Array, o: number, N: number, p: number): void {
  for (let n = 0; n < N; n++) {
    const x = small[so + n];
    out[o + n] = x + ((x >> 31) & p);
  }
}

/**
 * Secret key: s (small integers, `small[0..N)`) into sQ (nQ limbs) and sP (K limbs), NTT domain.
 * One phase.
 */
export function secretKeyProgram(ctx: CkksContext, small: Int32Array, sQ: Int32Array, sP: Int32Array, team: Team): void {
  const N = ctx.N;
  const nQ = ctx.ringQ.size;
  const S = nQ + ctx.ringP.size;
  for (let s = team.claim(S); s >= 0; s = team.claim(S)) {
    const out = s < nQ ? sQ : sP;
    const o = (s < nQ ? s : s - nQ) * N;
    smallToLimb(small, 0, out, o, N, slotMod(ctx, s).p);
    nttForward(out, o, slotTable(ctx, s));
  }
}

/**
 * RLWE sample (b, a) = (−a·s + e, a) over Q·p_0 (see `PublicKey`), a expanded from
 * ChaCha20(seed, nonce): one stream, so it is one unit (claimed first), while the other threads
 * transform e slot by slot; then b per slot. Arrays: Q limbs, then the one p_0 limb (bP, aP) or
 * the P limbs (sP, of which only the first is read).
 */
export function publicKeyProgram(
  ctx: CkksContext, seed: Uint8Array, e: Int32Array,
  sQ: Int32Array, sP: Int32Array, bQ: Int32Array, bP: Int32Array, aQ: Int32Array, aP: Int32Array, team: Team,
): void {
  const N = ctx.N;
  const nQ = ctx.ringQ.size;
  const S = nQ + PK_SPECIAL_LIMBS;
  for (let u = team.claim(S + 1); u >= 0; u = team.claim(S + 1)) {
    if (u === 0) {
      const rng = new ChaCha20(seed, nonceFromTag(PK_NONCE));
      sampleUniform(rng, ctx.ringQ.moduli, new Poly(N, nQ, aQ), nQ);
      sampleUniform(rng, ctx.ringP.moduli, new Poly(N, PK_SPECIAL_LIMBS, aP), PK_SPECIAL_LIMBS);
      continue;
    }
    const s = u - 1;
    const out = s < nQ ? bQ : bP;
    const o = (s < nQ ? s : s - nQ) * N;
    smallToLimb(e, 0, out, o, N, slotMod(ctx, s).p);
    nttForward(out, o, slotTable(ctx, s));
  }
  team.barrier();
  for (let s = team.claim(S); s >= 0; s = team.claim(S)) {
    const q = s < nQ;
    const o = (q ? s : s - nQ) * N;
    const { p, pInv } = slotMod(ctx, s);
    subMulVec(q ? bQ : bP, q ? aQ : aP, q ? sQ : sP, o, N, p, pInv);
  }
}

/**
 * Special limbs of a public key: only p_0. Public-key encryption works over Q·p_0 and divides by
 * p_0 (`encryptor.ts`), so the other P limbs would never be read.
 */
export const PK_SPECIAL_LIMBS = 1;

/** b[o + n] = b − a·s mod p. */
function subMulVec(b: Int32Array, a: Int32Array, s: Int32Array, o: number, N: number, p: number, pInv: number): void {
  for (let n = o, e = o + N; n < e; n++) {
    const x = a[n];
    const y = s[n];
    let r = (Math.imul(x, y) - Math.imul((x * y * pInv) | 0, p)) | 0; // [−p, 2p)
    r = (r + ((r >> 31) & p)) | 0;
    r = (r - p) | 0;
    r = (r + ((r >> 31) & p)) | 0; // a·s in [0, p)
    let d = (b[n] - r) | 0;
    d = (d + ((d >> 31) & p)) | 0;
    b[n] = d;
  }
}

/** What a switching key switches from/to: relinearization (s² → s) or a Galois element. */
export const enum KeyKind {
  Relin = 0,
  Galois = 1,
}

/**
 * Hybrid switching key (see `keys.ts`) into packed b, a (digit j, slot s at (j·S + s)·N):
 *   a_j = ChaCha20(seed, nonce j) over QP;  b_j = NTT(e_j) − a_j·s_out + [P]_{q_i}·s_in on digit j's limbs,
 * relinearization: s_out = s, s_in = s²; Galois g: s_out = σ_{g^−1}(s), s_in = s.
 * Phase 1: digits' streams (split by digit); phase 2: (digit, slot) units.
 */
export function switchingKeyProgram(
  ctx: CkksContext, kind: KeyKind, g: number, seed: Uint8Array, E: Int32Array, dnum: number,
  sQ: Int32Array, sP: Int32Array, b: Int32Array, a: Int32Array, team: Team, qLimbs = ctx.ringQ.size,
): void {
  const N = ctx.N;
  // a key capped at qLimbs Q limbs (`GaloisKeyOptions.maxLevel`) holds slots 0..qLimbs−1 (Q) and
  // qLimbs..qLimbs+K−1 (P); a full key is the case qLimbs = nQ (same stream, same key as before)
  const nQ = qLimbs;
  const K = ctx.ringP.size;
  const S = nQ + K;
  const moduli = [...ctx.ringQ.moduli.slice(0, nQ), ...ctx.ringP.moduli];
  for (let j = team.claim(dnum); j >= 0; j = team.claim(dnum)) {
    sampleUniform(new ChaCha20(seed, nonceFromTag(j)), moduli, new Poly(N, S, a.subarray(j * S * N, (j + 1) * S * N)), S);
  }
  team.barrier();
  const alpha = ctx.params.digitLimbs;
  const idx = kind === KeyKind.Galois ? ctx.galoisIndex(galoisInverse(g, N)) : undefined;
  const units = dnum * S;
  for (let u = team.claim(units); u >= 0; u = team.claim(units)) {
    const j = (u / S) | 0;
    const s = u - j * S;
    const o = (j * S + s) * N;
    const q = s < nQ;
    // slot s of the capped layout is slot s (Q) or ctx.ringQ.size + s − nQ (P) of the full one
    const fs = q ? s : ctx.ringQ.size + s - nQ;
    const { p, pInv } = slotMod(ctx, fs);
    const src = q ? sQ : sP;
    const so = (q ? s : s - nQ) * N;
    smallToLimb(E, j * N, b, o, N, p);
    nttForward(b, o, slotTable(ctx, fs));
    const inDigit = q && s >= j * alpha && s < (j + 1) * alpha;
    keyLimb(b, a, o, src, so, idx, inDigit ? ctx.pModQ[s] : -1, kind, N, p, pInv);
  }
}

/**
 * One limb of a switching key: b = b − a·s_out (+ c·s_in when c ≥ 0), with s_out = s or σ(s)
 * (gather by `idx`) and s_in = s² (relinearization) or s (Galois), s the secret's limb at so.
 */
function keyLimb(
  b: Int32Array, a: Int32Array, o: number, sk: Int32Array, so: number, idx: Int32Array | undefined,
  c: number, kind: KeyKind, N: number, p: number, pInv: number,
): void {
  for (let n = 0; n < N; n++) {
    const x = a[o + n];
    const y = idx ? sk[so + idx[n]] : sk[so + n];
    let r = (Math.imul(x, y) - Math.imul((x * y * pInv) | 0, p)) | 0;
    r = (r + ((r >> 31) & p)) | 0;
    r = (r - p) | 0;
    r = (r + ((r >> 31) & p)) | 0;
    let d = (b[o + n] - r) | 0;
    d = (d + ((d >> 31) & p)) | 0;
    if (c >= 0) {
      // + c·s_in, s_in = s² (relinearization) or s (Galois)
      const z = sk[so + n];
      let w = z;
      if (kind === KeyKind.Relin) {
        w = (Math.imul(z, z) - Math.imul((z * z * pInv) | 0, p)) | 0;
        w = (w + ((w >> 31) & p)) | 0;
        w = (w - p) | 0;
        w = (w + ((w >> 31) & p)) | 0;
      }
      let t = (Math.imul(w, c) - Math.imul((w * c * pInv) | 0, p)) | 0;
      t = (t + ((t >> 31) & p)) | 0;
      t = (t - p) | 0;
      t = (t + ((t >> 31) & p)) | 0;
      d = (d + t - p) | 0;
      d = (d + ((d >> 31) & p)) | 0;
    }
    b[o + n] = d;
  }
}
