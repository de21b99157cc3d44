// Encrypted predictions of a `veil train` result against its float64 simulation, on the first N
// test digits (docs/training.md): both with `veil infer`, the same calibration (the validation
// digits) and layout, so both run the same compiled network. Appends one JSON line to
// bench/results/train.jsonl (kind "encrypted_check").
//
//   flock /tmp/veil-cpu.lock node tools/train-encrypted-check.mjs MODEL.poly.onnx [--n 4] [--layout channel] [--threads 2] [--data /tmp/veil-mnist]
import { execFileSync } from 'node:child_process';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { basename, join } from 'node:path';

const argv = process.argv.slice(2);
const arg = (k, d) => {
  const i = argv.indexOf(`--${k}`);
  return i >= 0 ? argv[i + 1] : d;
};
const model = argv[0];
if (!model || model.startsWith('--')) throw new Error('usage: node tools/train-encrypted-check.mjs MODEL.poly.onnx [--n 4] [--layout channel|batch] [--threads 2]');
const n = Number(arg('n', '4'));
const layout = arg('layout', 'channel');
const threads = arg('threads', '2');
const dataDir = arg('data', '/tmp/veil-mnist');
const root = new URL('..', import.meta.url).pathname;
const veil = join(root, 'dist/src/cli/veil.js');
const tmp = join(os.tmpdir(), `veil-enc-${process.pid}`);
const x = readFileSync(join(dataDir, 'mnist_test_2000.f32')).subarray(0, n * 784 * 4);
writeFileSync(`${tmp}.f32`, x);
writeFileSync(`${tmp}.labels.u8`, readFileSync(join(root, 'fixtures/mnist_test_2000_labels.u8')).subarray(0, n));
const common = [model, '--input', `${tmp}.f32`, '--shape', `${n},1,28,28`, '--labels', `${tmp}.labels.u8`, '--layout', layout, '--threads', threads,
  '--calibration', join(dataDir, 'mnist_val_1000.f32'), '--calibration-shape', '1000,1,28,28'];
const load0 = os.loadavg()[0];
execFileSync('node', [veil, 'infer', ...common, '--simulate', '--out', `${tmp}.sim.json`], { stdio: ['ignore', 'ignore', 'inherit'] });
const t0 = performance.now();
execFileSync('node', [veil, 'infer', ...common, '--out', `${tmp}.enc.json`], { stdio: ['ignore', 'ignore', 'inherit'] });
const wall = (performance.now() - t0) / 1000;
const sim = JSON.parse(readFileSync(`${tmp}.sim.json`, 'utf8'));
const enc = JSON.parse(readFileSync(`${tmp}.enc.json`, 'utf8'));
let maxAbs = 0;
let maxLogit = 0;
for (let i = 0; i < n; i++) {
  for (let k = 0; k < sim.logits[i].length; k++) {
    maxAbs = Math.max(maxAbs, Math.abs(sim.logits[i][k] - enc.logits[i][k]));
    maxLogit = Math.max(maxLogit, Math.abs(sim.logits[i][k]));
  }
}
const row = {
  kind: 'encrypted_check', model: basename(model), layout: enc.layout, images: n, depth: enc.depth, logN: enc.params?.logN,
  predictions_encrypted: enc.predictions, predictions_simulated: sim.predictions, equal: JSON.stringify(enc.predictions) === JSON.stringify(sim.predictions),
  max_abs_logit_diff: +maxAbs.toExponential(3), max_abs_logit: +maxLogit.toFixed(3), labels: [...readFileSync(`${tmp}.labels.u8`)],
  wall_s: +wall.toFixed(1), timings: enc.timings, threads: Number(threads), loadavg_1m: +load0.toFixed(2), date: new Date().toISOString(),
};
appendFileSync(join(root, 'bench/results/train.jsonl'), JSON.stringify(row) + '\n');
console.log(JSON.stringify(row));
