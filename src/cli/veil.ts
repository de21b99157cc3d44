#!/usr/bin/env node
/**
 * @module cli/veil
 * Command line:
 *   veil inspect model.onnx [--calibration FILE --shape …] [--layout batch|channel] [--degrees …] [--json]
 *   veil infer model.onnx --input FILE [--shape N,C,H,W] --out result.json
 *              [--layout batch|channel] [--degrees ola|uniform:N|FILE.json] [--calibration FILE]
 *              [--labels FILE] [--simulate] [--plain] [--threads N]
 * Inputs: raw float32 little-endian NCHW (.f32/.bin/.raw, needs --shape), .npy, or .json.
 * Progress goes to stderr; results to --out (JSON) and a summary to stdout.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { Client, Model, Server, type ModelOptions } from '../nn/model.js';
import { type Tensor, describeGraph } from '../nn/graph.js';
import { importOnnx } from '../nn/onnx.js';
import { readJsonTensor, readNpy, readRawFloat32, validateTensor } from '../nn/io.js';
import { argmaxRows, runReference } from '../nn/reference.js';
import { parseDegreeSpec } from '../nn/approximate.js';
import { planLevels, type Layout } from '../nn/compile.js';
import { sizeOf } from '../nn/graph.js';

const USAGE = `veil: private neural-network inference with CKKS (pure TypeScript)

usage:
  veil inspect MODEL.onnx [--calibration FILE [--shape N,C,H,W]] [--layout batch|channel] [--degrees SPEC] [--json]
  veil infer   MODEL.onnx --input FILE [--shape N,C,H,W] --out RESULT.json
               [--layout batch|channel] [--degrees SPEC] [--calibration FILE] [--labels FILE]
               [--simulate | --plain] [--threads N] [--cluster K]

  SPEC: ola (default) | uniform:N | a JSON file {"<activation node>": degree}
  FILE: raw float32 little-endian NCHW (.f32 .bin .raw; needs --shape), .npy, or .json
  --labels: uint8 file or JSON array of class labels (for accuracy and OLA's target)
`;

/** A CLI usage error (exit code 2). */
class UsageError extends Error {}

function parseArgs(argv: string[]): { cmd: string; model: string; opts: Map<string, string | true> } {
  const [cmd, model, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h') throw new UsageError('');
  if (cmd !== 'inspect' && cmd !== 'infer') throw new UsageError(`unknown command '${cmd}'`);
  if (!model) throw new UsageError(`${cmd} needs a model file`);
  const opts = new Map<string, string | true>();
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (!a.startsWith('--')) throw new UsageError(`unexpected argument '${a}'`);
    const eq = a.indexOf('=');
    if (eq > 0) opts.set(a.slice(2, eq), a.slice(eq + 1));
    else if (i + 1 < rest.length && !rest[i + 1].startsWith('--')) opts.set(a.slice(2), rest[++i]);
    else opts.set(a.slice(2), true);
  }
  const known = new Set(['calibration', 'shape', 'layout', 'degrees', 'json', 'input', 'out', 'labels', 'simulate', 'plain', 'threads', 'calibration-shape', 'min-log-scale', 'cluster']);
  for (const k of opts.keys()) if (!known.has(k)) throw new UsageError(`unknown option --${k}`);
  return { cmd, model, opts };
}

const str = (o: Map<string, string | true>, k: string): string | undefined => {
  const v = o.get(k);
  if (v === true) throw new UsageError(`--${k} needs a value`);
  return v;
};

function parseShape(s: string | undefined): number[] | undefined {
  if (s === undefined) return undefined;
  const dims = s.split(',').map((x) => Number(x.trim()));
  if (dims.length < 2 || dims.some((d) => !Number.isInteger(d) || d <= 0)) throw new UsageError(`--shape ${s}: give positive integers like 64,1,28,28`);
  return dims;
}

/** Reads an input tensor from a file by extension. */
function readTensorFile(path: string, shape: number[] | undefined): Tensor {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new Error(`cannot read ${path}: ${(e as Error).message}. Fix: check the path`);
  }
  const lower = path.toLowerCase();
  if (lower.endsWith('.npy')) return readNpy(bytes);
  if (lower.endsWith('.json')) return readJsonTensor(new TextDecoder().decode(bytes));
  if (!shape) throw new UsageError(`${path} is raw float32: pass --shape N,C,H,W`);
  return readRawFloat32(bytes, shape);
}

