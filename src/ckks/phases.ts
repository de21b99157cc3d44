/**
 * @module ckks/phases
 * The evaluator's expensive operations written as "programs" of phases over units of work (limbs,
 * slots, (polynomial, limb) pairs), run by every participating thread of a `Team` (one thread: a
 * solo team). Within a phase, threads claim units one at a time from a shared counter (most
 * expensive first), so a thread that is descheduled or slower simply claims fewer; between phases
 * they meet at a barrier. A unit's result does not depend on which thread computes it, so results
 * are the same bit for bit whatever the number of threads (`pool/pool.ts` runs these on worker_threads).
 * (A static split of the units was measured first: with two threads on the shared 2-vCPU VM its
 * medians varied by up to 1.5× from run to run, whenever one vCPU was briefly taken away.)
 *
 * Arrays are passed explicitly: the ciphertexts' own buffers with one thread, shared staging
 * buffers with a pool. Limb i of a polynomial is at offset i·N.
 */
import { nttForwardLazy, nttInverse, nttInverseScaled } from '../ring/ntt.js';
import type { CkksContext } from './context.js';
import { DownMode, type KeySwitcher, type PackedKey } from './keyswitch/switcher.js';

/** The threads running a program together. */
export interface Team {
  /** Number of threads. */
  readonly size: number;
  /** Claims the next unit of the current phase: an index in [0, n), or −1 when all are taken. */
  claim(n: number): number;
  /** Waits until every thread has finished the current phase (and starts the next one's units at 0). */
  barrier(): void;
}

/** A team of one: units in order, barriers only reset the counter. */
export function solo(): Team {
  let next = 0;
  return {
    size: 1,
    claim: (n) => (next < n ? next++ : -1),
    barrier: () => {
      next = 0;
    },
  };
}

/**
 * Units of phase B over the slot order: one slot each, or for a team of one (`paired`) two slots
 * each, whose basis conversions then share a pass (`KeySwitcher.extendSlot`); ModDown pairs its
 * limbs the same way (`KeySwitcher.downUnits`). A team keeps units of one, which balance better
 * between threads.
 */
function slotUnits(order: readonly number[], paired: boolean): number {
  return paired ? (order.length + 1) >> 1 : order.length;
}

/** Slot `which` (0 or 1) of phase-B unit u, or −1 when the unit has no such slot. */
function unitSlot(order: readonly number[], u: number, paired: boolean, which: 0 | 1): number {
  if (!paired) return which === 0 ? order[u] : -1;
  const k = 2 * u + which;
  return k < order.length ? order[k] : -1;
}

/**
 * Key switch of the last input polynomial with `key`: relinearization (mode Add: out = (x0 + ·,
 * x1 + ·), x = (c0, c1), c = c2), rotation (mode Rotate: x0 = c0, c = c1, `index` the permutation)
 * or relinearization merged with a rescale (AddRescale). Outputs have ks.downLimbs(limbs) limbs.
 */
export function keySwitchProgram(
  ks: KeySwitcher, key: PackedKey, limbs: number, mode: DownMode,
  c: Int32Array, x0: Int32Array | undefined, x1: Int32Array | undefined,
  out0: Int32Array, out1: Int32Array, index: Int32Array | undefined, team: Team,
): void {
  for (let i = team.claim(limbs); i >= 0; i = team.claim(limbs)) ks.modUpY(c, 0, limbs, i, i + 1);
  team.barrier();
  keySwitchAfterModUp(ks, key, limbs, mode, c, x0, x1, out0, out1, index, team);
}

