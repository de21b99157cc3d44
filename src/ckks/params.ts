/**
 * @module ckks/params
 * CKKS parameters: ring degree, the modulus chain Q (base limbs, then one or more limbs per level),
 * the special primes P for hybrid key switching, the default scale, and the 128-bit security check.
 *
 * A chain is uniform (every level `limbsPerLevel` limbs) or mixed (`levelLimbs`, one count per
 * level): a level of two 30-bit limbs is a ≈ 2^60 scaling modulus, composite scaling in the sense of
 * eprint 2023/1462 on 30-bit words (the bootstrapping chains of `src/bootstrap` mix 1- and 2-limb
 * levels). Every per-level quantity is a table lookup, so mixed chains cost nothing on the hot paths.
 *
 * Levels count down: a fresh ciphertext is at level L, each rescale drops one level's limbs, level 0
 * keeps only the base limbs. The chain is chosen so that the canonical scale stays near Δ: with
 * S_L = Δ and S_{ℓ−1} = S_ℓ²/q_ℓ, each level's prime(s) are picked greedily closest to S_ℓ²/Δ from
 * NTT-friendly primes on both sides of Δ (the drift stays within one prime gap instead of doubling
 * per level; cf. OpenFHE FLEXIBLEAUTO, Kim–Papadimitriou–Polyakov eprint 2020/1118 §3).
 *
 * Security: log2(QP) must not exceed the HE-standard bound for a ternary secret at 128-bit classical
 * security (Albrecht et al., "Homomorphic Encryption Standard" 2018, Table 1; SEAL `hestdparms.h`,
 * OpenFHE `stdlatticeparms.cpp`): N=2^12: 109, 2^13: 218, 2^14: 438, 2^15: 881, 2^16: 1747 bits.
 */
import { primesBelow, primesNear } from '../ring/primes.js';
import { MAX_MODULUS_BITS } from '../ring/modulus.js';
import { InsecureParametersError, ParameterError, VeilError } from './errors.js';
import { inspectCustom, log2Form, shortForm } from './inspect.js';
import { brief } from '../errors.js';

/** Maximum log2(QP) for 128-bit classical security with a uniform ternary secret, σ = 3.2. */
export const HE_STANDARD_128: Readonly<Record<number, number>> = Object.freeze({
  10: 27, 11: 54, 12: 109, 13: 218, 14: 438, 15: 881, 16: 1747,
});

/** What a caller specifies; everything else is derived. */
export interface ParametersLiteral {
  /** log2 of the ring degree N: 12..16 (smaller only with `insecure`). */
  logN: number;
  /** Number of rescalable levels L (multiplicative depth). */
  levels: number;
  /** Limbs per level: 1 (scale near 2^30, neural networks) or 2 (scale near 2^50–2^60, precision). Default 1. */
  limbsPerLevel?: 1 | 2;
  /**
   * Limbs of each level 1..L, bottom up (length `levels`, entries 1..4): a mixed chain. Needs
   * explicit primes `q` and a scale (`defaultScale` or `logScale`); overrides `limbsPerLevel`.
   */
  levelLimbs?: readonly number[];
  /** log2 of the default scale Δ. Default: the chain's own (≈ 30·limbsPerLevel, just below). */
  logScale?: number;
  /** The default scale Δ exactly (overrides logScale; used when reloading serialized parameters). */
  defaultScale?: number;
  /**
   * The level fresh encodings and encryptions use by default, where `defaultScale` is the canonical
   * scale (default: the top level L). A bootstrapping chain sets it to the highest level the user
   * computes on: the levels above it belong to the bootstrapping circuit (`src/bootstrap`).
   */
  defaultLevel?: number;
  /** Limbs of the base modulus q_0 (what is left at level 0). Default 2 (1-limb levels) or 3. */
  baseLimbs?: number;
  /** Bit size of base primes (default 30). */
  logBase?: number;
  /** Bit size of special primes (default 30). */
  logP?: number;
  /** Number of special primes K for hybrid key switching. Default: see `defaultSpecialLimbs`. */
  specialLimbs?: number;
  /** Limbs per key-switching digit α (dnum = ⌈limbs/α⌉). Default = specialLimbs. */
  digitLimbs?: number;
  /** Secret distribution: undefined = uniform ternary; a number = fixed Hamming weight h. */
  hammingWeight?: number;
  /** Allow parameters above the 128-bit bound (tests and experiments only). */
  insecure?: boolean;
  /** Explicit Q primes (base first, then level limbs bottom-up). Overrides generation. */
  q?: readonly number[];
  /** Explicit P primes. */
  p?: readonly number[];
}

