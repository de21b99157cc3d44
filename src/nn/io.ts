/**
 * @module nn/io
 *
 * Readers for model inputs: raw little-endian float32 (NCHW) files, raw uint8 image files
 * (e.g. MNIST), NumPy `.npy` files (v1/v2/v3 headers; `<f4`, `<f8`, `|u1`; C order) and JSON
 * (nested arrays or `{"shape": [...], "data": [...]}`). Every reader returns a float64
 * {@link Tensor}; every problem is a typed error whose message names the fix.
 */

import { VeilError, brief } from '../errors.js';
import { fixCode } from '../fixes.js';
import type { Tensor } from './graph.js';

/** A tensor whose data may be any numeric array (validated and converted by the readers). */
export interface TensorLike {
  shape: readonly number[];
  data: ArrayLike<number>;
}

/** The input's shape does not match what the model or the file header expects. */
export class InputShapeError extends VeilError {
  static override readonly code: string = 'INPUT_SHAPE';
  /** Expected shape; `'N'` marks a free batch dimension. */
  readonly expected: (number | string)[];
  /** Actual shape (or `[elementCount]` when only the size is known). */
  readonly actual: number[];

  constructor(message: string, expected: (number | string)[], actual: number[], fix = 'reshape the data to the expected shape (layout NCHW, batch first)') {
    super(message, fix);
    this.expected = expected;
    this.actual = actual;
  }
}

/** The input contains NaN or ±Infinity. */
export class NonFiniteInputError extends VeilError {
  static override readonly code: string = 'NON_FINITE_INPUT';
  /** Flat index of the first offending element. */
  readonly index: number;
  /** The offending value. */
  readonly value: number;

  constructor(index: number, value: number, where = 'input') {
    super(
      `${where} contains ${value} at flat index ${index}; encrypted inference needs finite values`,
      'clean or re-normalise the data (e.g. replace missing pixels by 0) before encoding',
    );
    this.index = index;
    this.value = value;
  }
}

/** The file or JSON is not in a supported format (bad magic, dtype, layout, syntax). */
export class InputFormatError extends VeilError {
  static override readonly code: string = 'INPUT_FORMAT';

  constructor(message: string, fix = 'save the input with numpy.save (dtype <f4, <f8 or |u1), as raw little-endian float32, or as JSON {"shape": [...], "data": [...]}') {
    super(message, fix);
  }
}

/**
 * An input value lies far outside the range the model was calibrated on (the activation
 * polynomials are only accurate there), e.g. pixels in 0–255 for a model calibrated on 0–1.
 */
export class InputRangeError extends VeilError {
  static override readonly code: string = 'INPUT_RANGE';

  constructor(
    /** Flat index of the first offending element. */
    readonly index: number,
    /** The offending value. */
    readonly value: number,
    /** The calibrated input range [min, max]. */
    readonly range: readonly [number, number],
    /** The accepted range (calibrated range widened by the slack). */
    readonly accepted: readonly [number, number],
  ) {
    const [lo, hi] = range;
    const pixels = hi <= 1.5 && value > 1.5 && value <= 255.5 && lo >= -1.5;
    super(
      `input value ${value} (flat index ${index}) is far outside the calibrated range [${lo}, ${hi}] of the model's input (accepted: [${accepted[0]}, ${accepted[1]}])`,
      pixels
        ? `normalise the input as the calibration data was: pixels scaled 0–255 must be divided by 255 (${fixCode.normalise255()}); or compile the model with calibration data that covers this range`
        : `normalise the input as the calibration data was (same scaling and offset), or compile the model with calibration data that covers this range`,
    );
  }
}

/** Relative slack around the calibrated range within which inputs are accepted (25% of its width). */
export const INPUT_RANGE_SLACK = 0.25;

/** The [min, max] of a tensor's values (`[0, 0]` for an empty one). */
export function tensorRange(t: { data: ArrayLike<number> }): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  const d = t.data;
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : [0, 0];
}

/**
 * Checks that every value lies within the calibrated `range` widened by 25% of its width on each
 * side: far outside it, the activation polynomials (fitted on the calibrated range) diverge and
 * the encrypted result is meaningless.
 *
 * @throws InputRangeError for the first value outside; NonFiniteInputError for NaN/Inf
 */
