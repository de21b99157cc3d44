/**
 * The web demo's model: the MNIST fixture CNN (fixtures/mnist_relu_bn.onnx, ReLU with batch
 * normalisation), calibrated on the first 64 held-out fixture digits, compiled for a layout given
 * by the caller. The server's inference worker and the demo's test build it with this one function,
 * so the test's float64 simulation is of exactly the model the server runs.
 */
import { readFileSync } from 'node:fs';
import { Model } from '../../src/index.js';
import type { Layout } from '../../src/nn/compile/compile.js';
import { type Tensor, readRawUint8 } from '../../src/nn/index.js';

/** The repository root (this file runs from examples/web/ or, compiled, from dist/examples/web/). */
export const repoRoot = new URL(import.meta.url.includes('/dist/examples/') ? '../../../' : '../../', import.meta.url);

const fixture = (name: string) => new Uint8Array(readFileSync(new URL(`fixtures/${name}`, repoRoot)));

/** Pixels per digit (28 × 28). */
export const PIXELS = 784;

/** Held-out digits `[start, start + n)` as raw bytes (0–255, row-major), and their labels. */
export function fixtureDigits(start: number, n: number): { pixels: Uint8Array; labels: Uint8Array } {
  return {
    pixels: fixture('mnist_test_2000.u8').slice(start * PIXELS, (start + n) * PIXELS),
    labels: fixture('mnist_test_2000_labels.u8').slice(start, start + n),
  };
}

/** The fixtures' normalisation (tools/README.md): float32(u8) / 255, NCHW [n, 1, 28, 28]. */
export function normalise(pixels: Uint8Array): Tensor {
  return readRawUint8(pixels, [-1, 1, 28, 28], { divisor: 255, float32: true });
}

/** Compiles the demo model for `layout` (deterministic: the same call gives the same model). */
export function buildDemoModel(layout: Layout): Model {
  const calibration = normalise(fixtureDigits(0, 64).pixels);
  return Model.fromOnnx(fixture('mnist_relu_bn.onnx'), calibration, { layout });
}