/** Resolved, immutable CKKS parameters. */
export class Parameters {
  readonly logN: number;
  readonly N: number;
  /** Complex slots, N/2. */
  readonly slots: number;
  readonly levels: number;
  /** Limbs per level of a uniform chain; of a mixed chain, the largest level's limb count. */
  readonly limbsPerLevel: number;
  /** True when every level has `limbsPerLevel` limbs. */
  readonly uniform: boolean;
  /** Limbs of level ℓ at index ℓ (1..L); index 0 holds the base limb count. */
  readonly levelLimbs: Int32Array;
  readonly baseLimbs: number;
  /** All Q primes, base first. */
  readonly q: readonly number[];
  /** Special primes. */
  readonly p: readonly number[];
  /** Key-switching digit size α (in Q limbs). */
  readonly digitLimbs: number;
  /** Default scale Δ (the canonical scale of the default level). */
  readonly defaultScale: number;
  /** Level of fresh encodings and encryptions by default (the top level L unless the literal says otherwise). */
  readonly defaultLevel: number;
  /**
   * Canonical scale at each level 0..L: S_D = Δ at the default level D, S_{ℓ−1} = S_ℓ²/(level ℓ's
   * modulus) below it (a product rescaled lands on the next level's canonical scale) and
   * S_ℓ = √(S_{ℓ−1}·q_ℓ) above it.
   */
  readonly scales: Float64Array;
  readonly logQ: number;
  readonly logP: number;
  readonly logQP: number;
  readonly hammingWeight: number | undefined;
  readonly insecure: boolean;
  /** 16 hex digits identifying these parameters (in serialized objects). */
  readonly hash: string;
  /** Q limbs at each level 0..L. */
  private readonly limbsTable: Int32Array;
  /** Level of a ciphertext with k Q limbs at index k (−1 between level boundaries). */
  private readonly levelTable: Int32Array;