function readLabels(path: string): number[] {
  const bytes = new Uint8Array(readFileSync(path));
  if (path.toLowerCase().endsWith('.json')) {
    const v = JSON.parse(new TextDecoder().decode(bytes)) as unknown;
    if (!Array.isArray(v) || v.some((x) => !Number.isInteger(x))) throw new UsageError(`${path}: labels must be a JSON array of integers`);
    return v as number[];
  }
  return Array.from(bytes);
}

function fitShape(t: Tensor, model: readonly number[]): Tensor {
  // accept a single sample without batch dimension
  if (t.shape.length === model.length && t.shape.every((d, i) => d === model[i])) return { shape: [1, ...t.shape], data: t.data };
  return validateTensor(t, ['N', ...model]);
}

function checkRange(x: Tensor, calib: Tensor): void {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of calib.data) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const slack = 0.25 * (hi - lo) + 1e-9;
  for (let i = 0; i < x.data.length; i++) {
    const v = x.data[i];
    if (v < lo - slack || v > hi + slack) {
      throw new RangeError(`input value ${v} (flat index ${i}) is far outside the calibrated range [${lo}, ${hi}]. ` +
        'Fix: normalise the input as the model expects (e.g. pixels/255), or recalibrate with --calibration on representative data');
    }
  }
}

const progress = (msg: string) => process.stderr.write(`[veil] ${msg}\n`);
const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

function modelOptions(opts: Map<string, string | true>, labels?: number[]): ModelOptions {
  const layout = (str(opts, 'layout') ?? 'batch') as Layout;
  if (layout !== 'batch' && layout !== 'channel') throw new UsageError(`--layout ${layout}: use batch or channel`);
  const deg = str(opts, 'degrees');
  let degrees: ModelOptions['degrees'];
  if (deg) {
    if (deg.toLowerCase().endsWith('.json')) degrees = parseDegreeSpec(readFileSync(deg, 'utf8'));
    else degrees = parseDegreeSpec(deg);
  }
  const mls = str(opts, 'min-log-scale');
  const cluster = str(opts, 'cluster');
  if (cluster !== undefined && !(Number.isInteger(Number(cluster)) && Number(cluster) >= 2)) throw new UsageError(`--cluster ${cluster}: give the number of weight values per layer (≥ 2)`);
  return {
    layout, ...(degrees ? { degrees } : {}), ...(labels ? { labels } : {}), ...(mls ? { minLogScale: Number(mls) } : {}),
    ...(cluster ? { cluster: Number(cluster) } : {}),
  };
}

