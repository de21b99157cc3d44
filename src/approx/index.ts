/**
 * @module approx
 *
 * Plaintext (float64) half of Veil's polynomial activations: approximation toolkit (Chebyshev,
 * weighted least squares, Remez, composite sign polynomials, PAPER quadratic, SmartPAF tuning,
 * OLA degree choice) and the backend-generic, depth-optimal polynomial evaluator that the CKKS
 * engine plugs into. See each module's header for the paper/section it implements.
 */

export * from './errors.js';
export * from './backend.js';
export * from './linalg.js';
export * from './chebyshev.js';
export * from './activations.js';
export * from './lsq.js';
export * from './remez.js';
export * from './composite.js';
export * from './sign.js';
export * from './smartpaf-tables.js';
export * from './paper.js';
export * from './tuning.js';
export * from './cost.js';
export * from './evaluator.js';
export * from './counting.js';
export * from './ola.js';
export * from './ckks-backend.js';
