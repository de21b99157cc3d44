/**
 * The ONNX writer: the protobuf encoder against the library's reader, and whole models written and
 * read back (fixtures, compiled graphs, polynomial activations per layer/channel/element) compute
 * what they computed before. Whether onnxruntime and PyTorch run the written files is checked by
 * tools/check_onnx.mjs and tools/check_onnx.py (not part of npm test: they need those runtimes).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  type IrGraph, type Tensor, compileModel, decodeOnnxModel, importOnnx, runReference, writeOnnx,
} from '../src/nn/index.js';
import { ProtoReader } from '../src/nn/onnx/protobuf.js';
import { ProtoWriter } from '../src/nn/onnx/protobuf-writer.js';
import { fixtureBytes, loadModel, testDigits } from './fixtures.js';
import { type N, type T, model } from './onnx-builder.js';
import { randomVector } from './helpers.js';

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]!));
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m / (1 + scale);
}

/** Everything but names and sources: ops, shapes, attributes and weights. */
function structure(g: IrGraph): unknown {
  return g.nodes.map((n) => {
    const o: Record<string, unknown> = { ...n };
    delete o.sources;
    for (const [k, v] of Object.entries(o)) {
      if (v instanceof Float64Array) o[k] = Array.from(v);
      else if (v && typeof v === 'object' && 'data' in (v as object)) o[k] = { shape: (v as Tensor).shape, data: Array.from((v as Tensor).data) };
    }
    return o;
  });
}

describe('protobuf encoder', () => {
  it('varints (negatives as ten-byte int64), floats, strings and sub-messages read back', () => {
    fc.assert(fc.property(
      fc.array(fc.oneof(fc.integer({ min: -(2 ** 31), max: 2 ** 31 }), fc.maxSafeInteger(), fc.integer({ min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER })), { maxLength: 20 }),
      fc.float({ noNaN: true }), fc.string(),
      (ints, f, s) => {
        const inner = new ProtoWriter().string(1, s);
        const w = new ProtoWriter();
        for (const v of ints) w.int(3, v);
        w.float(4, f).message(5, inner).packedInts(6, ints);
        const r = new ProtoReader(w.finish());
        const got: number[] = [];
        let packed: number[] = [];
        let gf = NaN;
        let gs = '';
        while (!r.eof()) {
          const t = r.readTag();
          if (t.field === 3) got.push(r.readInt64());
          else if (t.field === 4) gf = r.readFloat32();
          else if (t.field === 5) {
            const { start, end } = r.readLengthDelimited();
            const sub = new ProtoReader(w.finish(), start, end);
            sub.readTag();
            gs = sub.readString();
          } else if (t.field === 6) {
            const { start, end } = r.readLengthDelimited();
            const sub = new ProtoReader(w.finish(), start, end);
            packed = [];
            while (!sub.eof()) packed.push(sub.readInt64());
          }
        }
        expect(got).toEqual(ints);
        expect(packed).toEqual(ints);
        expect(Object.is(gf, Math.fround(f)) || gf === Math.fround(f)).toBe(true);
        expect(gs).toBe(s);
      },
    ), { numRuns: 200 });
  });
});

describe('written models read back', () => {
  const x = testDigits(32, 500).x;
  for (const name of ['mnist_square', 'mnist_relu_bn', 'mnist_relu_bnfolded', 'mnist_gelu_res']) {
    it(`${name}: import → write → import gives the same graph and the same logits`, () => {
      const g = loadModel(name);
      const bytes = writeOnnx(g);
      const again = importOnnx(bytes);
      expect(structure(again)).toEqual(structure(g));
      expect(again.nodes.map((n) => n.name)).toEqual(g.nodes.map((n) => n.name));
      expect(Array.from(runReference(again, x).data)).toEqual(Array.from(runReference(g, x).data));
      const m = decodeOnnxModel(bytes);
      expect(m.opsetImport).toEqual([{ domain: '', version: 13 }]);
      expect(m.graph.inputs[0]!.shape).toEqual(['N', ...g.input.shape]);
      expect(bytes.length).toBeLessThan(fixtureBytes(`${name}.onnx`).length * 1.5);
    });
  }

  it('compiled graphs (Chebyshev maps, sum pools, redistributed quadratics) compute the simulation to float32 precision', () => {
    for (const degree of [2, 5]) {
      const m = compileModel(loadModel('mnist_relu_bn'), testDigits(100).x, { degrees: { kind: 'uniform', degree } });
      const again = importOnnx(writeOnnx(m.graph));
      expect(maxRelDiff(runReference(again, x).data, runReference(m.graph, x).data)).toBeLessThan(1e-5);
    }
  });

  it('polynomial activations per layer, channel and element travel exactly (float32 coefficients)', () => {
    const vals = (n: number, seed: number) => Array.from(randomVector(n, seed, -0.5, 0.5), Math.fround);
    for (const dims of [[1], [2, 1, 1], [2, 3, 3]]) {
      const k = dims.reduce((a, b) => a * b, 1);
      const nodes: N[] = [
        { op: 'Conv', inputs: ['x', 'W'], outputs: ['c'], attrs: { pads: { ints: [1, 1, 1, 1] } } },
        { op: 'Mul', inputs: ['c', 'a'], outputs: ['t'] },
        { op: 'Add', inputs: ['t', 'b'], outputs: ['u'] },
        { op: 'Mul', inputs: ['u', 'c'], outputs: ['v'] },
        { op: 'Add', inputs: ['v', 'd'], outputs: ['p'] },
        { op: 'Flatten', inputs: ['p'], outputs: ['f'] },
        { op: 'Gemm', inputs: ['f', 'D'], outputs: ['y'], attrs: { transB: { i: 1 } } },
      ];
      const inits: T[] = [
        { name: 'W', dims: [2, 1, 3, 3], values: vals(18, 1) }, { name: 'a', dims, values: vals(k, 2) }, { name: 'b', dims, values: vals(k, 3) },
        { name: 'd', dims, values: vals(k, 4) }, { name: 'D', dims: [4, 18], values: vals(72, 5) },
      ];
      const g = importOnnx(model({ nodes, inits, input: ['x', ['N', 1, 3, 3]] }));
      expect(g.nodes.map((n) => n.op)).toEqual(['Conv', 'Poly', 'Flatten', 'Dense']);
      const again = importOnnx(writeOnnx(g));
      expect(structure(again)).toEqual(structure(g));
      const xi = { shape: [3, 1, 3, 3], data: randomVector(27, 6, -1, 1) };
      expect(Array.from(runReference(again, xi).data)).toEqual(Array.from(runReference(g, xi).data));
    }
  });

  it('non-finite weights are refused with the node named', () => {
    const g = loadModel('mnist_square');
    const bad = { ...g, nodes: g.nodes.map((n) => (n.op === 'Dense' ? { ...n, weight: { ...n.weight, data: n.weight.data.map((v, i) => (i === 3 ? NaN : v)) } } : n)) };
    expect(() => writeOnnx(bad)).toThrow(/weight.*NaN/);
  });
});
