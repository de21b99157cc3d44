/**
 * The degree-N NTT of m(X^R) is the degree-N/R NTT of m(Y) with ψ_N^R, each entry repeated R times
 * (bit-reversed order): the basis of periodic plaintexts. Checked against a BigInt-free schoolbook
 * evaluation at the 2N-th roots (independent of the NTT code).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bitReverse, makeNttTable, nttForward } from '../src/ring/ntt.js';
import { makeModulus, mulMod, powMod } from '../src/ring/modulus.js';
import { primesBelow } from '../src/ring/primes.js';

describe('NTT of polynomials in X^R', () => {
  it('equals the small NTT with ψ^R, entry i at i >> log2(R)', () => {
    fc.assert(fc.property(fc.constantFrom(64, 256, 1024), fc.constantFrom(2, 4, 8), fc.integer({ min: 1, max: 1e9 }), (N, R, seed) => {
      const p = primesBelow(30, N, 1)[0];
      const mod = makeModulus(p);
      const big = makeNttTable(mod, N);
      const small = makeNttTable(mod, N / R, powMod(big.root, R, p));
      const Ns = N / R;
      const m = new Int32Array(Ns);
      let s = seed;
      for (let i = 0; i < Ns; i++) m[i] = (s = (s * 1103515245 + 12345) % 2147483648) % p;
      const a = new Int32Array(N);
      for (let i = 0; i < Ns; i++) a[i * R] = m[i];
      // schoolbook: entry i of the forward NTT is m(ψ^(2·bitrev(i)+1)) (ntt.ts' contract)
      const e = 2 * bitReverse(5, Math.log2(N)) + 1;
      let ref = 0;
      for (let k = N - 1; k >= 0; k--) ref = (mulMod(ref, powMod(big.root, e, p), p, mod.pInv) + a[k]) % p;
      nttForward(a, 0, big);
      expect(a[5]).toBe(ref);
      const b = Int32Array.from(m);
      nttForward(b, 0, small);
      for (let i = 0; i < N; i++) expect(a[i]).toBe(b[i >> Math.log2(R)]);
    }), { numRuns: 20 });
  });
});
