/**
 * @module ckks/errors
 * Typed errors. Each says what went wrong (the cause) and what to change (the fix), in that order,
 * so that "scale out of bounds"-style dead ends (TenSEAL issues #78, #205, #300) do not happen.
 * The base class and the layer-independent classes live in `../errors.ts` (re-exported here).
 */
import { VeilError } from '../errors.js';
import { fixCode } from '../fixes.js';

export {
  VeilError, InvalidArgumentError, SerializationError, FormatVersionError, InternalError, PlatformError, type VeilErrorOptions,
} from '../errors.js';

/** The parameters exceed the 128-bit HE-standard bound on log2(QP) for their ring degree. */
export class InsecureParametersError extends VeilError {
  static override readonly code: string = 'INSECURE_PARAMETERS';

  constructor(readonly logN: number, readonly logQP: number, readonly bound: number) {
    super(
      `log2(QP) = ${logQP.toFixed(1)} bits exceeds the 128-bit bound of ${bound} bits for N = 2^${logN} by ${(logQP - bound).toFixed(1)} bits`,
      `use fewer levels or special limbs, a larger ring degree, or pass { insecure: true } for tests only`,
    );
  }
}

/** Parameters are malformed (out-of-range ring degree, too few primes, etc.). */
export class ParameterError extends VeilError {
  static override readonly code: string = 'PARAMETER';
}

/** An operation needs more levels than the operand has left. */
export class LevelError extends VeilError {
  static override readonly code: string = 'LEVEL';

  constructor(readonly needed: number, readonly available: number, what: string) {
    super(
      `${what} needs ${needed} level(s) but the ciphertext has ${available} left`,
      `choose parameters with at least ${needed - available} more level(s) (a deeper preset), or encrypt at a higher level`,
    );
  }
}

/** Two operands have scales that differ by more than rounding. */
export class ScaleMismatchError extends VeilError {
  static override readonly code: string = 'SCALE_MISMATCH';

  constructor(readonly scaleA: number, readonly scaleB: number) {
    super(
      `operand scales differ: 2^${Math.log2(scaleA).toFixed(4)} vs 2^${Math.log2(scaleB).toFixed(4)}`,
      `bring both to the same scale first: rescale both the same number of times, encode plaintexts at the ciphertext's scale, or ${fixCode.setScale(scaleB)} (one level)`,
    );
  }
}

/**
 * A Galois key capped below the ciphertext's level (`GaloisKeyOptions.maxLevel`): it holds only the
 * Q limbs of its level, so it cannot switch a ciphertext with more limbs.
 */
export class KeyLevelError extends VeilError {
  static override readonly code: string = 'KEY_LEVEL';

  constructor(readonly step: number | 'conjugate', readonly keyLevel: number, readonly level: number) {
    super(
      `the Galois key for ${step === 'conjugate' ? 'conjugation' : `rotation by ${step}`} is capped at level ${keyLevel}, the ciphertext is at level ${level}`,
      `generate the key for the highest level it is used at, ${fixCode.galoisKeysAtLevel(step === 'conjugate' ? [] : [step], level)}, or drop the ciphertext to level ${keyLevel} first with ${fixCode.dropToLevel(keyLevel)}`,
    );
  }
}

/** A rotation needs a Galois key that was not generated. */
export class MissingGaloisKeyError extends VeilError {
  static override readonly code: string = 'MISSING_GALOIS_KEY';

  constructor(readonly step: number | 'conjugate', readonly galoisElement: number) {
    super(
      step === 'conjugate'
        ? `no Galois key for conjugation (element ${galoisElement})`
        : `no Galois key for rotation by ${step} (Galois element ${galoisElement})`,
      step === 'conjugate'
        ? `generate it with ${fixCode.conjugationKey()} and pass it to the evaluator`
        : `generate it with ${fixCode.galoisKeys([step])} and pass it to the evaluator (for a model, include ${step} in the plan's rotations)`,
    );
  }
}

/** A relinearization key is needed and missing. */
export class MissingRelinKeyError extends VeilError {
  static override readonly code: string = 'MISSING_RELIN_KEY';

  constructor() {
    super('no relinearization key', `create the evaluator with one: ${fixCode.evaluatorWithRelin()}`);
  }
}

/** A value is too large for the scale and modulus at its level (it would wrap around). */
export class ValueTooLargeError extends VeilError {
  static override readonly code: string = 'VALUE_TOO_LARGE';

  constructor(readonly maxAbs: number, readonly scale: number, readonly levelBits: number) {
    super(
      `a value of magnitude ${maxAbs.toExponential(3)} at scale 2^${Math.log2(scale).toFixed(1)} needs ${(Math.log2(maxAbs * scale) + 1).toFixed(1)} bits, the level holds ${levelBits.toFixed(1)}`,
      `normalise the inputs (e.g. divide by their maximum), use a smaller scale, or encode at a higher level`,
    );
  }
}

/** An object belongs to a different parameter set than the operation's context. */
export class ContextMismatchError extends VeilError {
  static override readonly code: string = 'CONTEXT_MISMATCH';

  constructor(what: string) {
    super(`${what} was created under different parameters`, `use objects created from the same parameters (compare ${fixCode.compareParams()})`);
  }
}


/**
 * Objects made under different secret keys were combined: a ciphertext from one client with another
 * client's evaluation keys, or keys of two clients. Key ids are random 64-bit identifiers drawn
 * when a secret key is generated and carried by every key and ciphertext made from it (see
 * `keys.ts`); they catch mix-ups, they do not authenticate anyone.
 */
export class KeyMismatchError extends VeilError {
  static override readonly code: string = 'KEY_MISMATCH';

  constructor(
    what: string,
    /** Key id of the offending object. */
    readonly found: string,
    /** Key id it had to match. */
    readonly expected: string,
    fix = `encrypt with the secret key that generated the evaluation keys (with the model API, one client makes both: ${fixCode.sameClient()})`,
  ) {
    super(`${what} belongs to key ${found}, expected key ${expected}`, fix);
  }
}
