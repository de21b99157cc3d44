/**
 * @module bootstrap
 * CKKS bootstrapping on 30-bit words: parameter sets (`params.ts`), the DFT factors (`dft.ts`),
 * evaluated as `LinearTransform`s (`ckks/linear/transform.ts`), EvalMod (`evalmod.ts`), sparse-secret encapsulation and
 * ModRaise (`encapsulation.ts`), the pipeline (`bootstrapper.ts`) and the key set on the wire
 * (`keys.ts`).
 */
export {
  BootstrapParameters, BOOTSTRAP_PRESETS, bootstrapPreset, failureProbabilityLog2, cosineDegree, polyLevels,
  type BootstrapParametersLiteral, type EvalModLiteral, type EvalModParameters,
} from './params.js';
export {
  dftFactors, stageMatrix, multiplyMatrices, applyMatrix, productMatrix, stageGroups,
  type ComplexArray, type DiagonalMatrix, type DftKind, type DftOptions,
} from './dft.js';
export { evalModPlan, evalMod, evalModFloat, type EvalModPlan } from './evalmod.js';
export {
  Encapsulation, genEncapsulationKeys, expandEncapsulationUniform, encapsulationKeyLimbs, LEVEL0_SPECIAL_LIMBS,
  type EncapsulationKeys, type FlatKey,
} from './encapsulation.js';
export {
  Bootstrapper, genBootstrapKeys, bootstrapRotations, bootstrapFactors, type BootstrapKeys,
} from './bootstrapper.js';
export {
  serializeBootstrapKeys, deserializeBootstrapKeys, serializeEncapsulationKeys, deserializeEncapsulationKeys, bootstrapKeyBytes,
  type BootstrapKeyBytes, type BootstrapKeySerializeOptions,
} from './keys.js';
