/**
 * Word arithmetic, primes, NTT and basis conversion checked against BigInt references.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { addMod, invMod, makeModulus, mulMod, mulShoup, mulShoupLazy, powMod, reduceFloat, shoup, subMod } from '../src/ring/modulus.js';
import { isPrime, primesBelow, primesNear, primitive2NthRoot } from '../src/ring/primes.js';
import { bitReverse, makeNttTable, nttForward, nttForwardLazy, nttInverse, nttInverseLazy, nttInverseScaled } from '../src/ring/ntt.js';
import { combineAdd, combinePlain, combineRescale, innerProduct } from '../src/ckks/keyswitch/kernels.js';
import { BasisConverter } from '../src/ring/basis.js';
import { addVec, subVec } from '../src/ring/ring.js';
import { GarnerTable } from '../src/ring/crt.js';
import { bigPow } from './helpers.js';

const B = BigInt;
const N_SMALL = 64;
// NTT-friendly primes for N up to 2^16 of several sizes, from the generator (checked below).
const P30 = primesBelow(30, 1 << 16, 3);
const P25 = primesBelow(25, 1 << 12, 2);
const PRIMES = [...P30, ...P25, 7681, 12289];


describe('modular arithmetic (vs BigInt)', () => {
  it('mulMod, addMod, subMod are exact for every prime', () => {
    fc.assert(fc.property(fc.constantFrom(...PRIMES), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (p, x, y) => {
      const a = Math.min(p - 1, Math.floor(x * p));
      const b = Math.min(p - 1, Math.floor(y * p));
      const m = makeModulus(p);
      expect(mulMod(a, b, p, m.pInv)).toBe(Number((B(a) * B(b)) % B(p)));
      expect(addMod(a, b, p)).toBe((a + b) % p);
      expect(subMod(a, b, p)).toBe((((a - b) % p) + p) % p);
    }), { numRuns: 2000 });
  });

  it('Shoup products: lazy in [0, 2p) and congruent; strict in [0, p); inputs up to 2^31', () => {
    fc.assert(fc.property(fc.constantFrom(...PRIMES), fc.nat({ max: 2 ** 31 - 1 }), fc.double({ min: 0, max: 1, noNaN: true }), (p, a, y) => {
      const w = Math.min(p - 1, Math.floor(y * p));
      const wf = shoup(w, p);
      const want = Number((B(a) * B(w)) % B(p));
      const lazy = mulShoupLazy(a, w, wf, p);
      expect(lazy).toBeGreaterThanOrEqual(0);
      expect(lazy).toBeLessThan(2 * p);
      expect(lazy % p).toBe(want);
      if (a < 2 * p) expect(mulShoup(a, w, wf, p)).toBe(want);
    }), { numRuns: 2000 });
  });

  it('addVec, subVec on any range [s, e) (unrolled body and remainder), aliasing out = a', () => {
    const len = 80;
    const arr = (p: number) => fc.array(fc.nat({ max: p - 1 }), { minLength: len, maxLength: len });
    fc.assert(fc.property(fc.constantFrom(...PRIMES).chain((p) => fc.tuple(fc.constant(p), arr(p), arr(p), fc.nat({ max: len }), fc.nat({ max: len }))), ([p, xs, ys, u, w]) => {
      const s = Math.min(u, w);
      const e = Math.max(u, w);
      const a = Int32Array.from(xs);
      const b = Int32Array.from(ys);
      const sum = new Int32Array(len).fill(-1);
      const diff = a.slice();
      addVec(a, b, sum, s, e, p);
      subVec(diff, b, diff, s, e, p);
      for (let i = 0; i < len; i++) {
        const inside = i >= s && i < e;
        expect(sum[i]).toBe(inside ? (xs[i] + ys[i]) % p : -1);
        expect(diff[i]).toBe(inside ? (((xs[i] - ys[i]) % p) + p) % p : xs[i]);
      }
    }), { numRuns: 300 });
  });

  it('powMod and invMod', () => {
    fc.assert(fc.property(fc.constantFrom(...PRIMES), fc.nat({ max: 2 ** 30 }), fc.nat({ max: 2 ** 40 }), (p, a, e) => {
      expect(powMod(a, e, p)).toBe(Number(bigPow(B(a), B(e), B(p))));
      if (a % p !== 0) expect(Number((B(invMod(a, p)) * B(a)) % B(p))).toBe(1);
    }));
  });

  it('reduceFloat is exact for integer-valued doubles of any magnitude', () => {
    fc.assert(fc.property(fc.constantFrom(...PRIMES), fc.double({ min: -(2 ** 120), max: 2 ** 120, noNaN: true }), (p, x) => {
      const v = Math.round(x);
      const want = ((B(v) % B(p)) + B(p)) % B(p);
      expect(reduceFloat(v, p)).toBe(Number(want));
    }), { numRuns: 2000 });
  });
});

describe('NTT-friendly primes', () => {
  it('isPrime agrees with trial division', () => {
    const trial = (n: number) => {
      if (n < 2) return false;
      for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
      return true;
    };
    fc.assert(fc.property(fc.nat({ max: 2 ** 22 }), (n) => {
      expect(isPrime(n)).toBe(trial(n));
    }), { numRuns: 3000 });
    // a few large cases (Carmichael numbers and known primes)
    for (const n of [561, 41041, 825265, 321197185, 1073479681, 1073741789]) expect(isPrime(n)).toBe(trial(n));
  });

  it('generated primes are distinct, prime, below 2^30 and ≡ 1 mod 2N; deterministic', () => {
    for (const logN of [12, 14, 16]) {
      const N = 1 << logN;
      const ps = primesBelow(30, N, 20);
      const near = primesNear(2 ** 29.5, N, 20, new Set(ps));
      for (const p of [...ps, ...near]) {
        expect(p).toBeLessThan(2 ** 30);
        expect((p - 1) % (2 * N)).toBe(0);
        expect(isPrime(p)).toBe(true);
      }
      expect(new Set([...ps, ...near]).size).toBe(40);
      expect(primesBelow(30, N, 20)).toEqual(ps);
    }
  });

  it('ψ is a primitive 2N-th root', () => {
    for (const p of P30) {
      const N = 1 << 16;
      const psi = primitive2NthRoot(p, N);
      expect(bigPow(B(psi), B(N), B(p))).toBe(B(p - 1));
    }
  });
});

/** Schoolbook negacyclic product in BigInt. */
function negacyclicBig(a: ArrayLike<number>, b: ArrayLike<number>, p: number): number[] {
  const N = a.length;
  const out = new Array<bigint>(N).fill(0n);
  const P = B(p);
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < N; j++) {
      const k = i + j;
      const prod = B(a[i]) * B(b[j]);
      if (k < N) out[k] += prod;
      else out[k - N] -= prod;
    }
  }
  return out.map((x) => Number(((x % P) + P) % P));
}

