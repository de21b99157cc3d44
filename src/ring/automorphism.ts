/**
 * @module ring/automorphism
 * Galois automorphisms σ_g: X ↦ X^g of Z_Q[X]/(X^N + 1), g odd modulo 2N.
 *
 * In the NTT domain (entry i = evaluation at ψ^(2·bitrev(i)+1), see `ntt.ts`) σ_g is a pure index
 * permutation, identical for every limb: σ_g(m)(ψ^e) = m(ψ^(e·g)), so
 * out[i] = in[bitrev(((2·bitrev(i)+1)·g mod 2N − 1)/2)] (Lattigo `ring/automorphism.go`).
 * On coefficients it is X^j ↦ (−1)^⌊j·g/N⌋ · X^(j·g mod N).
 *
 * CKKS slot rotation by k uses g = 5^k mod 2N (slot j receives slot j+k); conjugation g = 2N − 1.
 */
import { InvalidArgumentError } from '../errors.js';
import { fixCode } from '../fixes.js';
import { invMod } from './modulus.js';
import { bitReverse } from './ntt.js';
import type { Poly } from './poly.js';

/** Galois element of a left rotation by k slots (any integer k; slots = N/2). */
export function galoisElementForRotation(k: number, N: number): number {
  const slots = N / 2;
  const M = 2 * N;
  let e = ((k % slots) + slots) % slots;
  let g = 1;
  let b = 5;
  while (e > 0) {
    if (e & 1) g = (g * b) % M;
    b = (b * b) % M;
    e >>= 1;
  }
  return g;
}

/** Galois element of complex conjugation of the slots. */
export function galoisElementForConjugation(N: number): number {
  return 2 * N - 1;
}

/** g^−1 mod 2N for odd g. */
export function galoisInverse(g: number, N: number): number {
  return invMod(g, 2 * N);
}

/** Index table of σ_g in the bit-reversed NTT domain: out[i] = in[table[i]]. */
export function automorphismNTTIndex(N: number, g: number): Int32Array {
  if (g % 2 === 0) throw new InvalidArgumentError(`Galois element ${g} is even`, `use an odd Galois element, e.g. ${fixCode.galoisElement()} for a rotation by one slot`);
  const logN = Math.log2(N);
  const M = 2 * N;
  const mask = M - 1;
  const out = new Int32Array(N);
  for (let i = 0; i < N; i++) {
    const e = 2 * bitReverse(i, logN) + 1;
    const eg = (e * g) & mask; // e, g < 2N ≤ 2^17: the product is exact
    out[i] = bitReverse((eg - 1) >> 1, logN);
  }
  return out;
}

/** out = σ_g(a) in the NTT domain, first `limbs` limbs. `out` must not alias `a`. */
export function automorphismNTT(a: Poly, index: Int32Array, out: Poly, limbs: number): void {
  const N = a.N;
  const src = a.coeffs;
  const dst = out.coeffs;
  for (let l = 0; l < limbs; l++) {
    const o = l * N;
    for (let i = 0; i < N; i++) dst[o + i] = src[o + index[i]];
  }
}

/**
 * out = σ_g(a) on coefficients (not NTT), first `limbs` limbs, moduli given per limb.
 * `out` must not alias `a`. Reference implementation of the definition, used by tests and setup.
 */
export function automorphismCoeffs(a: Poly, g: number, moduli: ArrayLike<number>, out: Poly, limbs: number): void {
  const N = a.N;
  const M = 2 * N;
  for (let l = 0; l < limbs; l++) {
    const o = l * N;
    const p = moduli[l];
    for (let j = 0; j < N; j++) {
      const e = (j * g) % M;
      const x = a.coeffs[o + j];
      if (e < N) out.coeffs[o + e] = x;
      else out.coeffs[o + e - N] = x === 0 ? 0 : p - x;
    }
  }
}
