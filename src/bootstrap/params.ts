/**
 * @module bootstrap/params
 * Bootstrapping parameter sets on 30-bit words: the heterogeneous modulus chain, the EvalMod
 * polynomial's shape, the sparse-secret encapsulation and the failure probability.
 *
 * Chain, bottom up (Bossuat et al., eprint 2020/1203 §5, for the shape; composite scaling on
 * 32-bit words, eprint 2023/1462, for levels of two limbs):
 *   base q0          2 limbs (≈ 2^60): the modulus ModRaise starts from;
 *   user levels 1..U one limb each (≈ 2^30), except the top user level U: two limbs, so that the
 *                    bootstrapped output can sit at Δ_out ≈ 2^45 (precision: the rounding noise
 *                    of the last rescale is ≈ N/6 in slot units, 2^13.4 at N = 2^16, so a 2^30
 *                    output scale could never give 20 bits) and one product brings it back to the
 *                    one-limb ladder: Δ_out²/q_U ≈ Δ_user;
 *   SlotsToCoeffs    one limb per level (its plaintexts are encoded at the level modulus);
 *   EvalMod          two limbs per level (≈ 2^60: its values reach K ≈ 16 while the message sits
 *                    2^-r below one unit, r = logMessageRatio);
 *   CoeffsToSlots    two limbs per level (its input is t = Δ'm + q0·I, needed to ≈ 2^-35·q0);
 *   P                K special limbs, K = α + 1 for digits of α limbs (P exceeds every digit).
 * All primes are NTT-friendly and below 2^30; log2(QP) of the whole chain, bootstrapping levels
 * and special limbs included, is checked against the 128-bit HE-standard bound by `Parameters`.
 *
 * Sparse-secret encapsulation (Bossuat–Troncoso-Pastoriza–Hubaux, eprint 2022/024): ModRaise runs
 * under an ephemeral secret of Hamming weight h = 32, switched to at level 0 and back to the main
 * (dense ternary) secret at the top. After ModRaise the coefficients are t = Δ'm + q0·I with
 * t/q0 distributed as a sum of h + 1 uniforms on (−1/2, 1/2) (the paper's model), so
 * |t/q0| ≤ (h + 1)/2 = 16.5 always, and EvalMod, exact on [−K, K] with K = 16, fails only when
 * |t/q0| > K: by the Irwin–Hall tail, 2·(0.5^33/33!) per coefficient, 2^−138.7 over the 2^16
 * coefficients of a full-slot ciphertext at N = 2^16 (the figure eprint 2022/024 and OpenFHE's
 * CKKS_BOOTSTRAPPING.md give for K = 16, h = 32). `failureProbabilityLog2` computes it exactly.
 */
import { HE_STANDARD_128, Parameters, ParameterError, type ParametersLiteral } from '../ckks/index.js';
import { primesBelow, primesNear } from '../ring/primes.js';

/** Options of EvalMod (x ↦ x mod 1 on [−K, K], Han–Ki cosine with double angles, eprint 2019/688). */
export interface EvalModLiteral {
  /** Interval bound: EvalMod is exact for |t/q0| ≤ K. Default 16. */
  K?: number;
  /** Double-angle steps R: the polynomial approximates cos(2π(y − 1/4)/2^R). Default 4. */
  doubleAngles?: number;
  /** Degree of the Chebyshev approximation (even). Default: the smallest reaching 2^−50 on the interval. */
  degree?: number;
  /** log2(q0/Δ'): how far below q0 the message sits when ModRaise starts. Default 6. */
  logMessageRatio?: number;
  /**
   * Degree of the inverse-sine correction (Lee et al., eprint 2020/552): 0 (none, default), 3 or 5.
   * It removes the sine's cubic error at ⌈log2(degree + 1)⌉ more levels.
   */
  arcsineDegree?: number;
}

