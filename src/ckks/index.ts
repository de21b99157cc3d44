/**
 * @module ckks
 * Public API of the CKKS engine.
 */
export { Parameters, HE_STANDARD_128, PRESETS, preset, type ParametersLiteral, type PresetName } from './params.js';
export { precisionStats, type PrecisionStats } from './precision.js';
export { CkksContext } from './context.js';
export { Plaintext, Ciphertext } from './ciphertext.js';
export { Encoder, type EncodeOptions, type ComplexVector } from './encoder.js';
export {
  KeyGenerator, SecretKey, PublicKey, SwitchingKey, RelinKey, GaloisKeys,
  type EvaluationKeys, type GaloisKeyOptions, type KeyGeneratorOptions,
} from './keys.js';
export { Encryptor, Decryptor } from './encryptor.js';
export { Evaluator, SCALE_TOLERANCE, type Operand, type EvaluatorOptions, type LazyCiphertext, type DoubleHoistedSpec } from './evaluator.js';
export type { DhSource } from './linear/hoisted.js';
export {
  WorkerPool, registerTask, PoolOperationError, WorkerPoolUnavailableError,
  type WorkerPoolOptions, type PoolTask, type TaskEnv, type TaskHandler, type CiphertextDescriptor,
} from './pool/pool.js';
export * from './errors.js';
export {
  FORMAT_VERSION, Kind, inspectBytes,
  serializeParameters, deserializeParameters, serializeCiphertext, deserializeCiphertext,
  serializePlaintext, deserializePlaintext, serializeSecretKey, deserializeSecretKey,
  serializePublicKey, deserializePublicKey, serializeRelinKey, deserializeRelinKey,
  serializeGaloisKeys, deserializeGaloisKeys,
  type CiphertextSerializeOptions, type KeySerializeOptions, type GaloisKeysDeserializeOptions,
} from './serialize/index.js';
export { LinearTransform, type LinearTransformOptions, type Diagonal } from './linear/transform.js';
export { chooseSplit, splitWith, type BsgsSplit, type BsgsCosts } from './linear/bsgs.js';
