/**
 * @module bootstrap/evalmod
 * EvalMod: the homomorphic reduction y ↦ y mod 1 of bootstrapping, for y = t/q0 = I + ε with I an
 * integer, |I| ≤ K, and ε = Δ'm/q0 small (Cheon–Han–Kim–Kim–Song eprint 2018/153 §3.2: a scaled
 * sine; Han–Ki eprint 2019/688 §4: a cosine and double angles).
 *
 * sin(2πy) = cos(2π(y − 1/4)), and cos(2θ) = 2cos²θ − 1, so with R double angles it suffices to
 * approximate c_0 = cos(2π(y − 1/4)/2^R) and square R times. With y' = y − 1/4 and u = y'/B,
 * B = K + 1/4 + 2^−r, u ∈ [−1, 1] and c_0 = cos(a·u), a = 2πB/2^R: an even function, interpolated at
 * Chebyshev nodes on the whole interval (its coefficients are 2(−1)^k J_2k(a); the degree is
 * chosen so the tail is below 2^−50). Each double angle multiplies an error by up to 4, so the
 * approximation error reaches ≈ 2^−50·4^R ≈ 2^−42 (R = 4). The result sin(2πy) = sin(2πε) ≈ 2πε;
 * its cubic term (2πε)³/6 is the "sine error", relative (2πε)²/6, small when q0/Δ' = 2^r is large
 * or removed by the optional inverse-sine correction (Lee et al., eprint 2020/552):
 * arcsin(s) ≈ s + s³/6 (+ 3s⁵/40).
 *
 * Levels: ⌈log2(degree + 1)⌉ for the polynomial (T_2(u) = 2u² − 1, then the half-degree series in
 * it with the depth-optimal evaluator of `approx/eval/evaluator.ts`: the same depth for an even degree,
 * fewer products), one per double angle, ⌈log2(arcsine degree + 1)⌉ for the correction.
 * The shift by 1/4 and the 1/B are folded into the preceding linear transform (free).
 */
import { chebInterpolate, clenshaw, powerToCheb, evalChebyshev, type PolyBackend } from '../approx/index.js';
import type { EvalModParameters } from './params.js';

/** The polynomial and constants of one EvalMod configuration. */
export interface EvalModPlan {
  readonly params: EvalModParameters;
  /** B = K + 1/4 + 2^−r: the CoeffsToSlots output is y/B. */
  readonly B: number;
  /** Chebyshev coefficients of cos(a·u) on [−1, 1] (odd ones exactly 0). */
  readonly cosine: Float64Array;
  /** The even coefficients as a series in T_2(u): half[k] = cosine[2k]. */
  readonly half: Float64Array;
  /** Chebyshev coefficients of the inverse-sine correction on [−1, 1] (odd), or undefined. */
  readonly arcsine?: Float64Array;
}

/** Builds the EvalMod polynomial(s) for the given parameters. */
export function evalModPlan(p: EvalModParameters): EvalModPlan {
  const B = p.K + 0.25 + 2 ** -p.logMessageRatio;
  const a = (2 * Math.PI * B) / 2 ** p.doubleAngles;
  const cosine = chebInterpolate((u) => Math.cos(a * u), p.degree);
  for (let k = 1; k < cosine.length; k += 2) cosine[k] = 0; // even: exact zeros keep odd T_k unused
  let arcsine: Float64Array | undefined;
  if (p.arcsineDegree > 0) {
    // arcsin(s) = s + s³/6 + 3s⁵/40 + …, truncated (|s| ≤ 2π·2^−r·|coefficient| is small)
    const power = p.arcsineDegree === 3 ? [0, 1, 0, 1 / 6] : [0, 1, 0, 1 / 6, 0, 3 / 40];
    arcsine = powerToCheb(power);
  }
  const half = new Float64Array((p.degree >> 1) + 1);
  for (let k = 0; k < half.length; k++) half[k] = cosine[2 * k];
  return { params: p, B, cosine, half, arcsine };
}

/**
 * EvalMod on a backend value x = y/B (a ciphertext after CoeffsToSlots, or a float64 model):
 * returns ≈ sin(2πy), or ≈ arcsin(sin(2πy)) = 2π(y − round(y)) with the correction.
 * Consumes `plan.params.depth` levels.
 */
export function evalMod<T>(b: PolyBackend<T>, x: T, plan: EvalModPlan): T {
  const u = b.addConst(x, -0.25 / plan.B);
  // the cosine is even: Σ c_2k T_2k(u) = Σ c_2k T_k(T_2(u)), T_2(u) = 2u² − 1 ∈ [−1, 1], a series
  // of half the degree at the same depth and with fewer products
  const w = b.addConst(b.mulInt(b.mul(u, u), 2), -1);
  let c = evalChebyshev(b, w, plan.half);
  for (let i = 0; i < plan.params.doubleAngles; i++) c = b.addConst(b.mulInt(b.mul(c, c), 2), -1);
  if (plan.arcsine) c = evalChebyshev(b, c, plan.arcsine);
  return c;
}

/** The same function in float64 (exact arithmetic of the circuit, no encryption): for tests and estimates. */
export function evalModFloat(plan: EvalModPlan, y: number): number {
  const u = (y - 0.25) / plan.B;
  let c = clenshaw(plan.half, 2 * u * u - 1);
  for (let i = 0; i < plan.params.doubleAngles; i++) c = 2 * c * c - 1;
  if (plan.arcsine) c = clenshaw(plan.arcsine, c);
  return c;
}
