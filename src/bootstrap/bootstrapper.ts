/**
 * @module bootstrap/bootstrapper
 * CKKS bootstrapping (Cheon–Han–Kim–Kim–Song eprint 2018/153; full-RNS form of Han–Ki eprint
 * 2019/688 and Bossuat et al. eprint 2020/1203): a level-0 ciphertext comes back at the top user
 * level with the same message.
 *
 *   ScaleUp      multiply by 2^e (an integer, exact) so the message sits 2^−r below q0;
 *   encapsulate  switch to the ephemeral sparse secret at level 0 (`encapsulation.ts`);
 *   ModRaise     lift to every limb: t = Δ'm + q0·I, and switch back to the main secret;
 *   SubSum       (sparse slots) Σ of the automorphisms fixing Y = X^{N/2n}: keeps the Y terms
 *                (times N/2n), the only ones the n-slot DFT sees;
 *   CoeffsToSlots  the factors of (1/2)·R·U^{-1} (`dft.ts`), one level each: the slots then hold
 *                (t_k + i·t_{k+n})/(2·q0·B) in bit-reversed order; conjugation splits real and
 *                imaginary parts (sparse slots: both side by side in one ciphertext);
 *   EvalMod      sin(2πy) ≈ 2πε for y = I + ε (`evalmod.ts`), on each part;
 *   SlotsToCoeffs  re + i·im (a product by X^{N/2}, which is i in every slot), then the factors
 *                of U·R: the message is back in the slots.
 * Each DFT factor is a `LinearTransform` (diagonal form, baby-step/giant-step, plaintexts cached).
 * Constants (1/(q0·B), 2π, 2^e, N/2n) are never multiplied in: they are folded into the scale a
 * ciphertext is read at, and the plaintext scales of the transforms are chosen so that the output
 * lands exactly on the canonical scale of the top user level for an input on the canonical scale
 * of level 0 (`plan` below). Any other input scale is tracked exactly and comes out proportionally.
 */
import {
  Ciphertext, type CkksContext, type Encoder, type Evaluator, type GaloisKeys, InvalidArgumentError, type KeyGenerator,
  KeyMismatchError, LevelError, LinearTransform, type RelinKey, type SecretKey,
} from '../ckks/index.js';
import { chooseSplit } from '../ckks/linear/bsgs.js';
import { Poly } from '../ring/poly.js';
import { CkksPolyBackend } from '../approx/index.js';
import { nttForward } from '../ring/ntt.js';
import { type DiagonalMatrix, dftFactors } from './dft.js';
import { HoistedTransform } from './hoisted.js';
import { type EncapsulationKeys, Encapsulation, genEncapsulationKeys } from './encapsulation.js';
import { type EvalModPlan, evalMod, evalModPlan } from './evalmod.js';
import type { BootstrapParameters } from './params.js';

const now = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());

/** The evaluation keys bootstrapping needs. */
export interface BootstrapKeys {
  relin: RelinKey;
  /** Rotations of both DFTs (and of SubSum and the sparse repacking) and conjugation. */
  galois: GaloisKeys;
  encapsulation: EncapsulationKeys;
}

/** The DFT factors of a parameter set (CoeffsToSlots, then SlotsToCoeffs), in application order. */
export function bootstrapFactors(bp: BootstrapParameters): { cts: DiagonalMatrix[]; stc: DiagonalMatrix[] } {
  const sparse = bp.logSlots < bp.params.logN - 1;
  return {
    cts: dftFactors({ kind: 'coeffsToSlots', logSlots: bp.logSlots, levels: bp.ctsLevels, sparse }),
    stc: dftFactors({ kind: 'slotsToCoeffs', logSlots: bp.logSlots, levels: bp.stcLevels, sparse }),
  };
}

