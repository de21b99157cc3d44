/**
 * @module approx/errors
 *
 * Error classes of the polynomial-approximation toolkit (`src/approx`). Every message names
 * the cause and the fix, so a caller can act on it without reading the source.
 *
 * Hierarchy:
 * - {@link ApproxError}: invalid argument or unsupported request (base class of all others).
 * - {@link ConvergenceError}: an iterative method (Remez, coefficient tuning) did not converge
 *   within its iteration bound. It carries the best result found so far.
 * - {@link InsufficientLevelsError}: the encrypted evaluator was handed a ciphertext with fewer
 *   levels left than the polynomial needs.
 * - {@link InfeasibleBudgetError}: the OLA degree optimisation cannot meet the error budget even
 *   with the most accurate candidate in every layer.
 */
import { VeilError } from '../errors.js';

/** Base class of every error thrown by `src/approx`. */
export class ApproxError extends VeilError {
  static override readonly code: string = 'APPROX';
}

/**
 * An iterative method stopped at its iteration bound without meeting its tolerance.
 * `partial` holds the last iterate so a caller can decide to accept it anyway.
 */
export class ConvergenceError<P = unknown> extends ApproxError {
  static override readonly code: string = 'CONVERGENCE';

  constructor(
    message: string,
    fix: string,
    /** The last iterate (e.g. a Remez result whose levelling gap is above tolerance). */
    readonly partial?: P,
  ) {
    super(message, fix);
  }
}

/** The ciphertext has fewer levels left than the evaluation consumes. */
export class InsufficientLevelsError extends ApproxError {
  static override readonly code: string = 'INSUFFICIENT_LEVELS';

  constructor(
    /** Levels the evaluation consumes. */
    readonly needed: number,
    /** Levels the input ciphertext has left. */
    readonly available: number,
    what = 'polynomial evaluation',
  ) {
    super(
      `${what} needs ${needed} level(s) but the input ciphertext has only ${available} left`,
      `bootstrap or start from a higher level, lower the polynomial degree, or fold the input ` +
        `affine map / scale into the previous linear layer (pass interval [-1, 1] or inputFolded)`,
    );
  }
}

/** The OLA error budget is below the smallest achievable total error. */
export class InfeasibleBudgetError extends ApproxError {
  static override readonly code: string = 'INFEASIBLE_BUDGET';

  constructor(
    /** The budget that was asked for. */
    readonly budget: number,
    /** The smallest total (quantised) error any degree assignment reaches. */
    readonly minimumError: number,
  ) {
    super(
      `no degree assignment meets the error budget ${budget}: the most accurate candidates give ${minimumError}`,
      `raise the budget, add higher candidate degrees, or use more budget steps ` +
        `(quantisation rounds each layer's error up to a multiple of budget/steps)`,
    );
  }
}