function inspect(modelPath: string, opts: Map<string, string | true>): void {
  const graph = importOnnx(new Uint8Array(readFileSync(modelPath)));
  const calibPath = str(opts, 'calibration');
  const needsCalib = graph.nodes.some((n) => n.op === 'Relu' || n.op === 'Gelu');
  const lines: string[] = [describeGraph(graph), ''];
  if (!calibPath && needsCalib) {
    lines.push('This model has ReLU/GELU activations: pass --calibration FILE (representative inputs) to choose their polynomials, depth and parameters.');
    process.stdout.write(lines.join('\n') + '\n');
    return;
  }
  const calib = calibPath ? fitShape(readTensorFile(calibPath, parseShape(str(opts, 'shape'))), graph.input.shape) : { shape: [1, ...graph.input.shape], data: new Float64Array(sizeOf(graph.input.shape)) };
  const labelsPath = str(opts, 'labels');
  const labels = labelsPath ? readLabels(labelsPath).slice(0, calib.shape[0]) : undefined;
  const mo = modelOptions(opts, labels);
  const report: Record<string, unknown> = { model: modelPath, input: graph.input.shape, output: graph.output.shape };
  const layouts: Layout[] = opts.has('layout') ? [mo.layout!] : ['batch', 'channel'];
  for (const layout of layouts) {
    progress(`compiling for the ${layout} layout...`);
    const m = Model.compile(graph, calib, { ...mo, layout });
    const mem = m.memory();
    const plan = planLevels(m.graph, layout);
    report[layout] = {
      depth: plan.depth, ctMultsPerRun: plan.ctMults, params: m.params.describe(), imagesPerRun: m.imagesPerRun,
      activations: m.compiled.fits.map((f) => ({ node: f.node, replaces: f.replaces, degree: f.degree, basis: f.basis, interval: f.interval, mse: f.error })),
      galoisKeys: m.plan.rotations.length, rotations: m.plan.rotations,
      memory: { peakCiphertexts: mem.peakCiphertexts, keys: mem.keys, total: mem.total, ciphertext: mem.ciphertext, machine: mem.available },
      passes: m.compiled.log, ola: m.compiled.ola,
    };
    lines.push(`== ${layout} layout: depth ${plan.depth}, ${m.params.toString()}`);
    lines.push(`   images per run: ${m.imagesPerRun}; Galois keys: ${m.plan.rotations.length}${m.plan.rotations.length ? ` [${m.plan.rotations.join(', ')}]` : ''}`);
    for (const f of m.compiled.fits) lines.push(`   ${f.node}: ${f.replaces} → ${f.basis === 'power' ? 'x² exact' : `degree ${f.degree} on [${f.interval[0].toFixed(3)}, ${f.interval[1].toFixed(3)}] (weighted MSE ${f.error.toExponential(2)})`}`);
    for (const l of m.compiled.log.filter((l) => !l.includes('→'))) lines.push(`   pass: ${l}`);
    lines.push(`   memory: fresh ciphertext ${mib(mem.ciphertext)}, peak ciphertexts ${mib(mem.peakCiphertexts)}, evaluation keys ${mib(mem.keys)}, total ${mib(mem.total)} (machine ${mib(mem.available)})`);
    lines.push('');
  }
  if (opts.has('json')) process.stdout.write(JSON.stringify(report, (_k, v) => (v instanceof Float64Array ? Array.from(v) : v), 2) + '\n');
  else process.stdout.write(lines.join('\n'));
}

