/**
 * @module ring/poly
 * RNS polynomials stored limb-major in one Int32Array (Lattigo `ring.Poly`, one buffer instead of
 * one slice per limb): limb i occupies coeffs[i·N, (i+1)·N). Dropping limbs is O(1) (`limbs` shrinks,
 * the buffer stays), and a polynomial crosses to a worker or to bytes as one buffer.
 */
import { InvalidArgumentError } from '../errors.js';

/**
 * A zeroed Int32Array of n entries, on a SharedArrayBuffer when `shared` (so that pool workers see
 * the same memory; see `ckks/pool/pool.ts`).
 */
export function allocInt32(n: number, shared = false): Int32Array {
  return shared ? new Int32Array(new SharedArrayBuffer(4 * n)) : new Int32Array(n);
}

/** True when the array lives in a SharedArrayBuffer. */
export function isShared(a: ArrayBufferView): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && a.buffer instanceof SharedArrayBuffer;
}

/** An RNS polynomial of degree < N with `limbs` active residue vectors, each in [0, p_i). */
export class Poly {
  /** Residues, limb-major; capacity ≥ limbs·N. */
  readonly coeffs: Int32Array;
  /** Ring degree. */
  readonly N: number;
  /** Number of active limbs. */
  limbs: number;

  constructor(N: number, limbs: number, coeffs?: Int32Array) {
    this.N = N;
    this.limbs = limbs;
    this.coeffs = coeffs ?? new Int32Array(N * limbs);
    if (this.coeffs.length < N * limbs) throw new InvalidArgumentError(`Poly: buffer of ${this.coeffs.length} residues is smaller than limbs·N = ${N * limbs}`, 'pass a buffer of at least limbs·N residues');
  }

  /**
   * Replaces the backing array (same contents expected): used to move a polynomial into a packed
   * or shared buffer once (`SwitchingKey.packed`, `WorkerPool.adopt`).
   */
  rebind(coeffs: Int32Array): this {
    if (coeffs.length < this.N * this.limbs) throw new InvalidArgumentError(`Poly.rebind: buffer of ${coeffs.length} residues is smaller than limbs·N = ${this.N * this.limbs}`, 'pass a buffer of at least limbs·N residues');
    (this as { coeffs: Int32Array }).coeffs = coeffs;
    return this;
  }

  /** Limb i as a view (no copy). */
  limb(i: number): Int32Array {
    return this.coeffs.subarray(i * this.N, (i + 1) * this.N);
  }

  /** A deep copy with the same active limbs (capacity trimmed to them). */
  clone(): Poly {
    return new Poly(this.N, this.limbs, this.coeffs.slice(0, this.limbs * this.N));
  }

  /** Copies the first `limbs` limbs of src into this polynomial and sets its limb count. */
  copyFrom(src: Poly, limbs = src.limbs): this {
    this.coeffs.set(src.coeffs.subarray(0, limbs * this.N));
    this.limbs = limbs;
    return this;
  }

  /** Sets the first `limbs` limbs to zero. */
  zero(limbs = this.limbs): this {
    this.coeffs.fill(0, 0, limbs * this.N);
    return this;
  }
}
