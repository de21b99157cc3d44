import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { CalibrationError, calibrate } from '../src/nn/compile/calibrate.js';
import { readRawUint8 } from '../src/nn/io.js';
import { importOnnx } from '../src/nn/onnx/index.js';
import { runReference } from '../src/nn/reference.js';

const fixture = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(`../fixtures/${name}`, import.meta.url)));
const images = readRawUint8(fixture('mnist_test_2000.u8'), [-1, 1, 28, 28], { divisor: 255, float32: true });
const calib = { shape: [200, 1, 28, 28], data: images.data.subarray(0, 200 * 784) };

describe('calibrate', () => {
  const g = importOnnx(fixture('mnist_relu_bn.onnx'));

  test('records every activation input with exact statistics', () => {
    const res = calibrate(g, calib, { bins: 32, margin: 0.1, batchSize: 64, maxSamples: 1000 });
    expect(res.images).toBe(200);
    expect(res.activations.map((a) => [a.node, a.op, a.shape])).toEqual([
      ['/Relu', 'Relu', [4, 12, 12]],
      ['/Relu_1', 'Relu', [8, 6, 6]],
    ]);
    // Independent computation from a single reference run.
    const seen = new Map<string, Float64Array>();
    runReference(g, calib, { onNode: (n, ins) => n.op === 'Relu' && seen.set(n.name, ins[0]!.data.slice()) });
    for (const a of res.activations) {
      const v = seen.get(a.node)!;
      const mean = v.reduce((s, x) => s + x, 0) / v.length;
      const std = Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / v.length);
      expect(a.count).toBe(v.length);
      expect(a.min).toBe(Math.min(...v));
      expect(a.max).toBe(Math.max(...v));
      expect(a.maxAbs).toBe(Math.max(...v.map(Math.abs)));
      expect(a.mean).toBeCloseTo(mean, 10);
      expect(a.std).toBeCloseTo(std, 10);
      const span = a.max - a.min;
      expect(a.histogram.lo).toBeCloseTo(a.min - 0.1 * span, 12);
      expect(a.histogram.hi).toBeCloseTo(a.max + 0.1 * span, 12);
      expect(a.histogram.counts).toHaveLength(32);
      expect(a.histogram.counts.reduce((s, c) => s + c, 0)).toBe(v.length);
      // With a 10% margin the outer 3 bins (≥ 9.4% of the span) are empty on both sides.
      expect(a.histogram.counts[0]).toBe(0);
      expect(a.histogram.counts[31]).toBe(0);
      expect(a.samples).toHaveLength(1000);
      const set = new Set(v);
      expect(Array.from(a.samples).every((s) => set.has(s))).toBe(true);
      // Per-channel ranges envelope the global range.
      expect(Math.min(...a.perChannel.min)).toBe(a.min);
      expect(Math.max(...a.perChannel.max)).toBe(a.max);
    }
  });

  test('sampling is seeded and batch-size independent in statistics', () => {
    const a = calibrate(g, calib, { seed: 7, maxSamples: 300, batchSize: 50 });
    const b = calibrate(g, calib, { seed: 7, maxSamples: 300, batchSize: 50 });
    const c = calibrate(g, calib, { seed: 8, maxSamples: 300, batchSize: 50 });
    const d = calibrate(g, calib, { seed: 7, maxSamples: 300, batchSize: 200 });
    expect(Array.from(a.activations[0]!.samples)).toEqual(Array.from(b.activations[0]!.samples));
    expect(Array.from(a.activations[0]!.samples)).not.toEqual(Array.from(c.activations[0]!.samples));
    expect(d.activations[0]!.mean).toBeCloseTo(a.activations[0]!.mean, 12);
    expect(Array.from(d.activations[0]!.histogram.counts)).toEqual(Array.from(a.activations[0]!.histogram.counts));
  });

  test('maxSamples: Infinity keeps every value in order', () => {
    const few = { shape: [3, 1, 28, 28], data: images.data.subarray(0, 3 * 784) };
    const r = calibrate(g, few, { maxSamples: Infinity });
    const seen: number[] = [];
    runReference(g, few, { onNode: (n, ins) => n.name === '/Relu_1' && seen.push(...ins[0]!.data) });
    expect(Array.from(r.byNode.get('/Relu_1')!.samples)).toEqual(seen);
  });

  test('Square and Gelu models; custom op selection', () => {
    const sq = calibrate(importOnnx(fixture('mnist_square.onnx')), calib, { maxSamples: 0 });
    expect(sq.activations.map((a) => a.op)).toEqual(['Square', 'Square']);
    expect(sq.activations[1]!.samples).toHaveLength(0);
    const ge = calibrate(importOnnx(fixture('mnist_gelu_res.onnx')), { shape: [20, 1, 28, 28], data: images.data.subarray(0, 20 * 784) });
    expect(ge.activations).toHaveLength(4);
    const conv = calibrate(g, { shape: [4, 1, 28, 28], data: images.data.subarray(0, 4 * 784) }, { ops: ['Dense'] });
    expect(conv.activations.map((a) => a.shape)).toEqual([[128]]);
  });

  test('histogram counts always sum to the count (any bins / margin)', () => {
    const small = { shape: [8, 1, 28, 28], data: images.data.subarray(0, 8 * 784) };
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.double({ min: 0, max: 2, noNaN: true }), (bins, margin) => {
        const r = calibrate(g, small, { bins, margin, maxSamples: 0 });
        for (const a of r.activations) {
          expect(a.histogram.counts.reduce((s, c) => s + c, 0)).toBe(a.count);
          expect(a.histogram.lo).toBeLessThanOrEqual(a.min);
          expect(a.histogram.hi).toBeGreaterThanOrEqual(a.max);
        }
      }),
      { numRuns: 25 },
    );
  });

  test('invalid options are CalibrationErrors', () => {
    expect(() => calibrate(g, calib, { bins: 0 })).toThrow(CalibrationError);
    expect(() => calibrate(g, calib, { margin: -1 })).toThrow(/margin/);
    expect(() => calibrate(g, calib, { batchSize: 1.5 })).toThrow(/batchSize/);
    expect(() => calibrate(g, calib, { maxSamples: -3 })).toThrow(/maxSamples/);
  });
});
