/**
 * A network deeper than the modulus chain, run encrypted with bootstraps (`nn/packed/bootstraps.ts`,
 * `bootstrap-runner.ts`): the MNIST ReLU ResNet (fixtures/mnist_relu_res.onnx) compiled with
 * high-degree ReLU polynomials, planned in the packed layout on a bootstrapping set's user levels,
 * bootstraps placed where a node would not fit, on a few test digits. Reports the placement, the
 * time of the run and of each bootstrap, peak RSS, agreement with the float64 packed simulation
 * (max |error| and bits) and with the labels.
 *
 *   npm run bench:nn-bootstrap [-- --json] [--preset=N16-BOOT] [--user-levels=N] [--degrees=uniform:127|SPEC]
 *                              [--images=2] [--first=1000] [--calib=256] [--range-images=32] [--threads=1]
 *                              [--layout=packed|channel]
 *   --layout=channel: the channel layout (`nn/channel/bootstraps.ts`): each refresh packs the
 *   value's channels into as few bootstraps as fit; compared with the float64 reference.
 *   --model=resnet20_relu: the CIFAR-shaped ResNet-20 (fixtures/cifar_inputs4.f32, four inputs,
 *   compared with PyTorch's argmax; calibration on the same four; `--degrees=ola` by default).
 * Degree 127 everywhere gives depth 58 in the packed layout: a leveled 128-bit chain at N = 2^16
 * holds it only at Δ ≈ 2^25.75 (`chooseParameters`; 51 levels at Δ ≈ 2^29.5, 66 at most), while
 * with bootstraps every level keeps Δ ≈ 2^30. Higher degrees do not help here: a degree-511
 * Chebyshev series evaluated at 30-bit scales loses every bit (measured at N = 2^12, no bootstrap
 * involved), degree 255 keeps 6.5 bits of the largest output and degree 127 15.6.
 * Calibration (compilation and the bootstrap ranges) uses test digits 0..calib−1; the timed digits
 * start at --first. At N16-BOOT it needs about 9–10 GB (bootstrapping keys and DFT plaintexts):
 * run it under `flock /tmp/veil-mem.lock flock /tmp/veil-cpu.lock`.
 * JSON lines: {"kind":"nn-bootstrap","preset":…,"depth":…,"bootstraps":…,"images":[…],…}
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { CkksContext, Decryptor, Encoder, Encryptor, Evaluator, KeyGenerator, WorkerPool } from '../src/index.js';
import { Bootstrapper, bootstrapPreset } from '../src/bootstrap/index.js';
import { compileModel, importOnnx, parseDegreeSpec, readRawFloat32, readRawUint8 } from '../src/nn/index.js';
import {
  ChannelBootstrapRunner, channelBootstrapRanges, decryptChannels, encryptChannels, genChannelBootstrapKeys, planChannel, planChannelBootstraps, runReference,
} from '../src/nn/index.js';
import type { BootstrapKeys } from '../src/bootstrap/index.js';
import type { Ciphertext } from '../src/index.js';
import {
  PackedBootstrapRunner, bootstrapRanges, bootstrapSeconds, decryptPacked, encryptPackedForBootstrap, genPackedBootstrapKeys,
  maxBootstrapLogScale, placeBootstraps, planPacked, simulatePacked,
} from '../src/nn/packed/index.js';
import { args, cpuSnap, otherLoad } from './measure.js';

const A = args();
const JSON_OUT = A.flag('json');
const log = (s: string) => process.stderr.write(`${s}\n`);
const FIX = new URL('../../fixtures/', import.meta.url);
const bytes = (n: string) => new Uint8Array(readFileSync(new URL(n, FIX)));

const presetName = A.opt('preset', 'N16-BOOT');
const userLevels = A.opt('user-levels', '');
const model = A.opt('model', 'mnist_relu_res');
const cifar = model.startsWith('resnet20');
const degreeSpec = A.opt('degrees', cifar ? 'ola' : 'uniform:127');
const nImages = Number(A.opt('images', cifar ? '1' : '2'));
const first = Number(A.opt('first', cifar ? '0' : '1000'));
const nCalib = Number(A.opt('calib', cifar ? '4' : '256'));
const threads = Number(A.opt('threads', '1'));
const layout = A.opt('layout', 'packed');
if (layout !== 'packed' && layout !== 'channel') throw new Error(`--layout=${layout}: use packed or channel`);
/** Elements of one input. */
const SIZE = cifar ? 3 * 32 * 32 : 784;

const digits = cifar ? new Uint8Array(0) : bytes('mnist_test_2000.u8');
// CIFAR-shaped inputs have no labels: PyTorch's argmax stands for them
const labels = cifar
  ? Uint8Array.from((JSON.parse(new TextDecoder().decode(bytes(`${model}.logits.json`))) as { logits: number[][] }).logits.map((l) => l.indexOf(Math.max(...l))))
  : bytes('mnist_test_2000_labels.u8');