  constructor(lit: ParametersLiteral) {
    checkLiteral(lit);
    const { logN, levels } = lit;
    if (!Number.isInteger(logN) || logN < 3 || logN > 17) throw new ParameterError(`logN = ${logN} is out of range`, 'use logN in 12..16');
    if (logN < 12 && !lit.insecure) throw new ParameterError(`logN = ${logN} is below 12, which is never 128-bit secure with a useful modulus`, 'use logN ≥ 12, or pass { insecure: true } for tests');
    if (!Number.isInteger(levels) || levels < 0) throw new ParameterError(`levels = ${levels} must be a non-negative integer`, 'pass the multiplicative depth you need');
    let lps = lit.limbsPerLevel ?? 1;
    if (lps !== 1 && lps !== 2) throw new ParameterError(`limbsPerLevel = ${lps}`, 'use 1 or 2');
    const mixed = lit.levelLimbs;
    if (mixed) {
      if (mixed.length !== levels) throw new ParameterError(`levelLimbs has ${mixed.length} entries for ${levels} levels`, 'give one limb count per level, bottom up');
      for (const k of mixed) if (!Number.isInteger(k) || k < 1 || k > 4) throw new ParameterError(`a level of ${k} limbs`, 'use 1 to 4 limbs per level');
      if (!lit.q) throw new ParameterError('a mixed chain (levelLimbs) without explicit primes', 'pass the primes q (base first, then each level bottom up), e.g. from bootstrapParameters()');
    }
    // a levelLimbs list of equal 1s or 2s is the uniform chain it describes (same hash)
    const uniform = !mixed || levels === 0 || (mixed.every((k) => k === mixed[0]) && (mixed[0] === 1 || mixed[0] === 2));
    if (mixed && uniform && levels > 0) lps = mixed[0] as 1 | 2;
    this.logN = logN;
    this.N = 1 << logN;
    this.slots = this.N >> 1;
    this.levels = levels;
    this.uniform = uniform;
    this.limbsPerLevel = uniform ? lps : Math.max(...mixed!);
    this.baseLimbs = lit.baseLimbs ?? (lps === 1 ? 2 : 3);
    if (!Number.isInteger(this.baseLimbs) || this.baseLimbs < 1) throw new ParameterError(`baseLimbs = ${this.baseLimbs}`, 'use at least 1 base limb');
    this.levelLimbs = new Int32Array(levels + 1);
    this.levelLimbs[0] = this.baseLimbs;
    for (let l = 1; l <= levels; l++) this.levelLimbs[l] = mixed ? mixed[l - 1] : lps;
    this.limbsTable = new Int32Array(levels + 1);
    this.limbsTable[0] = this.baseLimbs;
    for (let l = 1; l <= levels; l++) this.limbsTable[l] = this.limbsTable[l - 1] + this.levelLimbs[l];
    this.hammingWeight = lit.hammingWeight;
    this.insecure = !!lit.insecure;
    const nQ = this.limbsTable[levels];
    this.levelTable = new Int32Array(nQ + 1).fill(-1);
    for (let l = 0; l <= levels; l++) this.levelTable[this.limbsTable[l]] = l;

    let q: number[];
    let p: number[];
    let delta: number;
    if (lit.q) {
      q = [...lit.q];
      p = [...(lit.p ?? [])];
      if (q.length !== nQ) throw new ParameterError(`${q.length} Q primes given, ${nQ} needed (${this.baseLimbs} base + ${mixed ? `levels of ${mixed.join('+')}` : `${levels}×${lps}`})`, 'pass base + levels·limbsPerLevel primes');
      if (p.length === 0) throw new ParameterError('no special primes P given', 'pass at least one P prime');
      validatePrimes([...q, ...p], this.N);
      delta = lit.defaultScale ?? (lit.logScale !== undefined ? 2 ** lit.logScale : levels === 0 ? 2 ** 30 : this.levelModulusOf(q, levels));
      if (!(delta > 1) || !Number.isFinite(delta)) throw new ParameterError(`scale ${delta}`, 'use a finite scale above 1');
    } else {
      const K = lit.specialLimbs ?? defaultSpecialLimbs(logN, nQ, lit.insecure ?? false);
      if (nQ + K > MAX_LIMBS) throw new ParameterError(`${nQ} Q limbs and ${K} special limbs exceed ${MAX_LIMBS}`, 'use fewer levels');
      let chain: { q: number[]; p: number[]; delta: number };
      try {
        chain = generateChain(this.N, levels, lps, this.baseLimbs, K, lit.logScale, lit.logBase ?? 30, lit.logP ?? 30);
      } catch (e) {
        if (e instanceof ParameterError || !(e instanceof VeilError)) throw e;
        throw new ParameterError(`no prime chain for N = 2^${logN} with ${nQ} Q limbs and ${K} special limbs: ${e.message}`, 'use fewer levels or special limbs, or other prime sizes (logScale, logBase, logP)', { cause: e });
      }
      q = chain.q;
      p = chain.p;
      delta = chain.delta;
    }
    this.q = Object.freeze(q);
    this.p = Object.freeze(p);
    this.defaultScale = delta;
    const K = p.length;
    this.digitLimbs = lit.digitLimbs ?? Math.max(1, Math.min(K, nQ));
    if (!Number.isInteger(this.digitLimbs) || this.digitLimbs < 1) throw new ParameterError(`digitLimbs = ${this.digitLimbs}`, 'use a positive integer');

    const D = lit.defaultLevel ?? levels;
    if (!Number.isInteger(D) || D < 0 || D > levels) throw new ParameterError(`defaultLevel = ${D}`, `use a level in 0..${levels}`);
    this.defaultLevel = D;
    this.scales = new Float64Array(levels + 1);
    this.scales[D] = delta;
    for (let l = D; l >= 1; l--) this.scales[l - 1] = (this.scales[l] * this.scales[l]) / this.levelModulus(l);
    for (let l = D + 1; l <= levels; l++) this.scales[l] = Math.sqrt(this.scales[l - 1] * this.levelModulus(l));

    this.logQ = q.reduce((s, x) => s + Math.log2(x), 0);
    this.logP = p.reduce((s, x) => s + Math.log2(x), 0);
    this.logQP = this.logQ + this.logP;
    const bound = HE_STANDARD_128[logN];
    if (!this.insecure && (bound === undefined || this.logQP > bound)) {
      throw new InsecureParametersError(logN, this.logQP, bound ?? 0);
    }
    if (this.hammingWeight !== undefined && !this.insecure) {
      // The HE-standard table assumes a uniform ternary secret; sparse secrets need their own estimate.
      throw new ParameterError(
        `a fixed Hamming weight secret (h = ${this.hammingWeight}) is not covered by the 128-bit table`,
        'use the default uniform ternary secret, or pass { insecure: true } if you have your own estimate',
      );
    }
    this.hash = hashParams(this);
  }