const randPoly = (N: number, p: number) => fc.array(fc.nat({ max: p - 1 }), { minLength: N, maxLength: N }).map((x) => Int32Array.from(x));

describe('negacyclic NTT', () => {
  it('inverse ∘ forward is the identity (several N and primes)', () => {
    for (const logN of [3, 4, 5, 8, 9, 12, 13]) {
      const N = 1 << logN;
      for (const p of [P30[0], P25[0]]) {
        const T = makeNttTable(makeModulus(p), N);
        fc.assert(fc.property(randPoly(N, p), (a) => {
          const x = a.slice();
          nttForward(x, 0, T);
          for (const v of x) expect(v >= 0 && v < p).toBe(true);
          nttInverse(x, 0, T);
          expect(Array.from(x)).toEqual(Array.from(a));
        }), { numRuns: logN > 8 ? 5 : 30 });
      }
    }
  });

  it('forward output i is the evaluation at ψ^(2·bitrev(i)+1) (BigInt), odd and even log N', () => {
    for (const logN of [3, 4, 5, 6, 7]) {
    const N = 1 << logN;
    const p = P30[1];
    const T = makeNttTable(makeModulus(p), N);
    fc.assert(fc.property(randPoly(N, p), (a) => {
      const x = a.slice();
      nttForward(x, 0, T);
      for (let i = 0; i < N; i++) {
        const e = B(2 * bitReverse(i, logN) + 1);
        let acc = 0n;
        for (let k = 0; k < N; k++) acc += B(a[k]) * bigPow(B(T.root), e * B(k), B(p));
        expect(x[i]).toBe(Number(acc % B(p)));
      }
    }), { numRuns: 10 });
    }
  });

  it('pointwise product in the NTT domain equals the BigInt schoolbook negacyclic product', () => {
    for (const p of [P30[0], P25[1], 12289]) {
      const T = makeNttTable(makeModulus(p), N_SMALL);
      const m = makeModulus(p);
      fc.assert(fc.property(randPoly(N_SMALL, p), randPoly(N_SMALL, p), (a, b) => {
        const x = a.slice();
        const y = b.slice();
        nttForward(x, 0, T);
        nttForward(y, 0, T);
        for (let i = 0; i < N_SMALL; i++) x[i] = mulMod(x[i], y[i], p, m.pInv);
        nttInverse(x, 0, T);
        expect(Array.from(x)).toEqual(negacyclicBig(a, b, p));
      }), { numRuns: 20 });
    }
  });

  it('extreme inputs (all p−1, all 2p−1) and the lazy variants ([0, 2p) out, congruent), odd and even log N', () => {
    for (const logN of [3, 6, 11, 14]) {
      const N = 1 << logN;
      for (const p of logN > 12 ? [P30[0]] : [P30[0], P25[0]]) {
        const T = makeNttTable(makeModulus(p), N);
        fc.assert(fc.property(randPoly(N, p), fc.constantFrom(0, 1, 2), (a, kind) => {
          const x = kind === 0 ? a.slice() : a.map(() => (kind === 1 ? p - 1 : 2 * p - 1));
          const ref = x.map((v) => v % p);
          const s = x.slice();
          nttForward(s, 0, T);
          const l = x.slice();
          nttForwardLazy(l, 0, T);
          for (let i = 0; i < N; i++) {
            expect(s[i] >= 0 && s[i] < p).toBe(true);
            expect(l[i] >= 0 && l[i] < 2 * p).toBe(true);
            expect(l[i] % p).toBe(s[i]);
          }
          // inverse from lazy [0, 2p) inputs
          const li = l.slice();
          nttInverseLazy(li, 0, T);
          nttInverse(l, 0, T);
          for (let i = 0; i < N; i++) {
            expect(li[i] >= 0 && li[i] < 2 * p).toBe(true);
            expect(li[i] % p).toBe(ref[i]);
            expect(l[i]).toBe(ref[i]);
          }
        }), { numRuns: logN > 10 ? 3 : 15 });
      }
    }
  });

  it('nttInverseScaled(a, c) = c·INTT(a) mod p', () => {
    for (const logN of [3, 8]) {
      const N = 1 << logN;
      const p = P30[1];
      const T = makeNttTable(makeModulus(p), N);
      const m = makeModulus(p);
      fc.assert(fc.property(randPoly(N, p), fc.nat({ max: p - 1 }), (a, c) => {
        const x = a.slice();
        const y = a.slice();
        nttInverse(x, 0, T);
        nttInverseScaled(y, 0, T, c);
        for (let i = 0; i < N; i++) expect(y[i]).toBe(mulMod(x[i], c, p, m.pInv));
      }), { numRuns: 20 });
    }
  });

  it('accepts lazy inputs in [0, 2p)', () => {
    const N = 256;
    const p = P30[2];
    const T = makeNttTable(makeModulus(p), N);
    fc.assert(fc.property(randPoly(N, p), fc.array(fc.boolean(), { minLength: N, maxLength: N }), (a, lift) => {
      const x = a.slice();
      const y = a.map((v, i) => (lift[i] ? v + p : v));
      nttForward(x, 0, T);
      nttForward(y, 0, T);
      expect(Array.from(y)).toEqual(Array.from(x));
    }), { numRuns: 20 });
  });
});