/** The rotation steps bootstrapping uses (conjugation is needed too). */
export function bootstrapRotations(bp: BootstrapParameters): number[] {
  const { cts, stc } = bootstrapFactors(bp);
  const steps = new Set<number>();
  const dh = bp.doubleHoisting;
  for (const [F, double] of [...cts.map((f) => [f, dh.coeffsToSlots] as const), ...stc.map((f) => [f, dh.slotsToCoeffs] as const)]) {
    // the split the transform will choose for these diagonals
    const split = double ? HoistedTransform.split(F) : chooseSplit([...F.diags.keys()], F.dim);
    for (const k of [...split.babies, ...split.giants]) if (k !== 0) steps.add(k);
  }
  const n = bp.slots;
  const N = bp.params.N;
  if (n < N / 2) {
    steps.add(n); // repacking the imaginary part beside the real part
    for (let s = n; s < N / 2; s *= 2) steps.add(s); // SubSum
  }
  return [...steps].sort((a, b) => a - b);
}

/** Generates the bootstrapping keys (relinearization, Galois, encapsulation) for `sk`. */
export function genBootstrapKeys(kg: KeyGenerator, sk: SecretKey, bp: BootstrapParameters, existing: { relin?: RelinKey; galois?: GaloisKeys } = {}): BootstrapKeys {
  const relin = existing.relin ?? kg.genRelinKey(sk);
  const galois = kg.genGaloisKeys(sk, bootstrapRotations(bp), { conjugate: true }, existing.galois);
  const encapsulation = genEncapsulationKeys(kg.ctx, sk, bp.ephemeralWeight);
  return { relin, galois, encapsulation };
}

/** Scales and levels of one bootstrapping circuit (see the module documentation). */
interface Plan {
  /** log2 of the ScaleUp factor for an input at the canonical level-0 scale. */
  e0: number;
  /** q0 as a float. */
  q0: number;
  /** Scale the raised ciphertext is read at (its slots, after CtS, are y/B). */
  ctsInputScale: number;
  /** Plaintext scale of each CtS factor. */
  ctsScales: number[];
  /** EvalMod input scale t_in (its ladder then ends at t_out). */
  evalModScale: number;
  /** Plaintext scale of each StC factor (the level modulus: the message scale is kept). */
  stcScales: number[];
}

/**
 * Bootstraps ciphertexts of one parameter set. Construction encodes the DFT factors (the bulk of
 * its memory: one plaintext per diagonal) and builds the EvalMod polynomial.
 *
 * @example
 * ```ts
 * const bp = bootstrapPreset('N16-BOOT');
 * const ctx = new CkksContext(bp.params);
 * const kg = new KeyGenerator(ctx);
 * const sk = kg.genSecretKey();
 * const keys = genBootstrapKeys(kg, sk, bp);
 * const ev = new Evaluator(ctx, keys);
 * const boot = new Bootstrapper(ctx, bp, ev, new Encoder(ctx), keys);
 * const fresh = boot.bootstrap(ctAtLevel0);     // level bp.outputLevel, scale bp.outputScale
 * ```
 */
export class Bootstrapper {
  readonly ctx: CkksContext;
  readonly bp: BootstrapParameters;
  readonly ev: Evaluator;
  readonly enc: Encoder;
  private readonly encap: Encapsulation;
  private readonly cts: (LinearTransform | HoistedTransform)[];
  private readonly stc: (LinearTransform | HoistedTransform)[];
  private readonly mod: EvalModPlan;
  private readonly plan: Plan;
  /** NTT of X^{N/2} (i in every slot) and of −X^{N/2} over every Q limb. */
  private readonly iMono: Poly;
  private readonly minusIMono: Poly;
  private readonly sparse: boolean;
  /** Wall-clock milliseconds of each stage of the last `bootstrap` call (for profiles and benchmarks). */
  lastTimings: Record<'scaleUp' | 'modRaise' | 'subSum' | 'coeffsToSlots' | 'evalMod' | 'slotsToCoeffs' | 'total', number> = {
    scaleUp: 0, modRaise: 0, subSum: 0, coeffsToSlots: 0, evalMod: 0, slotsToCoeffs: 0, total: 0,
  };

