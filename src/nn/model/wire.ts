/**
 * @module nn/model/wire
 *
 * What the client and the server check of each other's bytes: key ids and request ids (random
 * 64-bit, 16 hex digits), shapes, and the Galois keys a plan needs at the levels it uses them (see
 * `model.ts` for the protocol).
 */
import type { CkksContext } from '../../ckks/index.js';

/**
 * Galois element → a step of it and the highest level any of its steps runs at, in increasing
 * element order (the order of per-key chunks). Steps without a level run at the top.
 */
export function keyLevels(ctx: CkksContext, rotations: readonly number[], levels?: readonly number[]): Map<number, { step: number; level: number }> {
  const m = new Map<number, { step: number; level: number }>();
  rotations.forEach((step, i) => {
    const g = ctx.galoisElement(step);
    if (g === 1) return;
    const level = levels?.[i] ?? ctx.params.levels;
    const e = m.get(g);
    if (!e || e.level < level) m.set(g, { step, level });
  });
  return new Map([...m].sort((a, b) => a[0] - b[0]));
}

/** Whether a bundle header's shape equals a plan's. */
export const sameShape = (a: unknown, b: readonly number[]): boolean => Array.isArray(a) && a.length === b.length && a.every((d, i) => d === b[i]);
/** Whether a header field is a 64-bit id (16 lowercase hex digits). */
export const isId = (v: unknown): v is string => typeof v === 'string' && /^[0-9a-f]{16}$/.test(v);
