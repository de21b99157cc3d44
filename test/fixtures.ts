/** Loads the committed MNIST fixtures (see tools/README.md for how they were made). */
import { readFileSync } from 'node:fs';
import { importOnnx } from '../src/nn/onnx/index.js';
import { readRawUint8 } from '../src/nn/io.js';
import type { IrGraph, Tensor } from '../src/nn/graph.js';

const FIX = new URL('../fixtures/', import.meta.url);

/** Bytes of a fixture file. */
export const fixtureBytes = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(name, FIX)));

/** An imported fixture model. */
export const loadModel = (name: string): IrGraph => importOnnx(fixtureBytes(`${name}.onnx`));

/** The first `count` held-out test digits as [count, 1, 28, 28] (x/255) and their labels. */
export function testDigits(count: number, offset = 0): { x: Tensor; labels: Uint8Array } {
  const all = fixtureBytes('mnist_test_2000.u8');
  const labels = fixtureBytes('mnist_test_2000_labels.u8').slice(offset, offset + count);
  const x = readRawUint8(all.subarray(offset * 784, (offset + count) * 784), [count, 1, 28, 28], { divisor: 255, float32: true });
  return { x, labels };
}
