/** Shared test fixtures: small contexts with keys, random vectors, and a float64 plaintext model. */
import {
  CkksContext, Decryptor, Encoder, Encryptor, Evaluator, KeyGenerator, type ParametersLiteral, type SecretKey,
} from '../src/index.js';

export interface Kit {
  ctx: CkksContext;
  enc: Encoder;
  kg: KeyGenerator;
  sk: SecretKey;
  encr: Encryptor;
  skEncr: Encryptor;
  dec: Decryptor;
  ev: Evaluator;
  steps: number[];
}

/** A context with secret/public/relin keys and Galois keys for `steps` (+ conjugation). */
export function makeKit(lit: ParametersLiteral, steps: number[] = [1, 2, -1, 3, 7, 100]): Kit {
  const ctx = new CkksContext(lit);
  const enc = new Encoder(ctx);
  const kg = new KeyGenerator(ctx);
  const sk = kg.genSecretKey();
  const pk = kg.genPublicKey(sk);
  const relin = kg.genRelinKey(sk);
  const galois = kg.genGaloisKeys(sk, steps, { conjugate: true });
  return {
    ctx, enc, kg, sk, steps,
    encr: new Encryptor(ctx, pk), skEncr: new Encryptor(ctx, sk), dec: new Decryptor(ctx, sk),
    ev: new Evaluator(ctx, { relin, galois }),
  };
}

/** Deterministic pseudo-random reals in [lo, hi) (mulberry32), independent of the code under test. */
export function randomVector(n: number, seed: number, lo = -1, hi = 1): Float64Array {
  let s = seed >>> 0;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  }
  return out;
}

/** Lattigo's test floor for a single operation: log2Δ − (logN + 2) bits (mean). */
export function precisionFloor(logScale: number, logN: number): number {
  return logScale - (logN + 2);
}

/** b^e mod m in BigInt (independent reference for tests). */
export function bigPow(b: bigint, e: bigint, m: bigint): bigint {
  let r = 1n;
  b %= m;
  while (e > 0n) {
    if (e & 1n) r = (r * b) % m;
    b = (b * b) % m;
    e >>= 1n;
  }
  return r;
}
