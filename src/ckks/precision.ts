/**
 * @module ckks/precision
 * Precision statistics in bits, as Lattigo's `GetPrecisionStats` and OpenFHE's `GetLogPrecision`
 * report them: for each slot −log2|want − got|, summarised by the mean error (the headline "mean
 * precision" is −log2 of the mean absolute error), the worst slot and the median.
 */
import { InvalidArgumentError } from '../errors.js';

/** Precision of a decrypted vector against the exact one. */
export interface PrecisionStats {
  /** −log2 of the mean absolute error. */
  meanBits: number;
  /** −log2 of the largest absolute error (worst slot). */
  minBits: number;
  /** Median of the per-slot −log2 errors. */
  medianBits: number;
  meanAbsError: number;
  maxAbsError: number;
  count: number;
}

/** Compares `got` with `want` on the first `count` entries (default: all of want). */
export function precisionStats(want: ArrayLike<number>, got: ArrayLike<number>, count = want.length): PrecisionStats {
  if (got.length < count) throw new InvalidArgumentError(`got has ${got.length} values, ${count} compared`, 'pass at least as many values as compared');
  let sum = 0;
  let max = 0;
  const bits = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const e = Math.abs(want[i] - got[i]);
    sum += e;
    if (e > max || Number.isNaN(e)) max = Number.isNaN(e) ? Infinity : e;
    bits[i] = -Math.log2(e);
  }
  bits.sort();
  const mean = sum / count;
  return {
    meanBits: -Math.log2(mean),
    minBits: -Math.log2(max),
    medianBits: bits[count >> 1],
    meanAbsError: mean,
    maxAbsError: max,
    count,
  };
}
