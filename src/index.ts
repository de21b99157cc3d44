/**
 * @module veil-fhe
 * Veil: CKKS homomorphic encryption in pure TypeScript, and private neural-network inference on it.
 * The engine is exported here; `veil-fhe/approx` has the polynomial approximation toolbox,
 * `veil-fhe/bootstrap` bootstrapping (its main classes are re-exported here too) and `veil-fhe/nn`
 * the inference pipeline (likewise).
 */
export * from './ckks/index.js';
export {
  Bootstrapper, BootstrapParameters, BOOTSTRAP_PRESETS, bootstrapPreset, genBootstrapKeys, bootstrapRotations,
  serializeBootstrapKeys, deserializeBootstrapKeys, bootstrapKeyBytes,
  type BootstrapKeys, type BootstrapParametersLiteral, type BootstrapKeyBytes,
} from './bootstrap/index.js';
export { Model, Client, Server, type ModelPlan, type ModelOptions } from './nn/model/model.js';
export { parsePlan, validatePlan, PlanError } from './nn/plan/plan.js';
export { InputShapeError, NonFiniteInputError, InputRangeError, InputFormatError } from './nn/io.js';
export { BundleError } from './nn/model/bundle.js';
export { importOnnx } from './nn/onnx/index.js';