const cifarInputs = cifar ? readRawFloat32(bytes('cifar_inputs4.f32'), [4, 3, 32, 32]) : undefined;
const images = (start: number, n: number) => (cifarInputs
  ? { shape: [n, 3, 32, 32], data: cifarInputs.data.slice(start * SIZE, (start + n) * SIZE) }
  : readRawUint8(digits.subarray(start * 784, (start + n) * 784), [n, 1, 28, 28], { divisor: 255, float32: true }));

const bp = bootstrapPreset(presetName, userLevels ? { userLevels: Number(userLevels) } : {});
const graph = importOnnx(bytes(`${model}.onnx`));
let t = performance.now();
const calib = images(0, nCalib);
const compiled = compileModel(graph, calib, { degrees: parseDegreeSpec(degreeSpec) });
const compileS = (performance.now() - t) / 1000;
const g = compiled.graph;
const degrees = Object.fromEntries(compiled.fits.map((f) => [f.node, f.degree]));
const sample = (x: { data: Float64Array | Float32Array }, i: number) => x.data.subarray(i * SIZE, (i + 1) * SIZE);
const maxLogScale = maxBootstrapLogScale(bp.params, bp.evalMod.logMessageRatio);
// ranges over the calibration images (a subset: the simulation is the slow part)
const rangeImages = Math.min(nCalib, Number(A.opt('range-images', '32')));
t = performance.now();
const packedPlan = layout === 'packed' ? planPacked(g, bp.slots) : undefined;
const channelPlan = layout === 'channel' ? planChannel(g, bp.params.slots) : undefined;
const cbp = channelPlan ? planChannelBootstraps(g, channelPlan, bp.outputLevel, bp.params.slots) : undefined;
const placement = cbp ? cbp.placement : placeBootstraps(g, packedPlan!.levels.cost, bp.outputLevel);
const depth = (packedPlan ?? channelPlan)!.levels.depth;
/** Bootstrap calls per image: one per refresh (packed), one per group of packed channels (channel). */
const bootstrapCalls = cbp ? cbp.bootstraps : placement.count;
if (cbp) channelBootstrapRanges(g, cbp, { shape: [rangeImages, ...g.input.shape], data: calib.data.subarray(0, rangeImages * SIZE) as Float64Array }, { maxLogScale });
else bootstrapRanges(g, packedPlan!, placement, Array.from({ length: rangeImages }, (_, i) => sample(calib, i)), { maxLogScale });
const rangeS = (performance.now() - t) / 1000;
log(`[veil] ${model} (${degreeSpec}) on ${presetName}, ${layout} layout: depth ${depth} > ${bp.outputLevel} user levels, ${placement.count} refreshes, ${bootstrapCalls} bootstraps: ` +
  placement.points.map((p) => `${p.value} (level ${p.levelBefore}, |x| ≤ ${p.bound!.toFixed(2)}, s = ${p.scale}${cbp ? `, ${cbp.refreshes.get(p.value)!.bootstraps} bootstrap(s)` : ''})`).join('; '));

t = performance.now();
const ctx = new CkksContext(bp.params);
const kg = new KeyGenerator(ctx);
const sk = kg.genSecretKey();
const keys: BootstrapKeys = cbp ? genChannelBootstrapKeys(kg, sk, bp, channelPlan!, cbp) : genPackedBootstrapKeys(kg, sk, bp, packedPlan!);
const keygenS = (performance.now() - t) / 1000;
const enc = new Encoder(ctx);
const pool = threads > 1 ? await WorkerPool.create(ctx, { threads }) : undefined;
const ev = new Evaluator(ctx, keys, pool ? { pool } : {});
t = performance.now();
const boot = new Bootstrapper(ctx, bp, ev, enc, keys);
const setupS = (performance.now() - t) / 1000;
const encr = new Encryptor(ctx, kg.genPublicKey(sk));
const dec = new Decryptor(ctx, sk);
/** One image through the layout's runner: the decrypted output, its float64 counterpart, the bootstraps' milliseconds. */
const runImage: (x: Float64Array | Float32Array) => { y: ArrayLike<number>; want: ArrayLike<number>; ms: number[]; runS: number } = cbp
  ? (() => {
    const runner = new ChannelBootstrapRunner(g, cbp, boot, enc);
    return (x) => {
      const ct = encryptChannels(ctx, enc, encr, channelPlan!.input, { shape: [...g.input.shape], data: Float64Array.from(x) }, bp.outputLevel);
      const t0 = performance.now();
      const out = runner.run(ct);
      const runS = (performance.now() - t0) / 1000;
      return { y: decryptChannels(enc, dec, out).data, want: runReference(g, { shape: [1, ...g.input.shape], data: Float64Array.from(x) }).data, ms: runner.bootstraps.map((b) => b.ms), runS };
    };
  })()
  : (() => {
    const runner = new PackedBootstrapRunner(g, packedPlan!, placement, boot, enc);
    return (x) => {
      const ct: Ciphertext = encryptPackedForBootstrap(ctx, enc, encr, bp, packedPlan!.input, x);
      const t0 = performance.now();
      const out = runner.run(ct);
      const runS = (performance.now() - t0) / 1000;
      return { y: decryptPacked(enc, dec, packedPlan!.output, out), want: simulatePacked(g, packedPlan!, x).output, ms: runner.bootstraps.map((b) => b.ms), runS };
    };
  })();
