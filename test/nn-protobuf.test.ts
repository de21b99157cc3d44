import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { GraphError, UnsupportedOpError } from '../src/nn/graph.js';
import { decodeOnnxModel, importOnnx } from '../src/nn/onnx/index.js';
import { OnnxParseError, ProtoReader } from '../src/nn/onnx/protobuf.js';

/** Independent reference encoder (BigInt based), not sharing code with the reader. */
function encodeVarint(v: bigint): number[] {
  let x = BigInt.asUintN(64, v);
  const out: number[] = [];
  do {
    let b = Number(x & 0x7fn);
    x >>= 7n;
    if (x !== 0n) b |= 0x80;
    out.push(b);
  } while (x !== 0n);
  return out;
}

const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

describe('varint', () => {
  test('unsigned round trip over the safe range', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: SAFE }), (v) => {
        const r = new ProtoReader(Uint8Array.from(encodeVarint(v)));
        expect(r.readVarint()).toBe(Number(v));
        expect(r.eof()).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  test('signed int64 round trip (negatives use 10 bytes)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -SAFE, max: SAFE }), (v) => {
        const bytes = Uint8Array.from(encodeVarint(v));
        if (v < 0n) expect(bytes.length).toBe(10);
        expect(new ProtoReader(bytes).readInt64()).toBe(Number(v));
      }),
      { numRuns: 500 },
    );
  });

  test('values outside the safe range throw OnnxParseError', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: SAFE + 1n, max: (1n << 64n) - 1n }), (v) => {
        expect(() => new ProtoReader(Uint8Array.from(encodeVarint(v))).readVarint()).toThrow(OnnxParseError);
        const signed = BigInt.asIntN(64, v);
        if (signed > SAFE || signed < -SAFE) {
          expect(() => new ProtoReader(Uint8Array.from(encodeVarint(v))).readInt64()).toThrow(OnnxParseError);
        }
      }),
      { numRuns: 300 },
    );
  });

  test('truncated and over-long varints throw with the offset', () => {
    const bytes = Uint8Array.from([0x08, 0x96]); // tag, then a varint missing its last byte
    const r = new ProtoReader(bytes);
    expect(r.readTag()).toMatchObject({ field: 1, wire: 0 });
    try {
      r.readVarint();
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(OnnxParseError);
      expect((e as OnnxParseError).offset).toBe(1);
      expect((e as Error).message).toMatch(/truncated varint \(at byte 1\)/);
    }
    expect(() => new ProtoReader(new Uint8Array(11).fill(0x80)).readVarint64()).toThrow(/longer than/);
    expect(() => new ProtoReader(Uint8Array.from([...new Array<number>(9).fill(0xff), 0x02])).readVarint64()).toThrow(/64 bits/);
  });
});