/** Phases B and C of `keySwitchProgram` (phase A done). */
export function keySwitchAfterModUp(
  ks: KeySwitcher, key: PackedKey, limbs: number, mode: DownMode,
  c: Int32Array, x0: Int32Array | undefined, x1: Int32Array | undefined,
  out0: Int32Array, out1: Int32Array, index: Int32Array | undefined, team: Team,
): void {
  const order = ks.slotOrder(limbs, mode === DownMode.AddRescale);
  const paired = team.size === 1;
  const units1 = slotUnits(order, paired);
  ks.beginPhaseB();
  for (let u = team.claim(units1); u >= 0; u = team.claim(units1)) {
    const s = unitSlot(order, u, paired, 0);
    const s2 = unitSlot(order, u, paired, 1);
    ks.extendSlot(c, 0, limbs, s, s2);
    ks.multiplySlot(key, limbs, s, mode, x0, x1, 0);
    if (s2 >= 0) ks.multiplySlot(key, limbs, s2, mode, x0, x1, 0);
  }
  team.barrier();
  const units = ks.downUnits(limbs, mode, paired);
  for (let u = team.claim(units); u >= 0; u = team.claim(units)) ks.modDown(limbs, mode, u, u + 1, out0, out1, 0, x0, x1, 0, index, paired);
}

/** Hoisted rotations: phase A and the extension once, then per key the product and ModDown. */
export function rotateHoistedProgram(
  ks: KeySwitcher, keys: readonly PackedKey[], indices: readonly Int32Array[], limbs: number,
  c0: Int32Array, c1: Int32Array, outs: readonly (readonly [Int32Array, Int32Array])[], team: Team,
): void {
  for (let i = team.claim(limbs); i >= 0; i = team.claim(limbs)) ks.modUpY(c1, 0, limbs, i, i + 1);
  team.barrier();
  const order = ks.slotOrder(limbs);
  const paired = team.size === 1;
  const units1 = slotUnits(order, paired);
  ks.beginPhaseB();
  for (let u = team.claim(units1); u >= 0; u = team.claim(units1)) ks.extendSlot(c1, 0, limbs, unitSlot(order, u, paired, 0), unitSlot(order, u, paired, 1));
  team.barrier();
  const units = ks.downUnits(limbs, DownMode.Rotate, paired);
  for (let r = 0; r < keys.length; r++) {
    ks.beginPhaseB();
    for (let u = team.claim(order.length); u >= 0; u = team.claim(order.length)) ks.multiplySlot(keys[r], limbs, order[u], DownMode.Rotate, c0, undefined, 0);
    team.barrier();
    for (let u = team.claim(units); u >= 0; u = team.claim(units)) {
      ks.modDown(limbs, DownMode.Rotate, u, u + 1, outs[r][0], outs[r][1], 0, c0, undefined, 0, indices[r], paired);
    }
    team.barrier(); // the accumulators are reused by the next key
  }
}

/**
 * Decomposition of c1 for hoisted rotations (phases A and B's extension): afterwards the
 * KeySwitcher's digit buffer holds c1's digits over QP until the next key switch on it.
 */
export function decomposeProgram(ks: KeySwitcher, limbs: number, c1: Int32Array, team: Team): void {
  for (let i = team.claim(limbs); i >= 0; i = team.claim(limbs)) ks.modUpY(c1, 0, limbs, i, i + 1);
  team.barrier();
  const order = ks.slotOrder(limbs);
  const paired = team.size === 1;
  const units1 = slotUnits(order, paired);
  ks.beginPhaseB();
  for (let u = team.claim(units1); u >= 0; u = team.claim(units1)) ks.extendSlot(c1, 0, limbs, unitSlot(order, u, paired, 0), unitSlot(order, u, paired, 1));
}

/**
 * One hoisted rotation kept over QP, before ModDown (double hoisting, Bossuat et al. eprint
 * 2020/1203 §4.2), after `decomposeProgram`: out = (σ(P·c0 + u0), σ(u1)) on the ℓ Q limbs and the
 * K P limbs, (u0, u1) the inner product of c1's digits with `key`. A sum of such rotations times
 * plaintexts (over QP too) then needs one ModDown (`modDownLazyProgram`) instead of one per
 * rotation. Layout per polynomial: Q limbs at i·N, then P limbs at (ℓ + k)·N.
 */
