/**
 * @module ring/modulus
 * Word-size modular arithmetic for primes p < 2^30 without BigInt.
 *
 * A product a·b (a, b < 2^31) is reduced with a float64 quotient estimate q ≈ a·b/p and the
 * exact low word `Math.imul(a, b) − Math.imul(q, p)`: the true remainder a·b − q·p lies in a
 * few multiples of p around 0, so it fits in int32 and the 32-bit wrap-around of `imul` cancels.
 * This is the "floating-point trick" for modular multiplication (cf. Harvey, "Faster arithmetic
 * for number-theoretic transforms", arXiv 1205.2926, §2 for the precomputed-quotient variant).
 *
 * For a fixed operand w (twiddles, key digits, constants) the quotient w/p is precomputed
 * ("Shoup-float"); shrinking it by 2^-44 makes the estimate never exceed the true quotient, so the
 * result needs no correction and lies in [0, 2p) (Harvey's lazy range).
 */
import { InvalidArgumentError } from '../errors.js';

/** Largest prime size supported: residues and sums of two residues must stay below 2^31. */
export const MAX_MODULUS_BITS = 30;

/** Shrink factor for precomputed quotients: estimate ≤ true quotient for inputs below 2^31. */
const SHOUP_SHRINK = 1 - 2 ** -44;

/** Per-prime constants used by every kernel. */
export interface Modulus {
  /** The prime, p < 2^30. */
  readonly p: number;
  /** 2p, the bound of lazy ranges. */
  readonly p2: number;
  /** 1/p as float64. */
  readonly pInv: number;
  /** ⌈log2 p⌉. */
  readonly bits: number;
}

/** Builds the constants of a modulus. Throws InvalidArgumentError when p is not an odd number in (2, 2^30). */
export function makeModulus(p: number): Modulus {
  if (!Number.isInteger(p) || p < 3 || p >= 2 ** MAX_MODULUS_BITS || p % 2 === 0) {
    throw new InvalidArgumentError(`modulus ${p} is not an odd integer in (2, 2^30)`, 'use odd primes below 2^30');
  }
  return { p, p2: 2 * p, pInv: 1 / p, bits: Math.ceil(Math.log2(p)) };
}

/** a·b mod p for a, b in [0, p). Returns a value in [0, p). */
export function mulMod(a: number, b: number, p: number, pInv: number): number {
  const q = (a * b * pInv) | 0;
  let r = (Math.imul(a, b) - Math.imul(q, p)) | 0; // in [−p, 2p)
  r += (r >> 31) & p;
  r -= p;
  r += (r >> 31) & p;
  return r;
}

/** Precomputed float quotient of a fixed operand w in [0, p): w/p, shrunk so estimates never overshoot. */
export function shoup(w: number, p: number): number {
  return (w / p) * SHOUP_SHRINK;
}

/** a·w mod p with w's precomputed quotient wf = shoup(w, p), for a in [0, 2^31). Returns [0, 2p). */
export function mulShoupLazy(a: number, w: number, wf: number, p: number): number {
  return (Math.imul(a, w) - Math.imul((a * wf) | 0, p)) | 0;
}

/** a·w mod p with precomputed quotient, for a in [0, 2^31). Returns [0, p). */
export function mulShoup(a: number, w: number, wf: number, p: number): number {
  let r = ((Math.imul(a, w) - Math.imul((a * wf) | 0, p)) | 0) - p;
  r += (r >> 31) & p;
  return r;
}

/** (a + b) mod p for a, b in [0, p). */
export function addMod(a: number, b: number, p: number): number {
  let r = a + b - p;
  r += (r >> 31) & p;
  return r;
}

/** (a − b) mod p for a, b in [0, p). */
export function subMod(a: number, b: number, p: number): number {
  let r = a - b;
  r += (r >> 31) & p;
  return r;
}

/** b^e mod p (e ≥ 0 an integer below 2^53). */
export function powMod(b: number, e: number, p: number): number {
  const pInv = 1 / p;
  let base = reduce(b, p);
  let r = 1 % p;
  let k = e;
  while (k > 0) {
    if (k % 2 === 1) r = mulMod(r, base, p, pInv);
    base = mulMod(base, base, p, pInv);
    k = Math.floor(k / 2);
  }
  return r;
}

/** a^−1 mod p by the extended Euclidean algorithm. Throws InvalidArgumentError if a ≡ 0 (mod p). */
export function invMod(a: number, p: number): number {
  let r0 = p;
  let r1 = reduce(a, p);
  let t0 = 0;
  let t1 = 1;
  while (r1 !== 0) {
    const q = Math.floor(r0 / r1);
    [r0, r1] = [r1, r0 - q * r1];
    [t0, t1] = [t1, t0 - q * t1];
  }
  if (r0 !== 1) throw new InvalidArgumentError(`${a} has no inverse modulo ${p}`, 'use a value coprime to the modulus');
  return t0 < 0 ? t0 + p : t0;
}

/** Reduces any safe integer (|x| < 2^53) into [0, p). */
export function reduce(x: number, p: number): number {
  const r = x % p;
  return r < 0 ? r + p : r + 0; // + 0 turns −0 into 0
}

/**
 * Reduces an integer-valued float64 of any magnitude (e.g. round(Δ·v) with Δ = 2^60) into
 * [0, p). Exact: the double is split into a multiple of 2^32 and a remainder, both exact.
 */
export function reduceFloat(x: number, p: number): number {
  if (Math.abs(x) < 2 ** 53) return reduce(x, p);
  const neg = x < 0;
  let a = Math.abs(x);
  // a = hi·2^32 + lo with hi possibly ≥ 2^53: recurse on hi (a has at most 1024 exponent bits).
  const hi = Math.floor(a / 4294967296);
  const lo = a - hi * 4294967296;
  const t32 = reduce(4294967296, p);
  const pInv = 1 / p;
  a = addMod(mulMod(reduceFloat(hi, p), t32, p, pInv), reduce(lo, p), p);
  return neg ? (a === 0 ? 0 : p - a) : a;
}
