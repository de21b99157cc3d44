/**
 * Bootstrapping in a model: a network deeper than the user levels of a bootstrapping set runs
 * through Model → Client → Server with bootstraps placed between its layers (packed layout). This
 * example runs the small test set `N12-BOOT-T` (N = 2^12, NOT secure, 2 user levels, seconds); the
 * 128-bit set is `N16-BOOT` (9 user levels, about 47 s per bootstrap on one thread).
 *
 *   npm run example:bootstrap-model     (node dist/examples/bootstrap-model.js)
 *
 * Everything from the first import on is the README's "Bootstrapping in a model" snippet, unchanged.
 */
import { readFileSync } from 'node:fs';
import { Client, Model, Server } from 'veil-fhe';
import { argmaxRows, readRawUint8 } from 'veil-fhe/nn';

const pixels = readFileSync('fixtures/mnist_test_2000.u8');
const digits = (from: number, n: number) =>
  readRawUint8(pixels.subarray(from * 784, (from + n) * 784), [n, 1, 28, 28], { divisor: 255, float32: true });

// 'N12-BOOT-T' is a small INSECURE test ring (2 user levels); 'N16-BOOT' is the 128-bit set
const model = Model.fromOnnx(readFileSync('fixtures/mnist_square.onnx'), digits(0, 256), { layout: 'packed', bootstrap: 'N12-BOOT-T' });
const client = new Client(model.plan);                     // its keys include the bootstrapping set
const server = new Server(model, client.evaluationKeys());
const logits = client.decrypt(server.infer(client.encrypt(digits(1000, 1))));
const seconds = server.bootstraps.map((b) => `${(b.ms / 1000).toFixed(1)} s`).join(', ');
console.log(`depth ${model.plan.depth} at ${model.plan.bootstrap!.inputLevel} user levels: ${server.bootstraps.length} bootstraps (${seconds})`);
console.log(`prediction ${argmaxRows(logits)[0]}, float64 simulation ${argmaxRows(model.simulate(digits(1000, 1)))[0]}`);