export function rotateLazyProgram(
  ks: KeySwitcher, key: PackedKey, index: Int32Array, limbs: number, c0: Int32Array, out0: Int32Array, out1: Int32Array, team: Team,
  c0Lazy = false,
): void {
  const N = ks.N;
  const nQ = ks.nQ;
  const S = ks.S;
  const ctx = ks.ctx;
  const { acc, tmp } = ks.buf;
  const order = ks.slotOrder(limbs);
  const slots = order.length;
  for (let u = team.claim(slots); u >= 0; u = team.claim(slots)) ks.innerProductSlot(key, limbs, order[u]);
  team.barrier();
  const units = 2 * slots;
  for (let u = team.claim(units); u >= 0; u = team.claim(units)) {
    const s = order[u >> 1];
    const pi = u & 1;
    const q = s < nQ;
    const oo = (q ? s : limbs + (s - nQ)) * N;
    const ao = (pi * S + s) * N;
    if (pi === 0 && c0Lazy) {
      // c0 already over QP and multiplied by P (the rotation of a lazy ciphertext): c0 + u0, then σ
      const m = q ? ctx.ringQ.moduli[s] : ctx.ringP.moduli[s - nQ];
      const to = (q ? s : nQ + (s - nQ)) * N; // tmp has room for nQ limbs: P limbs after them
      addLimb(c0, oo, acc, ao, ks.lazyScratch, to, N, m.p);
      gatherLimb(ks.lazyScratch, to, index, out0, oo, N);
    } else if (pi === 0 && q) {
      // P·c0 + u0 on a Q limb, then σ
      const { p, pInv } = ctx.ringQ.moduli[s];
      mulScalarAddVec(c0, s * N, ctx.pModQ[s], acc, ao, tmp, s * N, N, p, pInv);
      gatherLimb(tmp, s * N, index, out0, oo, N);
    } else {
      gatherLimb(acc, ao, index, pi === 0 ? out0 : out1, oo, N);
    }
  }
}

/**
 * ModDown of a ciphertext kept over QP (`rotateHoistedLazyProgram`'s layout, after sums and
 * plaintext products): out_π = ⌊x_π/P⌉ on the ℓ Q limbs.
 */
export function modDownLazyProgram(
  ks: KeySwitcher, limbs: number, x0: Int32Array, x1: Int32Array, out0: Int32Array, out1: Int32Array, team: Team,
  onlyX1 = false,
): void {
  const N = ks.N;
  const K = ks.K;
  const S = ks.S;
  const ctx = ks.ctx;
  const { acc, Yd } = ks.buf;
  const ns = K + ctx.params.limbsPerLevel; // Yd stride per polynomial (as `KeySwitcher.modDown` reads it)
  const conv = ctx.convPtoQ;
  // with onlyX1, units of polynomial 1 only (u ↦ 2u + 1)
  const step = onlyX1 ? 1 : 2;
  const units0 = step * (limbs + K);
  for (let w = team.claim(units0); w >= 0; w = team.claim(units0)) {
    const u = onlyX1 ? 2 * w + 1 : w;
    const pi = u & 1;
    const s = u >> 1;
    const x = pi === 0 ? x0 : x1;
    if (s < limbs) {
      acc.set(x.subarray(s * N, (s + 1) * N), (pi * S + s) * N);
    } else {
      const k = s - limbs;
      const yo = (pi * ns + k) * N;
      Yd.set(x.subarray(s * N, (s + 1) * N), yo);
      nttInverseScaled(Yd, yo, ctx.ringP.tables[k], conv.hatInv(k));
    }
  }
  team.barrier();
  const paired = team.size === 1;
  ks.beginPhaseB();
  const all = ks.downUnits(limbs, DownMode.Plain, paired);
  const units = onlyX1 ? all >> 1 : all;
  for (let w = team.claim(units); w >= 0; w = team.claim(units)) {
    const u = onlyX1 ? 2 * w + 1 : w;
    ks.modDown(limbs, DownMode.Plain, u, u + 1, out0, out1, 0, undefined, undefined, 0, undefined, paired);
  }
}

