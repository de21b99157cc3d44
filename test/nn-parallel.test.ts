/**
 * Two threads give the same bytes as one: the batch layout splits each layer's output ciphertexts
 * over pool workers (shared memory), the channel layout splits key switches by limbs. Needs the
 * built workers (dist/), which `npm install` produces.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Client, Model, Server } from '../src/index.js';
import { loadModel, testDigits } from './fixtures.js';

const built = existsSync(new URL('../dist/src/nn/batch/tasks.js', import.meta.url));
const calib = testDigits(300);

describe.runIf(built)('parallel inference', () => {
  for (const layout of ['batch', 'channel'] as const) {
    it(`${layout} layout: 2 threads = 1 thread, byte for byte`, async () => {
      const model = Model.compile(loadModel('mnist_relu_bn'), calib.x, { layout, degrees: { kind: 'uniform', degree: 3 }, insecureLogN: layout === 'batch' ? 11 : 12 });
      const client = new Client(model.plan);
      const keys = client.evaluationKeys();
      const input = client.encrypt(testDigits(layout === 'batch' ? 32 : 1, 1500).x);
      const one = new Server(model, keys).infer(input);
      const server = await Server.create(model, keys, { threads: 2 });
      try {
        const two = await server.inferAsync(input);
        expect(Buffer.from(two).equals(Buffer.from(one))).toBe(true);
        expect(server.timings.length).toBe(model.graph.nodes.length);
      } finally {
        await server.close();
      }
    }, 300_000);
  }
});
