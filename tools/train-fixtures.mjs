// Fine-tunes an MNIST fixture with one `veil train` recipe and measures the result as a user would
// (docs/training.md): the written .poly.onnx is evaluated on the 2,000 held-out test digits with
// `veil infer --simulate`, the ReLU model with `veil infer --plain`, the depth read from
// `veil inspect --json`. Appends one JSON line to bench/results/train.jsonl.
//
//   node tools/mnist-split.mjs --f32                       # once: /tmp/veil-mnist/*.u8 and *.f32
//   npm run build
//   flock /tmp/veil-cpu.lock node tools/train-fixtures.mjs --recipe paper [--model mnist_relu_res]
//        [--threads 2] [--data /tmp/veil-mnist] [--tag NAME] [--out-dir /tmp/veil-train] [-- more veil train options]
//   flock /tmp/veil-cpu.lock node tools/train-fixtures.mjs --recipe ola     # post-training OLA, no training
//
// Training data: mnist_trainval_8000 with `--validation 1000` (the split's train then validation
// part); the test digits are only read by `veil infer`. Wall time is the training command's; CPU
// is its user + system seconds (all threads); other_load is the share of the machine's cores that
// other processes used meanwhile (from /proc/stat), since the machine may be shared.
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';

const argv = process.argv.slice(2);
const dash = argv.indexOf('--');
const own = dash >= 0 ? argv.slice(0, dash) : argv;
const extra = dash >= 0 ? argv.slice(dash + 1) : [];
const arg = (k, d) => {
  const i = own.indexOf(`--${k}`);
  return i >= 0 ? own[i + 1] : d;
};
const recipe = arg('recipe');
if (!['paper', 'smartpaf', 'beaa', 'ola'].includes(recipe)) throw new Error('--recipe paper|smartpaf|beaa|ola');
const modelName = arg('model', 'mnist_relu_res');
const threads = Number(arg('threads', '2'));
const dataDir = arg('data', '/tmp/veil-mnist');
const outDir = arg('out-dir', '/tmp/veil-train');
const tag = arg('tag', recipe);
const root = new URL('..', import.meta.url).pathname;
const veil = join(root, 'dist/src/cli/veil.js');
const model = join(root, 'fixtures', `${modelName}.onnx`);
const testX = join(dataDir, 'mnist_test_2000.f32');
const testY = join(root, 'fixtures/mnist_test_2000_labels.u8');
for (const f of [veil, model, testX, join(dataDir, 'mnist_trainval_8000.u8'), join(dataDir, 'mnist_val_1000.f32')]) {
  if (!existsSync(f)) throw new Error(`${f} is missing: run npm run build and node tools/mnist-split.mjs --f32`);
}
mkdirSync(outDir, { recursive: true });

/** Busy and total jiffies of the machine, and this process's waited-for children's CPU jiffies. */
function ticks() {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = cpu;
  const self = readFileSync('/proc/self/stat', 'utf8');
  const f = self.slice(self.lastIndexOf(')') + 2).split(' ').map(Number);
  // fields 16, 17 of /proc/PID/stat (cutime, cstime) are at 13, 14 after the command name
  return { busy: user + nice + system + irq + softirq + steal, total: user + nice + system + idle + iowait + irq + softirq + steal, children: f[13] + f[14] };
}
const HZ = 100;

/** Runs a command; returns wall s, CPU s of the command, other processes' share of the cores. */
function timed(cmd, args, log) {
  const a = ticks();
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 28 });
  const wall = (performance.now() - t0) / 1000;
  const b = ticks();
  if (log) appendFileSync(log, r.stderr);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stderr.toString().slice(-3000)}`);
  const cpu = (b.children - a.children) / HZ;
  const cores = os.cpus().length;
  const other = Math.max(0, (b.busy - a.busy) / HZ - cpu) / (wall * cores);
  return { wall, cpu, other, stdout: r.stdout.toString() };
}

// the compiler's input ranges come from the validation digits, as OLA's choice
const calib = ['--calibration', join(dataDir, 'mnist_val_1000.f32'), '--calibration-shape', '1000,1,28,28'];
const infer = (m, mode, more = []) => {
  const out = join(outDir, `${tag}.${m === model ? modelName : `${modelName}.poly`}.${mode}.json`);
  const t = timed('node', [veil, 'infer', m, '--input', testX, '--shape', '2000,1,28,28', '--labels', testY, `--${mode}`, '--threads', String(threads), '--out', out, ...more]);
  return { ...JSON.parse(readFileSync(out, 'utf8')), seconds: t.wall };
};
const depthOf = (m, more = []) => {
  const j = JSON.parse(execFileSync('node', [veil, 'inspect', m, '--json', ...more], { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 26 }).toString());
  return { batch: j.batch?.depth, channel: j.channel?.depth };
};

const load0 = os.loadavg()[0];
const plain = infer(model, 'plain');
let row;
if (recipe === 'ola') {
  // OLA picks per-layer degrees on the validation digits (never the test digits) and is simulated on the test set
  const t = timed('node', [veil, 'infer', model, '--input', testX, '--shape', '2000,1,28,28', '--labels', testY, '--simulate', '--degrees', 'ola', '--threads', String(threads), '--out', join(outDir, `${tag}.${modelName}.simulate.json`), ...calib, ...extra]);
  const sim = JSON.parse(readFileSync(join(outDir, `${tag}.${modelName}.simulate.json`), 'utf8'));
  row = {
    recipe: 'ola', model: modelName, accuracy: sim.accuracy, relu_accuracy: plain.accuracy, depth: sim.depth, layout: sim.layout,
    degrees: (sim.activations ?? []).map((a) => a.degree ?? a), compile_wall_s: +t.wall.toFixed(1), compile_cpu_s: +t.cpu.toFixed(1), other_load: +t.other.toFixed(2),
  };
} else {
  const out = join(outDir, `${tag}.${modelName}.poly.onnx`);
  const report = join(outDir, `${tag}.${modelName}.report.json`);
  const log = join(outDir, `${tag}.${modelName}.log`);
  const t = timed('node', [veil, 'train', model, '--data', join(dataDir, 'mnist_trainval_8000.u8'), '--labels', join(dataDir, 'mnist_trainval_8000_labels.u8'),
    '--validation', '1000', '--recipe', recipe, '--threads', String(threads), '--out', out, '--report', report, ...extra], log);
  const rep = JSON.parse(readFileSync(report, 'utf8'));
  const sim = infer(out, 'simulate', calib);
  const polyPlain = infer(out, 'plain');
  const depth = depthOf(out);
  row = {
    recipe, model: modelName, accuracy: sim.accuracy, accuracy_plain: polyPlain.accuracy, relu_accuracy: plain.accuracy, validation: rep.written_validation,
    relu_validation: rep.baseline_validation, depth: depth.batch, depth_channel: depth.channel, degree: rep.degree,
    ...(rep.details?.form ? { form: rep.details.form } : {}), options: extra, wall_s: +t.wall.toFixed(1), cpu_s: +t.cpu.toFixed(1), other_load: +t.other.toFixed(2),
    out,
  };
}
Object.assign(row, { threads, loadavg_1m: +load0.toFixed(2), cpus: os.cpus().length, node: process.version, date: new Date().toISOString() });
mkdirSync(join(root, 'bench/results'), { recursive: true });
appendFileSync(join(root, 'bench/results/train.jsonl'), JSON.stringify(row) + '\n');
console.log(JSON.stringify(row));