/** out[oo + n] = a[ao + n] + b[bo + n] mod p. */
function addLimb(a: Int32Array, ao: number, b: Int32Array, bo: number, out: Int32Array, oo: number, N: number, p: number): void {
  for (let n = 0; n < N; n++) {
    let r = (a[ao + n] + b[bo + n] - p) | 0;
    r = (r + ((r >> 31) & p)) | 0;
    out[oo + n] = r;
  }
}

/** out[oo + n] = src[so + index[n]] (one limb of an NTT-domain automorphism). */
function gatherLimb(src: Int32Array, so: number, index: Int32Array, out: Int32Array, oo: number, N: number): void {
  for (let n = 0; n < N; n++) out[oo + n] = src[so + index[n]];
}

/** out[oo + n] = x[xo + n]·c + a[ao + n] mod p (x, a in [0, p), c in [0, p)). */
function mulScalarAddVec(x: Int32Array, xo: number, c: number, a: Int32Array, ao: number, out: Int32Array, oo: number, N: number, p: number, pInv: number): void {
  for (let n = 0; n < N; n++) {
    const y = x[xo + n];
    let r = ((Math.imul(y, c) - Math.imul((y * c * pInv) | 0, p)) | 0) + a[ao + n] - p; // [−2p, 2p)
    r = (r + ((r >> 31) & p)) | 0;
    r = (r + ((r >> 31) & p)) | 0;
    r = (r - p) | 0;
    r = (r + ((r >> 31) & p)) | 0;
    out[oo + n] = r;
  }
}

/**
 * Tensor product (d0, d1, d2) = (a0·b0, a0·b1 + a1·b0, a1·b1) limb by limb, with phase A on d2 for
 * the same limb; then the merged relinearization + rescale.
 */
export function mulRelinRescaleProgram(
  ctx: CkksContext, ks: KeySwitcher, key: PackedKey, limbs: number,
  a0: Int32Array, a1: Int32Array, b0: Int32Array, b1: Int32Array,
  d0: Int32Array, d1: Int32Array, d2: Int32Array,
  out0: Int32Array, out1: Int32Array, team: Team,
): void {
  const N = ctx.N;
  const qm = ctx.ringQ.moduli;
  for (let i = team.claim(limbs); i >= 0; i = team.claim(limbs)) {
    const { p, pInv } = qm[i];
    tensorVec(a0, a1, b0, b1, d0, d1, d2, i * N, (i + 1) * N, p, pInv);
    ks.modUpY(d2, 0, limbs, i, i + 1);
  }
  team.barrier();
  keySwitchAfterModUp(ks, key, limbs, DownMode.AddRescale, d2, d0, d1, out0, out1, undefined, team);
}

/**
 * Rescale of `polys` input polynomials (`limbs` limbs, NTT) by the limbs of their level into outs
 * (may alias the inputs). One limb: out_i = (c_i − [c_l]_{q_i})·q_l^−1 (Lattigo
 * `DivRoundByLastModulusNTT`). Several limbs (a level of two 30-bit limbs): one division by their
 * product Q_d, out_i = (c_i − [c]_{Q_d} mod q_i)·Q_d^−1 with the centred [c]_{Q_d} from the exact
 * basis conversion: 2 + (ℓ − 2) transforms per polynomial instead of the 2 + 2ℓ − 3 of two
 * one-limb rescales, and one rounding. `t` is shared scratch of polys·limbs·N.
 */