  /** Number of Q limbs of a ciphertext at `level` (0..L). */
  limbsAt(level: number): number {
    return this.limbsTable[level];
  }

  /** Level of a ciphertext with `limbs` Q limbs, or −1 if that is not a level boundary. */
  levelOfLimbs(limbs: number): number {
    return limbs >= 0 && limbs < this.levelTable.length ? this.levelTable[limbs] : -1;
  }

  /** Limbs a rescale drops from a ciphertext with `limbs` Q limbs (those of its level; 0 at level 0). */
  dropAt(limbs: number): number {
    const l = this.levelOfLimbs(limbs);
    return l > 0 ? this.levelLimbs[l] : 0;
  }

  /** Product of the limbs dropped when rescaling from `level` (a float; ≤ 2^120). */
  levelModulus(level: number): number {
    return this.levelModulusOf(this.q, level);
  }

  private levelModulusOf(q: readonly number[], level: number): number {
    const s = this.limbsTable[level - 1];
    let m = 1;
    for (let i = s; i < this.limbsTable[level]; i++) m *= q[i];
    return m;
  }

  /** log2 of the Q modulus at `level`. */
  logQAt(level: number): number {
    let s = 0;
    for (let i = 0; i < this.limbsAt(level); i++) s += Math.log2(this.q[i]);
    return s;
  }

  /** Number of key-switching digits at `level`. */
  dnumAt(level: number): number {
    return Math.ceil(this.limbsAt(level) / this.digitLimbs);
  }

  /** Number of digits of a key (at the top level). */
  get dnum(): number {
    return this.dnumAt(this.levels);
  }

  /** A literal that reconstructs exactly these parameters (same primes, scale and hash). */
  toLiteral(): ParametersLiteral {
    const shape: Partial<ParametersLiteral> = this.uniform
      ? { limbsPerLevel: this.limbsPerLevel as 1 | 2 }
      : { levelLimbs: Array.from(this.levelLimbs.subarray(1)) };
    return {
      logN: this.logN, levels: this.levels, ...shape, baseLimbs: this.baseLimbs,
      ...(this.defaultLevel !== this.levels ? { defaultLevel: this.defaultLevel } : {}),
      digitLimbs: this.digitLimbs, defaultScale: this.defaultScale, hammingWeight: this.hammingWeight,
      insecure: this.insecure, q: [...this.q], p: [...this.p],
    };
  }