describe('fields', () => {
  test('fixed32 / fixed64 / length-delimited / packed', () => {
    const f32 = new Uint8Array(new Float32Array([1.5]).buffer);
    const f64 = new Uint8Array(new Float64Array([-2.25]).buffer);
    const packed = [...new Uint8Array(new Float32Array([1, 2, 3]).buffer)];
    const bytes = Uint8Array.from([
      (1 << 3) | 5, ...f32,
      (2 << 3) | 1, ...f64,
      (3 << 3) | 2, 3, 0x61, 0x62, 0x63,
      (4 << 3) | 2, packed.length, ...packed,
      (5 << 3) | 2, 3, 1, 0x96, 0x01, // packed varints 1, 150
      (5 << 3) | 0, 7, // unpacked element
    ]);
    const r = new ProtoReader(bytes);
    expect(r.readTag().field).toBe(1);
    expect(r.readFloat32()).toBe(1.5);
    expect(r.readTag().field).toBe(2);
    expect(r.readFloat64()).toBe(-2.25);
    expect(r.readTag().field).toBe(3);
    expect(r.readString()).toBe('abc');
    const floats: number[] = [];
    r.readRepeated(r.readTag(), 'float', floats);
    expect(floats).toEqual([1, 2, 3]);
    const ints: number[] = [];
    r.readRepeated(r.readTag(), 'int64', ints);
    r.readRepeated(r.readTag(), 'int64', ints);
    expect(ints).toEqual([1, 150, 7]);
    expect(r.eof()).toBe(true);
  });

  test('length running past the message, bad wire types and groups are rejected', () => {
    const r = new ProtoReader(Uint8Array.from([0x0a, 0x05, 0x01]));
    r.readTag();
    expect(() => r.readBytes()).toThrow(/runs past the end/);
    expect(() => new ProtoReader(Uint8Array.from([0x0e])).readTag()).toThrow(/wire type 6/);
    expect(() => new ProtoReader(Uint8Array.from([0x00])).readTag()).toThrow(/field number 0/);
    const g = new ProtoReader(Uint8Array.from([0x0b]));
    expect(() => g.skip(g.readTag())).toThrow(/groups/);
    expect(() => new ProtoReader(Uint8Array.from([0x0a, 0x02, 0xc3, 0x28])).sub().readString()).toThrow(OnnxParseError);
    const s = new ProtoReader(Uint8Array.from([0x0a, 0x02, 0xc3, 0x28]));
    s.readTag();
    expect(() => s.readString()).toThrow(/UTF-8/);
  });

  test('deep nesting is bounded', () => {
    // 100 nested length-delimited fields: field 1 { field 1 { ... } }
    let inner: number[] = [];
    for (let i = 0; i < 100; i++) inner = [0x0a, ...encodeVarint(BigInt(inner.length)), ...inner];
    let r = new ProtoReader(Uint8Array.from(inner));
    expect(() => {
      for (;;) {
        r.readTag();
        r = r.sub();
      }
    }).toThrow(/nested deeper/);
  });
});

describe('robustness on fixture models', () => {
  const model = new Uint8Array(readFileSync(new URL('../fixtures/mnist_relu_bn.onnx', import.meta.url)));
  const gelu = new Uint8Array(readFileSync(new URL('../fixtures/mnist_gelu_res.onnx', import.meta.url)));

  test('the fixture decodes', () => {
    const m = decodeOnnxModel(model);
    expect(m.opsetImport).toEqual([{ domain: '', version: 15 }]);
    expect(m.graph.nodes.filter((n) => n.opType === 'BatchNormalization')).toHaveLength(2);
  });

  const expectTyped = (bytes: Uint8Array): void => {
    try {
      decodeOnnxModel(bytes);
    } catch (e) {
      expect(e).toBeInstanceOf(OnnxParseError);
      expect((e as OnnxParseError).offset).toBeGreaterThanOrEqual(0);
      expect((e as OnnxParseError).offset).toBeLessThanOrEqual(bytes.length);
    }
    try {
      importOnnx(bytes);
    } catch (e) {
      if (!(e instanceof OnnxParseError || e instanceof UnsupportedOpError || e instanceof GraphError)) throw e;
    }
  };

  test('every truncation throws only OnnxParseError (decode) or typed errors (import)', () => {
    for (const src of [model, gelu]) {
      for (let len = 0; len < src.length; len += len < 200 ? 1 : 37) expectTyped(src.subarray(0, len));
    }
  });

  test('random byte mutations never crash', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(model, gelu),
        fc.array(fc.record({ pos: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 8 }),
        (src, edits) => {
          const b = src.slice();
          for (const { pos, value } of edits) b[pos % b.length] = value;
          expectTyped(b);
        },
      ),
      { numRuns: 400 },
    );
  });

  test('random splices and garbage never crash', () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat(), fc.uint8Array({ maxLength: 64 }), (a, b, junk) => {
        const i = a % model.length;
        const j = i + (b % (model.length - i));
        expectTyped(Uint8Array.from([...model.subarray(0, i), ...junk, ...model.subarray(j)]));
      }),
      { numRuns: 200 },
    );
    fc.assert(fc.property(fc.uint8Array({ maxLength: 256 }), (junk) => expectTyped(junk)), { numRuns: 300 });
  });
});
