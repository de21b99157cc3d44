/**
 * Full-size (128-bit secure) encrypted inference on 64 held-out digits, both fixture CNNs, batch
 * layout on two threads (the server's worker pool; the test's event loop stays free while the
 * workers compute): encrypted predictions equal the simulation, and for the x² network equal
 * PyTorch's. Slow (minutes): runs only with VEIL_SLOW=1 (`npm run test:slow`).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Client, Model, Server } from '../src/index.js';
import { argmaxRows } from '../src/nn/index.js';
import { loadModel, testDigits } from './fixtures.js';

const slow = process.env.VEIL_SLOW ? describe : describe.skip;

slow('full-size encrypted inference (VEIL_SLOW=1)', () => {
  const calib = testDigits(1000);
  for (const name of ['mnist_square', 'mnist_relu_bn']) {
    it(`${name}: 64 encrypted predictions equal the simulation${name === 'mnist_square' ? ' and PyTorch' : ''}`, async () => {
      // PyTorch's logits are committed for digits 0..255; the ReLU network is checked on held-out digits
      const { x } = name === 'mnist_square' ? testDigits(64, 0) : testDigits(64, 1000);
      const model = Model.compile(loadModel(name), calib.x, { labels: calib.labels });
      expect(model.params.insecure).toBe(false);
      const client = new Client(model.plan);
      const server = await Server.create(model, client.evaluationKeys(), { threads: 2 });
      let out: Uint8Array;
      try {
        out = await server.inferAsync(client.encrypt(x));
      } finally {
        await server.close();
      }
      const pred = argmaxRows(client.decrypt(out));
      expect(pred).toEqual(argmaxRows(model.simulate(x)));
      if (name === 'mnist_square') {
        const torch = JSON.parse(readFileSync(new URL('../fixtures/mnist_square.logits.json', import.meta.url), 'utf8')) as { predictions: number[] };
        expect(pred).toEqual(torch.predictions.slice(0, 64));
      }
    }, 1_800_000);
  }
});
