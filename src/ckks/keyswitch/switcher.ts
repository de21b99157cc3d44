/**
 * @module ckks/keyswitch/switcher
 * Hybrid key switching (Han–Ki eprint 2019/688 §3; Lattigo `core/rlwe/evaluator_gadget_product.go`),
 * organised as phases over limbs so that one thread or several (`ckks/pool/pool.ts`) run the same code:
 *
 *   A. `modUpY`     per Q limb i of c (NTT, ℓ limbs): y_i = (D_j/q_i)^−1·INTT(c_i), the first step of
 *                   the digit's basis conversion folded into the inverse NTT (`nttInverseScaled`).
 *   B. `extendAndMultiply` per target slot s (the ℓ Q limbs and the K P limbs): for every digit j,
 *                   the digit extended to q_s (exact conversion, then NTT while the limb is in cache;
 *                   the digit's own limbs are c's), then at once the inner product
 *                   (u0, u1)_s = Σ_j d̃_j,s ⊙ (b_j, a_j)_s with the dnum terms summed in float64 and
 *                   reduced once (lazy accumulation). A P slot then starts ModDown: y = INTT(u_P)·const.
 *   C. `modDown`    per (output poly, Q limb): Conv_{P→q_i}(u_P) (then NTT) and
 *                   out = [x +] (u_Q − Conv(u_P))·P^−1.
 * Between phases every thread must have finished (barrier); within a phase, threads own disjoint
 * limbs, so results do not depend on the number of threads (bit for bit).
 *
 * Fused ModDown + rescale (`mulRelinRescale`): instead of ⌊u/P⌉ then ⌊·/q_ℓ⌉, one division of
 * c·P + u by P·q_ℓ: the sources of the conversion are P and the dropped limb(s). ℓ fewer NTTs per
 * polynomial and one rounding instead of two (Kim–Polyakov–Zucca eprint 2021/204 §4 make the same
 * observation for hybrid key switching followed by rescaling).
 *
 * Costs per switch at ℓ limbs, K special limbs, dnum digits: ℓ INTT + Σ_j (ℓ + K − |G_j|) NTT
 * (ModUp), 2·(K INTT + ℓ NTT) (ModDown; fused with rescale: 2·(K + 1) INTT + 2·(ℓ − 1) NTT),
 * 2·dnum·(ℓ + K)·N modular products.
 */
import type { BasisConverter } from '../../ring/basis.js';
import { type NttTable, nttForwardLazy, nttInverseScaled } from '../../ring/ntt.js';
import { allocInt32 } from '../../ring/poly.js';
import { InternalError } from '../../errors.js';
import type { CkksContext } from '../context.js';
import { combineAdd, combinePlain, combineRescale, gather, innerProduct, mulScalarAddInto } from './kernels.js';

/**
 * Packed switching-key polynomials: digit j, slot s (the key's Q limbs then P limbs) at
 * (j·S_k + s)·N, S_k = limbs + K. A capped key (`limbs` < nQ) serves ciphertexts of at most
 * `limbs` limbs; its P limbs sit right after its last Q limb.
 */
export interface PackedKey {
  readonly b: Int32Array;
  readonly a: Int32Array;
  readonly dnum: number;
  /** Q limbs held (default: all of Q). */
  readonly limbs?: number;
}

/** Offset of slot s (Q limb s, or P limb s − nQ) in digit 0 of a key holding `kl` Q limbs. */
function keySlot(s: number, nQ: number, kl: number): number {
  return s < nQ ? s : kl + s - nQ;
}

/** The shareable scratch of a key switcher (SharedArrayBuffer-backed when used with a pool). */
export interface KeySwitchBuffers {
  /** ModUp y values, one per Q limb: nQ·N. */
  readonly Y: Int32Array;
  /** Extended digits, NTT domain: dnumMax·S·N (S = nQ + K slots per digit). */
  readonly ext: Int32Array;
  /** Inner-product accumulators u0, u1 over QP: 2·S·N. */
  readonly acc: Int32Array;
  /** ModDown y values per output poly: 2·(K + the largest level's limbs)·N. */
  readonly Yd: Int32Array;
  /** Outputs before the permutation of a rotation: 2·nQ·N. */
  readonly tmp: Int32Array;
}

