/**
 * @module ckks/ciphertext
 * Plaintexts and ciphertexts: RNS polynomials in the NTT domain with their level and exact scale
 * (Lattigo `rlwe.MetaData`: the scale is tracked as a float64 per object, not assumed to be Δ).
 */
import type { Poly } from '../ring/poly.js';
import type { CkksContext } from './context.js';

/** An encoded message: one polynomial (NTT domain) at a level, with its scale. */
export class Plaintext {
  constructor(
    readonly ctx: CkksContext,
    readonly poly: Poly,
    public level: number,
    public scale: number,
  ) {}

  /** Number of Q limbs. */
  get limbs(): number {
    return this.poly.limbs;
  }
}

/**
 * A ciphertext (c0, c1[, c2]) in the NTT domain: decrypts to c0 + c1·s (+ c2·s²). Degree 2
 * ciphertexts come from `mul` before relinearization.
 */
export class Ciphertext {
  constructor(
    readonly ctx: CkksContext,
    readonly polys: Poly[],
    public level: number,
    public scale: number,
  ) {}

  /** 1 for a normal ciphertext, 2 after a multiplication without relinearization. */
  get degree(): number {
    return this.polys.length - 1;
  }

  /** Number of Q limbs. */
  get limbs(): number {
    return this.polys[0].limbs;
  }

  /** A deep copy (buffers trimmed to the active limbs). */
  clone(): Ciphertext {
    return new Ciphertext(this.ctx, this.polys.map((p) => p.clone()), this.level, this.scale);
  }

  /** Bytes held by the residues. */
  get byteLength(): number {
    return this.polys.reduce((s, p) => s + p.limbs * p.N * 4, 0);
  }
}
