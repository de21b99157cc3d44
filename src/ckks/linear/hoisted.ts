/**
 * @module ckks/linear/hoisted
 * A diagonal linear transform with double hoisting (Bossuat–Mouchet–Troncoso-Pastoriza–Hubaux,
 * eprint 2020/1203 §4.2; Lattigo `circuits/ckks/lintrans`) as one phase program (`phases.ts`), so
 * a worker pool splits all of it by limb — rotations, plaintext encoding and plaintext products:
 *
 *     out = ⌊ Σ_g rot_g( Σ_b p_{g,b} ⊙ R_b ) / P ⌉,    R_b = the rotation by b of the input kept over QP, times P.
 *
 * The input's c1 is decomposed once. A baby step costs an inner product and a permutation (no
 * ModDown), its plaintext products run over the ℓ Q limbs and the K P limbs; a giant step costs a
 * ModDown of one polynomial, a decomposition and an inner product, its result kept over QP; the sum
 * is divided by P once. Against single hoisting (a ModDown per baby step, 2·(ℓ + K) NTTs) it pays
 * for itself as soon as a transform has more baby steps than giant steps.
 *
 * Plaintexts come pre-encoded over QP (bootstrapping's DFT factors, or a cached network layer), or
 * as slot values that the team encodes during the evaluation: one FFT per diagonal (a unit each),
 * then per limb a reduction and an NTT right before the product, so no plaintext is ever held
 * whole (a ResNet layer's diagonals over QP would take gigabytes). A `keep` buffer receives the
 * encoded limbs for callers that cache them.
 *
 * Accumulators (one per giant step, over QP) are held for `chunk` giant steps at a time; more giant
 * steps re-decompose the input and redo the baby steps they need (memory against time).
 */
import { type NttTable, makeNttTable, nttForward } from '../../ring/ntt.js';
import { mulScalarVec } from '../../ring/ring.js';
import { powMod, shoup } from '../../ring/modulus.js';
import type { CkksContext } from '../context.js';
import type { Encoder } from '../encoder.js';
import type { KeySwitcher, PackedKey } from '../keyswitch/switcher.js';
import { type Team, decomposeProgram, modDownLazyProgram, rotateLazyProgram } from '../phases.js';

/** 1.5·2^52: adding and subtracting it rounds a double below 2^51 to the nearest integer. */
const ROUND_MAGIC = 6755399441055744;

/** A rotation of the program: its key (null for the identity) and slot permutation. */
export interface DhStep {
  key: PackedKey | null;
  index: Int32Array | null;
}

/**
 * A diagonal's plaintext: encoded over QP ((ℓ + K)·N residues, NTT domain), or slot values of one
 * period, rotated right by `shift` before encoding (values·scale below 2^50).
 */
export type DhSource =
  | { kind: 'qp'; pt: Int32Array }
  | { kind: 'values'; re: Float64Array; im: Float64Array | null; shift: number; keep?: Int32Array };

/** One evaluation. */
export interface DhJob {
  /** Q limbs of the input. */
  limbs: number;
  /** Scale of plaintexts encoded from values. */
  scale: number;
  babies: DhStep[];
  giants: DhStep[];
  /** Terms as triples (baby index, giant index, source index), sorted by baby then giant. */
  terms: Int32Array;
  sources: DhSource[];
  /** Giant steps whose accumulators are held at once (≥ 1). */
  chunk: number;
}

/** Scratch of an evaluation (QP = (nQ + K)·N int32 per polynomial; shared with a pool). */
export interface DhScratch {
  lazy0: Int32Array;
  lazy1: Int32Array;
  /** chunk × 2 polynomials over QP. */
  acc: Int32Array;
  /** One Q polynomial. */
  c1: Int32Array;
  g0: Int32Array;
  g1: Int32Array;
  sum0: Int32Array;
  sum1: Int32Array;
  /** Rounded coefficients of the diagonals a baby step encodes (N doubles each). */
  coef: Float64Array;
}

/** Int32 sizes of the scratch of a job (coefficient slots: the most value terms of one baby step). */
export function dhScratchSizes(ks: KeySwitcher, chunk: number, valueSlots: number): { qp: number; acc: number; q: number; coef: number } {
  const qp = (ks.nQ + ks.K) * ks.N;
  return { qp, acc: 2 * chunk * qp, q: ks.nQ * ks.N, coef: valueSlots * ks.N };
}

/** Most value-encoded terms of any one baby step (the coefficient slots a job needs). */
export function dhValueSlots(job: Pick<DhJob, 'terms' | 'sources'>): number {
  let best = 0;
  let run = 0;
  let prev = -1;
  for (let t = 0; t < job.terms.length; t += 3) {
    if (job.terms[t] !== prev) {
      prev = job.terms[t];
      run = 0;
    }
    if (job.sources[job.terms[t + 2]].kind === 'values') best = Math.max(best, ++run);
  }
  return best;
}

