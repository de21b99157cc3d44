/**
 * Encrypted inference in both layouts, through the client/server API (only bytes cross), equals the
 * float64 simulation of the compiled network. Small insecure rings keep this suite fast; the
 * full-size parameters run in nn-encrypted-slow.test.ts (VEIL_SLOW=1) and in `npm run demo`.
 */
import { describe, expect, it } from 'vitest';
import { Client, Model, Server } from '../src/index.js';
import { BundleError, argmaxRows, runReference } from '../src/nn/index.js';
import { KeyMismatchError, SerializationError } from '../src/index.js';
import { loadModel, testDigits } from './fixtures.js';

const calib = testDigits(500);

function roundTrip(model: Model, x: ReturnType<typeof testDigits>['x']) {
  const client = new Client(model.plan);
  const server = new Server(model, client.evaluationKeys());
  const out = server.infer(client.encrypt(x));
  return { logits: client.decrypt(out), client, server };
}

function compare(model: Model, x: ReturnType<typeof testDigits>['x'], logits: { data: Float64Array }, tol: number) {
  const sim = model.simulate(x);
  let max = 0;
  for (let i = 0; i < sim.data.length; i++) max = Math.max(max, Math.abs(sim.data[i] - logits.data[i]));
  expect(max).toBeLessThan(tol);
  expect(argmaxRows({ shape: [x.shape[0], 10], data: logits.data })).toEqual(argmaxRows(sim));
  return max;
}

describe('batch layout (one image per slot)', () => {
  it('x² network: 64 images, predictions = simulation = PyTorch', () => {
    const model = Model.compile(loadModel('mnist_square'), calib.x, { insecureLogN: 11 });
    const { x } = testDigits(64, 1000);
    const { logits } = roundTrip(model, x);
    compare(model, x, logits, 1e-2);
    // x² is exact: the simulation is the original network
    expect(argmaxRows(logits as never)).toEqual(argmaxRows(runReference(model.compiled.original, x)));
  });

  it('ReLU network with OLA polynomials: 64 images, predictions = simulation', () => {
    const model = Model.compile(loadModel('mnist_relu_bn'), calib.x, { labels: calib.labels, insecureLogN: 11 });
    const { x } = testDigits(64, 1100);
    const { logits } = roundTrip(model, x);
    compare(model, x, logits, 1e-2);
  });

  it('residual GELU network (Add, GlobalAveragePool, MatMul): predictions = simulation', () => {
    const model = Model.compile(loadModel('mnist_gelu_res'), calib.x, { degrees: { kind: 'uniform', degree: 2 }, insecureLogN: 10 });
    const { x } = testDigits(16, 1200);
    const { logits } = roundTrip(model, x);
    compare(model, x, logits, 5e-2);
  });
});

describe('channel layout (one image, one ciphertext per channel)', () => {
  it('ReLU network: logits = simulation; exactly the planned Galois keys', () => {
    const model = Model.compile(loadModel('mnist_relu_bn'), calib.x, { labels: calib.labels, layout: 'channel', insecureLogN: 12 });
    expect(model.plan.rotations.length).toBeGreaterThan(10);
    for (let i = 0; i < 2; i++) {
      const { x } = testDigits(1, 1300 + i);
      const { logits } = roundTrip(model, x);
      compare(model, x, logits, 1e-2);
    }
  });

  it('x² network', () => {
    const model = Model.compile(loadModel('mnist_square'), calib.x, { layout: 'channel', insecureLogN: 12 });
    const { x } = testDigits(1, 1400);
    compare(model, x, roundTrip(model, x).logits, 1e-2);
  });
});

describe('client/server errors', () => {
  const model = Model.compile(loadModel('mnist_square'), calib.x, { insecureLogN: 10 });
  const client = new Client(model.plan);
  const keys = client.evaluationKeys();
  const server = new Server(model, keys);

  it('wrong input shape, wrong layout, corrupted or foreign bytes are refused', () => {
    expect(() => client.encrypt({ shape: [2, 1, 27, 28], data: new Float64Array(2 * 27 * 28) })).toThrow(/does not match the model input/);
    const enc = client.encrypt(testDigits(4, 0).x);
    const bad = enc.slice();
    bad[bad.length - 100] ^= 0xff;
    expect(() => server.infer(bad)).toThrow(SerializationError);
    expect(() => server.infer(enc.subarray(0, 100))).toThrow(BundleError);
    expect(() => server.infer(keys)).toThrow(/expected an input bundle/);
    const other = Model.compile(loadModel('mnist_square'), calib.x, { insecureLogN: 11 });
    expect(() => new Server(other, keys)).toThrow(/made for parameters/);
    const otherClient = new Client(other.plan);
    // another client's input (under other parameters here) is refused on its key id
    expect(() => server.infer(otherClient.encrypt(testDigits(1, 0).x))).toThrow(KeyMismatchError);
  });
});
