/**
 * @module approx
 *
 * Plaintext (float64) half of Veil's polynomial activations: approximation toolkit (Chebyshev,
 * weighted least squares, Remez, composite sign polynomials, PAPER quadratic, SmartPAF tuning,
 * OLA degree choice) and the backend-generic, depth-optimal polynomial evaluator that the CKKS
 * engine plugs into. See each module's header for the paper/section it implements.
 */

export * from './errors.js';
export * from './eval/backend.js';
export * from './fit/linalg.js';
export * from './fit/chebyshev.js';
export * from './activations.js';
export * from './fit/lsq.js';
export * from './fit/remez.js';
export * from './composite.js';
export * from './sign.js';
export * from './smartpaf-tables.js';
export * from './paper.js';
export * from './tuning.js';
export * from './eval/cost.js';
export * from './eval/evaluator.js';
export * from './eval/counting.js';
export * from './ola.js';
export * from './eval/ckks-backend.js';
