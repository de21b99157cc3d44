import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { foldBatchNorm } from '../src/nn/graph.js';
import { InputShapeError, NonFiniteInputError, readRawFloat32, readRawUint8 } from '../src/nn/io.js';
import { importOnnx } from '../src/nn/onnx/index.js';
import { argmaxRows, erf, erfc, gelu, geluTanh, runReference } from '../src/nn/reference.js';

const FIX = new URL('../fixtures/', import.meta.url);
const bytes = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(name, FIX)));
const MODELS = ['mnist_square', 'mnist_relu_bn', 'mnist_relu_bnfolded', 'mnist_gelu_res'] as const;

interface LogitsFixture {
  count: number;
  logits: number[][];
  predictions: number[];
  accuracy_2000: number;
}

const images = readRawUint8(bytes('mnist_test_2000.u8'), [-1, 1, 28, 28], { divisor: 255, float32: true });
const labels = Array.from(bytes('mnist_test_2000_labels.u8'));
const first = (k: number) => ({ shape: [k, 1, 28, 28], data: images.data.subarray(0, k * 784) });

describe('reference executor vs PyTorch fixtures', () => {
  test('test set files are consistent', () => {
    expect(images.shape).toEqual([2000, 1, 28, 28]);
    expect(labels.length).toBe(2000);
    const d64 = readRawFloat32(bytes('digits64.f32'), [64, 1, 28, 28]);
    expect(Array.from(d64.data)).toEqual(Array.from(first(64).data));
  });

  for (const m of MODELS) {
    test(`${m}: logits match PyTorch within 1e-4, accuracy reproduced`, () => {
      const g = importOnnx(bytes(`${m}.onnx`));
      const fx = JSON.parse(readFileSync(new URL(`${m}.logits.json`, FIX), 'utf8')) as LogitsFixture;
      const out = runReference(g, first(fx.count));
      expect(out.shape).toEqual([fx.count, 10]);
      let maxDiff = 0;
      fx.logits.forEach((row, b) => row.forEach((v, j) => (maxDiff = Math.max(maxDiff, Math.abs(v - out.data[b * 10 + j]!)))));
      console.log(`${m}: max |logit - pytorch| = ${maxDiff.toExponential(2)}`);
      expect(maxDiff).toBeLessThan(1e-4);
      expect(argmaxRows(out)).toEqual(fx.predictions);
      const all = argmaxRows(runReference(g, images));
      const acc = all.filter((p, i) => p === labels[i]).length / labels.length;
      expect(acc).toBeCloseTo(fx.accuracy_2000, 10);
    });
  }

  test('folding BN in the IR agrees with the exporter-folded model', () => {
    const bn = importOnnx(bytes('mnist_relu_bn.onnx'));
    const folded = foldBatchNorm(bn);
    expect(folded.nodes.some((n) => n.op === 'BatchNormalization')).toBe(false);
    expect(folded.nodes.length).toBe(bn.nodes.length - 2);
    const exported = importOnnx(bytes('mnist_relu_bnfolded.onnx'));
    const a = runReference(folded, first(64)).data;
    const b = runReference(exported, first(64)).data;
    const c = runReference(bn, first(64)).data;
    for (let k = 0; k < a.length; k++) {
      expect(Math.abs(a[k]! - b[k]!)).toBeLessThan(1e-4);
      expect(Math.abs(a[k]! - c[k]!)).toBeLessThan(1e-9);
    }
  });

  test('gelu_opset20: Gelu(none) and Gelu(tanh) match torch', () => {
    const g = importOnnx(bytes('gelu_opset20.onnx'));
    expect(g.nodes.map((n) => n.op)).toEqual(['Dense', 'Gelu', 'Dense', 'Gelu']);
    const fx = JSON.parse(readFileSync(new URL('gelu_opset20.expected.json', FIX), 'utf8')) as {
      input_shape: number[];
      input: number[][];
      output: number[][];
    };
    const out = runReference(g, { shape: fx.input_shape, data: fx.input.flat() });
    fx.output.flat().forEach((v, k) => expect(Math.abs(v - out.data[k]!)).toBeLessThan(1e-9));
  });
});

describe('input validation', () => {
  const g = importOnnx(bytes('mnist_square.onnx'));
  test('wrong shape names the expected shape and a fix', () => {
    expect(() => runReference(g, { shape: [1, 28, 28], data: new Float64Array(784) })).toThrow(InputShapeError);
    expect(() => runReference(g, { shape: [1, 28, 28], data: new Float64Array(784) })).toThrow(/\[N,1,28,28\].*leading batch dimension/);
    expect(() => runReference(g, { shape: [2, 784], data: new Float64Array(1568) })).toThrow(/reshape to \[2,1,28,28\]/);
    expect(() => runReference(g, { shape: [1, 1, 28, 28], data: new Float64Array(700) })).toThrow(/needs 784/);
  });
  test('NaN and Infinity are rejected with their index', () => {
    const data = new Float64Array(784);
    data[17] = NaN;
    expect(() => runReference(g, { shape: [1, 1, 28, 28], data })).toThrow(NonFiniteInputError);
    data[17] = Infinity;
    expect(() => runReference(g, { shape: [1, 1, 28, 28], data })).toThrow(/index 17/);
  });
});

describe('special functions', () => {
  test('erf/erfc against high-precision values', () => {
    const cases: [number, number, number][] = [
      [0.1, 0.1124629160182849, 0.8875370839817152],
      [0.5, 0.5204998778130465, 0.4795001221869535],
      [1, 0.8427007929497149, 0.15729920705028513],
      [2, 0.9953222650189527, 0.004677734981047265],
      [2.5, 0.999593047982555, 0.0004069520174449589],
      [3, 0.9999779095030014, 2.2090496998585438e-5],
      [5, 0.9999999999984626, 1.5374597944280351e-12],
    ];
    for (const [x, e, ec] of cases) {
      expect(Math.abs(erf(x) - e)).toBeLessThan(4e-16);
      expect(Math.abs(erf(-x) + e)).toBeLessThan(4e-16);
      expect(Math.abs(erfc(x) - ec) / ec).toBeLessThan(1e-12);
    }
    expect(erf(0)).toBe(0);
    expect(erf(10)).toBe(1);
  });
  test('gelu properties', () => {
    expect(gelu(0)).toBe(0);
    expect(Math.abs(gelu(1) - 0.8413447460685429)).toBeLessThan(1e-15);
    expect(Math.abs(gelu(-3) - -0.00404969409489031)).toBeLessThan(1e-15);
    expect(Math.abs(geluTanh(1) - 0.8411919906082768)).toBeLessThan(1e-15);
    for (let x = -8; x <= 8; x += 0.37) expect(Math.abs(gelu(x) - gelu(-x) - x)).toBeLessThan(1e-14);
  });
});