/** How phase C combines: relinearization adds x, a rotation permutes, a rescale also divides. */
export const enum DownMode {
  /** out_π = x_π + ⌊u_π/P⌉. */
  Add = 0,
  /** out_0 = σ(x_0 + ⌊u_0/P⌉), out_1 = σ(⌊u_1/P⌉). */
  Rotate = 1,
  /** out_π = ⌊(x_π·P + u_π)/(P·Q_d)⌉ on the kept limbs. */
  AddRescale = 2,
  /** out_π = ⌊u_π/P⌉. */
  Plain = 3,
}

interface Plan {
  limbs: number;
  dnum: number;
  starts: number[];
  sizes: number[];
  convs: BasisConverter[];
  /** Phase B slot orders (plain, merged with a rescale). */
  order: (number[] | undefined)[];
}

/**
 * Key-switching engine: shareable buffers plus per-thread scratch. One per evaluator (and one
 * mirror per pool worker over the same shared buffers). Not re-entrant.
 */
export class KeySwitcher {
  readonly ctx: CkksContext;
  readonly N: number;
  readonly nQ: number;
  readonly K: number;
  /** Slots per digit (nQ + K). */
  readonly S: number;
  readonly dnumMax: number;
  readonly buf: KeySwitchBuffers;
  /** Per-thread scratch: v per digit, v per output poly, one conversion target. */
  private readonly vQ: Int32Array;
  private readonly vD: Int32Array;
  private readonly tgt: Int32Array;
  private readonly tgt2: Int32Array;
  private readonly plans = new Map<number, Plan>();
  /** Per-thread scratch of a lazy rotation's c0 + u0 over QP (nQ + K limbs), allocated on first use. */
  private lazyBuf?: Int32Array;
  /** Which digits' v are valid in vQ for the current ModUp (bit j). */
  private vValid = 0;
  private vdValid = 0;

  constructor(ctx: CkksContext, buffers?: KeySwitchBuffers, shared = false) {
    this.ctx = ctx;
    const N = ctx.N;
    this.N = N;
    this.nQ = ctx.ringQ.size;
    this.K = ctx.ringP.size;
    this.S = this.nQ + this.K;
    this.dnumMax = Math.ceil(this.nQ / ctx.params.digitLimbs);
    const lps = ctx.params.limbsPerLevel;
    this.buf = buffers ?? {
      Y: allocInt32(this.nQ * N, shared),
      ext: allocInt32(this.dnumMax * this.S * N, shared),
      acc: allocInt32(2 * this.S * N, shared),
      Yd: allocInt32(2 * (this.K + lps) * N, shared),
      tmp: allocInt32(2 * this.nQ * N, shared),
    };
    this.vQ = new Int32Array(this.dnumMax * N);
    this.vD = new Int32Array(2 * N);
    this.tgt = new Int32Array(N);
    this.tgt2 = new Int32Array(N);
  }

  /** Scratch of one polynomial over QP (per thread: `rotateLazyProgram` of a lazy input). */
  get lazyScratch(): Int32Array {
    return (this.lazyBuf ??= new Int32Array(this.S * this.N));
  }

  /** Digit layout and converters at `limbs` Q limbs. */
  plan(limbs: number): Plan {
    let pl = this.plans.get(limbs);
    if (!pl) {
      const alpha = this.ctx.params.digitLimbs;
      const dnum = Math.ceil(limbs / alpha);
      const starts: number[] = [];
      const sizes: number[] = [];
      const convs: BasisConverter[] = [];
      for (let j = 0; j < dnum; j++) {
        const s = j * alpha;
        const e = Math.min(s + alpha, limbs);
        starts.push(s);
        sizes.push(e - s);
        convs.push(this.ctx.modUpConverter(s, e - s));
      }
      pl = { limbs, dnum, starts, sizes, convs, order: [undefined, undefined] };
      this.plans.set(limbs, pl);
    }
    return pl;
  }

