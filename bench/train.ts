/**
 * Training throughput on the MNIST ResNet fixture (7 ReLUs, batch-norm in training mode): images
 * per second of forward + backward + optimiser step (Adam, batch 64), float32 and float64 storage,
 * 1 and 2 threads. Rounds are interleaved (every configuration once per round) and the median of
 * the rounds is reported; each round runs `--steps` batches after a warm-up.
 *
 *   npm run bench:train [-- --json] [--rounds 5] [--steps 20] [--threads 1,2] [--dtypes float32,float64] [--model mnist_relu_res]
 * JSON lines: {"kind":"train","model":…,"dtype":…,"threads":…,"batch":64,"images_per_s":…,"rounds":[…]}
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { importOnnx } from '../src/nn/index.js';
import { LocalBackend, Network, Optimizer, type StepBackend, WorkerBackend, permutation } from '../src/train/index.js';
import type { Dataset, StepSpec } from '../src/train/index.js';

function flag(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] && !process.argv[i + 1].startsWith('--') ? process.argv[i + 1] : dflt;
}
const json = process.argv.includes('--json');
const rounds = Number(flag('rounds', '5'));
const steps = Number(flag('steps', '20'));
const threadsList = flag('threads', '1,2').split(',').map(Number);
const dtypes = flag('dtypes', 'float32,float64').split(',') as ('float32' | 'float64')[];
const modelName = flag('model', 'mnist_relu_res');
const BATCH = 64;

const FIX = new URL('../../fixtures/', import.meta.url);
const bytes = (n: string) => new Uint8Array(readFileSync(new URL(n, FIX)));
const graph = importOnnx(bytes(`${modelName}.onnx`));
const u8 = bytes('mnist_test_2000.u8');
const data: Dataset = { x: Float32Array.from(u8, (v) => v / 255), labels: bytes('mnist_test_2000_labels.u8'), shape: [1, 28, 28], count: 2000 };

interface Run { dtype: 'float32' | 'float64'; threads: number; net: Network; backend: StepBackend; opt: Optimizer; perm: Int32Array; at: number }

async function setup(dtype: 'float32' | 'float64', threads: number): Promise<Run> {
  const net = new Network(graph, { dtype, shared: threads > 1 });
  const backend = threads > 1 ? await WorkerBackend.create(net, data, threads, {}) : new LocalBackend(net, data);
  return { dtype, threads, net, backend, opt: new Optimizer({ kind: 'adam' }, net.slots, net.size), perm: permutation(data.count, 1), at: 0 };
}

async function batches(r: Run, k: number): Promise<number> {
  const t = performance.now();
  for (let i = 0; i < k; i++) {
    if (r.at + BATCH > data.count) r.at = 0;
    const idx = r.perm.subarray(r.at, r.at + BATCH);
    r.at += BATCH;
    const spec: StepSpec = { loss: { kind: 'ce' }, ceWeight: 1, penaltyWeights: [], pafScales: [], batch: BATCH };
    const res = await r.backend.step(idx, spec);
    r.opt.step(r.net.params, r.net.grads, 1e-4, {}, 0);
    r.net.updateRunningStats(res.stats);
  }
  return (k * BATCH) / ((performance.now() - t) / 1000);
}

const runs: Run[] = [];
for (const d of dtypes) for (const t of threadsList) runs.push(await setup(d, t));
for (const r of runs) await batches(r, 3); // warm-up (JIT, buffers)
const seen = new Map<Run, number[]>(runs.map((r) => [r, []]));
for (let k = 0; k < rounds; k++) for (const r of runs) seen.get(r)!.push(await batches(r, steps));
for (const r of runs) {
  await r.backend.close();
  const v = [...seen.get(r)!].sort((a, b) => a - b);
  const row = {
    kind: 'train', model: modelName, dtype: r.dtype, threads: r.threads, batch: BATCH, steps_per_round: steps,
    images_per_s: +v[v.length >> 1].toFixed(1), rounds: seen.get(r)!.map((x) => +x.toFixed(1)), node: process.version, cpus: os.cpus().length,
    date: new Date().toISOString().slice(0, 10),
  };
  if (json) console.log(JSON.stringify(row));
  else console.log(`${modelName} ${r.dtype} ${r.threads}T: ${row.images_per_s} images/s (rounds ${row.rounds.join(', ')})`);
}