/** What a caller specifies for a bootstrapping parameter set. */
export interface BootstrapParametersLiteral {
  /** log2 N (12..16 secure only at 16; smaller rings need `insecure`). */
  logN: number;
  /** Levels left for the user after bootstrapping (≥ 1): U − 1 levels of one limb and one of two. */
  userLevels: number;
  /** log2 of the slot count (default logN − 1: full slots). */
  logSlots?: number;
  /** CoeffsToSlots depth (levels of two limbs). Default 3. */
  ctsLevels?: number;
  /** SlotsToCoeffs depth (levels of one limb). Default 3. */
  stcLevels?: number;
  evalMod?: EvalModLiteral;
  /** Hamming weight of the ephemeral secret (default 32). */
  ephemeralWeight?: number;
  /** Key-switching digits of the full chain (default: the fewest within the 128-bit bound). */
  dnum?: number;
  /** log2 of the output scale Δ_out at the top user level (default 45). */
  logOutputScale?: number;
  /**
   * Double hoisting (plaintexts over QP, one ModDown per giant step) for CoeffsToSlots and
   * SlotsToCoeffs; default true for both. Single hoisting needs fewer plaintext bytes.
   */
  doubleHoisting?: { coeffsToSlots?: boolean; slotsToCoeffs?: boolean };
  /** Allow log2(QP) above the 128-bit bound (tests at small rings). */
  insecure?: boolean;
}

/** Resolved EvalMod parameters. */
export interface EvalModParameters {
  readonly K: number;
  readonly doubleAngles: number;
  readonly degree: number;
  readonly logMessageRatio: number;
  readonly arcsineDegree: number;
  /** Levels: ⌈log2(degree + 1)⌉ + R (+ the correction's). */
  readonly depth: number;
}

/** Levels of the polynomial evaluator for degree d: ⌈log2(d + 1)⌉. */
export function polyLevels(d: number): number {
  return d <= 0 ? 0 : Math.ceil(Math.log2(d + 1));
}

/**
 * log2 of the probability that some coefficient leaves [−K, K] after ModRaise under an ephemeral
 * secret of weight h, over `coefficients` coefficients, in the model of eprint 2022/024: t/q0 is a
 * sum of n = h + 1 independent uniforms on (−1/2, 1/2). Exact Irwin–Hall tail (BigInt rationals),
 * P(|S| > K) = 2·Σ_{j ≤ n/2 − K} (−1)^j C(n, j)(n/2 − K − j)^n / n!, union bound over coefficients.
 * Returns −Infinity when |S| ≤ n/2 ≤ K (failure impossible in the model).
 */
export function failureProbabilityLog2(h: number, K: number, coefficients: number): number {
  const n = h + 1;
  const twoGap = n - 2 * K; // 2·(n/2 − K), an integer
  if (twoGap <= 0) return -Infinity;
  let num = 0n;
  let binom = 1n;
  for (let j = 0; 2 * j < twoGap; j++) {
    const base = BigInt(twoGap - 2 * j); // 2·(n/2 − K − j)
    const term = binom * base ** BigInt(n);
    num += j % 2 === 0 ? term : -term;
    binom = (binom * BigInt(n - j)) / BigInt(j + 1);
  }
  let fact = 1n;
  for (let i = 2; i <= n; i++) fact *= BigInt(i);
  // P(S > K) = num / (2^n · n!); log2 via bit lengths (exact enough: 2^-50 relative)
  const log2Big = (x: bigint): number => {
    const s = x.toString(2);
    const top = Number.parseInt(s.slice(0, 53), 2);
    return Math.log2(top) + Math.max(0, s.length - 53);
  };
  return 1 + Math.log2(coefficients) + log2Big(num) - n - log2Big(fact);
}