export function checkInputRange(x: { data: ArrayLike<number> }, range: readonly [number, number]): void {
  const [lo, hi] = range;
  const slack = INPUT_RANGE_SLACK * (hi - lo) + 1e-9;
  const a = lo - slack;
  const b = hi + slack;
  const d = x.data;
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    if (!Number.isFinite(v)) throw new NonFiniteInputError(i, v);
    if (v < a || v > b) throw new InputRangeError(i, v, [lo, hi], [a, b]);
  }
}

function shapeStr(s: readonly (number | string)[]): string {
  return `[${s.slice(0, 16).map((d) => (typeof d === 'string' ? d : brief(d))).join(',')}${s.length > 16 ? ',…' : ''}]`;
}

function checkShape(shape: readonly number[], what: string): number {
  if (!Array.isArray(shape) || shape.length === 0) throw new InputShapeError(`${what}: shape ${brief(shape)} is not a non-empty array`, [], [], 'give the shape as a non-empty array of positive integers, e.g. [64, 1, 28, 28]');
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d <= 0) {
      throw new InputShapeError(`${what}: shape ${shapeStr(shape)} has an entry that is not a positive integer`, [], [...shape], 'give the shape as positive integers, e.g. [64, 1, 28, 28]');
    }
    n *= d;
  }
  if (!Number.isSafeInteger(n)) throw new InputShapeError(`${what}: shape ${shapeStr(shape)} has more than 2^53 elements`, [], [...shape], 'split the data into smaller tensors');
  return n;
}

/**
 * Validates a tensor: positive integer shape, data length equal to the shape's size, every
 * value finite, and (optionally) a matching shape. Returns a float64 copy (or the same
 * Float64Array when no conversion is needed).
 *
 * @param t - the tensor to check
 * @param expected - optional expected shape; a string entry (e.g. `'N'`) matches any size
 * @throws InputShapeError, NonFiniteInputError
 */
export function validateTensor(t: TensorLike, expected?: readonly (number | string)[]): Tensor {
  const n = checkShape(t.shape, 'tensor');
  if (expected !== undefined) {
    const ok = expected.length === t.shape.length && expected.every((d, i) => typeof d === 'string' || d === t.shape[i]);
    if (!ok) {
      throw new InputShapeError(
        `input shape ${shapeStr(t.shape)} does not match the expected ${shapeStr(expected)}`,
        [...expected],
        [...t.shape],
        `reshape the data to ${shapeStr(expected)} (layout NCHW, batch first)`,
      );
    }
  }
  if (t.data.length !== n) {
    throw new InputShapeError(
      `data has ${t.data.length} values but shape ${shapeStr(t.shape)} needs ${n}`,
      [...t.shape],
      [t.data.length],
      'check the shape, or the file the data came from (element type, truncation)',
    );
  }
  const data = t.data instanceof Float64Array ? t.data : Float64Array.from(t.data);
  for (let i = 0; i < n; i++) {
    const v = data[i]!;
    if (!Number.isFinite(v)) throw new NonFiniteInputError(i, v);
  }
  return { shape: [...t.shape], data };
}

/**
 * Reads raw little-endian float32 values (e.g. `digits64.f32`, a NumPy `tofile` dump) with the
 * given shape (typically NCHW).
 *
 * @param bytes - file contents
 * @param shape - full shape including the batch; one entry may be -1 (inferred)
 * @throws InputShapeError if the byte length does not match; NonFiniteInputError for NaN/Inf
 */