describe('basis conversion and CRT reconstruction (vs BigInt CRT)', () => {
  const N = 8;
  const sources = primesBelow(30, 1 << 16, 13).map(makeModulus);
  const to = [...P25, 12289, 7681, ...P30.slice(0, 1)].map(makeModulus);
  for (const k of [1, 2, 3, 4, 5, 8, 9, 13]) {
    const from = sources.slice(0, k);
    const A = from.reduce((s, m) => s * B(m.p), 1n);
    const conv = new BasisConverter(N, from, to);
    const bigArb = fc.array(fc.bigInt({ min: 0n, max: A - 1n }), { minLength: N, maxLength: N });
    it(`converts exactly to the centred representative (${k} source primes)`, () => {
      fc.assert(fc.property(bigArb, (xs) => {
        const src = new Int32Array(N * from.length);
        from.forEach((m, i) => xs.forEach((x, n) => { src[i * N + n] = Number(x % B(m.p)); }));
        const outs = to.map(() => new Int32Array(N));
        conv.convert(src, from.map((_, i) => i * N), to.map((_, j) => j), outs, to.map(() => 0));
        to.forEach((m, j) => xs.forEach((x, n) => {
          const v = x >= A / 2n ? x - A : x;
          const want = Number(((v % B(m.p)) + B(m.p)) % B(m.p));
          expect(outs[j][n]).toBe(want);
        }));
        // the lazy step 3 gives the same residue in [0, 2b) (y and v recomputed by hand: step 1, 2)
        const y = new Int32Array(k * N);
        for (let i = 0; i < k; i++) conv.computeY(src, i * N, i, y, 0);
        const v = new Int32Array(N);
        conv.computeV(y, 0, v, 0);
        to.forEach((m, j) => {
          const lazy = new Int32Array(N);
          conv.convertToLazy(y, 0, v, 0, j, lazy, 0);
          lazy.forEach((r, n) => {
            expect(r).toBeGreaterThanOrEqual(0);
            expect(r).toBeLessThan(2 * m.p);
            expect(r % m.p).toBe(outs[j][n]);
          });
        });

        // two targets in one pass: the same lazy residues as one target at a time
        for (let j = 0; j + 1 < to.length; j++) {
          const pair = new Int32Array(3 * N).fill(-1);
          conv.convertToLazyPair(y, 0, v, 0, j, pair, 0, j + 1, pair, 2 * N);
          for (const [jj, off] of [[j, 0], [j + 1, 2 * N]] as const) {
            for (let n = 0; n < N; n++) {
              const r = pair[off + n];
              expect(r >= 0 && r < 2 * to[jj].p).toBe(true);
              expect(r % to[jj].p).toBe(outs[jj][n]);
            }
          }
          expect(pair.subarray(N, 2 * N).every((r) => r === -1)).toBe(true);
        }
        // step 3 on a sub-range [1, N − 2) writes only there (unrolled body and remainder)
        to.forEach((_, j) => {
          const part = new Int32Array(N).fill(-1);
          conv.convertTo(y, 0, v, 0, j, part, 0, 1, N - 2);
          part.forEach((r, n) => expect(r).toBe(n >= 1 && n < N - 2 ? outs[j][n] : -1));
          const vPart = new Int32Array(N).fill(-1);
          conv.computeV(y, 0, vPart, 0, 1, N - 2);
          vPart.forEach((r, n) => expect(r).toBe(n >= 1 && n < N - 2 ? v[n] : -1));
        });
      }), { numRuns: 60 });
    });
  }

  it('Garner reconstruction gives the centred value to 2^-50 relative', () => {
    const moduli = P30.slice(0, 3).map(makeModulus);
    const Q = moduli.reduce((s, m) => s * B(m.p), 1n);
    const g = new GarnerTable(moduli);
    fc.assert(fc.property(fc.array(fc.bigInt({ min: -(Q / 2n) + 1n, max: Q / 2n - 1n }), { minLength: N, maxLength: N }), (xs) => {
      const src = new Int32Array(N * 3);
      moduli.forEach((m, i) => xs.forEach((x, n) => { src[i * N + n] = Number(((x % B(m.p)) + B(m.p)) % B(m.p)); }));
      const out = new Float64Array(N);
      g.reconstruct(src, N, out, new Int32Array(3 * N));
      xs.forEach((x, n) => {
        const want = Number(x);
        expect(Math.abs(out[n] - want)).toBeLessThanOrEqual(Math.abs(want) * 2 ** -50 + 1e-9);
      });
    }), { numRuns: 200 });
  });
});