  /**
   * @throws InvalidArgumentError when the evaluator or encoder belongs to another context, or the
   *   parameters are not those the context was built from.
   */
  constructor(ctx: CkksContext, bp: BootstrapParameters, ev: Evaluator, enc: Encoder, keys: Pick<BootstrapKeys, 'encapsulation'>) {
    if (ctx.params.hash !== bp.params.hash) throw new InvalidArgumentError('the context was not built from these bootstrapping parameters', 'create the context with new CkksContext(bp.params)');
    if (ev.ctx.params.hash !== ctx.params.hash || enc.ctx.params.hash !== ctx.params.hash) throw new InvalidArgumentError('evaluator or encoder of another context', 'use objects of the same context');
    this.ctx = ctx;
    this.bp = bp;
    this.ev = ev;
    this.enc = enc;
    this.sparse = bp.logSlots < ctx.params.logN - 1;
    this.encap = new Encapsulation(ctx, keys.encapsulation);
    this.mod = evalModPlan(bp.evalMod);
    this.plan = this.makePlan();
    const { cts, stc } = bootstrapFactors(bp);
    const P = ctx.params;
    const L = P.levels;
    const make = (F: DiagonalMatrix, level: number, scale: number, double: boolean) => (double
      ? HoistedTransform.encode(ctx, enc, F, level, scale)
      : LinearTransform.encode(ctx, enc, F.diags, { level, scale }));
    this.cts = cts.map((F, i) => make(F, L - i, this.plan.ctsScales[i], bp.doubleHoisting.coeffsToSlots));
    const stcTop = bp.stageLevels.stc;
    this.stc = stc.map((F, i) => make(F, stcTop - i, this.plan.stcScales[i], bp.doubleHoisting.slotsToCoeffs));
    const N = ctx.N;
    this.iMono = new Poly(N, ctx.ringQ.size);
    this.minusIMono = new Poly(N, ctx.ringQ.size);
    for (let l = 0; l < ctx.ringQ.size; l++) {
      const p = ctx.ringQ.moduli[l].p;
      this.iMono.coeffs[l * N + N / 2] = 1;
      this.minusIMono.coeffs[l * N + N / 2] = p - 1;
      nttForward(this.iMono.coeffs, l * N, ctx.ringQ.tables[l]);
      nttForward(this.minusIMono.coeffs, l * N, ctx.ringQ.tables[l]);
    }
  }

  private makePlan(): Plan {
    const { bp, ctx } = this;
    const P = ctx.params;
    const r = bp.evalMod.logMessageRatio;
    let q0 = 1;
    for (let i = 0; i < P.baseLimbs; i++) q0 *= P.q[i];
    const S0 = P.scales[0];
    const e0 = Math.floor(Math.log2(q0 / (2 ** r * S0)));
    const tau = P.N / (2 * bp.slots);
    const ctsInputScale = tau * q0 * this.mod.B;
    // EvalMod: its ladder t_{j−1} = t_j²/q_j must end at t_out, the scale at which 2πε reads as
    // the message at Δ_out: t_out = Δ_out·q0/(2π·Δ'), Δ' = 2^e0·S0
    const { evalMod: em, stc: stcTop } = bp.stageLevels;
    const tOut = (bp.outputScale * q0) / (2 * Math.PI * 2 ** e0 * S0);
    let t = tOut;
    for (let l = stcTop + 1; l <= em; l++) t = Math.sqrt(t * P.levelModulus(l));
    const evalModScale = t;
    // CtS: plaintexts at the level modulus, the last one landing on t_in
    const ctsScales: number[] = [];
    let S = ctsInputScale;
    for (let i = 0; i < bp.ctsLevels; i++) {
      const q = P.levelModulus(P.levels - i);
      const s = i < bp.ctsLevels - 1 ? q : (evalModScale * q) / S;
      ctsScales.push(s);
      S = (S * s) / q;
    }
    const stcScales: number[] = [];
    for (let i = 0; i < bp.stcLevels; i++) stcScales.push(P.levelModulus(stcTop - i));
    return { e0, q0, ctsInputScale, ctsScales, evalModScale, stcScales };
  }

  /** Number of plaintexts the DFTs hold, and their bytes. */
  get plaintextFootprint(): { count: number; bytes: number } {
    let count = 0;
    let bytes = 0;
    for (const t of [...this.cts, ...this.stc]) {
      if (t instanceof HoistedTransform) {
        count += t.footprint.count;
        bytes += t.footprint.bytes;
      } else {
        count += t.size;
        bytes += t.size * this.ctx.params.limbsAt(t.level) * this.ctx.N * 4;
      }
    }
    return { count, bytes };
  }