  /** A short description. */
  /** `Parameters { N: 2^13, levels: 4, scale: 2^30.0, logQP: 218.0, hash: … }` for console.log. */
  [inspectCustom](): string {
    return shortForm('Parameters', {
      N: `2^${this.logN}`, levels: this.levels, scale: log2Form(this.defaultScale), logQP: this.logQP.toFixed(1),
      ...(this.insecure ? { insecure: true } : {}), hash: this.hash,
    });
  }

  toString(): string {
    const shape = this.uniform ? `${this.levels}×${this.limbsPerLevel}` : `${this.levels} (${this.limbsTable[this.levels] - this.baseLimbs} limbs)`;
    return `CKKS N=2^${this.logN} L=${shape} limbs, base ${this.baseLimbs}, K=${this.p.length}, α=${this.digitLimbs}, ` +
      `Δ=2^${Math.log2(this.defaultScale).toFixed(2)}, log2(QP)=${this.logQP.toFixed(1)}${this.insecure ? ' (INSECURE)' : ''}`;
  }

  /** A plain-object description (for JSON output). */
  describe(): Record<string, unknown> {
    return {
      logN: this.logN, slots: this.slots, levels: this.levels, limbsPerLevel: this.limbsPerLevel,
      ...(this.uniform ? {} : { levelLimbs: Array.from(this.levelLimbs.subarray(1)) }),
      ...(this.defaultLevel !== this.levels ? { defaultLevel: this.defaultLevel } : {}), baseLimbs: this.baseLimbs, specialLimbs: this.p.length, digitLimbs: this.digitLimbs, dnum: this.dnum,
      logScale: +Math.log2(this.defaultScale).toFixed(3), logQ: +this.logQ.toFixed(2), logP: +this.logP.toFixed(2),
      logQP: +this.logQP.toFixed(2), bound128: HE_STANDARD_128[this.logN] ?? null, insecure: this.insecure, hash: this.hash,
    };
  }
}

/**
 * Named parameter sets, all 128-bit secure (checked at construction). "L" is the number of levels;
 * "-P" sets use two limbs per level (Δ ≈ 2^58) for precision; "D" sets mirror the depth of the
 * node-seal peer benchmark (logN 13, 14, 15 with 2, 7, 16 levels).
 */
const PRESET_TABLE = {
  /** Tiny: 2 levels at Δ ≈ 2^25 (about 11 bits of precision); tests and demos only. */
  'N12-L2': { logN: 12, levels: 2, baseLimbs: 1, logBase: 29, logScale: 25, specialLimbs: 1, logP: 29 },
  'N13-L4': { logN: 13, levels: 4 },
  'N14-L10': { logN: 14, levels: 10 },
  'N15-L24': { logN: 15, levels: 24 },
  'N16-L50': { logN: 16, levels: 50 },
  'N15-L12-P': { logN: 15, levels: 12, limbsPerLevel: 2 },
  'N16-L25-P': { logN: 16, levels: 25, limbsPerLevel: 2 },
  // K and α of the D sets measured (bench/engine.ts, mul → relin → rescale → rotate precision and
  // key-switching time): two digits, with K = α + 1 at N = 2^15 (P exceeds the larger digit by a
  // whole limb, which removes the rotation's key-switching noise: 15.2 → 17.3 bits mean) and K = α
  // at N = 2^14 (16.5 → 17.0 bits and 20% faster than the default K = α = 3, three digits).
  'N13-D2': { logN: 13, levels: 2, specialLimbs: 2, digitLimbs: 2 },
  'N14-D7': { logN: 14, levels: 7, specialLimbs: 5, digitLimbs: 5 },
  'N15-D16': { logN: 15, levels: 16, specialLimbs: 10, digitLimbs: 9 },
} as const satisfies Record<string, ParametersLiteral>;

/** The names of the parameter presets. */
export type PresetName = keyof typeof PRESET_TABLE;

