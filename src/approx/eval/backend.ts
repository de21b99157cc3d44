/**
 * @module approx/eval/backend
 *
 * The arithmetic interface the polynomial evaluator (`evaluator.ts`) is written against, and the
 * coefficient helpers it needs. The CKKS engine implements {@link PolyBackend} over ciphertexts;
 * `counting.ts` implements it over float64 slot vectors and counts operations, so the same
 * evaluation code is tested in plaintext and deployed under encryption.
 *
 * Level model (CKKS style, as in digest §6 items 7–9): `level` counts levels LEFT. A ct×ct product
 * and a multiplication by a non-integer constant each consume one level (one rescale); additions,
 * constant additions and small-integer multiples consume none.
 */

import { ApproxError } from '../errors.js';

/** Coefficient: a real constant, or one value per slot (per-channel polynomials). */
export type Coef = number | Float64Array;

/**
 * What the polynomial evaluator needs from an arithmetic backend. `level` counts levels LEFT (CKKS
 * style): ct×ct products and multiplications by non-integer constants consume one level each.
 */
export interface PolyBackend<T> {
  /** Levels left on `x`. */
  level(x: T): number;
  /** Relinearised + rescaled product: level = min(level x, level y) − 1. */
  mul(x: T, y: T): T;
  /** Sum; operands may sit at different levels/scales (the backend aligns them); no level consumed. */
  add(x: T, y: T): T;
  /** Difference; levels/scales aligned by the backend; no level consumed. */
  sub(x: T, y: T): T;
  /** x + c; no level consumed. */
  addConst(x: T, c: Coef): T;
  /**
   * Small integer multiple k·x; no level consumed. k may be 0 (the evaluator builds constant
   * results as 0·x + c), negative, or up to 2^20 in magnitude (an integer input-map scale).
   */
  mulInt(x: T, k: number): T;
  /**
   * Σ cs[i]·xs[i] + c0 in one rescale: level = min(level xs[i]) − 1, ALWAYS (also when a
   * coefficient happens to be 1: the cost model counts on it). Coefficients that are exactly 0 are
   * skipped. The evaluator never passes an empty list; a per-slot coefficient may be 0 in some slots.
   */
  linear(xs: T[], cs: Coef[], c0: Coef): T;
}

/** True when every entry of `c` is exactly 0. */
export function coefIsZero(c: Coef): boolean {
  if (typeof c === 'number') return c === 0;
  for (let i = 0; i < c.length; i++) if (c[i] !== 0) return false;
  return true;
}

/** True when `c` is the same integer in every slot (so `mulInt` can replace a level-consuming product). */
export function coefIsInteger(c: Coef): boolean {
  if (typeof c === 'number') return Number.isInteger(c) && Math.abs(c) <= 2 ** 20;
  if (c.length === 0) return false;
  const v = c[0]!;
  if (!Number.isInteger(v) || Math.abs(v) > 2 ** 20) return false;
  for (let i = 1; i < c.length; i++) if (c[i] !== v) return false;
  return true;
}

/** The integer value of a coefficient that passed {@link coefIsInteger}. */
export function coefIntValue(c: Coef): number {
  return typeof c === 'number' ? c : c[0]!;
}

/** True when every entry equals `v`. */
export function coefEquals(c: Coef, v: number): boolean {
  if (typeof c === 'number') return c === v;
  for (let i = 0; i < c.length; i++) if (c[i] !== v) return false;
  return c.length > 0;
}

function sameLength(a: Float64Array, b: Float64Array): void {
  if (a.length !== b.length) {
    throw new ApproxError(`per-slot coefficient vectors have different lengths (${a.length} vs ${b.length})`, `give every Float64Array coefficient one entry per slot`);
  }
}

/** a + b (scalar or per slot). */
export function coefAdd(a: Coef, b: Coef): Coef {
  if (typeof a === 'number' && typeof b === 'number') return a + b;
  if (typeof a === 'number') return coefAdd(b, a);
  const out = new Float64Array(a.length);
  if (typeof b === 'number') {
    for (let i = 0; i < a.length; i++) out[i] = a[i]! + b;
  } else {
    sameLength(a, b);
    for (let i = 0; i < a.length; i++) out[i] = a[i]! + b[i]!;
  }
  return out;
}

/** a − b (scalar or per slot). */
export function coefSub(a: Coef, b: Coef): Coef {
  return coefAdd(a, coefScale(b, -1));
}

/** k·a for a real k (scalar or per slot). */
export function coefScale(a: Coef, k: number): Coef {
  if (typeof a === 'number') return a * k;
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! * k;
  return out;
}

/** a·b (scalar or per slot). */
export function coefMul(a: Coef, b: Coef): Coef {
  if (typeof a === 'number' && typeof b === 'number') return a * b;
  if (typeof a === 'number') return coefScale(b as Float64Array, a);
  if (typeof b === 'number') return coefScale(a, b);
  sameLength(a, b);
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! * b[i]!;
  return out;
}
