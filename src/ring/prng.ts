/**
 * @module ring/prng
 * Randomness: the platform CSPRNG (`globalThis.crypto.getRandomValues`) for secrets and seeds, and
 * a ChaCha20 keystream (RFC 8439 §2.3) to expand a 32-byte seed into uniform polynomials, so a
 * key or a secret-key ciphertext can ship the seed instead of its uniform half (as SEAL does).
 */

/** A source of uniformly random 32-bit words. */
export interface RandomSource {
  /** Fills `out` with uniform 32-bit words. */
  fill(out: Uint32Array): void;
}

const MAX_GRV_BYTES = 65536;

/** The platform CSPRNG. Throws if `globalThis.crypto.getRandomValues` is missing. */
export const systemRandom: RandomSource = {
  fill(out: Uint32Array): void {
    const c = (globalThis as { crypto?: { getRandomValues?: (a: Uint32Array) => Uint32Array } }).crypto;
    if (!c || typeof c.getRandomValues !== 'function') {
      throw new Error('globalThis.crypto.getRandomValues is not available: Veil needs a platform CSPRNG (Node ≥ 20 or a browser)');
    }
    for (let o = 0; o < out.length; o += MAX_GRV_BYTES / 4) {
      c.getRandomValues(out.subarray(o, Math.min(out.length, o + MAX_GRV_BYTES / 4)));
    }
  },
};

/** 32 fresh random bytes from the platform CSPRNG. */
export function randomSeed(): Uint8Array {
  const w = new Uint32Array(8);
  systemRandom.fill(w);
  return new Uint8Array(w.buffer);
}

function rotl(x: number, n: number): number {
  return (x << n) | (x >>> (32 - n));
}

/** ChaCha20 block function: 16 output words from key (8 words), counter, nonce (3 words). */
function chachaBlock(key: Uint32Array, counter: number, nonce: Uint32Array, out: Uint32Array): void {
  const s0 = 0x61707865, s1 = 0x3320646e, s2 = 0x79622d32, s3 = 0x6b206574;
  let x0 = s0, x1 = s1, x2 = s2, x3 = s3;
  let x4 = key[0], x5 = key[1], x6 = key[2], x7 = key[3];
  let x8 = key[4], x9 = key[5], x10 = key[6], x11 = key[7];
  let x12 = counter | 0, x13 = nonce[0], x14 = nonce[1], x15 = nonce[2];
  for (let r = 0; r < 10; r++) {
    x0 = (x0 + x4) | 0; x12 = rotl(x12 ^ x0, 16); x8 = (x8 + x12) | 0; x4 = rotl(x4 ^ x8, 12);
    x0 = (x0 + x4) | 0; x12 = rotl(x12 ^ x0, 8); x8 = (x8 + x12) | 0; x4 = rotl(x4 ^ x8, 7);
    x1 = (x1 + x5) | 0; x13 = rotl(x13 ^ x1, 16); x9 = (x9 + x13) | 0; x5 = rotl(x5 ^ x9, 12);
    x1 = (x1 + x5) | 0; x13 = rotl(x13 ^ x1, 8); x9 = (x9 + x13) | 0; x5 = rotl(x5 ^ x9, 7);
    x2 = (x2 + x6) | 0; x14 = rotl(x14 ^ x2, 16); x10 = (x10 + x14) | 0; x6 = rotl(x6 ^ x10, 12);
    x2 = (x2 + x6) | 0; x14 = rotl(x14 ^ x2, 8); x10 = (x10 + x14) | 0; x6 = rotl(x6 ^ x10, 7);
    x3 = (x3 + x7) | 0; x15 = rotl(x15 ^ x3, 16); x11 = (x11 + x15) | 0; x7 = rotl(x7 ^ x11, 12);
    x3 = (x3 + x7) | 0; x15 = rotl(x15 ^ x3, 8); x11 = (x11 + x15) | 0; x7 = rotl(x7 ^ x11, 7);
    x0 = (x0 + x5) | 0; x15 = rotl(x15 ^ x0, 16); x10 = (x10 + x15) | 0; x5 = rotl(x5 ^ x10, 12);
    x0 = (x0 + x5) | 0; x15 = rotl(x15 ^ x0, 8); x10 = (x10 + x15) | 0; x5 = rotl(x5 ^ x10, 7);
    x1 = (x1 + x6) | 0; x12 = rotl(x12 ^ x1, 16); x11 = (x11 + x12) | 0; x6 = rotl(x6 ^ x11, 12);
    x1 = (x1 + x6) | 0; x12 = rotl(x12 ^ x1, 8); x11 = (x11 + x12) | 0; x6 = rotl(x6 ^ x11, 7);
    x2 = (x2 + x7) | 0; x13 = rotl(x13 ^ x2, 16); x8 = (x8 + x13) | 0; x7 = rotl(x7 ^ x8, 12);
    x2 = (x2 + x7) | 0; x13 = rotl(x13 ^ x2, 8); x8 = (x8 + x13) | 0; x7 = rotl(x7 ^ x8, 7);
    x3 = (x3 + x4) | 0; x14 = rotl(x14 ^ x3, 16); x9 = (x9 + x14) | 0; x4 = rotl(x4 ^ x9, 12);
    x3 = (x3 + x4) | 0; x14 = rotl(x14 ^ x3, 8); x9 = (x9 + x14) | 0; x4 = rotl(x4 ^ x9, 7);
  }
  out[0] = x0 + s0; out[1] = x1 + s1; out[2] = x2 + s2; out[3] = x3 + s3;
  out[4] = x4 + key[0]; out[5] = x5 + key[1]; out[6] = x6 + key[2]; out[7] = x7 + key[3];
  out[8] = x8 + key[4]; out[9] = x9 + key[5]; out[10] = x10 + key[6]; out[11] = x11 + key[7];
  out[12] = x12 + (counter | 0); out[13] = x13 + nonce[0]; out[14] = x14 + nonce[1]; out[15] = x15 + nonce[2];
}