  /**
   * Bootstraps `ct` (degree 1, any level: it is dropped to level 0 first). Returns a ciphertext at
   * the top user level (`bp.outputLevel`) with the same message, at scale `bp.outputScale` when
   * the input is on the canonical scale of its level (else proportionally).
   * @throws InvalidArgumentError for a degree-2 ciphertext or a scale too close to q0.
   */
  bootstrap(ct: Ciphertext): Ciphertext {
    const { ev, bp, plan } = this;
    const P = this.ctx.params;
    this.ctx.check(ct, 'ciphertext');
    if (ct.degree !== 1) throw new InvalidArgumentError('bootstrapping a degree-2 ciphertext', 'relinearize first');
    const kid = this.encap.keys.keyId;
    if (ct.keyId !== undefined && kid !== undefined && ct.keyId !== kid) throw new KeyMismatchError('the ciphertext to bootstrap', ct.keyId, kid);
    const r = bp.evalMod.logMessageRatio;
    const T = this.lastTimings;
    const t0 = now();
    let x = ct.level > 0 ? ev.dropToLevel(ct, 0) : ct;
    // ScaleUp: an integer 2^e (mulInt keeps the scale field), so Δ' = 2^e·scale ≤ q0/2^r
    const e = Math.floor(Math.log2(plan.q0 / (2 ** r * x.scale)));
    if (e < 0) throw new InvalidArgumentError(`input scale 2^${Math.log2(x.scale).toFixed(1)} is within 2^${r} of q0 = 2^${Math.log2(plan.q0).toFixed(1)}`, 'rescale the ciphertext once more before bootstrapping');
    const deltaPrime = 2 ** e * x.scale;
    if (e > 0) x = ev.mulInt(x, 2 ** e);
    const t1 = now();
    // encapsulate, raise, SubSum
    let t = this.encap.raise(this.encap.toSparse(x));
    const t2 = now();
    if (this.sparse) {
      for (let s = bp.slots; s < P.slots; s *= 2) t = ev.add(t, ev.rotate(t, s));
    }
    t.scale = plan.ctsInputScale;
    const t3 = now();
    // CoeffsToSlots
    for (const lt of this.cts) {
      t = lt.evaluate(ev, t);
      ev.rescaleInPlace(t);
    }
    const conj = ev.conjugate(t);
    const re = ev.add(t, conj);
    const im = this.mulMono(ev.sub(t, conj), this.minusIMono);
    const t4 = now();
    // EvalMod
    let out: Ciphertext;
    if (this.sparse) {
      const packed = ev.add(re, ev.rotate(im, bp.slots));
      out = this.evalModCt(packed);
    } else {
      const mr = this.evalModCt(re);
      const mi = this.evalModCt(im);
      out = ev.add(mr, this.mulMono(mi, this.iMono));
    }
    // the EvalMod output 2πε = 2π·Δ'm/q0 at t_out reads as m at 2π·Δ'·t_out/q0
    out.scale = (2 * Math.PI * deltaPrime * out.scale) / plan.q0;
    const t5 = now();
    // SlotsToCoeffs
    for (const lt of this.stc) {
      out = lt.evaluate(ev, out);
      ev.rescaleInPlace(out);
    }
    if (out.level !== bp.outputLevel) throw new LevelError(bp.outputLevel, out.level, 'bootstrapping output');
    const t6 = now();
    T.scaleUp = t1 - t0;
    T.modRaise = t2 - t1;
    T.subSum = t3 - t2;
    T.coeffsToSlots = t4 - t3;
    T.evalMod = t5 - t4;
    T.slotsToCoeffs = t6 - t5;
    T.total = t6 - t0;
    return out;
  }

  private evalModCt(x: Ciphertext): Ciphertext {
    const be = new CkksPolyBackend(this.ev, this.enc, { level: x.level, scale: x.scale });
    return evalMod(be, x, this.mod);
  }

  /** x·m for a monomial m given in the NTT domain (exact: scale and level unchanged). */
  private mulMono(x: Ciphertext, m: Poly): Ciphertext {
    const ring = this.ctx.ringQ;
    for (const p of x.polys) ring.mulCoeffs(p, m, p, x.limbs);
    return x;
  }
}