async function infer(modelPath: string, opts: Map<string, string | true>): Promise<void> {
  const inputPath = str(opts, 'input');
  const outPath = str(opts, 'out');
  if (!inputPath) throw new UsageError('infer needs --input FILE');
  if (!outPath) throw new UsageError('infer needs --out RESULT.json');
  const t0 = performance.now();
  const graph = importOnnx(new Uint8Array(readFileSync(modelPath)));
  const x = fitShape(readTensorFile(inputPath, parseShape(str(opts, 'shape'))), graph.input.shape);
  const calibPath = str(opts, 'calibration');
  const calib = calibPath ? fitShape(readTensorFile(calibPath, parseShape(str(opts, 'calibration-shape') ?? str(opts, 'shape'))), graph.input.shape) : x;
  const labelsPath = str(opts, 'labels');
  const labels = labelsPath ? readLabels(labelsPath) : undefined;
  const n = x.shape[0];
  const timings: Record<string, unknown> = {};
  const result: Record<string, unknown> = { model: modelPath, images: n };
  const finish = (logits: Tensor, mode: string) => {
    const preds = argmaxRows(logits);
    const rows: number[][] = [];
    const per = logits.data.length / n;
    for (let i = 0; i < n; i++) rows.push(Array.from(logits.data.subarray(i * per, (i + 1) * per)));
    result.mode = mode;
    result.logits = rows;
    result.predictions = preds;
    if (labels) {
      let ok = 0;
      for (let i = 0; i < n; i++) if (preds[i] === labels[i]) ok++;
      result.accuracy = ok / n;
    }
    timings.total_s = (performance.now() - t0) / 1000;
    result.timings = timings;
    writeFileSync(outPath, JSON.stringify(result, null, 1) + '\n');
    process.stdout.write(`${mode}: ${n} image(s), predictions ${preds.slice(0, 20).join(' ')}${n > 20 ? ' …' : ''}` +
      `${result.accuracy !== undefined ? `, accuracy ${((result.accuracy as number) * 100).toFixed(2)}%` : ''}; wrote ${outPath}\n`);
  };
  if (opts.has('plain')) {
    finish(runReference(graph, x), 'plain');
    return;
  }
  checkRange(x, calib);
  progress(`compiling (calibration on ${calib.shape[0]} input(s))...`);
  const tc = performance.now();
  const model = Model.compile(graph, calib, modelOptions(opts, labels && calib === x ? labels : undefined));
  timings.compile_s = (performance.now() - tc) / 1000;
  result.params = model.params.describe();
  result.layout = model.layout;
  result.depth = model.plan.depth;
  result.activations = model.compiled.fits.map((f) => ({ node: f.node, replaces: f.replaces, degree: f.degree }));
  if (opts.has('simulate')) {
    finish(model.simulate(x), 'simulate');
    return;
  }
  const mem = model.memory();
  result.memory_predicted = { peakCiphertexts: mem.peakCiphertexts, keys: mem.keys, total: mem.total };
  if (mem.total > 0.85 * os.totalmem()) {
    throw new RangeError(`the ${model.layout} layout needs about ${mib(mem.total)} (ciphertexts ${mib(mem.peakCiphertexts)} + keys ${mib(mem.keys)}); this machine has ${mib(os.totalmem())}. ` +
      `Fix: use ${model.layout === 'batch' ? '--layout channel (one image at a time)' : 'a smaller model'} or lower degrees (--degrees uniform:2)`);
  }
  progress(`${model.params.toString()}; layout ${model.layout}, depth ${model.plan.depth}, predicted memory ${mib(mem.total)}`);
  // client
  let tk = performance.now();
  const client = new Client(model.plan);
  const keys = client.evaluationKeys();
  timings.keygen_s = (performance.now() - tk) / 1000;
  result.key_bytes = keys.length;
  const threads = Number(str(opts, 'threads') ?? '1');
  if (!Number.isInteger(threads) || threads < 1) throw new UsageError(`--threads ${str(opts, 'threads')}: give a positive integer`);
  const server = await Server.create(model, keys, { threads });
  result.threads = threads;
  const chunk = model.imagesPerRun;
  const all = new Float64Array(n * sizeOf(graph.output.shape));
  let encS = 0;
  let runS = 0;
  let decS = 0;
  const perNode = new Map<string, number>();
  for (let start = 0; start < n; start += chunk) {
    const count = Math.min(chunk, n - start);
    const per = sizeOf(graph.input.shape);
    const part: Tensor = { shape: [count, ...graph.input.shape], data: x.data.subarray(start * per, (start + count) * per) };
    progress(`encrypting images ${start + 1}–${start + count}...`);
    tk = performance.now();
    const enc = client.encrypt(part, (d, t) => { if (d === t || d % 256 === 0) progress(`  encrypted ${d}/${t} ciphertexts`); });
    encS += (performance.now() - tk) / 1000;
    result.input_bytes = ((result.input_bytes as number) ?? 0) + enc.length;
    tk = performance.now();
    const out = await server.inferAsync(enc, (p) => progress(`  ${p.op} ${p.node} (${p.index}/${p.total}) ${p.seconds.toFixed(1)} s`));
    runS += (performance.now() - tk) / 1000;
    for (const t of server.timings) perNode.set(`${t.op} ${t.node}`, (perNode.get(`${t.op} ${t.node}`) ?? 0) + t.seconds);
    result.output_bytes = ((result.output_bytes as number) ?? 0) + out.length;
    tk = performance.now();
    const y = client.decrypt(out);
    decS += (performance.now() - tk) / 1000;
    all.set(y.data, start * sizeOf(graph.output.shape));
  }
  await server.close();
  timings.encrypt_s = encS;
  timings.server_s = runS;
  timings.decrypt_s = decS;
  timings.per_layer_s = Object.fromEntries(perNode);
  timings.server_per_image_s = runS / n;
  result.memory_rss_peak_bytes = process.resourceUsage().maxRSS * 1024;
  finish({ shape: [n, ...graph.output.shape], data: all }, 'encrypted');
}

async function main(argv: string[]): Promise<number> {
  try {
    const { cmd, model, opts } = parseArgs(argv);
    if (cmd === 'inspect') inspect(model, opts);
    else await infer(model, opts);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      if (e.message) process.stderr.write(`veil: ${e.message}\n\n`);
      process.stderr.write(USAGE);
      return 2;
    }
    const err = e as Error;
    process.stderr.write(`veil: ${err.name && err.name !== 'Error' ? `${err.name}: ` : ''}${err.message}\n`);
    if (process.env.VEIL_DEBUG) process.stderr.write(`${err.stack}\n`);
    return 1;
  }
}

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
