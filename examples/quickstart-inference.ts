/**
 * Private inference on one MNIST digit, from the repository's fixtures: the ReLU CNN
 * `fixtures/mnist_relu_bn.onnx` (conv–BN–ReLU–avgpool ×2 + dense), calibrated on the first 1,000
 * held-out digits of `fixtures/mnist_test_2000.u8`, then run encrypted on digit 1,000.
 *
 *   npm run example:inference     (node dist/examples/quickstart-inference.js, from the repository root)
 *
 * Everything from the first import on is the README's "Private inference" snippet, unchanged.
 *
 * Layout: `channel` (one image, one ciphertext per channel, 37 Galois keys, 105 MB of evaluation
 * keys): seconds for one digit. The `batch` layout puts one image in each of the 8,192 slots and
 * costs the same whatever the image count: minutes and gigabytes. A full batch run of 8,192 digits
 * (`npm run bench:nn -- --models=relu --layouts=batch`) measured 187 s of server time on one
 * thread and 165 s on two, 2.8 and 3.1 GB peak RSS, 462 MB of encrypted input, on a 2-core machine
 * busy with other work (load 7–11). The `packed` layout also takes one image but needs 88 Galois
 * keys (245 MB) for this network.
 */
import { readFileSync } from 'node:fs';
import { Client, Model, Server } from 'veil-fhe';
import { argmaxRows, readRawUint8 } from 'veil-fhe/nn';

// 2,000 held-out MNIST digits, 784 bytes each; the models expect pixels / 255 as [N, 1, 28, 28]
const pixels = readFileSync('fixtures/mnist_test_2000.u8');
const labels = readFileSync('fixtures/mnist_test_2000_labels.u8');
const digits = (from: number, n: number) =>
  readRawUint8(pixels.subarray(from * 784, (from + n) * 784), [n, 1, 28, 28], { divisor: 255, float32: true });

// server side: import the ONNX model, fit its activation polynomials to 1,000 representative digits
const model = Model.fromOnnx(readFileSync('fixtures/mnist_relu_bn.onnx'), digits(0, 1000), { layout: 'channel' });

const client = new Client(model.plan);                   // client side: the secret key stays here
const keys = client.evaluationKeys();                     // bytes → server
const input = client.encrypt(digits(1000, 1));            // bytes → server

const server = new Server(model, keys);                   // sees parameters, keys, ciphertexts only
const output = server.infer(input);                       // bytes → client

const logits = client.decrypt(output);                    // [1, 10]
const MB = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
console.log(`prediction ${argmaxRows(logits)[0]}, label ${labels[1000]}, float64 simulation ${argmaxRows(model.simulate(digits(1000, 1)))[0]}`);
console.log(`sent: keys ${MB(keys.length)}, input ${MB(input.length)}; returned ${MB(output.length)}`);
for (const t of server.timings) console.log(`  ${t.op.padEnd(12)} ${t.node.padEnd(20)} ${t.seconds.toFixed(2)} s`);