/** Smallest even degree whose Chebyshev tail for cos(a·u) on [−1, 1] is below 2^−bits (|c_k| = 2|J_k(a)|). */
export function cosineDegree(a: number, bits = 50): number {
  const logJ = (k: number): number => {
    // |J_k(a)| ≤ (a/2)^k / k! for k ≥ a: bound the tail by its first two terms
    let l = k * Math.log2(a / 2);
    for (let i = 2; i <= k; i++) l -= Math.log2(i);
    return l + 1;
  };
  let d = Math.max(2, Math.ceil(a));
  while (logJ(d + 2) > -bits || logJ(d + 4) > -bits) d += 2;
  return d + (d % 2);
}

/** A resolved bootstrapping parameter set (see the module documentation). */
export class BootstrapParameters {
  /** The CKKS parameters of the whole chain (default level = the top user level). */
  readonly params: Parameters;
  readonly logSlots: number;
  readonly slots: number;
  readonly userLevels: number;
  readonly stcLevels: number;
  readonly ctsLevels: number;
  readonly evalMod: EvalModParameters;
  readonly ephemeralWeight: number;
  /** Which DFTs use double hoisting (see the literal). */
  readonly doubleHoisting: { readonly coeffsToSlots: boolean; readonly slotsToCoeffs: boolean };
  /** Δ_out: the scale of a bootstrapped ciphertext (canonical scale of the top user level). */
  readonly outputScale: number;
  /** log2 of the failure probability of one bootstrap (eprint 2022/024 model). */
  readonly failureLog2: number;
  readonly literal: BootstrapParametersLiteral;

  constructor(lit: BootstrapParametersLiteral) {
    this.literal = lit;
    const { logN } = lit;
    if (!Number.isInteger(logN) || logN < 5 || logN > 16) throw new ParameterError(`logN = ${logN}`, 'use logN in 12..16 (below 16 only with { insecure: true })');
    const U = lit.userLevels;
    if (!Number.isInteger(U) || U < 1) throw new ParameterError(`userLevels = ${U}`, 'leave at least one level for the user');
    this.logSlots = lit.logSlots ?? logN - 1;
    if (!Number.isInteger(this.logSlots) || this.logSlots < 1 || this.logSlots > logN - 1) {
      throw new ParameterError(`logSlots = ${this.logSlots}`, `use 1..${logN - 1}`);
    }
    this.slots = 1 << this.logSlots;
    this.stcLevels = lit.stcLevels ?? 3;
    this.ctsLevels = lit.ctsLevels ?? 3;
    for (const [name, v] of [['stcLevels', this.stcLevels], ['ctsLevels', this.ctsLevels]] as const) {
      if (!Number.isInteger(v) || v < 1 || v > this.logSlots) throw new ParameterError(`${name} = ${v}`, `use 1..${this.logSlots} (one DFT factor per level)`);
    }
    const em = lit.evalMod ?? {};
    const K = em.K ?? 16;
    const R = em.doubleAngles ?? 4;
    const r = em.logMessageRatio ?? 6;
    const arc = em.arcsineDegree ?? 0;
    if (!(K >= 1) || !Number.isInteger(K)) throw new ParameterError(`K = ${K}`, 'use an integer interval bound such as 16');
    if (!Number.isInteger(R) || R < 0 || R > 8) throw new ParameterError(`doubleAngles = ${R}`, 'use 0..8');
    if (![0, 3, 5].includes(arc)) throw new ParameterError(`arcsineDegree = ${arc}`, 'use 0 (none), 3 or 5');
    if (!Number.isInteger(r) || r < 2 || r > 20) throw new ParameterError(`logMessageRatio = ${r}`, 'use 2..20');
    // the polynomial approximates cos(a·u) on [−1, 1] with a = 2π(K + 1/4 + 2^-r)/2^R (see evalmod.ts)
    const a = (2 * Math.PI * (K + 0.25 + 2 ** -r)) / 2 ** R;
    const degree = em.degree ?? cosineDegree(a, 50);
    if (!Number.isInteger(degree) || degree < 2 || degree % 2 !== 0) throw new ParameterError(`EvalMod degree ${degree}`, 'use an even degree');
    this.evalMod = Object.freeze({ K, doubleAngles: R, degree, logMessageRatio: r, arcsineDegree: arc, depth: polyLevels(degree) + R + polyLevels(arc) });
    this.ephemeralWeight = lit.ephemeralWeight ?? 32;
    if (!Number.isInteger(this.ephemeralWeight) || this.ephemeralWeight < 1 || this.ephemeralWeight > 1 << logN) {
      throw new ParameterError(`ephemeralWeight = ${this.ephemeralWeight}`, 'use a Hamming weight such as 32');
    }
    this.userLevels = U;
    this.doubleHoisting = Object.freeze({
      coeffsToSlots: lit.doubleHoisting?.coeffsToSlots ?? true, slotsToCoeffs: lit.doubleHoisting?.slotsToCoeffs ?? true,
    });
    const logOut = lit.logOutputScale ?? 45;
    this.params = new Parameters(buildChain(lit, this, logOut));
    this.outputScale = this.params.defaultScale;
    this.failureLog2 = failureProbabilityLog2(this.ephemeralWeight, K, 2 * this.slots);
  }