/** Deterministic keystream: ChaCha20 under a 32-byte seed and a 12-byte nonce (domain separation). */
export class ChaCha20 implements RandomSource {
  private readonly key: Uint32Array;
  private readonly nonce: Uint32Array;
  private counter: number;
  private readonly block = new Uint32Array(16);
  private pos = 16;

  constructor(seed: Uint8Array, nonce: Uint8Array = new Uint8Array(12), counter = 0) {
    if (seed.length !== 32) throw new RangeError('ChaCha20 seed must be 32 bytes');
    if (nonce.length !== 12) throw new RangeError('ChaCha20 nonce must be 12 bytes');
    const dv = new DataView(seed.buffer, seed.byteOffset, 32);
    this.key = new Uint32Array(8);
    for (let i = 0; i < 8; i++) this.key[i] = dv.getUint32(4 * i, true);
    const nv = new DataView(nonce.buffer, nonce.byteOffset, 12);
    this.nonce = new Uint32Array([nv.getUint32(0, true), nv.getUint32(4, true), nv.getUint32(8, true)]);
    this.counter = counter;
  }

  fill(out: Uint32Array): void {
    for (let i = 0; i < out.length; i++) {
      if (this.pos === 16) {
        chachaBlock(this.key, this.counter, this.nonce, this.block);
        this.counter = (this.counter + 1) >>> 0;
        if (this.counter === 0) throw new RangeError('ChaCha20 counter exhausted');
        this.pos = 0;
      }
      out[i] = this.block[this.pos++];
    }
  }
}

/** A 12-byte nonce from a small integer tag (domain separation of streams under one seed). */
export function nonceFromTag(tag: number): Uint8Array {
  const n = new Uint8Array(12);
  new DataView(n.buffer).setUint32(0, tag >>> 0, true);
  new DataView(n.buffer).setUint32(4, Math.floor(tag / 2 ** 32) >>> 0, true);
  return n;
}
