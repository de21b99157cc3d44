import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  InputFormatError,
  InputShapeError,
  NonFiniteInputError,
  readJsonTensor,
  readNpy,
  readRawFloat32,
  readRawUint8,
  validateTensor,
} from '../src/nn/io.js';

/** Builds a .npy file the way numpy.save does (header padded to a multiple of 64 bytes). */
function npy(descr: string, shape: number[], payload: Uint8Array, opts: { version?: 1 | 2 | 3; fortran?: boolean } = {}): Uint8Array {
  const version = opts.version ?? 1;
  const shapeStr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': ${opts.fortran === true ? 'True' : 'False'}, 'shape': ${shapeStr}, }`;
  const pre = version === 1 ? 10 : 12;
  const total = Math.ceil((pre + header.length + 1) / 64) * 64;
  header = header.padEnd(total - pre - 1, ' ') + '\n';
  const out = new Uint8Array(total + payload.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const dv = new DataView(out.buffer);
  if (version === 1) dv.setUint16(8, header.length, true);
  else dv.setUint32(8, header.length, true);
  out.set(new TextEncoder().encode(header), pre);
  out.set(payload, total);
  return out;
}
const f32 = (v: number[]): Uint8Array => new Uint8Array(new Float32Array(v).buffer);
const f64 = (v: number[]): Uint8Array => new Uint8Array(new Float64Array(v).buffer);

describe('npy', () => {
  test('<f4, <f8, |u1 with v1/v2/v3 headers', () => {
    const a = readNpy(npy('<f4', [2, 1, 2, 2], f32([0, 1, 2, 3, 4, 5, 6, 7.5])));
    expect(a.shape).toEqual([2, 1, 2, 2]);
    expect(Array.from(a.data)).toEqual([0, 1, 2, 3, 4, 5, 6, 7.5]);
    expect(a.dtype).toBe('<f4');
    const b = readNpy(npy('<f8', [3], f64([0.1, 0.2, 0.3]), { version: 2 }));
    expect(Array.from(b.data)).toEqual([0.1, 0.2, 0.3]);
    const c = readNpy(npy('|u1', [2, 2], Uint8Array.from([0, 128, 255, 7]), { version: 3 }));
    expect(Array.from(c.data)).toEqual([0, 128, 255, 7]);
  });

  test('float32 round trip (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 50 }), (vals) => {
        const r = readNpy(npy('<f4', [vals.length], f32(vals)));
        expect(Array.from(r.data)).toEqual(vals.map((v) => (Object.is(v, -0) ? -0 : v)));
      }),
    );
  });

  test('clear errors', () => {
    expect(() => readNpy(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]))).toThrow(InputFormatError);
    expect(() => readNpy(npy('>f4', [1], f32([1])))).toThrow(/big-endian.*astype\('<f4'\)/);
    expect(() => readNpy(npy('<i8', [1], f64([1])))).toThrow(/unsupported \.npy dtype '<i8'/);
    expect(() => readNpy(npy('<f4', [2, 2], f32([1, 2, 3, 4]), { fortran: true }))).toThrow(/ascontiguousarray/);
    expect(() => readNpy(npy('<f4', [2, 2], f32([1, 2, 3])))).toThrow(InputShapeError);
    expect(() => readNpy(npy('<f4', [2], f32([1, NaN])))).toThrow(NonFiniteInputError);
    expect(() => readNpy(npy('<f4', [2], f32([1, 2])).subarray(0, 40))).toThrow(/truncated/);
  });
});

describe('raw files', () => {
  test('float32 with an inferred batch dimension', () => {
    const t = readRawFloat32(f32([1, 2, 3, 4, 5, 6]), [-1, 3]);
    expect(t.shape).toEqual([2, 3]);
    expect(() => readRawFloat32(f32([1, 2, 3, 4, 5]), [-1, 3])).toThrow(/5 values.*\[-1,3\]/);
    expect(() => readRawFloat32(new Uint8Array(7), [-1])).toThrow(/multiple of 4/);
    expect(() => readRawFloat32(f32([Infinity]), [1])).toThrow(NonFiniteInputError);
  });
  test('uint8 / 255 in float32 equals the correctly rounded float32 quotient for every byte', () => {
    const all = readRawUint8(Uint8Array.from({ length: 256 }, (_, i) => i), [256], { divisor: 255, float32: true });
    const next = (q: number, dir: number): number => {
      const b = new Float32Array([q]);
      const u = new Uint32Array(b.buffer);
      u[0]! += dir;
      return b[0]!;
    };
    all.data.forEach((q, b) => {
      if (b === 0) return expect(q).toBe(0);
      const err = Math.abs(q * 255 - b); // exact: 24-bit mantissa times 8 bits
      expect(err).toBeLessThanOrEqual(Math.abs(next(q, 1) * 255 - b));
      expect(err).toBeLessThanOrEqual(Math.abs(next(q, -1) * 255 - b));
    });
  });
});

describe('json', () => {
  test('nested arrays and {shape,data}', () => {
    expect(readJsonTensor('[[[1,2],[3,4]]]')).toEqual({ shape: [1, 2, 2], data: Float64Array.from([1, 2, 3, 4]) });
    expect(readJsonTensor({ shape: [2, 2], data: [1, 2, 3, 4] }).shape).toEqual([2, 2]);
  });
  test('errors name the problem', () => {
    expect(() => readJsonTensor('[[1,2],[3]]')).toThrow(/ragged at \$\[1\]/);
    expect(() => readJsonTensor('[[1,"a"]]')).toThrow(/non-number "a" at \$\[0\]\[1\]/);
    expect(() => readJsonTensor('{"shape":[2,2],"data":[1,2,3]}')).toThrow(/3 values but shape \[2,2\] needs 4/);
    expect(() => readJsonTensor('[1, 1e999]')).toThrow(NonFiniteInputError);
    expect(() => readJsonTensor('{oops')).toThrow(/invalid JSON/);
    expect(() => readJsonTensor('[]')).toThrow(/empty array/);
    expect(() => readJsonTensor('{"data":[1]}')).toThrow(/nested arrays or/);
  });
});

describe('validateTensor', () => {
  test('expected shapes with a free batch', () => {
    expect(validateTensor({ shape: [5, 3], data: new Float32Array(15) }, ['N', 3]).data).toBeInstanceOf(Float64Array);
    expect(() => validateTensor({ shape: [5, 4], data: new Float32Array(20) }, ['N', 3])).toThrow(/\[5,4\] does not match the expected \[N,3\]/);
    expect(() => validateTensor({ shape: [0, 3], data: [] })).toThrow(/positive integers/);
  });
});