export function rescaleProgram(
  ctx: CkksContext, limbs: number, ins: readonly Int32Array[], outs: readonly Int32Array[], t: Int32Array, team: Team,
): void {
  if (ctx.params.dropAt(limbs) > 1) {
    rescaleLevelProgram(ctx, limbs, ins, outs, t, team);
    return;
  }
  const N = ctx.N;
  const l = limbs - 1;
  const polys = ins.length;
  const T = ctx.ringQ.tables;
  for (let k = team.claim(polys); k >= 0; k = team.claim(polys)) {
    const o = (k * limbs + l) * N;
    t.set(ins[k].subarray(l * N, limbs * N), o);
    nttInverse(t, o, T[l]);
  }
  team.barrier();
  const last = ctx.ringQ.moduli[l].p;
  const half = last >> 1;
  const nQ = ctx.ringQ.size;
  const units = polys * l;
  for (let u = team.claim(units); u >= 0; u = team.claim(units)) {
    // limb-major: the polynomials' NTTs of one prime run back to back (timed the same as
    // poly-major within this machine's noise)
    const i = (u / polys) | 0;
    const k = u - i * polys;
    const { p } = ctx.ringQ.moduli[i];
    const lo = (k * limbs + l) * N;
    const o = (k * limbs + i) * N;
    centredResidues(t, lo, t, o, N, last, half, p);
    nttForwardLazy(t, o, T[i]);
    rescaleCombine(ins[k], i * N, t, o, ctx.qInvModQ[l * nQ + i], ctx.qInvModQF[l * nQ + i], outs[k], N, p);
  }
}

/** Per-thread scratch of v (the conversion's correction), per ring degree. */
const vScratch = new Map<number, Int32Array>();

/** The several-limb case of `rescaleProgram`. */
function rescaleLevelProgram(
  ctx: CkksContext, limbs: number, ins: readonly Int32Array[], outs: readonly Int32Array[], t: Int32Array, team: Team,
): void {
  const N = ctx.N;
  const polys = ins.length;
  const T = ctx.ringQ.tables;
  const { keep, conv, qdInv, qdInvF } = ctx.rescaleLevel(limbs);
  const drop = limbs - keep;
  // y of the dropped limbs: INTT with the conversion's first constant folded in
  const units0 = polys * drop;
  for (let u = team.claim(units0); u >= 0; u = team.claim(units0)) {
    const k = (u / drop) | 0;
    const l = keep + (u - k * drop);
    const o = (k * limbs + l) * N;
    t.set(ins[k].subarray(l * N, (l + 1) * N), o);
    nttInverseScaled(t, o, T[l], conv.hatInv(l - keep));
  }
  team.barrier();
  let v = vScratch.get(N);
  if (!v) vScratch.set(N, (v = new Int32Array(N)));
  let vFor = -1;
  const units = polys * keep;
  for (let u = team.claim(units); u >= 0; u = team.claim(units)) {
    // limb-major like the one-limb case; v is recomputed when the polynomial changes (k·N flops)
    const i = (u / polys) | 0;
    const k = u - i * polys;
    const yo = (k * limbs + keep) * N;
    if (vFor !== k) {
      conv.computeV(t, yo, v, 0);
      vFor = k;
    }
    const o = (k * limbs + i) * N;
    conv.convertToLazy(t, yo, v, 0, i, t, o);
    nttForwardLazy(t, o, T[i]);
    rescaleCombine(ins[k], i * N, t, o, qdInv[i], qdInvF[i], outs[k], N, ctx.ringQ.moduli[i].p);
  }
}

/** out[n] = the centred residue of x = src[so + n] ∈ [0, last) reduced mod p, in [0, p). */
function centredResidues(src: Int32Array, so: number, dst: Int32Array, o: number, N: number, last: number, half: number, p: number): void {
  if (p > half) {
    // x − last ∈ (−last/2, 0) lies in (−p, p): one correction
    // unrolled by four with one temporary (see `addVec`); N is a multiple of 4. Merging this
    // pass into the NTT's first pass (reading the top limb, writing the target) was measured:
    // 1% faster in isolation, within noise, not kept.
    let x = 0;
    for (let n = 0; n < N; n += 4) {
      const i = so + n;
      const j = o + n;
      x = src[i];
      x = (x - (((half - x) >> 31) & last)) | 0;
      dst[j] = (x + ((x >> 31) & p)) | 0;
      x = src[i + 1];
      x = (x - (((half - x) >> 31) & last)) | 0;
      dst[j + 1] = (x + ((x >> 31) & p)) | 0;
      x = src[i + 2];
      x = (x - (((half - x) >> 31) & last)) | 0;
      dst[j + 2] = (x + ((x >> 31) & p)) | 0;
      x = src[i + 3];
      x = (x - (((half - x) >> 31) & last)) | 0;
      dst[j + 3] = (x + ((x >> 31) & p)) | 0;
    }
    return;
  }
  const pInv = 1 / p;
  for (let n = 0; n < N; n++) {
    let x = src[so + n];
    x -= ((half - x) >> 31) & last;
    let r = (x - Math.trunc(x * pInv) * p) | 0; // (−2p, 2p): truncation, ±1 quotient error
    r += (r >> 31) & (p << 1);
    r -= p;
    r += (r >> 31) & p;
    dst[o + n] = r;
  }
}

