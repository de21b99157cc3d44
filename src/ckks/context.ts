/**
 * @module ckks/context
 * Everything precomputed from a parameter set: the rings over Q and P with their NTT tables, the
 * basis converters of hybrid key switching, Garner tables for decoding, Galois index maps and
 * the constants of rescaling and ModDown. One `CkksContext` serves any number of keys, encoders
 * and evaluators; objects carry their context and operations refuse objects from another
 * parameter set (`ContextMismatchError`).
 */
import { BasisConverter } from '../ring/basis.js';
import { GarnerTable } from '../ring/crt.js';
import { automorphismNTTIndex, galoisElementForConjugation, galoisElementForRotation } from '../ring/automorphism.js';
import { invMod, mulMod, reduce, shoup } from '../ring/modulus.js';
import { Ring } from '../ring/ring.js';
import { ContextMismatchError, InvalidArgumentError } from './errors.js';
import { brief } from '../errors.js';
import { Parameters, type ParametersLiteral } from './params.js';
import { inspectCustom, shortForm } from './inspect.js';

/** Constants of a ModDown merged with a rescale (see `CkksContext.modDownRescale`). */
export interface ModDownRescale {
  /** Q limbs kept (limbs − the limbs of the level). */
  readonly keep: number;
  /** Converter from P ∪ {dropped Q limbs} (in that order) to the kept Q limbs. */
  readonly conv: BasisConverter;
  /** Q_d^−1 mod q_i and (P·Q_d)^−1 mod q_i for kept limbs i, with Shoup quotients. */
  readonly qdInv: Int32Array;
  readonly qdInvF: Float64Array;
  readonly pqdInv: Int32Array;
  readonly pqdInvF: Float64Array;
}

/** Constants of a rescale by a level of several limbs at once (see `phases.ts` `rescaleProgram`). */
export interface RescaleLevel {
  /** Q limbs kept. */
  readonly keep: number;
  /** Converter from the dropped limbs to the kept ones (centred representative). */
  readonly conv: BasisConverter;
  /** Q_d^−1 mod q_i for kept limbs i, with Shoup quotients. */
  readonly qdInv: Int32Array;
  readonly qdInvF: Float64Array;
}

/** Precomputed tables of one parameter set. */
export class CkksContext {
  readonly params: Parameters;
  readonly N: number;
  readonly ringQ: Ring;
  readonly ringP: Ring;
  /** [P]_{q_i} for every Q prime. */
  readonly pModQ: Int32Array;
  /** [P^−1]_{q_i} and quotients. */
  readonly pInvModQ: Int32Array;
  readonly pInvModQF: Float64Array;
  /** Converter P → all Q primes (ModDown). */
  readonly convPtoQ: BasisConverter;
  /** Converter p_0 → all Q primes (the single-prime ModDown of public-key encryption). */
  readonly convP0toQ: BasisConverter;
  /** [p_0^−1]_{q_i} and quotients. */
  readonly p0InvModQ: Int32Array;
  readonly p0InvModQF: Float64Array;
  private readonly modUpCache = new Map<string, BasisConverter>();
  private readonly modDownRescaleCache = new Map<number, ModDownRescale>();
  private readonly rescaleLevelCache = new Map<number, RescaleLevel>();
  private readonly garnerCache = new Map<number, GarnerTable>();
  private readonly galoisIndexCache = new Map<number, Int32Array>();
  /** [q_j^−1]_{q_i} for rescaling: at j·nQ + i. */
  readonly qInvModQ: Int32Array;
  readonly qInvModQF: Float64Array;

  constructor(params: Parameters | ParametersLiteral) {
    this.params = params instanceof Parameters ? params : new Parameters(params);
    const P = this.params;
    this.N = P.N;
    this.ringQ = new Ring(P.N, P.q);
    this.ringP = new Ring(P.N, P.p);
    const nQ = P.q.length;
    this.pModQ = new Int32Array(nQ);
    this.pInvModQ = new Int32Array(nQ);
    this.pInvModQF = new Float64Array(nQ);
    for (let i = 0; i < nQ; i++) {
      const qi = P.q[i];
      let m = 1;
      for (const pk of P.p) m = mulMod(m, reduce(pk, qi), qi, 1 / qi);
      this.pModQ[i] = m;
      this.pInvModQ[i] = invMod(m, qi);
      this.pInvModQF[i] = shoup(this.pInvModQ[i], qi);
    }
    this.convPtoQ = new BasisConverter(P.N, this.ringP.moduli, this.ringQ.moduli);
    this.convP0toQ = new BasisConverter(P.N, [this.ringP.moduli[0]], this.ringQ.moduli);
    this.p0InvModQ = new Int32Array(nQ);
    this.p0InvModQF = new Float64Array(nQ);
    for (let i = 0; i < nQ; i++) {
      this.p0InvModQ[i] = invMod(reduce(P.p[0], P.q[i]), P.q[i]);
      this.p0InvModQF[i] = shoup(this.p0InvModQ[i], P.q[i]);
    }
    this.qInvModQ = new Int32Array(nQ * nQ);
    this.qInvModQF = new Float64Array(nQ * nQ);
    for (let j = 0; j < nQ; j++) {
      for (let i = 0; i < nQ; i++) {
        if (i === j) continue;
        const v = invMod(reduce(P.q[j], P.q[i]), P.q[i]);
        this.qInvModQ[j * nQ + i] = v;
        this.qInvModQF[j * nQ + i] = shoup(v, P.q[i]);
      }
    }
  }