  /**
   * The slots (target limbs of phase B) at `limbs` Q limbs, most expensive first (threads claim
   * them in this order, which balances the load): P slots (dnum conversions and NTTs, and
   * ModDown's INTTs), then, when ModDown is merged with a rescale (`fused`), the dropped Q limbs
   * (which carry ModDown's INTTs too), then the other Q limbs.
   */
  slotOrder(limbs: number, fused = false): readonly number[] {
    const pl = this.plan(limbs);
    let order = pl.order[fused ? 1 : 0];
    if (!order) {
      const drop = limbs - this.ctx.params.dropAt(limbs);
      order = [];
      for (let k = 0; k < this.K; k++) order.push(this.nQ + k);
      if (fused) for (let i = drop; i < limbs; i++) order.push(i);
      for (let i = 0; i < (fused ? drop : limbs); i++) order.push(i);
      pl.order[fused ? 1 : 0] = order;
    }
    return order;
  }

  // ------------------------------------------------------------------------- phase A

  /** Phase A for Q limbs [i0, i1): Y_i = (D_j/q_i)^−1·INTT(c_i); c (NTT, [0, p)) is not modified. */
  modUpY(c: Int32Array, cOff: number, limbs: number, i0: number, i1: number): void {
    const pl = this.plan(limbs);
    const N = this.N;
    const Y = this.buf.Y;
    const alpha = this.ctx.params.digitLimbs;
    for (let i = i0; i < i1; i++) {
      const j = (i / alpha) | 0;
      Y.set(c.subarray(cOff + i * N, cOff + (i + 1) * N), i * N);
      nttInverseScaled(Y, i * N, this.ctx.ringQ.tables[i], pl.convs[j].hatInv(i - pl.starts[j]));
    }
  }

  // ------------------------------------------------------------------------- phase B

  /**
   * Resets this thread's caches of the conversion corrections v (call on every thread before it
   * claims units of phase B, and of phase C).
   */
  beginPhaseB(): void {
    this.vValid = 0;
    this.vdValid = 0;
  }

  /**
   * Phase B, extension only: ext_j[s] for slot s and every digit (NTT domain, lazy [0, 2p)); with
   * s2 ≥ 0 also slot s2, the two conversions of a digit then sharing one pass
   * (`convertToLazyPair`; for a team of one). c is the decomposed polynomial (NTT), whose own
   * limbs are copied.
   */
  extendSlot(c: Int32Array, cOff: number, limbs: number, s: number, s2 = -1): void {
    const pl = this.plan(limbs);
    const N = this.N;
    const S = this.S;
    const { ext, Y } = this.buf;
    for (let j = 0; j < pl.dnum; j++) {
      const st = pl.starts[j];
      const en = st + pl.sizes[j];
      const o = (j * S + s) * N;
      const o2 = (j * S + s2) * N;
      // a slot inside digit j (s < limbs implied) is a copy of c's own limb
      const conv1 = !(s >= st && s < en);
      const conv2 = s2 >= 0 && !(s2 >= st && s2 < en);
      if (!conv1) ext.set(c.subarray(cOff + s * N, cOff + (s + 1) * N), o);
      if (s2 >= 0 && !conv2) ext.set(c.subarray(cOff + s2 * N, cOff + (s2 + 1) * N), o2);
      if (!conv1 && !conv2) continue;
      if (!(this.vValid & (1 << j))) {
        pl.convs[j].computeV(Y, st * N, this.vQ, j * N);
        this.vValid |= 1 << j;
      }
      if (conv1 && conv2) {
        pl.convs[j].convertToLazyPair(Y, st * N, this.vQ, j * N, s, ext, o, s2, ext, o2);
        nttForwardLazy(ext, o, this.table(s));
        nttForwardLazy(ext, o2, this.table(s2));
      } else {
        const sc = conv1 ? s : s2;
        const oc = conv1 ? o : o2;
        pl.convs[j].convertToLazy(Y, st * N, this.vQ, j * N, sc, ext, oc);
        nttForwardLazy(ext, oc, this.table(sc));
      }
    }
  }

  /** NTT tables of slot s (Q limbs, then P limbs). */
  private table(s: number): NttTable {
    return s < this.nQ ? this.ctx.ringQ.tables[s] : this.ctx.ringP.tables[s - this.nQ];
  }