  /** Levels of the bootstrapping circuit (StC + EvalMod + CtS). */
  get depth(): number {
    return this.stcLevels + this.evalMod.depth + this.ctsLevels;
  }

  /** The level a bootstrapped ciphertext has (the top user level). */
  get outputLevel(): number {
    return this.userLevels;
  }

  /** Levels at which each stage starts (the level of its input): CtS at the top, then EvalMod, then StC. */
  get stageLevels(): { cts: number; evalMod: number; stc: number } {
    const L = this.params.levels;
    return { cts: L, evalMod: L - this.ctsLevels, stc: L - this.ctsLevels - this.evalMod.depth };
  }

  /** A plain-object description (for `inspect` output and JSON). */
  describe(): Record<string, unknown> {
    const P = this.params;
    return {
      logN: P.logN, slots: this.slots, levelsForUser: this.userLevels,
      userScales: Array.from(P.scales.subarray(1, this.userLevels + 1), (s) => +Math.log2(s).toFixed(2)),
      outputLogScale: +Math.log2(this.outputScale).toFixed(2),
      bootstrapLevels: { coeffsToSlots: this.ctsLevels, evalMod: this.evalMod.depth, slotsToCoeffs: this.stcLevels },
      evalMod: { ...this.evalMod },
      ephemeralWeight: this.ephemeralWeight, failureLog2: +this.failureLog2.toFixed(1),
      limbs: { q: P.q.length, p: P.p.length, digit: P.digitLimbs, dnum: P.dnum },
      logQP: +P.logQP.toFixed(1), bound128: HE_STANDARD_128[P.logN] ?? null, insecure: P.insecure,
    };
  }
}