export function readRawFloat32(bytes: Uint8Array, shape: readonly number[]): Tensor {
  if (bytes.length % 4 !== 0) {
    throw new InputShapeError(`raw float32 file has ${bytes.length} bytes, not a multiple of 4`, [...shape], [bytes.length], 'check that the file holds float32 values (not float64 or uint8), written with arr.astype("<f4").tofile(path)');
  }
  const count = bytes.length / 4;
  const s = resolveShape(shape, count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const data = new Float64Array(count);
  for (let i = 0; i < count; i++) data[i] = view.getFloat32(4 * i, true);
  return validateTensor({ shape: s, data });
}

/** Options for {@link readRawUint8}. */
export interface Uint8Options {
  /** Each byte is divided by this (default 1; use 255 for [0,1] pixels). */
  divisor?: number;
  /** Round each value to float32, as `np.float32(u8) / np.float32(255)` does (default false). */
  float32?: boolean;
}

/**
 * Reads raw uint8 values (e.g. `mnist_test_2000.u8`, N×784 row-major) with the given shape.
 * With `{ divisor: 255, float32: true }` this reproduces the fixture models' normalisation
 * `float32(u8) / 255` bit for bit.
 *
 * @param bytes - file contents
 * @param shape - full shape; one entry may be -1 (inferred), e.g. `[-1, 1, 28, 28]`
 * @param options - scaling, see {@link Uint8Options}
 */
export function readRawUint8(bytes: Uint8Array, shape: readonly number[], options: Uint8Options = {}): Tensor {
  const s = resolveShape(shape, bytes.length);
  const div = options.divisor ?? 1;
  if (!(div > 0) || !Number.isFinite(div)) throw new InputFormatError(`divisor ${div} is not a positive finite number`, 'pass a positive divisor, e.g. { divisor: 255 } for [0, 1] pixels');
  const data = new Float64Array(bytes.length);
  // For float32 output: u8 and the divisor are exact, the float64 quotient is rounded once more
  // to float32; for these small integers this equals the correctly rounded float32 quotient
  // (checked for all 256 byte values with divisor 255 in the tests).
  if (options.float32 === true) for (let i = 0; i < bytes.length; i++) data[i] = Math.fround(bytes[i]! / div);
  else for (let i = 0; i < bytes.length; i++) data[i] = bytes[i]! / div;
  return { shape: s, data };
}

function resolveShape(shape: readonly number[], count: number): number[] {
  const minus = shape.filter((d) => d === -1).length;
  if (minus > 1) throw new InputShapeError(`shape ${shapeStr(shape)} has more than one -1`, [...shape], [count], 'give every dimension but one (at most one -1)');
  const known = shape.reduce((a, d) => (d === -1 ? a : a * d), 1);
  const s = shape.map((d) => (d === -1 ? (known > 0 ? count / known : 0) : d));
  if (s.some((d) => !Number.isSafeInteger(d) || d <= 0) || s.reduce((a, d) => a * d, 1) !== count) {
    throw new InputShapeError(
      `file holds ${count} values, which does not fit shape ${shapeStr(shape)}`,
      [...shape],
      [count],
      'check the shape (NCHW, batch first) and the element type of the file',
    );
  }
  return s;
}

/**
 * Reads a NumPy `.npy` file. Supported: format versions 1.0, 2.0 and 3.0; dtypes `<f4`, `<f8`,
 * `|u1` (also written `<u1`/`u1`); C order. Values are returned as float64 without scaling.
 *
 * @param bytes - file contents
 * @returns the tensor and the file's dtype string
 * @throws InputFormatError for a bad magic, unsupported dtype/byte order or Fortran order;
 *   InputShapeError if the data length does not match the header; NonFiniteInputError for NaN/Inf
 */
export function readNpy(bytes: Uint8Array): Tensor & { dtype: string } {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
  if (bytes.length < 10 || magic.some((m, i) => bytes[i] !== m)) {
    throw new InputFormatError('not a .npy file (missing the \\x93NUMPY magic)', 'save the array with numpy.save(path, arr)');
  }
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let offset: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    offset = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new InputFormatError(`truncated .npy header (${bytes.length} bytes)`, 'the file is truncated: copy or save it again');
    headerLen = view.getUint32(8, true);
    offset = 12;
  } else {
    throw new InputFormatError(`unsupported .npy format version ${major}.${bytes[7]}`, 'save it with numpy.save (format versions 1.0 to 3.0)');
  }
  if (offset + headerLen > bytes.length) throw new InputFormatError(`truncated .npy header (${headerLen} header bytes announced, ${bytes.length - offset} present)`, 'the file is truncated: copy or save it again');
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(offset, offset + headerLen));
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]+)['"]/.exec(header)?.[1];
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new InputFormatError(`malformed .npy header: ${JSON.stringify(header.trim().slice(0, 200))}`, 'save the array with numpy.save(path, arr)');
  }
  if (fortran === 'True') {
    throw new InputFormatError('the .npy array is in Fortran order', 'save numpy.ascontiguousarray(arr) instead');
  }
  const dims = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => Number(s.replace(/L$/, '')));
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) throw new InputFormatError(`malformed .npy shape (${shapeText.slice(0, 100)})`, 'save the array with numpy.save(path, arr)');
  const shape = dims.length === 0 ? [1] : dims;
  let size: number;
  let read: (i: number) => number;
  const dataStart = offset + headerLen;
  switch (descr) {
    case '<f4':
      size = 4;
      read = (i) => view.getFloat32(dataStart + 4 * i, true);
      break;
    case '<f8':
      size = 8;
      read = (i) => view.getFloat64(dataStart + 8 * i, true);
      break;
    case '|u1':
    case '<u1':
    case 'u1':
      size = 1;
      read = (i) => view.getUint8(dataStart + i);
      break;
    default: {
      const be = descr.startsWith('>');
      throw new InputFormatError(
        `unsupported .npy dtype '${descr.slice(0, 40)}'${be ? ' (big-endian)' : ''}; supported: <f4, <f8, |u1`,
        "convert it in Python: numpy.save(path, arr.astype('<f4'))",
      );
    }
  }
  const count = shape.reduce((a, d) => a * d, 1);
  const available = (bytes.length - dataStart) / size;
  if (available !== count) {
    throw new InputShapeError(
      `.npy header says shape (${dims.join(', ')}) = ${count} values of ${descr} but the file holds ${Math.floor(available)}`,
      dims,
      [Math.floor(available)],
      'the file is truncated or corrupted: save it again with numpy.save',
    );
  }
  const data = new Float64Array(count);
  for (let i = 0; i < count; i++) data[i] = read(i);
  if (count === 0) throw new InputShapeError('.npy array is empty', dims, [0], 'save an array with at least one element');
  return { ...validateTensor({ shape, data }), dtype: descr };
}

