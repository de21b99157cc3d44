/**
 * @module ckks/keyswitch
 * Hybrid key switching (Han–Ki eprint 2019/688 §3; Lattigo `core/rlwe/evaluator_gadget_product.go`):
 *   1. Decompose c (NTT, ℓ limbs) into digits d_j = [c]_{D_j} and ModUp each to QP with the exact
 *      basis conversion (`ring/basis.ts`), NTT the new limbs. This part depends only on c, so it is
 *      hoisted: one decomposition serves every key (Halevi–Shoup hoisting).
 *   2. Inner product over QP: (u0, u1) = Σ_j d̃_j ⊙ (b_j, a_j).
 *   3. ModDown: u ↦ ⌊u/P⌉ = (u_Q − Conv_{P→Q}([u]_P)) · P^−1 (centred conversion, so rounded).
 * At level ℓ the last digit may be partial; keys are truncated to the first ℓ Q limbs (the CRT
 * idempotents restrict correctly, see `keys.ts`).
 *
 * Costs per switch at ℓ limbs, K special limbs, dnum digits: ℓ INTT + Σ_j (ℓ + K − |G_j|) NTT
 * (ModUp), 2·(K INTT + ℓ NTT) (ModDown), 2·dnum·(ℓ + K)·N modular products.
 */
import { Poly } from '../ring/poly.js';
import { nttForward, nttInverse } from '../ring/ntt.js';
import { mulAdd2Vec, subMulScalarVec } from '../ring/ring.js';
import type { CkksContext } from './context.js';
import type { SwitchingKey } from './keys.js';

/** A hoisted decomposition of one polynomial: dnum digits extended to QP, NTT domain. */
export class Decomposition {
  /** Q limbs of the decomposed polynomial. */
  limbs = 0;
  dnum = 0;
  readonly extQ: Poly[] = [];
  readonly extP: Poly[] = [];

  constructor(readonly ctx: CkksContext) {}

  /** Ensures buffers for `dnum` digits. */
  reserve(dnum: number): void {
    const { ctx } = this;
    while (this.extQ.length < dnum) {
      this.extQ.push(new Poly(ctx.N, ctx.ringQ.size));
      this.extP.push(new Poly(ctx.N, ctx.ringP.size));
    }
  }
}

/** Key-switching engine with preallocated scratch (one per evaluator; not re-entrant). */
export class KeySwitcher {
  readonly ctx: CkksContext;
  private readonly cc: Poly;
  private readonly accQ0: Poly;
  private readonly accQ1: Poly;
  private readonly accP0: Poly;
  private readonly accP1: Poly;
  private readonly tmpQ: Poly;
  /** Target lists per (level limbs, digit) for ModUp, built once. */
  private readonly plans = new Map<string, { targets: number[]; outs: Int32Array[]; outOff: number[]; srcOff: number[]; nQ: number }>();

  constructor(ctx: CkksContext) {
    this.ctx = ctx;
    const nQ = ctx.ringQ.size;
    const K = ctx.ringP.size;
    this.cc = new Poly(ctx.N, nQ);
    this.accQ0 = new Poly(ctx.N, nQ);
    this.accQ1 = new Poly(ctx.N, nQ);
    this.accP0 = new Poly(ctx.N, K);
    this.accP1 = new Poly(ctx.N, K);
    this.tmpQ = new Poly(ctx.N, nQ);
  }

  /** Decomposes c (NTT domain, `limbs` Q limbs) into `dec`. */
  decompose(c: Poly, limbs: number, dec: Decomposition): void {
    const { ctx } = this;
    const N = ctx.N;
    const alpha = ctx.params.digitLimbs;
    const K = ctx.ringP.size;
    const dnum = Math.ceil(limbs / alpha);
    dec.reserve(dnum);
    dec.limbs = limbs;
    dec.dnum = dnum;
    const cc = this.cc;
    cc.coeffs.set(c.coeffs.subarray(0, limbs * N));
    for (let i = 0; i < limbs; i++) nttInverse(cc.coeffs, i * N, ctx.ringQ.tables[i]);
    for (let j = 0; j < dnum; j++) {
      const s = j * alpha;
      const e = Math.min(s + alpha, limbs);
      const extQ = dec.extQ[j];
      const extP = dec.extP[j];
      extQ.limbs = limbs;
      extP.limbs = K;
      const conv = ctx.modUpConverter(s, e - s);
      const plan = this.plan(limbs, j, s, e, extQ, extP);
      conv.convert(cc.coeffs, plan.srcOff, plan.targets, plan.outs, plan.outOff);
      for (let i = 0; i < limbs; i++) {
        if (i >= s && i < e) continue;
        nttForward(extQ.coeffs, i * N, ctx.ringQ.tables[i]);
      }
      for (let k = 0; k < K; k++) nttForward(extP.coeffs, k * N, ctx.ringP.tables[k]);
      // the digit's own limbs are c's limbs, already in the NTT domain
      extQ.coeffs.set(c.coeffs.subarray(s * N, e * N), s * N);
    }
  }