// per-thread scratch (each worker has its own module instance)
let limbBuf = new Int32Array(0);
let rotRe = new Float64Array(0);
let rotIm = new Float64Array(0);

/**
 * Runs the transform: out = the transform of (c0, c1) (Q limbs, NTT domain), scale input·job.scale.
 * `enc` encodes value sources (each thread its own encoder); null when every source is 'qp'.
 */
export function doubleHoistedProgram(
  ks: KeySwitcher, enc: Encoder | null, job: DhJob, c0: Int32Array, c1: Int32Array, sc: DhScratch,
  out0: Int32Array, out1: Int32Array, team: Team,
): void {
  const { ctx, N, K } = ks;
  const limbs = job.limbs;
  const L = limbs + K;
  const QP = (ks.nQ + K) * N;
  if (limbBuf.length < N) limbBuf = new Int32Array(N);
  const mods = [...ctx.ringQ.moduli.slice(0, limbs), ...ctx.ringP.moduli];
  const tables = [...ctx.ringQ.tables.slice(0, limbs), ...ctx.ringP.tables];
  const { terms, sources } = job;
  const G = job.giants.length;
  let sumSet = false;
  for (let gs = 0; gs < G; gs += job.chunk) {
    const ge = Math.min(G, gs + job.chunk);
    const touched = new Uint8Array(ge - gs);
    // the terms of this chunk, grouped by baby step
    const byBaby = new Map<number, number[]>();
    for (let t = 0; t < terms.length; t += 3) {
      const g = terms[t + 1];
      if (g < gs || g >= ge) continue;
      let l = byBaby.get(terms[t]);
      if (!l) byBaby.set(terms[t], (l = []));
      l.push(t);
    }
    if ([...byBaby.keys()].some((b) => job.babies[b].key)) {
      decomposeProgram(ks, limbs, c1, team);
      team.barrier();
    }
    for (const [b, ts] of byBaby) {
      // encode the value sources of this baby step: one FFT per diagonal
      const vs = ts.filter((t) => sources[terms[t + 2]].kind === 'values');
      const slotOf = new Map<number, number>(vs.map((t, i) => [t, i]));
      if (vs.length > 0) {
        for (let u = team.claim(vs.length); u >= 0; u = team.claim(vs.length)) {
          encodeValues(enc!, sources[terms[vs[u] + 2]] as Extract<DhSource, { kind: 'values' }>, job.scale, sc.coef, u * N);
        }
        team.barrier();
      }
      const step = job.babies[b];
      if (step.key) {
        rotateLazyProgram(ks, step.key, step.index!, limbs, c0, sc.lazy0, sc.lazy1, team);
      } else {
        // identity: (P·c0, P·c1) on the Q limbs, 0 on the P limbs
        for (let u = team.claim(2 * L); u >= 0; u = team.claim(2 * L)) {
          const dst = (u & 1) === 0 ? sc.lazy0 : sc.lazy1;
          const l = u >> 1;
          if (l < limbs) {
            const { p } = mods[l];
            const w = ctx.pModQ[l];
            mulScalarVec((u & 1) === 0 ? c0 : c1, w, shoup(w, p), dst, l * N, (l + 1) * N, p);
          } else {
            dst.fill(0, l * N, (l + 1) * N);
          }
        }
      }
      team.barrier();
      // plaintext products, split by limb (each limb of a value source reduced and transformed here)
      for (let l = team.claim(L); l >= 0; l = team.claim(L)) {
        const { p, pInv } = mods[l];
        for (const t of ts) {
          const src = sources[terms[t + 2]];
          let w: Int32Array;
          let wo: number;
          if (src.kind === 'qp') {
            w = src.pt;
            wo = l * N;
          } else {
            encodeLimb(sc.coef, slotOf.get(t)! * N, src.re.length, tables[l], limbBuf);
            if (src.keep) src.keep.set(limbBuf.subarray(0, N), l * N);
            w = limbBuf;
            wo = 0;
          }
          const j = terms[t + 1] - gs;
          const ao = 2 * j * QP + l * N;
          if (touched[j]) mulAddPair(sc.lazy0, sc.lazy1, w, wo, sc.acc, ao, ao + QP, l * N, N, p, pInv);
          else mulPair(sc.lazy0, sc.lazy1, w, wo, sc.acc, ao, ao + QP, l * N, N, p, pInv);
        }
      }
      team.barrier();
      for (const t of ts) touched[terms[t + 1] - gs] = 1;
    }
    // giant steps: each accumulator rotated (kept over QP) and added to the sum
    for (let j = 0; j < ge - gs; j++) {
      if (!touched[j]) continue;
      const a0 = sc.acc.subarray(2 * j * QP, 2 * j * QP + L * N);
      const a1 = sc.acc.subarray((2 * j + 1) * QP, (2 * j + 1) * QP + L * N);
      const step = job.giants[gs + j];
      let r0 = a0;
      let r1 = a1;
      if (step.key) {
        modDownLazyProgram(ks, limbs, a0, a1, sc.c1, sc.c1, team, true);
        team.barrier();
        decomposeProgram(ks, limbs, sc.c1, team);
        team.barrier();
        rotateLazyProgram(ks, step.key, step.index!, limbs, a0, sc.g0, sc.g1, team, true);
        team.barrier();
        r0 = sc.g0;
        r1 = sc.g1;
      }
      for (let u = team.claim(2 * L); u >= 0; u = team.claim(2 * L)) {
        const l = u >> 1;
        const src = (u & 1) === 0 ? r0 : r1;
        const dst = (u & 1) === 0 ? sc.sum0 : sc.sum1;
        if (sumSet) addLimb(dst, src, l * N, (l + 1) * N, mods[l].p);
        else dst.set(src.subarray(l * N, (l + 1) * N), l * N);
      }
      team.barrier();
      sumSet = true;
    }
  }
  if (!sumSet) {
    for (let u = team.claim(2); u >= 0; u = team.claim(2)) ((u === 0 ? out0 : out1)).fill(0, 0, limbs * N);
    return;
  }
  modDownLazyProgram(ks, limbs, sc.sum0, sc.sum1, out0, out1, team);
}

