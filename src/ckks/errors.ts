/**
 * @module ckks/errors
 * Typed errors. Each says what went wrong (the cause) and what to change (the fix), in that order,
 * so that "scale out of bounds"-style dead ends (TenSEAL issues #78, #205, #300) do not happen.
 */

/** Base class of every error Veil throws on purpose. `fix` says what to change. */
export class VeilError extends Error {
  readonly fix: string;
  constructor(message: string, fix: string) {
    super(`${message}. Fix: ${fix}`);
    this.name = new.target.name;
    this.fix = fix;
  }
}

/** The parameters exceed the 128-bit HE-standard bound on log2(QP) for their ring degree. */
export class InsecureParametersError extends VeilError {
  constructor(readonly logN: number, readonly logQP: number, readonly bound: number) {
    super(
      `log2(QP) = ${logQP.toFixed(1)} bits exceeds the 128-bit bound of ${bound} bits for N = 2^${logN} by ${(logQP - bound).toFixed(1)} bits`,
      `use fewer levels or special limbs, a larger ring degree, or pass { insecure: true } for tests only`,
    );
  }
}

/** Parameters are malformed (out-of-range ring degree, too few primes, etc.). */
export class ParameterError extends VeilError {}

/** An operation needs more levels than the operand has left. */
export class LevelError extends VeilError {
  constructor(readonly needed: number, readonly available: number, what: string) {
    super(
      `${what} needs ${needed} level(s) but the ciphertext has ${available} left`,
      `choose parameters with at least ${needed - available} more level(s) (a deeper preset), or encrypt at a higher level`,
    );
  }
}

/** Two operands have scales that differ by more than rounding. */
export class ScaleMismatchError extends VeilError {
  constructor(readonly scaleA: number, readonly scaleB: number) {
    super(
      `operand scales differ: 2^${Math.log2(scaleA).toFixed(4)} vs 2^${Math.log2(scaleB).toFixed(4)}`,
      `bring both to the same scale first (rescale both the same number of times, encode plaintexts at the ciphertext's scale, or call evaluator.setScale)`,
    );
  }
}

/** A rotation needs a Galois key that was not generated. */
export class MissingGaloisKeyError extends VeilError {
  constructor(readonly step: number | 'conjugate', readonly galoisElement: number) {
    super(
      step === 'conjugate'
        ? `no Galois key for conjugation (element ${galoisElement})`
        : `no Galois key for rotation by ${step} (Galois element ${galoisElement})`,
      step === 'conjugate'
        ? `generate it with keygen.genGaloisKeys([], { conjugate: true })`
        : `generate it with keygen.genGaloisKeys([${step}]) or include ${step} in the plan's rotation list`,
    );
  }
}

/** A relinearization key is needed and missing. */
export class MissingRelinKeyError extends VeilError {
  constructor() {
    super('no relinearization key', 'generate one with keygen.genRelinKey() and pass it to the evaluator');
  }
}

/** A value is too large for the scale and modulus at its level (it would wrap around). */
export class ValueTooLargeError extends VeilError {
  constructor(readonly maxAbs: number, readonly scale: number, readonly levelBits: number) {
    super(
      `a value of magnitude ${maxAbs.toExponential(3)} at scale 2^${Math.log2(scale).toFixed(1)} needs ${(Math.log2(maxAbs * scale) + 1).toFixed(1)} bits, the level holds ${levelBits.toFixed(1)}`,
      `normalise the inputs (e.g. divide by their maximum), use a smaller scale, or encode at a higher level`,
    );
  }
}

/** An object belongs to a different parameter set than the operation's context. */
export class ContextMismatchError extends VeilError {
  constructor(what: string) {
    super(`${what} was created under different parameters`, `use objects created from the same parameters (compare params.hash)`);
  }
}

/** Bytes could not be loaded: bad magic, version, size, residue range or parameter hash. */
export class SerializationError extends VeilError {}

/** A function argument is out of its domain (wrong length, NaN, wrong type). */
export class InvalidArgumentError extends VeilError {}
