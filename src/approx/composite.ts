/**
 * @module approx/composite
 *
 * Composite polynomials p_k ∘ … ∘ p_1 used as sign approximations (Cheon–Kim–Kim f/g, Lee et al.
 * composite minimax, SmartPAF PAFs: digest §3.2, §5.3–5.4), their plaintext evaluation, and the
 * ReLU / max constructions built on a sign approximation:
 *   ReLU(x) = x·(1 + sign x)/2,   max(a, b) = ((a + b) + (a − b)·sign(a − b))/2 = b + ReLU(a − b).
 *
 * Representation: a {@link CompositePoly} is a list of components applied IN ORDER (components[0]
 * first — the SmartPAF code order, "f applied first"), to the input divided by `inputScale`
 * (the SS/DS scale s of SmartPAF, or B of approxCNN):
 *   sign(x) ≈ p_k( … p_2( p_1( x / inputScale ) ) … ).
 * A component is either power basis (coeffs[j] multiplies y^j) or a Chebyshev series in y/range
 * (coeffs[j] multiplies T_j(y / range), i.e. a Chebyshev series on [−range, range]). Components of
 * sign approximations are odd; even entries are then 0.
 */

import { chebToPower, clenshaw, effectiveDegree, powerEval, powerToCheb } from './fit/chebyshev.js';
import { ApproxError } from './errors.js';

/** Basis of a component's coefficient vector. */
export type Basis = 'power' | 'chebyshev';

/** One polynomial of a composite. */
export interface PolyComponent {
  basis: Basis;
  /** power: Σ coeffs[j]·y^j; chebyshev: Σ coeffs[j]·T_j(y/range). */
  coeffs: Float64Array;
  /** Chebyshev only: the component's domain is [−range, range]. Default 1. */
  range?: number;
}

/** A composite polynomial applied to x / inputScale, components in order. */
export interface CompositePoly {
  name?: string;
  /** Inputs are divided by this before the first component (SmartPAF static scale s, approxCNN B). */
  inputScale: number;
  components: PolyComponent[];
}

/** A power-basis component from all coefficients [c0, c1, c2, …]. */
export function powerComponent(coeffs: ArrayLike<number>): PolyComponent {
  return { basis: 'power', coeffs: Float64Array.from(coeffs as ArrayLike<number>) };
}

/**
 * A power-basis odd component from its odd coefficients only: [c1, c3, c5, …] ↦ c1·y + c3·y³ + ….
 * This is the layout of SmartPAF's tables (digest §3.10).
 */
export function oddPowerComponent(odd: ArrayLike<number>): PolyComponent {
  const c = new Float64Array(2 * odd.length);
  for (let i = 0; i < odd.length; i++) c[2 * i + 1] = odd[i]!;
  return { basis: 'power', coeffs: c };
}

/** The odd coefficients [c1, c3, …] of a power-basis component (inverse of {@link oddPowerComponent}). */
export function oddCoefficients(c: PolyComponent): Float64Array {
  const p = componentToPower(c);
  const d = Math.max(1, effectiveDegree(p));
  const out = new Float64Array((d + 1) >> 1);
  for (let i = 0; i < out.length; i++) out[i] = p[2 * i + 1] ?? 0;
  return out;
}

/** Evaluate one component at y. */
export function evalComponent(c: PolyComponent, y: number): number {
  if (c.basis === 'power') return powerEval(c.coeffs, y);
  return clenshaw(c.coeffs, y / (c.range ?? 1));
}

/** Evaluate the composite (the sign approximation) at x. */
export function compositeSign(cp: CompositePoly, x: number): number {
  let y = x / cp.inputScale;
  for (const c of cp.components) y = evalComponent(c, y);
  return y;
}

/** Degree of a component (index of its last non-zero coefficient). */
export function componentDegree(c: PolyComponent): number {
  return Math.max(0, effectiveDegree(c.coeffs));
}

/** Degrees of the components, in application order. */
export function compositeDegrees(cp: CompositePoly): number[] {
  return cp.components.map(componentDegree);
}

/** True when every even coefficient is 0 (|c| ≤ tol·max|c|). */
export function isOddComponent(c: PolyComponent, tol = 0): boolean {
  let mx = 0;
  for (const v of c.coeffs) mx = Math.max(mx, Math.abs(v));
  for (let j = 0; j < c.coeffs.length; j += 2) if (Math.abs(c.coeffs[j]!) > tol * mx) return false;
  return true;
}

/** Power-basis coefficients in y of a component. */
export function componentToPower(c: PolyComponent): Float64Array {
  if (c.basis === 'power') return Float64Array.from(c.coeffs);
  const r = c.range ?? 1;
  return chebToPower(c.coeffs, [-r, r]);
}

/**
 * Chebyshev coefficients of a component on [−range, range]. For power components `range`
 * defaults to 1 (the usual domain of a sign-approximation stage); the conversion is exact
 * algebraically whatever the range, the range only improves numerical conditioning.
 */
export function componentToChebyshev(c: PolyComponent, range?: number): { coeffs: Float64Array; range: number } {
  const r = range ?? c.range ?? 1;
  if (!(r > 0)) throw new ApproxError(`component range ${r} must be > 0`, 'use a positive range');
  if (c.basis === 'chebyshev' && r === (c.range ?? 1)) return { coeffs: Float64Array.from(c.coeffs), range: r };
  return { coeffs: powerToCheb(componentToPower(c), [-r, r]), range: r };
}

/** Drop even coefficients with |c| ≤ tol·max|c| (e.g. the ~1e-34 even terms of approxCNN files, digest §3.2). */
export function dropNegligibleEven(c: PolyComponent, tol = 1e-20): PolyComponent {
  let mx = 0;
  for (const v of c.coeffs) mx = Math.max(mx, Math.abs(v));
  const out = Float64Array.from(c.coeffs);
  for (let j = 0; j < out.length; j += 2) if (Math.abs(out[j]!) <= tol * mx) out[j] = 0;
  return { ...c, coeffs: out };
}

/** ReLU from a sign approximation: x ↦ x·(1 + s(x))/2. */
export function reluFromSign(sign: (x: number) => number): (x: number) => number {
  return (x) => (x * (1 + sign(x))) / 2;
}

/** max from a sign approximation: (a, b) ↦ ((a + b) + (a − b)·s(a − b))/2. */
export function maxFromSign(sign: (x: number) => number): (a: number, b: number) => number {
  return (a, b) => (a + b + (a - b) * sign(a - b)) / 2;
}

/** Approximate ReLU of a composite: x·(1 + p(x/s))/2. */
export function compositeRelu(cp: CompositePoly, x: number): number {
  return (x * (1 + compositeSign(cp, x))) / 2;
}

/** Approximate max of a composite: ((a + b) + (a − b)·p((a − b)/s))/2. */
export function compositeMax(cp: CompositePoly, a: number, b: number): number {
  return (a + b + (a - b) * compositeSign(cp, a - b)) / 2;
}

/** A deep copy (coefficient arrays are copied). */
export function cloneComposite(cp: CompositePoly): CompositePoly {
  return {
    ...(cp.name === undefined ? {} : { name: cp.name }),
    inputScale: cp.inputScale,
    components: cp.components.map((c) => ({ ...c, coeffs: Float64Array.from(c.coeffs) })),
  };
}
