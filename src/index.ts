/**
 * @module veil-fhe
 * Veil: CKKS homomorphic encryption in pure TypeScript, and private neural-network inference on it.
 * The engine is exported here; `veil-fhe/approx` has the polynomial approximation toolbox and
 * `veil-fhe/nn` the inference pipeline (its main classes are re-exported here too).
 */
export * from './ckks/index.js';
export { Model, Client, Server, type ModelPlan, type ModelOptions } from './nn/model.js';
export { importOnnx } from './nn/onnx.js';