/** Deepest nesting of a JSON tensor: the reader recurses once per dimension. */
const MAX_RANK = 32;

/**
 * Reads a tensor from JSON: either nested arrays (`[[...],[...]]`, rectangular) or an object
 * `{"shape": [...], "data": [...]}` with flat row-major data.
 *
 * @param json - JSON text or an already parsed value
 * @throws InputFormatError for invalid JSON, ragged arrays or non-numbers;
 *   InputShapeError for size mismatches; NonFiniteInputError for NaN/Inf (e.g. `1e999`)
 */
export function readJsonTensor(json: string | unknown): Tensor {
  let v: unknown = json;
  if (typeof json === 'string') {
    try {
      v = JSON.parse(json);
    } catch (e) {
      throw new InputFormatError(`invalid JSON input: ${(e as Error).message}`, 'write the input with JSON.stringify or json.dump');
    }
  }
  if (Array.isArray(v)) {
    const shape: number[] = [];
    let cur: unknown = v;
    while (Array.isArray(cur)) {
      if (cur.length === 0) throw new InputFormatError('JSON input contains an empty array', 'every dimension must be positive: remove the empty array');
      if (shape.length === MAX_RANK) throw new InputFormatError(`JSON input nests arrays more than ${MAX_RANK} deep`, 'write a tensor of rank at most 32 (NCHW is rank 4)');
      shape.push(cur.length);
      cur = cur[0];
    }
    const data: number[] = [];
    const walk = (a: unknown, depth: number, path: string): void => {
      if (depth === shape.length) {
        if (typeof a !== 'number') throw new InputFormatError(`JSON input has a non-number ${brief(a, 40)} at ${path}`, 'put only numbers in the arrays');
        data.push(a);
        return;
      }
      if (!Array.isArray(a) || a.length !== shape[depth]) {
        throw new InputFormatError(`JSON input is ragged at ${path}: expected an array of length ${shape[depth]}`, 'give every row of a dimension the same length');
      }
      a.forEach((x, i) => walk(x, depth + 1, `${path}[${i}]`));
    };
    walk(v, 0, '$');
    return validateTensor({ shape, data });
  }
  if (v !== null && typeof v === 'object' && 'shape' in v && 'data' in v) {
    const { shape, data } = v as { shape: unknown; data: unknown };
    if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number')) throw new InputFormatError('JSON "shape" is not an array of numbers', 'write the shape as a list of positive integers, e.g. "shape": [1, 1, 28, 28]');
    if (!Array.isArray(data)) throw new InputFormatError('JSON "data" is not an array', 'write the data as one flat array of numbers, row-major');
    const bad = data.findIndex((d) => typeof d !== 'number');
    if (bad >= 0) throw new InputFormatError(`JSON "data" has a non-number ${brief(data[bad], 40)} at index ${bad}`, 'put only numbers in "data"');
    return validateTensor({ shape: shape as number[], data: data as number[] });
  }
  throw new InputFormatError('JSON input is not nested arrays or an object with "shape" and "data"', 'write nested arrays, or {"shape": [...], "data": [...]}');
}
