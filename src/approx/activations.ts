/**
 * @module approx/activations
 *
 * The exact (non-polynomial) activations that the approximations target: ReLU, GELU (exact,
 * erf-based, as in ConvNeXt — OLA abstract, digest §1.1), SiLU and x² (CryptoNets-style square),
 * plus an erf/erfc accurate to about 1e-15 (float64 has no built-in erf).
 */

import { ApproxError } from './errors.js';

/** Names of the built-in activations. */
export type ActivationName = 'relu' | 'gelu' | 'silu' | 'square';

/** An activation: a name and a scalar function. */
export interface Activation {
  readonly name: string;
  readonly fn: (x: number) => number;
}

const TWO_OVER_SQRT_PI = 1.1283791670955126; // 2/√π
const INV_SQRT_PI = 0.5641895835477563; // 1/√π

/**
 * Error function erf(x) = 2/√π ∫₀ˣ e^{−t²} dt, absolute error ≲ 1e-16 · max(1, …) (≈1e-15 relative).
 *
 * Ranges: |x| ≤ 2 uses the all-positive series erf(x) = 2/√π·e^{−x²}·Σ_n 2^n x^{2n+1}/(1·3·…·(2n+1))
 * (no cancellation, ≤ ~50 terms); |x| > 2 uses erf = 1 − erfc with erfc from its continued
 * fraction; |x| ≥ 6 returns ±1 (erfc(6) ≈ 2e-17 is below half an ulp of 1).
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax >= 6) return Math.sign(x);
  if (ax <= 2) return erfSeries(x);
  return Math.sign(x) * (1 - erfcContinuedFraction(ax));
}

/**
 * Complementary error function erfc(x) = 1 − erf(x), with relative accuracy ~1e-15 also where
 * erfc is tiny (x up to ~26, beyond which it underflows to 0).
 */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return 2 - erfc(-x);
  if (x <= 0.5) return 1 - erfSeries(x);
  if (x <= 2.5) return erfcSmallContinued(x);
  return erfcContinuedFraction(x);
}

function erfSeries(x: number): number {
  const x2 = x * x;
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
    if (Math.abs(term) < Math.abs(sum) * 1e-17) break;
  }
  return TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
}

/** erfc on (0.5, 2.5]: the continued fraction converges more slowly here, so allow more terms. */
function erfcSmallContinued(x: number): number {
  return erfcContinuedFraction(x, 2000);
}

/**
 * erfc(x) = e^{−x²}/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + …))))) for x > 0,
 * evaluated by the modified Lentz method.
 */
function erfcContinuedFraction(x: number, maxTerms = 500): number {
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let n = 1; n <= maxTerms; n++) {
    const an = n / 2;
    d = x + an * d;
    d = Math.abs(d) < tiny ? tiny : d;
    c = x + an / c;
    c = Math.abs(c) < tiny ? tiny : c;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return (INV_SQRT_PI * Math.exp(-x * x)) / f;
}

/** ReLU(x) = max(x, 0). */
export function relu(x: number): number {
  return x > 0 ? x : 0;
}

/** Exact GELU(x) = x·Φ(x) = x/2 · (1 + erf(x/√2)). */
export function gelu(x: number): number {
  // Φ(x) = erfc(−x/√2)/2; for x < 0 this avoids the cancellation in 1 + erf(x/√2).
  if (x < 0) return 0.5 * x * erfc(-x * Math.SQRT1_2);
  return 0.5 * x * (1 + erf(x * Math.SQRT1_2));
}

/** SiLU(x) = x·σ(x) = x / (1 + e^{−x}), computed without overflow for large |x|. */
export function silu(x: number): number {
  if (x >= 0) return x / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return (x * e) / (1 + e);
}

/** x². */
export function square(x: number): number {
  return x * x;
}

/** The built-in activations by name. */
export const ACTIVATIONS: Readonly<Record<ActivationName, Activation>> = {
  relu: { name: 'relu', fn: relu },
  gelu: { name: 'gelu', fn: gelu },
  silu: { name: 'silu', fn: silu },
  square: { name: 'square', fn: square },
};

/** Resolve a name or a custom function into an {@link Activation}. */
export function getActivation(a: ActivationName | Activation | ((x: number) => number)): Activation {
  if (typeof a === 'function') return { name: a.name || 'custom', fn: a };
  if (typeof a === 'string') {
    const found = (ACTIVATIONS as Record<string, Activation | undefined>)[a];
    if (found === undefined) {
      throw new ApproxError(`unknown activation '${a}'`, `use one of ${Object.keys(ACTIVATIONS).join(', ')} or pass a function`);
    }
    return found;
  }
  return a;
}