/** Named parameter sets (see `preset`). */
export const PRESETS: Readonly<Record<PresetName, ParametersLiteral>> = Object.freeze(PRESET_TABLE);


/** Parameters of a named preset (see `PRESETS`). */
export function preset(name: PresetName, overrides: Partial<ParametersLiteral> = {}): Parameters {
  // JavaScript callers can pass any string: checked at run time too
  const lit = Object.hasOwn(PRESETS, name) ? PRESETS[name] : undefined;
  if (!lit) throw new ParameterError(`unknown preset '${name}'`, `use one of ${Object.keys(PRESETS).join(', ')}`);
  return new Parameters({ ...lit, ...overrides });
}

/** Largest number of 30-bit special limbs the budget allows, capped by ⌈√(Q limbs)⌉ (Lattigo's rule of thumb). */
export function defaultSpecialLimbs(logN: number, nQ: number, insecure: boolean): number {
  const cap = Math.max(1, Math.ceil(Math.sqrt(nQ)));
  if (insecure) return Math.min(cap, nQ);
  const bound = HE_STANDARD_128[logN];
  if (bound === undefined) return 1;
  const room = Math.floor((bound - 30 * nQ) / 30);
  return Math.max(1, Math.min(cap, room, nQ));
}

/** Most limbs (Q and P together) a parameter set may have: far above any secure set (N = 2^16 fits about 58). */
const MAX_LIMBS = 512;

/** Rejects literals that are not objects or whose fields have the wrong types (before any use). */
function checkLiteral(lit: ParametersLiteral): void {
  if (typeof lit !== 'object' || lit === null) throw new ParameterError(`parameters ${brief(lit)} are not an object`, 'pass a literal such as { logN: 14, levels: 10 } or a preset name to preset()');
  const num = (k: keyof ParametersLiteral) => {
    const v = lit[k];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v))) throw new ParameterError(`${k} = ${brief(v)} is not a finite number`, `give ${k} as a number, or leave it out`);
  };
  (['logN', 'levels', 'limbsPerLevel', 'logScale', 'defaultScale', 'defaultLevel', 'baseLimbs', 'logBase', 'logP', 'specialLimbs', 'digitLimbs', 'hammingWeight'] as const).forEach(num);
  // every level and base limb is a prime of the chain: bound the counts before anything is allocated
  if (lit.levels > MAX_LIMBS || (lit.baseLimbs ?? 0) > MAX_LIMBS || (lit.specialLimbs ?? 0) > MAX_LIMBS) {
    throw new ParameterError(`levels = ${lit.levels}, baseLimbs = ${lit.baseLimbs}, specialLimbs = ${lit.specialLimbs}: more than ${MAX_LIMBS} limbs`, 'use fewer levels (a 128-bit secure chain has at most about 58 limbs)');
  }
  for (const k of ['q', 'p', 'levelLimbs'] as const) {
    const v = lit[k];
    if (v === undefined) continue;
    if (!Array.isArray(v) || v.length > MAX_LIMBS || v.some((x) => typeof x !== 'number')) throw new ParameterError(`${k} = ${brief(v)} is not a list of at most ${MAX_LIMBS} numbers`, `give ${k} as an array of numbers, or leave it out`);
  }
  if (lit.insecure !== undefined && typeof lit.insecure !== 'boolean') throw new ParameterError(`insecure = ${brief(lit.insecure)} is not a boolean`, 'pass insecure: true (tests only) or leave it out');
  if (lit.q === undefined && lit.p !== undefined) throw new ParameterError('P primes given without Q primes', 'give both q and p, or neither');
}