/**
 * Encodes a value source over QP on the calling thread into `out` ((limbs + K)·N residues, NTT
 * domain): what `doubleHoistedProgram` writes to a source's `keep` buffer, for callers that prepare
 * plaintexts ahead of a run.
 */
export function encodeSourceQP(ctx: CkksContext, enc: Encoder, src: Extract<DhSource, { kind: 'values' }>, scale: number, limbs: number, out: Int32Array): void {
  const N = ctx.N;
  const coef = new Float64Array(N);
  encodeValues(enc, src, scale, coef, 0);
  const mods = [...ctx.ringQ.moduli.slice(0, limbs), ...ctx.ringP.moduli];
  const tables = [...ctx.ringQ.tables.slice(0, limbs), ...ctx.ringP.tables];
  const t = new Int32Array(N);
  for (let l = 0; l < mods.length; l++) {
    encodeLimb(coef, 0, src.re.length, tables[l], t);
    out.set(t, l * N);
  }
}

/** Smallest transform a sparse encoding uses (below it the full transform is cheap anyway). */
const MIN_SPARSE_N = 256;

/** Size-M transform tables of the roots ψ^(N/M), per (prime, M), built once per thread. */
const sparseTables = new Map<string, NttTable>();

function sparseTable(T: NttTable, M: number): NttTable {
  const key = `${T.mod.p}:${M}:${T.root}`;
  let t = sparseTables.get(key);
  if (!t) sparseTables.set(key, (t = makeNttTable(T.mod, M, powMod(T.root, T.N / M, T.mod.p))));
  return t;
}

/**
 * One limb of a plaintext from its rounded coefficients c[co, co + N): reduced mod p and
 * transformed, into out[0, N). A diagonal of period P < N/2 (slots repeated every P) is a
 * polynomial in X^k, k = N/(2P): with g(Y) = Σ c_{mk} Y^m of degree < M = N/k, its evaluations
 * f(ψ^(2j+1)) = g(φ^(2j+1)), φ = ψ^k a primitive 2M-th root, repeat with period M in j; in the
 * bit-reversed order of `nttForward` entry i is then G[i >> log2 k], G the size-M transform of g.
 * So the limb costs an M-point transform instead of an N-point one (k = 2, 4, 8 on ResNet-20's
 * three stages). Coefficients off the multiples of k are zero up to float rounding of the FFT
 * (|c| ≪ 1/2 before rounding), so they are not read.
 */
function encodeLimb(c: Float64Array, co: number, period: number, T: NttTable, out: Int32Array): void {
  const N = T.N;
  const { p, pInv } = T.mod;
  const k = N / (2 * period);
  const M = N / k;
  if (k < 2 || !Number.isInteger(k) || M < MIN_SPARSE_N) {
    reduceLimb(c, co, out, N, p, pInv, 1);
    nttForward(out, 0, T);
    return;
  }
  reduceLimb(c, co, out, M, p, pInv, k);
  nttForward(out, 0, sparseTable(T, M));
  const s = Math.log2(k);
  for (let i = N - 1; i >= 0; i--) out[i] = out[i >> s]; // i >> s ≤ i: downward in place
}

