/**
 * @module ring/primes
 * NTT-friendly primes p ≡ 1 (mod 2N) below 2^30, and primitive roots of unity.
 *
 * Generation is deterministic: candidates k·2N + 1 are scanned outward from a target value, so
 * the same parameters always give the same chain (as SEAL's `CoeffModulus::Create` and Lattigo's
 * `ring.NewNTTFriendlyPrimesGenerator` do). Primality: deterministic Miller–Rabin with bases
 * {2, 3, 5, 7}, exact for n < 3.2·10^9.
 */
import { InvalidArgumentError } from '../errors.js';
import { MAX_MODULUS_BITS, mulMod, powMod } from './modulus.js';

/** Deterministic Miller–Rabin for n < 2^30 (the word-size arithmetic of `modulus.ts` needs n < 2^30). */
export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  for (const sp of [2, 3, 5, 7, 11, 13]) {
    if (n === sp) return true;
    if (n % sp === 0) return false;
  }
  if (n >= 2 ** MAX_MODULUS_BITS) throw new InvalidArgumentError(`isPrime(${n})`, 'pass n below 2^30');
  let d = n - 1;
  let s = 0;
  while (d % 2 === 0) {
    d /= 2;
    s++;
  }
  const nInv = 1 / n;
  outer: for (const a of [2, 3, 5, 7]) {
    let x = powMod(a, d, n);
    if (x === 1 || x === n - 1) continue;
    for (let i = 1; i < s; i++) {
      x = mulMod(x, x, n, nInv);
      if (x === n - 1) continue outer;
    }
    return false;
  }
  return true;
}

/** Distinct prime factors of n (n < 2^53), by trial division. */
export function primeFactors(n: number): number[] {
  const out: number[] = [];
  let m = n;
  for (let d = 2; d * d <= m; d++) {
    if (m % d === 0) {
      out.push(d);
      while (m % d === 0) m /= d;
    }
  }
  if (m > 1) out.push(m);
  return out;
}

/** Smallest generator of (Z/pZ)^* for a prime p. */
export function primitiveRoot(p: number): number {
  const fs = primeFactors(p - 1);
  for (let g = 2; g < p; g++) {
    if (fs.every((f) => powMod(g, (p - 1) / f, p) !== 1)) return g;
  }
  throw new InvalidArgumentError(`no primitive root modulo ${p}`, 'pass a prime');
}

/** A primitive 2N-th root of unity ψ mod p (requires p ≡ 1 mod 2N): the smallest such power of the generator. */
export function primitive2NthRoot(p: number, N: number): number {
  if ((p - 1) % (2 * N) !== 0) throw new InvalidArgumentError(`${p} is not ≡ 1 (mod 2N = ${2 * N})`, 'use NTT-friendly primes (primesNear, primesBelow)');
  const g = primitiveRoot(p);
  return powMod(g, (p - 1) / (2 * N), p);
}

/**
 * Lists NTT-friendly primes (p ≡ 1 mod 2N, p < 2^30) nearest to `target`, alternating above and
 * below it, skipping those in `exclude`. Returns them in order of distance to the target.
 */
export function primesNear(target: number, N: number, count: number, exclude: ReadonlySet<number> = new Set()): number[] {
  const step = 2 * N;
  const limit = 2 ** MAX_MODULUS_BITS;
  if (target >= limit) target = limit - 1;
  const k0 = Math.round((target - 1) / step);
  const out: number[] = [];
  let up = k0;
  let down = k0 - 1;
  while (out.length < count) {
    const cu = up * step + 1;
    const cd = down * step + 1;
    const canUp = cu < limit;
    const canDown = down > 0;
    if (!canUp && !canDown) break;
    // take the nearer candidate first
    if (canUp && (!canDown || cu - target <= target - cd)) {
      if (!exclude.has(cu) && isPrime(cu)) out.push(cu);
      up++;
    } else {
      if (!exclude.has(cd) && isPrime(cd)) out.push(cd);
      down--;
    }
  }
  if (out.length < count) {
    throw new InvalidArgumentError(`only ${out.length} NTT-friendly primes below 2^30 near ${target} for N=${N}`, 'ask for fewer primes (fewer levels) or another target size');
  }
  return out;
}

/** The `count` largest NTT-friendly primes of at most `bits` bits (p < 2^bits), skipping `exclude`. */
export function primesBelow(bits: number, N: number, count: number, exclude: ReadonlySet<number> = new Set()): number[] {
  if (bits > MAX_MODULUS_BITS) throw new InvalidArgumentError(`${bits}-bit primes asked for`, `use at most ${MAX_MODULUS_BITS} bits`);
  const step = 2 * N;
  const out: number[] = [];
  for (let k = Math.floor((2 ** bits - 2) / step); k > 0 && out.length < count; k--) {
    const c = k * step + 1;
    if (!exclude.has(c) && isPrime(c)) out.push(c);
  }
  if (out.length < count) throw new InvalidArgumentError(`only ${out.length} NTT-friendly primes below 2^${bits} for N=${N}, ${count} asked for`, 'ask for fewer primes (fewer levels or special limbs) or larger ones');
  return out;
}
