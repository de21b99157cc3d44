/**
 * Galois automorphisms against their definition, samplers' distributions, ChaCha20 against
 * node:crypto's implementation (an independent reference).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createCipheriv } from 'node:crypto';
import {
  automorphismCoeffs, automorphismNTT, automorphismNTTIndex, galoisElementForConjugation, galoisElementForRotation, galoisInverse,
} from '../src/ring/automorphism.js';
import { InvalidArgumentError } from '../src/errors.js';
import { makeModulus } from '../src/ring/modulus.js';
import { makeNttTable, nttForward } from '../src/ring/ntt.js';
import { Poly } from '../src/ring/poly.js';
import { primesBelow } from '../src/ring/primes.js';
import { ChaCha20, systemRandom } from '../src/ring/prng.js';
import { CDT31, GAUSSIAN_BOUND, SIGMA, sampleGaussian, sampleTernary, sampleTernaryHamming, sampleUniform } from '../src/ring/sampler.js';
import { bigPow } from './helpers.js';

const B = BigInt;

describe('Galois automorphisms', () => {
  const N = 32;
  const p = primesBelow(30, 1024, 1)[0];
  const T = makeNttTable(makeModulus(p), N);
  const polyArb = fc.array(fc.nat({ max: p - 1 }), { minLength: N, maxLength: N });
  const gArb = fc.integer({ min: 0, max: N - 1 }).map((k) => 2 * k + 1);

  it('coefficient form matches the definition a(X^g) by evaluation at every 2N-th root', () => {
    fc.assert(fc.property(polyArb, gArb, (a, g) => {
      const x = new Poly(N, 1, Int32Array.from(a));
      const y = new Poly(N, 1);
      automorphismCoeffs(x, g, [p], y, 1);
      const P = B(p);
      for (let e = 1; e < 2 * N; e += 2) {
        let lhs = 0n;
        let rhs = 0n;
        for (let k = 0; k < N; k++) {
          lhs += B(y.coeffs[k]) * bigPow(B(T.root), B(e * k), P);
          rhs += B(a[k]) * bigPow(B(T.root), B(((e * g) % (2 * N)) * k), P);
        }
        expect(lhs % P).toBe(rhs % P);
      }
    }), { numRuns: 15 });
  });

  it('the NTT-domain index map commutes with the NTT', () => {
    fc.assert(fc.property(polyArb, gArb, (a, g) => {
      const x = new Poly(N, 1, Int32Array.from(a));
      const y = new Poly(N, 1);
      automorphismCoeffs(x, g, [p], y, 1);
      nttForward(y.coeffs, 0, T);
      const xn = new Poly(N, 1, Int32Array.from(a));
      nttForward(xn.coeffs, 0, T);
      const z = new Poly(N, 1);
      automorphismNTT(xn, automorphismNTTIndex(N, g), z, 1);
      expect(Array.from(z.coeffs)).toEqual(Array.from(y.coeffs));
    }), { numRuns: 50 });
  });

  it('σ_g∘σ_h = σ_{gh}, rotation elements compose, conjugation has order 2', () => {
    const M = 2 * N;
    fc.assert(fc.property(fc.integer({ min: -100, max: 100 }), fc.integer({ min: -100, max: 100 }), (k1, k2) => {
      const g1 = galoisElementForRotation(k1, N);
      const g2 = galoisElementForRotation(k2, N);
      expect((g1 * g2) % M).toBe(galoisElementForRotation(k1 + k2, N));
      expect((g1 * galoisInverse(g1, N)) % M).toBe(1);
    }));
    expect(galoisElementForRotation(N / 2, N)).toBe(1);
    const c = galoisElementForConjugation(N);
    expect((c * c) % M).toBe(1);
  });
});

describe('randomness', () => {
  it('ChaCha20 keystream equals node:crypto (RFC 8439 block function)', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 12, maxLength: 12 }), fc.nat({ max: 1000 }), (key, nonce, counter) => {
      const words = new Uint32Array(48);
      new ChaCha20(key, nonce, counter).fill(words);
      const iv = new Uint8Array(16);
      new DataView(iv.buffer).setUint32(0, counter, true);
      iv.set(nonce, 4);
      const ks = createCipheriv('chacha20', key, iv).update(new Uint8Array(192));
      expect(Buffer.from(words.buffer).equals(ks)).toBe(true);
    }), { numRuns: 30 });
  });

  it('RFC 8439 §2.3.2 test vector', () => {
    const key = Uint8Array.from({ length: 32 }, (_, i) => i);
    const nonce = Uint8Array.from([0, 0, 0, 9, 0, 0, 0, 0x4a, 0, 0, 0, 0]);
    const w = new Uint32Array(16);
    new ChaCha20(key, nonce, 1).fill(w);
    expect(Buffer.from(w.buffer).toString('hex').slice(0, 32)).toBe('10f1e7e4d13b5915500fdd1fa32071c4');
  });

  it('Gaussian sampler: |x| = number of thresholds ≤ u, exact at every threshold edge (vs a linear scan)', () => {
    // words at u = T[k] − 1, T[k], T[k] + 1 for every threshold, both signs, plus random words
    const words: number[] = [];
    for (let k = 0; k < CDT31.length - 1; k++) {
      for (const d of [-1, 0, 1]) for (const sign of [0, 1]) words.push((((CDT31[k] + d) * 2) + sign) >>> 0);
    }
    for (let i = 0; i < 4000; i++) words.push((Math.random() * 2 ** 32) >>> 0);
    const N = words.length;
    const src = { fill: (out: Uint32Array) => { out.set(words.slice(0, out.length)); } };
    const got = sampleGaussian(src, N);
    words.forEach((w, i) => {
      const u = w >>> 1;
      let x = 0;
      while (u >= CDT31[x]) x++;
      expect(got[i]).toBe(w & 1 ? -x | 0 : x);
    });
  });

  it('seeded uniform polynomials: the ChaCha20 skip path equals the chunked reference, stream position included', () => {
    // reference: each limb draws whole N-word chunks until it has N words below p (the seed format)
    const reference = (rng: ChaCha20, ps: number[], bits: number[], N: number): Int32Array => {
      const out = new Int32Array(ps.length * N);
      const buf = new Uint32Array(N);
      ps.forEach((p, l) => {
        let filled = 0;
        while (filled < N) {
          rng.fill(buf);
          for (let i = 0; i < N && filled < N; i++) {
            const x = buf[i] % 2 ** bits[l]; // the low bits, as a mask would take them
            if (x < p) out[l * N + filled++] = x;
          }
        }
      });
      return out;
    };
    // 30-bit primes just below 2^30 (about 2 rejections per limb: a second chunk nearly always),
    // and odd moduli at 0.6·2^20 (40% rejected: the second chunk is read several pieces deep)
    const sets = [primesBelow(30, 1 << 12, 3), [629_145, 629_147]];
    fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.constantFrom(0, 1), fc.constantFrom(1024, 4096), (seed, which, N) => {
      const ms = sets[which].map((p) => makeModulus(p));
      const want = reference(new ChaCha20(seed), ms.map((m) => m.p), ms.map((m) => m.bits), N);
      const rng = new ChaCha20(seed);
      const got = new Poly(N, ms.length);
      sampleUniform(rng, ms, got, ms.length);
      expect(Array.from(got.coeffs)).toEqual(Array.from(want));
      // both streams continue from the same word
      const ref = new ChaCha20(seed);
      reference(ref, ms.map((m) => m.p), ms.map((m) => m.bits), N);
      const a = new Uint32Array(20);
      const b = new Uint32Array(20);
      rng.fill(a);
      ref.fill(b);
      expect(Array.from(a)).toEqual(Array.from(b));
    }), { numRuns: 12 });
    expect(() => new ChaCha20(new Uint8Array(32)).skipBlocks(-1)).toThrow(InvalidArgumentError);
    const r = new ChaCha20(new Uint8Array(32));
    r.fill(new Uint32Array(3));
    expect(() => r.skipBlocks(1)).toThrow(/not block-aligned/);
  });

  it('uniform residues are in range and roughly uniform', () => {
    const N = 1 << 14;
    const m = makeModulus(primesBelow(30, N, 1)[0]);
    const x = new Poly(N, 1);
    sampleUniform(systemRandom, [m], x, 1);
    let s = 0;
    for (const v of x.coeffs) {
      expect(v >= 0 && v < m.p).toBe(true);
      s += v / m.p;
    }
    expect(Math.abs(s / N - 0.5)).toBeLessThan(0.02); // std of the mean ≈ 0.0023
  });

  it('ternary secrets: uniform {−1,0,1}; fixed Hamming weight exact', () => {
    const N = 1 << 15;
    const s = sampleTernary(systemRandom, N);
    const counts = [0, 0, 0];
    for (const v of s) counts[v + 1]++;
    for (const c of counts) expect(Math.abs(c / N - 1 / 3)).toBeLessThan(0.015);
    const h = sampleTernaryHamming(systemRandom, 4096, 192);
    expect(h.reduce((a, v) => a + (v !== 0 ? 1 : 0), 0)).toBe(192);
    expect(Array.from(h).every((v) => v >= -1 && v <= 1)).toBe(true);
  });

  it('discrete Gaussian: bounded by 6σ, mean ≈ 0, std ≈ 3.2', () => {
    const N = 1 << 16;
    const e = sampleGaussian(systemRandom, N);
    let s = 0;
    let s2 = 0;
    for (const v of e) {
      expect(Math.abs(v)).toBeLessThanOrEqual(GAUSSIAN_BOUND);
      s += v;
      s2 += v * v;
    }
    const mean = s / N;
    const std = Math.sqrt(s2 / N - mean * mean);
    expect(Math.abs(mean)).toBeLessThan(0.06); // std of the mean ≈ 0.0125
    expect(Math.abs(std - SIGMA) / SIGMA).toBeLessThan(0.03);
  });
});