/** A value source's diagonal, rotated right by its shift, encoded to rounded coefficients at out[o..o+N). */
function encodeValues(enc: Encoder, src: Extract<DhSource, { kind: 'values' }>, scale: number, out: Float64Array, o: number): void {
  const P = src.re.length;
  if (rotRe.length < P) {
    rotRe = new Float64Array(P);
    rotIm = new Float64Array(P);
  }
  const s = ((src.shift % P) + P) % P;
  const re = rotRe.subarray(0, P);
  for (let i = 0; i < P; i++) re[(i + s) % P] = src.re[i];
  if (src.im) {
    const im = rotIm.subarray(0, P);
    for (let i = 0; i < P; i++) im[(i + s) % P] = src.im[i];
    enc.roundedCoefficientsInto({ re, im }, 'repeat', scale, out, o);
  } else {
    enc.roundedCoefficientsInto(re, 'repeat', scale, out, o);
  }
}

/** out[m] = c[co + m·stride] mod p for m < n, integer-valued doubles |c| < 2^50, in [0, p). */
function reduceLimb(c: Float64Array, co: number, out: Int32Array, n: number, p: number, pInv: number, stride: number): void {
  const p2 = (p << 1) | 0;
  for (let k = 0; k < n; k++) {
    const v = c[co + k * stride];
    // q within ±1 of v/p (pInv rounded), so v − q·p is exact in float64 and lies in (−2p, 2p)
    const q = v * pInv + ROUND_MAGIC - ROUND_MAGIC;
    let r = (v - q * p) | 0;
    r = (r + ((r >> 31) & p2)) | 0; // [0, 2p)
    r = (r - p) | 0;
    out[k] = (r + ((r >> 31) & p)) | 0; // [0, p)
  }
}

/** acc[a0 + i] = x0[xo + i]·w[wo + i], acc[a1 + i] = x1[xo + i]·w[wo + i] mod p; inputs in [0, p). */
function mulPair(x0: Int32Array, x1: Int32Array, w: Int32Array, wo: number, acc: Int32Array, a0: number, a1: number, xo: number, N: number, p: number, pInv: number): void {
  for (let i = 0; i < N; i++) {
    const c = w[wo + i];
    const z = c * pInv; // shared by both products (quotient estimates stay within ±1)
    const u = x0[xo + i];
    let r = (Math.imul(u, c) - Math.imul((u * z) | 0, p)) | 0; // [−p, 2p)
    r = (r + ((r >> 31) & p)) | 0; // [0, 2p)
    r = (r - p) | 0;
    acc[a0 + i] = (r + ((r >> 31) & p)) | 0;
    const t = x1[xo + i];
    let q = (Math.imul(t, c) - Math.imul((t * z) | 0, p)) | 0;
    q = (q + ((q >> 31) & p)) | 0;
    q = (q - p) | 0;
    acc[a1 + i] = (q + ((q >> 31) & p)) | 0;
  }
}

/** acc[a0 + i] += x0[xo + i]·w[wo + i], acc[a1 + i] += x1[xo + i]·w[wo + i] mod p; all in [0, p). */
function mulAddPair(x0: Int32Array, x1: Int32Array, w: Int32Array, wo: number, acc: Int32Array, a0: number, a1: number, xo: number, N: number, p: number, pInv: number): void {
  for (let i = 0; i < N; i++) {
    const c = w[wo + i];
    const z = c * pInv;
    const u = x0[xo + i];
    let r = (Math.imul(u, c) - Math.imul((u * z) | 0, p)) | 0; // [−p, 2p)
    r = (r + ((r >> 31) & p)) | 0; // [0, 2p)
    r = (r - p + acc[a0 + i]) | 0; // [−p, 2p)
    r = (r + ((r >> 31) & p)) | 0;
    r = (r - p) | 0;
    acc[a0 + i] = (r + ((r >> 31) & p)) | 0;
    const t = x1[xo + i];
    let q = (Math.imul(t, c) - Math.imul((t * z) | 0, p)) | 0;
    q = (q + ((q >> 31) & p)) | 0;
    q = (q - p + acc[a1 + i]) | 0;
    q = (q + ((q >> 31) & p)) | 0;
    q = (q - p) | 0;
    acc[a1 + i] = (q + ((q >> 31) & p)) | 0;
  }
}

/** dst[i] += src[i] mod p on [s, e); both in [0, p). */
function addLimb(dst: Int32Array, src: Int32Array, s: number, e: number, p: number): void {
  for (let i = s; i < e; i++) {
    const r = (dst[i] + src[i] - p) | 0;
    dst[i] = (r + ((r >> 31) & p)) | 0;
  }
}