log(`[veil] keys ${keygenS.toFixed(1)} s (${keys.galois.keys.size} Galois keys), bootstrapper setup ${setupS.toFixed(1)} s`);

const test = images(first, nImages);
const rows: Record<string, unknown>[] = [];
let agreeSim = 0;
let agreeLabel = 0;
let agreeSimLabel = 0;
const argmax = (v: ArrayLike<number>) => {
  let k = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[k]) k = i;
  return k;
};
for (let i = 0; i < nImages; i++) {
  const x = sample(test, i);
  const s0 = cpuSnap();
  const { y, want, ms, runS } = runImage(x);
  const s1 = cpuSnap();
  let err = 0;
  let top = 0;
  for (let k = 0; k < want.length; k++) {
    err = Math.max(err, Math.abs(y[k] - want[k]));
    top = Math.max(top, Math.abs(want[k]));
  }
  const label = labels[first + i];
  agreeSim += +(argmax(y) === argmax(want));
  agreeLabel += +(argmax(y) === label);
  agreeSimLabel += +(argmax(want) === label);
  const bootS = ms.reduce((a, b) => a + b, 0) / 1000;
  const row = {
    image: first + i, label, predicted: argmax(y), simulated: argmax(want), run_s: +runS.toFixed(2), bootstrap_s: +bootS.toFixed(2),
    per_refresh_s: ms.map((m) => +(m / 1000).toFixed(2)), max_abs_error: +err.toExponential(3), bits: +Math.log2(top / err).toFixed(2),
    other_load: otherLoad(s0, s1), load1: +os.loadavg()[0].toFixed(2),
  };
  rows.push(row);
  if (JSON_OUT) process.stdout.write(`${JSON.stringify({ kind: 'nn-bootstrap-image', model, layout, preset: presetName, degrees: degreeSpec, ...row })}\n`);
  log(`[veil] digit ${first + i} (label ${label}): ${runS.toFixed(1)} s (bootstraps ${bootS.toFixed(1)} s), class ${row.predicted} (simulation ${row.simulated}), ` +
    `max |error| ${err.toExponential(2)} = ${row.bits} bits below the largest logit`);
}
const result = {
  kind: 'nn-bootstrap', model, layout, preset: presetName, logN: bp.params.logN, slots: bp.slots, user_levels: bp.outputLevel, secure128: !bp.params.insecure,
  degrees: degreeSpec, activation_degrees: degrees, depth, refreshes: placement.count, bootstraps: bootstrapCalls,
  points: placement.points.map((p) => ({ value: p.value, level_before: p.levelBefore, bound: +p.bound!.toFixed(3), scale: p.scale, bootstraps: cbp?.refreshes.get(p.value)!.bootstraps ?? 1 })),
  predicted_bootstrap_s: userLevels ? null : bootstrapSeconds(presetName, threads, bootstrapCalls) ?? null,
  threads, compile_s: +compileS.toFixed(1), ranges_s: +rangeS.toFixed(1), range_images: rangeImages, keygen_s: +keygenS.toFixed(1), setup_s: +setupS.toFixed(1),
  galois_keys: keys.galois.keys.size, images: rows,
  agree_simulation: agreeSim / nImages, accuracy: agreeLabel / nImages, simulation_accuracy: agreeSimLabel / nImages,
  max_rss_bytes: process.resourceUsage().maxRSS * 1024, load1: +os.loadavg()[0].toFixed(2), date: new Date().toISOString().slice(0, 10), impl: 'veil-fhe',
};
if (JSON_OUT) process.stdout.write(`${JSON.stringify(result)}\n`);
else {
  process.stdout.write(`${model} ${degreeSpec} on ${presetName} (${layout}, ${threads} thread(s)): depth ${result.depth}, ${result.refreshes} refreshes, ${result.bootstraps} bootstraps ` +
    `(predicted ${result.predicted_bootstrap_s ?? '?'} s); ${nImages} digit(s): ${rows.map((r) => `${r.run_s} s`).join(', ')}; ` +
    `agreement with the simulation ${agreeSim}/${nImages}, with the labels ${agreeLabel}/${nImages}; peak RSS ${(result.max_rss_bytes / 2 ** 30).toFixed(2)} GiB\n`);
}
await pool?.close();