  /** Targets of digit j's ModUp at `limbs` Q limbs: every other Q limb, then every P limb. Cached. */
  private plan(limbs: number, j: number, s: number, e: number, extQ: Poly, extP: Poly) {
    const key = `${limbs}:${j}`;
    let pl = this.plans.get(key);
    const N = this.ctx.N;
    if (!pl) {
      const nQ = this.ctx.ringQ.size;
      const K = this.ctx.ringP.size;
      const targets: number[] = [];
      const outOff: number[] = [];
      for (let i = 0; i < limbs; i++) {
        if (i >= s && i < e) continue;
        targets.push(i);
        outOff.push(i * N);
      }
      for (let k = 0; k < K; k++) {
        targets.push(nQ + k);
        outOff.push(k * N);
      }
      const srcOff: number[] = [];
      for (let i = s; i < e; i++) srcOff.push(i * N);
      pl = { targets, outs: [], outOff, srcOff, nQ };
      this.plans.set(key, pl);
    }
    const outs = pl.outs;
    outs.length = pl.targets.length;
    for (let t = 0; t < pl.targets.length; t++) outs[t] = pl.targets[t] < pl.nQ ? extQ.coeffs : extP.coeffs;
    return pl;
  }

  /**
   * (out0, out1) = ModDown(Σ_j d̃_j ⊙ key_j): NTT domain, dec.limbs Q limbs. Outputs are written
   * (not accumulated); they must not alias the decomposition.
   */
  keySwitch(dec: Decomposition, key: SwitchingKey, out0: Poly, out1: Poly): void {
    this.innerProduct(dec, key);
    this.modDown(this.accQ0, this.accP0, dec.limbs, out0);
    this.modDown(this.accQ1, this.accP1, dec.limbs, out1);
  }

  /** Accumulates the inner product into the QP accumulators (left there for callers that add before ModDown). */
  innerProduct(dec: Decomposition, key: SwitchingKey): void {
    const { ctx } = this;
    const N = ctx.N;
    const limbs = dec.limbs;
    const K = ctx.ringP.size;
    const qm = ctx.ringQ.moduli;
    const pm = ctx.ringP.moduli;
    const aQ0 = this.accQ0.coeffs;
    const aQ1 = this.accQ1.coeffs;
    const aP0 = this.accP0.coeffs;
    const aP1 = this.accP1.coeffs;
    for (let j = 0; j < dec.dnum; j++) {
      const xQ = dec.extQ[j].coeffs;
      const xP = dec.extP[j].coeffs;
      const first = j === 0;
      for (let i = 0; i < limbs; i++) {
        const { p, pInv } = qm[i];
        mulAdd2Vec(xQ, key.bQ[j].coeffs, key.aQ[j].coeffs, aQ0, aQ1, i * N, (i + 1) * N, p, pInv, first);
      }
      for (let k = 0; k < K; k++) {
        const { p, pInv } = pm[k];
        mulAdd2Vec(xP, key.bP[j].coeffs, key.aP[j].coeffs, aP0, aP1, k * N, (k + 1) * N, p, pInv, first);
      }
    }
  }

  /**
   * out = ⌊(uQ, uP)/P⌉ over the first `limbs` Q limbs, NTT domain in and out. uP is consumed
   * (inverse-transformed in place). out may alias uQ.
   */
  modDown(uQ: Poly, uP: Poly, limbs: number, out: Poly): void {
    const { ctx } = this;
    const N = ctx.N;
    const K = ctx.ringP.size;
    for (let k = 0; k < K; k++) nttInverse(uP.coeffs, k * N, ctx.ringP.tables[k]);
    const t = this.tmpQ;
    const targets = RANGE.slice(0, limbs);
    const outs = new Array<Int32Array>(limbs).fill(t.coeffs);
    const outOff = targets.map((i) => i * N);
    const srcOff = RANGE.slice(0, K).map((k) => k * N);
    ctx.convPtoQ.convert(uP.coeffs, srcOff, targets, outs, outOff);
    for (let i = 0; i < limbs; i++) {
      const { p } = ctx.ringQ.moduli[i];
      const s = i * N;
      nttForward(t.coeffs, s, ctx.ringQ.tables[i]);
      subMulScalarVec(uQ.coeffs, t.coeffs, ctx.pInvModQ[i], ctx.pInvModQF[i], out.coeffs, s, s + N, p);
    }
    out.limbs = limbs;
  }

  /** The QP accumulators after `innerProduct` (for lazy, double-hoisted sums). */
  get accumulators(): { q0: Poly; q1: Poly; p0: Poly; p1: Poly } {
    return { q0: this.accQ0, q1: this.accQ1, p0: this.accP0, p1: this.accP1 };
  }
}

const RANGE: number[] = Array.from({ length: 256 }, (_, i) => i);
