/**
 * The ResNet fixtures of tools/make_resnets.py: Veil's plaintext executor against PyTorch's
 * float64 logits, the MNIST train/validation/test split, and the ResNet-20 activation ranges.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { calibrate } from '../src/nn/compile/calibrate.js';
import { readRawFloat32 } from '../src/nn/io.js';
import { importOnnx } from '../src/nn/onnx/index.js';
import { argmaxRows, runReference } from '../src/nn/reference.js';
import type { IrGraph, Tensor } from '../src/nn/graph.js';
import { fixtureBytes, testDigits } from './fixtures.js';

const json = <T>(name: string): T => JSON.parse(readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8')) as T;

interface LogitsFixture {
  count: number;
  logits: number[][];
  predictions: number[];
  float32_max_abs_diff: number;
  accuracy_2000?: number;
}

/** Largest |Veil − PyTorch| over all logits. */
function maxDiff(out: Tensor, fx: LogitsFixture): number {
  let d = 0;
  const k = fx.logits[0]!.length;
  fx.logits.forEach((row, b) => row.forEach((v, j) => (d = Math.max(d, Math.abs(v - out.data[b * k + j]!)))));
  return d;
}

const count = (g: IrGraph, op: string) => g.nodes.filter((n) => n.op === op).length;

describe('MNIST ResNet fixture (mnist_relu_res)', () => {
  const g = importOnnx(fixtureBytes('mnist_relu_res.onnx'));

  test('structure: 7 ReLUs, BN kept, residual Adds, global average pool', () => {
    expect(g.input.shape).toEqual([1, 28, 28]);
    expect(count(g, 'Relu')).toBe(7);
    expect(count(g, 'BatchNormalization')).toBe(9); // 7 on the main path + 2 on the projection shortcuts
    expect(count(g, 'Add')).toBe(3);
    expect(count(g, 'GlobalAveragePool')).toBe(1);
    let params = 0;
    for (const n of g.nodes) {
      if (n.op === 'Conv' || n.op === 'Dense') params += n.weight.data.length + (n.bias?.data.length ?? 0);
      if (n.op === 'BatchNormalization') params += 2 * n.scale.length;
    }
    expect(params).toBe(json<{ models: Record<string, { params: number }> }>('resnets.json').models.mnist_relu_res!.params);
  });

  test('logits of the 2,000 test digits match PyTorch within 1e-4; accuracy reproduced', () => {
    const fx = json<LogitsFixture>('mnist_relu_res.logits.json');
    const { x, labels } = testDigits(2000);
    expect(fx.count).toBe(2000);
    const out = runReference(g, x);
    const d = maxDiff(out, fx);
    console.log(`mnist_relu_res: max |logit - pytorch| = ${d.toExponential(2)} over 2,000 digits`);
    expect(d).toBeLessThan(1e-4);
    const pred = argmaxRows(out);
    expect(pred).toEqual(fx.predictions);
    const acc = pred.filter((p, i) => p === labels[i]).length / 2000;
    expect(acc).toBeCloseTo(fx.accuracy_2000!, 10);
    expect(acc).toBeGreaterThan(0.97);
  });
});

describe('MNIST split (mnist_split.json)', () => {
  const split = json<{ class_counts: number[]; train: number[]; validation: number[]; test: number[] }>('mnist_split.json');

  test('7,000 train / 1,000 validation / 2,000 test, disjoint, covering the 10,000 digits', () => {
    expect([split.train.length, split.validation.length, split.test.length]).toEqual([7000, 1000, 2000]);
    const all = [...split.train, ...split.validation, ...split.test];
    expect(new Set(all).size).toBe(10000);
    expect(Math.min(...all)).toBe(0);
    expect(Math.max(...all)).toBe(9999);
    expect(split.class_counts.reduce((a, b) => a + b, 0)).toBe(10000);
  });

  test('the test part is the committed test set: its labels follow from the class files', () => {
    // digits are the class files 0…9 concatenated, so an index's label is the class whose range holds it
    const starts = split.class_counts.map((_, c) => split.class_counts.slice(0, c).reduce((a, b) => a + b, 0));
    const labelOf = (i: number) => starts.filter((s) => s <= i).length - 1;
    const committed = testDigits(2000).labels;
    expect(split.test.map(labelOf)).toEqual(Array.from(committed));
  });
});

describe('ResNet-20 fixtures (random weights, CIFAR shape)', () => {
  const x4 = readRawFloat32(fixtureBytes('cifar_inputs4.f32'), [4, 3, 32, 32]);

  test('inputs are 4 images uniform in [0, 1]', () => {
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of x4.data) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    expect(lo).toBeGreaterThanOrEqual(0);
    expect(lo).toBeLessThan(1e-3);
    expect(hi).toBeLessThan(1);
    expect(hi).toBeGreaterThan(1 - 1e-3);
  });

  test('resnet20_relu: 19 ReLUs, option-B shortcuts, logits match PyTorch within 1e-4', () => {
    const g = importOnnx(fixtureBytes('resnet20_relu.onnx'));
    expect(g.input.shape).toEqual([3, 32, 32]);
    expect(count(g, 'Relu')).toBe(19);
    expect(count(g, 'Add')).toBe(9);
    const convs = g.nodes.filter((n) => n.op === 'Conv');
    expect(convs.length).toBe(21); // stem + 18 in blocks + 2 projections
    expect(convs.filter((n) => n.op === 'Conv' && n.kernel[0] === 1).length).toBe(2);
    expect(count(g, 'BatchNormalization')).toBe(21);
    const fx = json<LogitsFixture>('resnet20_relu.logits.json');
    const out = runReference(g, x4);
    const d = maxDiff(out, fx);
    console.log(`resnet20_relu: max |logit - pytorch| = ${d.toExponential(2)}`);
    expect(d).toBeLessThan(1e-4);
    expect(argmaxRows(out)).toEqual(fx.predictions);
  });

  test('resnet20_relu: every activation input stays in a sane range on the fixture inputs', () => {
    const g = importOnnx(fixtureBytes('resnet20_relu.onnx'));
    const cal = calibrate(g, x4, { maxSamples: 0 });
    expect(cal.activations.length).toBe(19);
    for (const a of cal.activations) {
      // BN keeps each layer's input near unit spread; identity shortcuts add up a few of them
      expect(a.std).toBeGreaterThan(0.3);
      expect(a.std).toBeLessThan(3);
      expect(a.maxAbs).toBeLessThan(20);
    }
  });

  test('resnet20_quad: logits match PyTorch once polynomial activations import; until then a typed error names the product', () => {
    const bytes = fixtureBytes('resnet20_quad.onnx');
    let g: IrGraph;
    try {
      g = importOnnx(bytes);
    } catch (e) {
      // Mul(t, x) with t = a·x + b is a product of two input-dependent tensors, which the importer
      // rejects until it recognises polynomial activations written with Mul/Add.
      expect((e as Error).message).toMatch(/product of two different input-dependent tensors/);
      console.log('resnet20_quad: not importable yet (polynomial activations written with Mul/Add are not recognised); logits not checked');
      return;
    }
    const fx = json<LogitsFixture>('resnet20_quad.logits.json');
    const out = runReference(g, x4);
    const d = maxDiff(out, fx);
    console.log(`resnet20_quad: max |logit - pytorch| = ${d.toExponential(2)}`);
    expect(d).toBeLessThan(1e-4);
    expect(argmaxRows(out)).toEqual(fx.predictions);
  });
});