/** The chain of the module documentation as an explicit parameter literal. */
function buildChain(lit: BootstrapParametersLiteral, bp: BootstrapParameters, logOut: number): ParametersLiteral {
  const N = 1 << lit.logN;
  const U = lit.userLevels;
  const levelLimbs: number[] = [];
  for (let l = 1; l < U; l++) levelLimbs.push(1);
  levelLimbs.push(2); // top user level
  for (let l = 0; l < bp.stcLevels; l++) levelLimbs.push(1);
  for (let l = 0; l < bp.evalMod.depth; l++) levelLimbs.push(2);
  for (let l = 0; l < bp.ctsLevels; l++) levelLimbs.push(2);
  const base = 2;
  const nQ = base + levelLimbs.reduce((s, k) => s + k, 0);
  // digits: the fewest within the bound (fewer digits, fewer NTTs in ModUp), K = α + 1
  const bound = HE_STANDARD_128[lit.logN];
  const limbBits = 29.95;
  let dnum = lit.dnum ?? 1;
  if (lit.dnum === undefined) {
    if (lit.insecure || bound === undefined) dnum = Math.min(3, nQ); // the digit structure of the secure sets
    else while (dnum < nQ && (nQ + Math.ceil(nQ / dnum) + 1) * limbBits > bound) dnum++;
  }
  if (!Number.isInteger(dnum) || dnum < 1 || dnum > nQ) throw new ParameterError(`dnum = ${dnum}`, `use 1..${nQ} digits`);
  const alpha = Math.ceil(nQ / dnum);
  const K = alpha + 1;
  // the largest primes go to P and the scaling levels; the user's one-limb levels get primes near Δ_user
  const used = new Set<number>();
  const big = primesBelow(30, N, K + nQ - (U - 1), used);
  const p = big.slice(0, K);
  let next = K;
  const take = (count: number): number[] => {
    const out = big.slice(next, next + count);
    next += count;
    return out;
  };
  big.forEach((x) => used.add(x));
  const baseQ = take(base);
  // user ladder: Δ_user near 2^30 (the median of the next primes), q_ℓ greedily nearest S_ℓ²/Δ_user
  const userPool = primesNear(2 ** 29.98, N, Math.max(4, 2 * U + 8), used).sort((x, y) => x - y);
  const delta = userPool[Math.floor(userPool.length / 2)];
  const free = new Set(userPool);
  const nearest = (t: number): number => {
    let best = -1;
    let bd = Infinity;
    for (const x of free) {
      const d = Math.abs(Math.log(x / t));
      if (d < bd) {
        bd = d;
        best = x;
      }
    }
    free.delete(best);
    return best;
  };
  // top user level: two primes with q_U ≈ Δ_out²/Δ_user, taken from the big primes nearest that split
  const topPair = take(2);
  const out = Math.sqrt(delta * topPair[0] * topPair[1]); // Δ_out with Δ_out²/q_U = Δ_user exactly
  if (Math.abs(Math.log2(out) - logOut) > 1) {
    // a different output scale needs a different top pair (the product fixes it): ≈ 2^(2·logOut − 30)
    throw new ParameterError(`output scale 2^${logOut} needs a top user level of 2^${2 * logOut - 30}`, 'use logOutputScale 45 (the top user level is two 30-bit limbs)');
  }
  const userQ: number[] = new Array(U - 1);
  let S = delta;
  for (let l = U - 1; l >= 1; l--) {
    const q = nearest((S * S) / delta);
    userQ[l - 1] = q;
    S = (S * S) / q;
  }
  const q: number[] = [...baseQ, ...userQ, ...topPair];
  q.push(...take(bp.stcLevels + 2 * bp.evalMod.depth + 2 * bp.ctsLevels));
  return {
    logN: lit.logN, levels: levelLimbs.length, levelLimbs, baseLimbs: base, q, p, digitLimbs: alpha,
    defaultScale: out, defaultLevel: U, insecure: lit.insecure,
  };
}

/**
 * Named bootstrapping sets. `N16-BOOT`: N = 2^16, full slots (2^15), 9 user levels (8 at ≈ 2^30,
 * the top one at Δ_out ≈ 2^45), 128-bit secure. The `-T` sets are small insecure rings for tests.
 */
export const BOOTSTRAP_PRESETS: Readonly<Record<string, BootstrapParametersLiteral>> = Object.freeze({
  'N16-BOOT': { logN: 16, userLevels: 9 },
  'N12-BOOT-T': { logN: 12, userLevels: 2, insecure: true },
  'N11-BOOT-T': { logN: 11, userLevels: 2, insecure: true },
  'N10-BOOT-T': { logN: 10, userLevels: 2, insecure: true },
});

/** The bootstrapping parameters of a named preset, with overrides. */
export function bootstrapPreset(name: string, overrides: Partial<BootstrapParametersLiteral> = {}): BootstrapParameters {
  const lit = BOOTSTRAP_PRESETS[name];
  if (!lit) throw new ParameterError(`unknown bootstrapping preset '${name}'`, `use one of ${Object.keys(BOOTSTRAP_PRESETS).join(', ')}`);
  return new BootstrapParameters({ ...lit, ...overrides });
}
