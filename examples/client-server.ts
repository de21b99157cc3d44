/**
 * Client/server private inference over HTTP on localhost, in two processes.
 *
 *   node dist/examples/client-server.js            (starts the server as a child process, then acts as client)
 *
 * The server process loads the model (it owns the weights) and publishes only the public plan.
 * The client generates its keys, keeps the secret key, and sends the server bytes only: the
 * evaluation keys and the encrypted images. The server returns encrypted logits, which only the
 * client can decrypt. Every message is printed with its size.
 */
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client, Model, Server } from '../src/index.js';
import { argmaxRows, readRawUint8, type ModelPlan } from '../src/nn/index.js';

const FIX = new URL('../../fixtures/', import.meta.url);
const digits = (start: number, n: number) =>
  readRawUint8(new Uint8Array(readFileSync(new URL('mnist_test_2000.u8', FIX))).subarray(start * 784, (start + n) * 784), [n, 1, 28, 28], { divisor: 255, float32: true });
const labels = new Uint8Array(readFileSync(new URL('mnist_test_2000_labels.u8', FIX)));
const kib = (n: number) => `${(n / 1024).toFixed(0)} KiB`;

async function body(req: http.IncomingMessage): Promise<Uint8Array> {
  const parts: Buffer[] = [];
  for await (const c of req) parts.push(c as Buffer);
  return new Uint8Array(Buffer.concat(parts));
}

/** Server process: model + evaluation keys, never a secret key. */
function serve(): void {
  const model = Model.fromOnnx(new Uint8Array(readFileSync(new URL('mnist_square.onnx', FIX))), digits(0, 500), { layout: 'batch' });
  let server: Server | null = null;
  const httpServer = http.createServer(async (req, res) => {
    try {
      if (req.method === 'GET' && req.url === '/plan') {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(model.plan));
      } else if (req.method === 'POST' && req.url === '/keys') {
        const b = await body(req);
        server = new Server(model, b);
        process.stderr.write(`[server] received evaluation keys: ${kib(b.length)}\n`);
        res.end('ok');
      } else if (req.method === 'POST' && req.url === '/infer') {
        if (!server) throw new Error('no evaluation keys yet');
        const b = await body(req);
        process.stderr.write(`[server] received an encrypted batch: ${kib(b.length)}; running...\n`);
        const t = performance.now();
        const out = server.infer(b);
        process.stderr.write(`[server] done in ${((performance.now() - t) / 1000).toFixed(1)} s, returning ${kib(out.length)}\n`);
        res.setHeader('content-type', 'application/octet-stream');
        res.end(Buffer.from(out));
      } else {
        res.statusCode = 404;
        res.end();
      }
    } catch (e) {
      res.statusCode = 400;
      res.end((e as Error).message);
    }
  });
  httpServer.listen(0, '127.0.0.1', () => process.send?.({ port: (httpServer.address() as AddressInfo).port }));
}

async function client(port: number): Promise<void> {
  const base = `http://127.0.0.1:${port}`;
  const plan = (await (await fetch(`${base}/plan`)).json()) as ModelPlan;
  console.log(`[client] plan: ${plan.layout} layout, N=2^${plan.params.logN}, depth ${plan.depth}, input [${plan.inputShape}]`);
  const c = new Client(plan); // the secret key is created here and never serialized
  const keys = c.evaluationKeys();
  console.log(`[client] sending evaluation keys (${kib(keys.length)})`);
  await fetch(`${base}/keys`, { method: 'POST', body: new Uint8Array(keys) });
  const n = 32;
  const enc = c.encrypt(digits(1000, n));
  console.log(`[client] sending ${n} encrypted images (${kib(enc.length)})`);
  const r = await fetch(`${base}/infer`, { method: 'POST', body: new Uint8Array(enc) });
  if (!r.ok) throw new Error(await r.text());
  const out = new Uint8Array(await r.arrayBuffer());
  const pred = argmaxRows(c.decrypt(out));
  let ok = 0;
  for (let i = 0; i < n; i++) if (pred[i] === labels[1000 + i]) ok++;
  console.log(`[client] decrypted ${n} predictions: ${pred.join(' ')}`);
  console.log(`[client] correct: ${ok}/${n}`);
}

if (process.argv.includes('--serve')) {
  serve();
} else {
  const child = fork(new URL(import.meta.url).pathname, ['--serve'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  child.on('message', async (m: { port: number }) => {
    try {
      await client(m.port);
    } finally {
      child.kill();
    }
  });
}
