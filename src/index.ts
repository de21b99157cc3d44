/**
 * @module veil-fhe
 * Veil: CKKS homomorphic encryption in pure TypeScript, and private neural-network inference on it.
 */
export * from './ckks/index.js';