  /**
   * Converter for the key-switching digit made of Q limbs [start, start+size), to every Q prime
   * and every P prime (targets 0..nQ−1 are Q, nQ..nQ+K−1 are P). Cached.
   */
  modUpConverter(start: number, size: number): BasisConverter {
    const key = `${start}:${size}`;
    let c = this.modUpCache.get(key);
    if (!c) {
      const from = this.ringQ.moduli.slice(start, start + size);
      c = new BasisConverter(this.N, from, [...this.ringQ.moduli, ...this.ringP.moduli]);
      this.modUpCache.set(key, c);
    }
    return c;
  }

  /**
   * Constants of ModDown merged with a rescale at `limbs` Q limbs: divide by P·Q_d with rounding,
   * Q_d the product of the level's limbs (see `keyswitch/switcher.ts`). Cached per level.
   */
  modDownRescale(limbs: number): ModDownRescale {
    let m = this.modDownRescaleCache.get(limbs);
    if (!m) {
      const keep = limbs - this.params.dropAt(limbs);
      const qm = this.ringQ.moduli;
      const conv = new BasisConverter(this.N, [...this.ringP.moduli, ...qm.slice(keep, limbs)], qm.slice(0, keep));
      const qdInv = new Int32Array(keep);
      const qdInvF = new Float64Array(keep);
      const pqdInv = new Int32Array(keep);
      const pqdInvF = new Float64Array(keep);
      for (let i = 0; i < keep; i++) {
        const { p, pInv } = qm[i];
        let d = 1;
        for (let l = keep; l < limbs; l++) d = mulMod(d, reduce(qm[l].p, p), p, pInv);
        qdInv[i] = invMod(d, p);
        qdInvF[i] = shoup(qdInv[i], p);
        pqdInv[i] = mulMod(qdInv[i], this.pInvModQ[i], p, pInv);
        pqdInvF[i] = shoup(pqdInv[i], p);
      }
      m = { keep, conv, qdInv, qdInvF, pqdInv, pqdInvF };
      this.modDownRescaleCache.set(limbs, m);
    }
    return m;
  }

  /**
   * Constants of the rescale of a ciphertext with `limbs` Q limbs by its whole level (Q_d = the
   * product of the level's limbs) in one division. Cached per level.
   */
  rescaleLevel(limbs: number): RescaleLevel {
    let r = this.rescaleLevelCache.get(limbs);
    if (!r) {
      const keep = limbs - this.params.dropAt(limbs);
      const qm = this.ringQ.moduli;
      const { qdInv, qdInvF } = this.modDownRescale(limbs);
      r = { keep, conv: new BasisConverter(this.N, qm.slice(keep, limbs), qm.slice(0, keep)), qdInv, qdInvF };
      this.rescaleLevelCache.set(limbs, r);
    }
    return r;
  }

  /** Garner table over the first k Q primes. Cached. */
  garner(k: number): GarnerTable {
    let g = this.garnerCache.get(k);
    if (!g) {
      g = new GarnerTable(this.ringQ.moduli.slice(0, k));
      this.garnerCache.set(k, g);
    }
    return g;
  }

  /** NTT-domain index map of σ_g. Cached. */
  galoisIndex(g: number): Int32Array {
    let t = this.galoisIndexCache.get(g);
    if (!t) {
      t = automorphismNTTIndex(this.N, g);
      this.galoisIndexCache.set(g, t);
    }
    return t;
  }

  /** Galois element of a left rotation by k slots. */
  galoisElement(k: number): number {
    return galoisElementForRotation(k, this.N);
  }

  /** Galois element of conjugation. */
  get conjugationElement(): number {
    return galoisElementForConjugation(this.N);
  }

  /** Throws ContextMismatchError unless `other` has the same parameters. */
  /** `CkksContext { N: 8192, levels: 4, params: … }` instead of its tables, for console.log. */
  [inspectCustom](): string {
    return shortForm('CkksContext', { N: this.N, levels: this.params.levels, params: this.params.hash });
  }

  check(other: { readonly ctx: CkksContext }, what: string): void {
    const c = (other as { ctx?: unknown } | null | undefined)?.ctx;
    if (c === this) return;
    if (!(c instanceof CkksContext)) throw new InvalidArgumentError(`${what} is ${brief(other, 40)}, not a Veil object of a context`, `pass a ${what} made under these parameters`);
    if (c.params.hash !== this.params.hash) throw new ContextMismatchError(what);
  }
}