  /**
   * Phase B, inner product for slot s: (u0, u1)_s = Σ_j ext_j[s] ⊙ key_j[s], reduced to [0, p). A
   * P slot (and, when `mode` is AddRescale, a dropped Q limb) also starts ModDown: Yd = y of the
   * conversion sources (x = the polynomials (x0, x1) to add, in NTT).
   */
  multiplySlot(key: PackedKey, limbs: number, s: number, mode: DownMode, x0?: Int32Array, x1?: Int32Array, xOff = 0): void {
    const pl = this.plan(limbs);
    const N = this.N;
    const S = this.S;
    const nQ = this.nQ;
    const K = this.K;
    const { ext, acc, Yd } = this.buf;
    const qm = this.ctx.ringQ.moduli;
    const pm = this.ctx.ringP.moduli;
    const lps = this.ctx.params.limbsPerLevel;
    const fused = mode === DownMode.AddRescale;
    const md = fused ? this.ctx.modDownRescale(limbs) : undefined;
    const conv = md ? md.conv : this.ctx.convPtoQ;
    const ns = K + lps; // Yd stride per poly
    const keep = limbs - this.ctx.params.dropAt(limbs);
    {
      const m = s < nQ ? qm[s] : pm[s - nQ];
      const kl = key.limbs ?? nQ;
      if (kl < limbs) throw new InternalError(`a key of ${kl} Q limbs cannot switch ${limbs} limbs (the evaluator checks key levels first)`);
      innerProduct(ext, key.b, key.a, acc, s * N, S * N, pl.dnum, N, m.p, m.pInv, keySlot(s, nQ, kl) * N, (kl + K) * N);
      if (s >= nQ) {
        const k = s - nQ;
        const T = this.ctx.ringP.tables[k];
        for (let pi = 0; pi < 2; pi++) {
          const yo = (pi * ns + k) * N;
          Yd.set(acc.subarray((pi * S + s) * N, (pi * S + s + 1) * N), yo);
          nttInverseScaled(Yd, yo, T, conv.hatInv(k));
        }
      } else if (fused && s >= keep) {
        // w = x·P + u on a dropped limb, then its y for the merged conversion
        const d = s - keep;
        const c = this.ctx.pModQ[s];
        const T = this.ctx.ringQ.tables[s];
        for (let pi = 0; pi < 2; pi++) {
          const xs = pi === 0 ? x0! : x1!;
          const yo = (pi * ns + K + d) * N;
          mulScalarAddInto(xs, xOff + s * N, c, acc, (pi * S + s) * N, Yd, yo, N, m.p, m.pInv);
          nttInverseScaled(Yd, yo, T, conv.hatInv(K + d));
        }
      }
    }
  }

  /**
   * Phase B's inner product alone for slot s (Q or P): (u0, u1)_s = Σ_j ext_j[s] ⊙ key_j[s] into the
   * accumulators, nothing of ModDown started (double hoisting keeps the result over QP).
   */
  innerProductSlot(key: PackedKey, limbs: number, s: number): void {
    const pl = this.plan(limbs);
    const m = s < this.nQ ? this.ctx.ringQ.moduli[s] : this.ctx.ringP.moduli[s - this.nQ];
    const kl = key.limbs ?? this.nQ;
    if (kl < limbs) throw new InternalError(`a key of ${kl} Q limbs cannot switch ${limbs} limbs (the evaluator checks key levels first)`);
    innerProduct(this.buf.ext, key.b, key.a, this.buf.acc, s * this.N, this.S * this.N, pl.dnum, this.N, m.p, m.pInv, keySlot(s, this.nQ, kl) * this.N, (kl + this.K) * this.N);
  }

  // ------------------------------------------------------------------------- phase C

  /** Output limbs of phase C: ℓ, or ℓ − the level's limbs when merged with a rescale. */
  downLimbs(limbs: number, mode: DownMode): number {
    return mode === DownMode.AddRescale ? limbs - this.ctx.params.dropAt(limbs) : limbs;
  }

  /**
   * Number of phase-C units: 2·downLimbs (unit = 2·limb + poly), or with `paired` (for a team of
   * one) 2·⌈downLimbs/2⌉ (unit = 2·pair + poly, a pair being limbs 2k and 2k + 1).
   */
  downUnits(limbs: number, mode: DownMode, paired: boolean): number {
    const L = this.downLimbs(limbs, mode);
    return paired ? 2 * ((L + 1) >> 1) : 2 * L;
  }