/** out[o + n] = (c[o + n] − t[to + n])·q mod p with t lazy in [0, 2p). */
function rescaleCombine(c: Int32Array, o: number, t: Int32Array, to: number, q: number, qf: number, out: Int32Array, N: number, p: number): void {
  // unrolled by four with one temporary per quantity (see `addVec`)
  const p2 = (p << 1) | 0;
  let d = 0;
  let r = 0;
  for (let n = 0; n < N; n += 4) {
    const i = o + n;
    const j = to + n;
    d = (c[i] - t[j] + p2) | 0; // (0, 3p)
    r = ((Math.imul(d, q) - Math.imul(((d >>> 0) * qf) | 0, p)) | 0) - p; // [−p, p)
    out[i] = (r + ((r >> 31) & p)) | 0;
    d = (c[i + 1] - t[j + 1] + p2) | 0;
    r = ((Math.imul(d, q) - Math.imul(((d >>> 0) * qf) | 0, p)) | 0) - p;
    out[i + 1] = (r + ((r >> 31) & p)) | 0;
    d = (c[i + 2] - t[j + 2] + p2) | 0;
    r = ((Math.imul(d, q) - Math.imul(((d >>> 0) * qf) | 0, p)) | 0) - p;
    out[i + 2] = (r + ((r >> 31) & p)) | 0;
    d = (c[i + 3] - t[j + 3] + p2) | 0;
    r = ((Math.imul(d, q) - Math.imul(((d >>> 0) * qf) | 0, p)) | 0) - p;
    out[i + 3] = (r + ((r >> 31) & p)) | 0;
  }
}

/**
 * Tensor product of (a0, a1) and (b0, b1) on [s, e): d0 = a0·b0, d1 = a0·b1 + a1·b0, d2 = a1·b1.
 */
export function tensorVec(
  a0: Int32Array, a1: Int32Array, b0: Int32Array, b1: Int32Array,
  d0: Int32Array, d1: Int32Array, d2: Int32Array, s: number, e: number, p: number, pInv: number,
): void {
  const p2 = (p << 1) | 0;
  for (let i = s; i < e; i++) {
    const x0 = a0[i];
    const x1 = a1[i];
    const y0 = b0[i];
    const y1 = b1[i];
    let r0 = (Math.imul(x0, y0) - Math.imul((x0 * y0 * pInv) | 0, p)) | 0;
    r0 += (r0 >> 31) & p; r0 -= p; r0 += (r0 >> 31) & p;
    let r2 = (Math.imul(x1, y1) - Math.imul((x1 * y1 * pInv) | 0, p)) | 0;
    r2 += (r2 >> 31) & p; r2 -= p; r2 += (r2 >> 31) & p;
    let ra = (Math.imul(x0, y1) - Math.imul((x0 * y1 * pInv) | 0, p)) | 0;
    ra += (ra >> 31) & p; // [0, 2p)
    let rb = (Math.imul(x1, y0) - Math.imul((x1 * y0 * pInv) | 0, p)) | 0;
    rb += (rb >> 31) & p; // [0, 2p)
    let r1 = (ra + rb - p2) | 0; // [−2p, 2p)
    r1 = (r1 + ((r1 >> 31) & p2)) | 0;
    r1 -= p;
    r1 += (r1 >> 31) & p;
    d0[i] = r0;
    d1[i] = r1;
    d2[i] = r2;
  }
}