describe('key-switching kernels (vs BigInt)', () => {
  const N = 16;
  const p = P30[0];
  const m = makeModulus(p);
  const lazy = fc.array(fc.nat({ max: 2 * p - 1 }), { minLength: N, maxLength: N });
  const strict = fc.array(fc.nat({ max: p - 1 }), { minLength: N, maxLength: N });
  const mod = (x: bigint) => Number(((x % B(p)) + B(p)) % B(p));

  for (const dnum of [1, 2, 3, 4, 5]) {
    it(`inner product over ${dnum} digit(s): lazy x, reduced output`, () => {
      fc.assert(fc.property(fc.array(fc.tuple(lazy, strict, strict), { minLength: dnum, maxLength: dnum }), (digits) => {
        const S = 2; // two slots per digit; slot 1 is used
        const step = S * N;
        const ext = new Int32Array(dnum * step);
        const kb = new Int32Array(dnum * step);
        const ka = new Int32Array(dnum * step);
        digits.forEach(([x, b, a], j) => {
          ext.set(x, j * step + N);
          kb.set(b, j * step + N);
          ka.set(a, j * step + N);
        });
        const acc = new Int32Array(2 * step);
        innerProduct(ext, kb, ka, acc, N, step, dnum, N, p, m.pInv);
        for (let n = 0; n < N; n++) {
          let s0 = 0n;
          let s1 = 0n;
          for (const [x, b, a] of digits) {
            s0 += B(x[n]) * B(b[n]);
            s1 += B(x[n]) * B(a[n]);
          }
          expect(acc[N + n]).toBe(mod(s0));
          expect(acc[step + N + n]).toBe(mod(s1));
        }
      }), { numRuns: 40 });
    });
  }

  it('ModDown combinations: x + (u − t)·c, (u − t)·c, x·v + (u − t)·c with lazy t', () => {
    fc.assert(fc.property(strict, strict, lazy, fc.nat({ max: p - 1 }), fc.nat({ max: p - 1 }), (x, u, t, c, v) => {
      const X = Int32Array.from(x);
      const U = Int32Array.from(u);
      const Tt = Int32Array.from(t);
      const o1 = new Int32Array(N);
      const o2 = new Int32Array(N);
      const o3 = new Int32Array(N);
      combineAdd(X, 0, U, 0, Tt, c, shoup(c, p), o1, 0, N, p);
      combinePlain(U, 0, Tt, c, shoup(c, p), o2, 0, N, p);
      combineRescale(X, 0, v, shoup(v, p), U, 0, Tt, c, shoup(c, p), o3, 0, N, p);
      for (let n = 0; n < N; n++) {
        const d = B(u[n]) - B(t[n]);
        expect(o1[n]).toBe(mod(B(x[n]) + d * B(c)));
        expect(o2[n]).toBe(mod(d * B(c)));
        expect(o3[n]).toBe(mod(B(x[n]) * B(v) + d * B(c)));
      }
    }), { numRuns: 300 });
  });
});
