/**
 * @module ckks
 * Public API of the CKKS engine.
 */
export { Parameters, HE_STANDARD_128, type ParametersLiteral } from './params.js';
export { CkksContext } from './context.js';
export { Plaintext, Ciphertext } from './ciphertext.js';
export { Encoder, type EncodeOptions, type ComplexVector } from './encoder.js';
export {
  KeyGenerator, SecretKey, PublicKey, SwitchingKey, RelinKey, GaloisKeys,
  type EvaluationKeys, type GaloisKeyOptions,
} from './keys.js';
export { Encryptor, Decryptor } from './encryptor.js';
export { Evaluator, SCALE_TOLERANCE, type Operand } from './evaluator.js';
export * from './errors.js';