function validatePrimes(ps: readonly number[], N: number): void {
  const seen = new Set<number>();
  for (const x of ps) {
    if (!Number.isInteger(x) || x >= 2 ** MAX_MODULUS_BITS || x < 3) throw new ParameterError(`prime ${x} is out of range`, 'use NTT-friendly primes below 2^30');
    if ((x - 1) % (2 * N) !== 0) throw new ParameterError(`${x} is not ≡ 1 mod 2N = ${2 * N}`, 'use NTT-friendly primes (generate them with primesNear)');
    if (seen.has(x)) throw new ParameterError(`prime ${x} appears twice`, 'use distinct primes');
    seen.add(x);
  }
}

/** Greedy scale-stable chain (see module header). */
function generateChain(
  N: number, levels: number, lps: 1 | 2, baseLimbs: number, K: number, logScale: number | undefined, logBase: number, logP: number,
): { q: number[]; p: number[]; delta: number } {
  const used = new Set<number>();
  const p = primesBelow(logP, N, K, used);
  p.forEach((x) => used.add(x));
  const limbTarget = logScale !== undefined ? 2 ** (logScale / lps) : undefined;
  const poolSize = 2 * levels * lps + 16;
  let pool: number[];
  if (limbTarget !== undefined && limbTarget < 2 ** 29.9) {
    pool = primesNear(limbTarget, N, poolSize, used);
  } else {
    pool = primesBelow(30, N, poolSize, used);
  }
  pool.sort((a, b) => a - b);
  // Default Δ: the median of the pool, so primes exist on both sides of each target.
  const limbDelta = limbTarget ?? pool[Math.floor(pool.length / 2)];
  const delta = limbDelta ** lps;
  const levelPrimes: number[][] = new Array(levels + 1);
  const free = new Set(pool);
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
    if (best < 0) throw new ParameterError('ran out of primes near the scale', 'use a smaller logN or fewer levels');
    free.delete(best);
    return best;
  };
  let S = delta;
  for (let l = levels; l >= 1; l--) {
    const T = (S * S) / delta;
    if (lps === 1) {
      const x = nearest(T);
      levelPrimes[l] = [x];
      S = delta * (T / x); // S²/x, since T = S²/Δ
    } else {
      const a = nearest(Math.sqrt(T));
      const b = nearest(T / a);
      levelPrimes[l] = [a, b];
      S = delta * (T / (a * b));
    }
  }
  for (const ps of levelPrimes.slice(1)) ps.forEach((x) => used.add(x));
  const base = primesBelow(logBase, N, baseLimbs, used);
  base.forEach((x) => used.add(x));
  const q = [...base];
  for (let l = 1; l <= levels; l++) q.push(...levelPrimes[l]);
  return { q, p, delta };
}

/** FNV-1a (two 32-bit lanes) over the canonical description: an identity check, not a MAC. */
function hashParams(P: Parameters): string {
  // a mixed chain appends its level shape (uniform chains keep the hashes they always had)
  const shape = [...(P.uniform ? [] : [-2, ...P.levelLimbs.subarray(1)]), ...(P.defaultLevel !== P.levels ? [-3, P.defaultLevel] : [])];
  const parts = [P.logN, P.levels, P.limbsPerLevel, P.baseLimbs, P.digitLimbs, P.hammingWeight ?? 0, P.defaultScale, ...P.q, -1, ...P.p, ...shape];
  const bytes = new Uint8Array(parts.length * 8);
  const dv = new DataView(bytes.buffer);
  parts.forEach((x, i) => dv.setFloat64(8 * i, x, true));
  return fnv64(bytes);
}

/** 64-bit FNV-1a style hash as 16 hex digits (two independent 32-bit lanes). */
export function fnv64(bytes: Uint8Array): string {
  let h1 = 0x811c9dc5;
  let h2 = 0xcbf29ce4;
  for (let i = 0; i < bytes.length; i++) {
    h1 = Math.imul(h1 ^ bytes[i], 0x01000193);
    h2 = Math.imul(h2 ^ bytes[i] ^ (i & 255), 0x01000193) ^ (h1 >>> 15);
  }
  return (h1 >>> 0).toString(16).padStart(8, '0') + (h2 >>> 0).toString(16).padStart(8, '0');
}
