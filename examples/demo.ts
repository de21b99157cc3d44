/**
 * `npm run demo`: private MNIST inference end to end.
 *
 * A small CNN trained with PyTorch (ReLU, BatchNorm, AvgPool; tools/train_mnist.py) is imported
 * from ONNX, its ReLUs are replaced by polynomials fitted to the inputs they see (OLA), and it runs
 * on encrypted test digits: thousands at once in the batch layout (one image per slot), and one
 * image at a time in the channel layout (single-image latency). The client keeps the secret key;
 * the server sees only bytes.
 *
 *   npm run demo                 ReLU CNN (mnist_relu_bn), 1,000 held-out digits, both cores
 *   npm run demo -- --model square --images 200 --skip-channel --threads 1
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { Client, Model, Server } from '../src/index.js';
import { accuracyOf, argmaxRows, importOnnx, planLevels, readRawUint8, runReference, type Tensor } from '../src/nn/index.js';

const argv = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const a = argv.find((x) => x.startsWith(`--${name}=`));
  const i = argv.indexOf(`--${name}`);
  return a ? a.slice(name.length + 3) : i >= 0 && argv[i + 1] && !argv[i + 1].startsWith('--') ? argv[i + 1] : dflt;
};
const flag = (name: string) => argv.includes(`--${name}`);
const MODEL = opt('model', 'relu') === 'square' ? 'mnist_square' : 'mnist_relu_bn';
const THREADS = Math.max(1, Number(opt('threads', String(Math.min(2, os.cpus().length)))));
const IMAGES = Math.min(1000, Number(opt('images', '1000')));
const FIX = new URL('../../fixtures/', import.meta.url);
const say = (s = '') => process.stdout.write(s + '\n');
const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

const bytes = (name: string) => new Uint8Array(readFileSync(new URL(name, FIX)));
const digits = bytes('mnist_test_2000.u8');
const labelsAll = bytes('mnist_test_2000_labels.u8');
const slice = (start: number, n: number): Tensor => readRawUint8(digits.subarray(start * 784, (start + n) * 784), [n, 1, 28, 28], { divisor: 255, float32: true });

say(`# Veil demo: private MNIST inference (${MODEL})`);
say(`node ${process.version}, ${os.cpus()[0]?.model} ×${os.cpus().length}, ${mib(os.totalmem())} RAM`);
say('data: 2,000 held-out MNIST digits from the npm package "mnist" (MIT), fixtures/mnist_test_2000.u8');
say('       first 1,000 calibrate the activation polynomials, the next ones are the evaluation set');
say('');

// ---------------------------------------------------------------- compile (server side)
const graph = importOnnx(bytes(`${MODEL}.onnx`));
const calib = slice(0, 1000);
const calibLabels = labelsAll.subarray(0, 1000);
const evalX = slice(1000, IMAGES);
const evalLabels = labelsAll.subarray(1000, 1000 + IMAGES);
let t = performance.now();
const model = Model.compile(graph, calib, { labels: calibLabels, layout: 'batch' });
say(`compile (import, calibrate, OLA, fuse, fold, plan): ${sec(performance.now() - t)}`);
for (const f of model.compiled.fits) {
  say(`  ${f.node}: ${f.replaces} → ${f.basis === 'power' ? 'x² (exact)' : `Chebyshev degree ${f.degree} on [${f.interval[0].toFixed(2)}, ${f.interval[1].toFixed(2)}]`}`);
}
const ola = model.compiled.ola;
if (ola && ola.uniform.length) {
  const chosen = ola.steps[ola.chosen];
  say(`  OLA: degrees ${JSON.stringify(Object.values(chosen.degrees))} reach ${(chosen.accuracy * 100).toFixed(1)}% on the calibration digits at depth ${chosen.depth}` +
    ` (target ${(ola.target * 100).toFixed(1)}%, original ${(ola.original * 100).toFixed(1)}%)`);
  const uni = ola.uniform.find((u) => u.accuracy >= chosen.accuracy);
  say(`  uniform degrees: ${ola.uniform.map((u) => `d=${u.degree}: ${(u.accuracy * 100).toFixed(1)}% at depth ${u.depth}`).join('; ')}`);
  if (uni) say(`  → the cheapest uniform degree as accurate (d=${uni.degree}) needs depth ${uni.depth}, OLA ${chosen.depth}`);
}
say(`  passes: ${model.compiled.log.filter((l) => !l.includes('→')).join('; ')}`);
const depth = planLevels(model.graph, 'batch').depth;
say(`  depth ${depth}; ${model.params.toString()}`);
const plainAcc = accuracyOf(graph, evalX, evalLabels);
const sim = model.simulate(evalX);
const simPred = argmaxRows(sim);
const plainPred = argmaxRows(runReference(graph, evalX));
let simAcc = 0;
for (let i = 0; i < IMAGES; i++) if (simPred[i] === evalLabels[i]) simAcc++;
say(`  plaintext model accuracy on ${IMAGES} evaluation digits: ${(plainAcc * 100).toFixed(2)}%; simulated polynomial network: ${((simAcc / IMAGES) * 100).toFixed(2)}%`);
say('');

// ---------------------------------------------------------------- batch layout
say(`## batch layout: ${IMAGES} images in one run (capacity ${model.imagesPerRun} per run)`);
const mem = model.memory();
say(`predicted memory: ciphertexts ${mib(mem.peakCiphertexts)} + keys ${mib(mem.keys)}`);
t = performance.now();
const client = new Client(model.plan);
const keys = client.evaluationKeys();
const tKeys = performance.now() - t;
t = performance.now();
const enc = client.encrypt(evalX);
const tEnc = performance.now() - t;
say(`client: keys ${sec(tKeys)} (${mib(keys.length)} sent), encrypt ${sec(tEnc)} (${mib(enc.length)} sent)`);
const server = await Server.create(model, keys, { threads: THREADS });
t = performance.now();
const out = await server.inferAsync(enc, (p) => process.stderr.write(`  [server] ${p.op} ${p.node} done at ${p.seconds.toFixed(1)} s\n`));
const tRun = performance.now() - t;
await server.close();
for (const l of server.timings) say(`  ${l.op.padEnd(12)} ${l.node.padEnd(28)} ${sec(l.seconds * 1000).padStart(9)}  → level ${l.level}, ${l.outputs} ciphertexts`);
t = performance.now();
const logits = client.decrypt(out);
const tDec = performance.now() - t;
const pred = argmaxRows(logits);
let acc = 0;
let agreeSim = 0;
let agreePlain = 0;
for (let i = 0; i < IMAGES; i++) {
  if (pred[i] === evalLabels[i]) acc++;
  if (pred[i] === simPred[i]) agreeSim++;
  if (pred[i] === plainPred[i]) agreePlain++;
}
say(`server (${THREADS} thread${THREADS > 1 ? 's' : ''}): ${sec(tRun)} for the run (${mib(out.length)} returned); client decrypt ${sec(tDec)}`);
say(`per image: ${(tRun / IMAGES).toFixed(1)} ms for these ${IMAGES}; amortised over a full run of ${model.imagesPerRun}: ${(tRun / model.imagesPerRun).toFixed(2)} ms`);
say(`encrypted accuracy ${((acc / IMAGES) * 100).toFixed(2)}% (plaintext ${(plainAcc * 100).toFixed(2)}%); ` +
  `agreement with the simulation ${agreeSim}/${IMAGES}, with the plaintext model ${agreePlain}/${IMAGES}`);
say('');

// ---------------------------------------------------------------- channel layout
if (!flag('skip-channel')) {
  const cm = Model.compile(graph, calib, { labels: calibLabels, layout: 'channel' });
  say(`## channel layout: one image per run; ${cm.params.toString()}, ${cm.plan.rotations.length} Galois keys`);
  t = performance.now();
  const c2 = new Client(cm.plan);
  const k2 = c2.evaluationKeys();
  say(`client: keys ${sec(performance.now() - t)} (${mib(k2.length)} sent)`);
  const s2 = await Server.create(cm, k2, { threads: THREADS });
  const n = Number(opt('channel-images', '2'));
  let total = 0;
  let ok = 0;
  for (let i = 0; i < n; i++) {
    const x = slice(1000 + i, 1);
    const e = c2.encrypt(x);
    t = performance.now();
    const o = s2.infer(e);
    const dt = performance.now() - t;
    total += dt;
    const p = argmaxRows(c2.decrypt(o))[0];
    if (p === argmaxRows(cm.simulate(x))[0]) ok++;
    say(`  image ${i}: ${sec(dt)}, prediction ${p} (label ${labelsAll[1000 + i]})`);
    if (i === 0) for (const l of s2.timings) say(`    ${l.op.padEnd(12)} ${l.node.padEnd(28)} ${sec(l.seconds * 1000).padStart(9)}`);
  }
  await s2.close();
  say(`single-image latency (${THREADS} thread${THREADS > 1 ? 's' : ''}): ${sec(total / n)} (mean of ${n}); agreement with the simulation ${ok}/${n}`);
  say('');
}
say(`peak resident memory: ${mib(process.resourceUsage().maxRSS * 1024)}`);