  /**
   * Phase C for units [u0, u1) of `downUnits`: writes out_π limb i (both limbs of a pair when
   * `paired`, whose two conversions then share one pass: `convertToLazyPair`). x0, x1:
   * polynomials added (Add, AddRescale) — for Rotate only x0 is added; `index` is the NTT-domain
   * permutation of a rotation. Outputs at outOff of out0/out1 (limb i at i·N).
   */
  modDown(
    limbs: number, mode: DownMode, u0: number, u1: number,
    out0: Int32Array, out1: Int32Array, outOff: number,
    x0?: Int32Array, x1?: Int32Array, xOff = 0, index?: Int32Array, paired = false,
  ): void {
    const N = this.N;
    const K = this.K;
    const lps = this.ctx.params.limbsPerLevel;
    const Yd = this.buf.Yd;
    const qt = this.ctx.ringQ.tables;
    const fused = mode === DownMode.AddRescale;
    const conv = fused ? this.ctx.modDownRescale(limbs).conv : this.ctx.convPtoQ;
    const ns = K + lps;
    const L = this.downLimbs(limbs, mode);
    const t = this.tgt;
    const t2 = this.tgt2;
    for (let u = u0; u < u1; u++) {
      // units alternate polys on the same limb(s), so a prime's two NTTs run back to back (for
      // its twiddles' sake; timed the same as poly-major order within this machine's noise)
      const pi = u & 1;
      const i = paired ? (u >> 1) << 1 : u >> 1;
      const i2 = paired && i + 1 < L ? i + 1 : -1;
      if (!(this.vdValid & (1 << pi))) {
        conv.computeV(Yd, pi * ns * N, this.vD, pi * N);
        this.vdValid |= 1 << pi;
      }
      if (i2 >= 0) {
        conv.convertToLazyPair(Yd, pi * ns * N, this.vD, pi * N, i, t, 0, i2, t2, 0);
        nttForwardLazy(t, 0, qt[i]);
        this.downCombine(limbs, mode, pi, i, t, out0, out1, outOff, x0, x1, xOff, index);
        nttForwardLazy(t2, 0, qt[i2]);
        this.downCombine(limbs, mode, pi, i2, t2, out0, out1, outOff, x0, x1, xOff, index);
      } else {
        conv.convertToLazy(Yd, pi * ns * N, this.vD, pi * N, i, t, 0);
        nttForwardLazy(t, 0, qt[i]);
        this.downCombine(limbs, mode, pi, i, t, out0, out1, outOff, x0, x1, xOff, index);
      }
    }
  }

  /** Phase C's last step for poly pi, limb i: t = the converted P part (NTT, lazy). */
  private downCombine(
    limbs: number, mode: DownMode, pi: number, i: number, t: Int32Array,
    out0: Int32Array, out1: Int32Array, outOff: number,
    x0: Int32Array | undefined, x1: Int32Array | undefined, xOff: number, index: Int32Array | undefined,
  ): void {
    const N = this.N;
    const { acc, tmp } = this.buf;
    const { p } = this.ctx.ringQ.moduli[i];
    const ao = (pi * this.S + i) * N;
    const out = pi === 0 ? out0 : out1;
    const oo = outOff + i * N;
    const x = pi === 0 ? x0 : x1;
    switch (mode) {
      case DownMode.Add:
        combineAdd(x!, xOff + i * N, acc, ao, t, this.ctx.pInvModQ[i], this.ctx.pInvModQF[i], out, oo, N, p);
        break;
      case DownMode.AddRescale: {
        const md = this.ctx.modDownRescale(limbs);
        combineRescale(x!, xOff + i * N, md.qdInv[i], md.qdInvF[i], acc, ao, t, md.pqdInv[i], md.pqdInvF[i], out, oo, N, p);
        break;
      }
      case DownMode.Plain:
        combinePlain(acc, ao, t, this.ctx.pInvModQ[i], this.ctx.pInvModQF[i], out, oo, N, p);
        break;
      case DownMode.Rotate: {
        const to = (pi * this.nQ + i) * N;
        if (pi === 0) combineAdd(x0!, xOff + i * N, acc, ao, t, this.ctx.pInvModQ[i], this.ctx.pInvModQF[i], tmp, to, N, p);
        else combinePlain(acc, ao, t, this.ctx.pInvModQ[i], this.ctx.pInvModQF[i], tmp, to, N, p);
        gather(tmp, to, index!, out, oo, N);
        break;
      }
    }
  }
}
