/**
 * @module ckks/inspect
 * Short one-line forms for `console.log` / `util.inspect` of the engine's objects (Node looks up
 * the method named by `Symbol.for('nodejs.util.inspect.custom')`; browsers' consoles ignore it):
 * `Ciphertext { level: 5, scale: 2^30.0, degree: 1, N: 8192 }` instead of the context's tables and
 * residue arrays. Secret material is never printed.
 */

/** The key Node's `util.inspect` calls (a registered symbol: no Node import needed). */
export const inspectCustom: unique symbol = Symbol.for('nodejs.util.inspect.custom') as never;

/** `2^30.0` for a scale. */
export const log2Form = (x: number): string => `2^${Math.log2(x).toFixed(1)}`;

/** `Name { a: 1, b: x }` from fields in order (values already formatted or plain numbers/booleans). */
export function shortForm(name: string, fields: Record<string, string | number | boolean>): string {
  return `${name} { ${Object.entries(fields).map(([k, v]) => `${k}: ${v}`).join(', ')} }`;
}
