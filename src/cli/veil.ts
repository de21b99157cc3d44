#!/usr/bin/env node
/**
 * @module cli/veil
 * Command line (`veil --help` prints the usage):
 *   veil inspect model.onnx [--calibration FILE --shape …] [--layout auto|batch|channel|packed] [--degrees …] [--json]
 *                [--bootstrap PRESET]  (with --layout packed or channel: where bootstraps go, for a network deeper than the chain)
 *   veil infer model.onnx --input FILE [--shape N,C,H,W] --out result.json
 *              [--layout auto|batch|channel|packed] [--degrees ola|uniform:N|FILE.json] [--calibration FILE]
 *              [--labels FILE] [--simulate | --plain] [--threads N]
 * The command line is validated first (`args.ts`); `--layout auto` (the default) compiles each
 * layout, predicts its time and memory for the image count (`nn/layout-choice.ts`) and runs the
 * fastest that fits. Progress with an estimate of the time left goes to stderr; results to --out
 * (JSON) and a summary to stdout.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { VeilError } from '../ckks/errors.js';
import { Client, Model, Server, type ModelOptions } from '../nn/model/model.js';
import { type Tensor, describeGraph } from '../nn/graph.js';
import { importOnnx } from '../nn/onnx/index.js';
import { checkInputRange, readJsonTensor, readNpy, readRawFloat32, tensorRange, validateTensor } from '../nn/io.js';
import { argmaxRows, runReference } from '../nn/reference.js';
import { parseDegreeSpec } from '../nn/compile/approximate.js';
import { type Layout, type ParallelOptions, compileModelAsync, planLevels, simulateAsync } from '../nn/compile/compile.js';
import { ForwardPool } from '../nn/forward/pool.js';
import { sizeOf } from '../nn/graph.js';
import { type LayoutEstimate, chooseLayout, estimateLayouts } from '../nn/plan/layout-choice.js';
import { measureOpTimes, predictRun } from '../nn/plan/cost-model.js';
import type { PackedMemory } from '../nn/packed/cost.js';
import { PackedRunner } from '../nn/packed/runner.js';
import { describePacked, errorLine, errorReport, packedReport, predictChannelRunError, predictPackedRun, predictPackedRunError } from './packed-report.js';
import { bootstrapReport, bootstrapReportJson, bootstrapRunJson, describeBootstraps } from './bootstrap-report.js';
import { CliError, type Command, parseCommandLine } from './args.js';
import { BOOTSTRAP_PRESETS } from '../bootstrap/params.js';
import { ProgressReporter, formatDuration } from './progress.js';
import { runTrain } from './train.js';

const USAGE = `veil: private neural-network inference with CKKS (pure TypeScript)

usage:
  veil inspect MODEL.onnx [--calibration FILE [--shape N,C,H,W]] [--layout auto|batch|channel|packed] [--degrees SPEC] [--threads N] [--json]
               [--bootstrap PRESET]
  veil infer   MODEL.onnx --input FILE [--shape N,C,H,W] --out RESULT.json
               [--layout auto|batch|channel|packed] [--degrees SPEC] [--calibration FILE [--calibration-shape N,C,H,W]]
               [--labels FILE] [--simulate | --plain] [--threads N] [--cluster K] [--min-log-scale B] [--bootstrap PRESET]
  veil train   MODEL.onnx --data X --labels Y --recipe paper|smartpaf|beaa [...]   (veil train --help)
  veil --help | --version

  --layout: auto (default) picks the layout with the least predicted time that fits in memory for
            the number of images: channel (one image per run, a ciphertext per channel), batch
            (one image per slot, all slots per run) or packed (one image per run in one
            ciphertext, every linear layer one diagonal transform); the choice and the prediction
            are printed. channel and packed run N images one after another
  inspect --layout packed: parameters, Galois keys, predicted time per layer, peak memory, slot
            use, levels and predicted error (σ and 6σ bound against the float64 simulation) of a
            packed run (server threads: --threads, default 1)
  --bootstrap PRESET (with --layout packed or channel; ${Object.keys(BOOTSTRAP_PRESETS).join(', ')}; -T presets are small
            insecure test rings): the bootstrapping set's parameters and bootstraps wherever the
            network needs more than its user levels. inspect: where they go, their predicted time
            and key bytes; infer: runs them and reports each one's seconds
  SPEC:     ola (default) | uniform:N | a JSON file {"<activation node>": degree}
  FILE:     raw float32 little-endian NCHW (.f32 .bin .raw; needs --shape), .npy, or .json
  --labels: uint8 file or JSON array of class labels (for accuracy and OLA's target)
  --plain:  float64 model, no encryption;  --simulate: float64 with the compiled polynomials
  --threads: worker threads for compilation and --simulate (default: every core; the result does
            not depend on it) and for the encrypted server (default 1)

examples:
  veil inspect fixtures/mnist_square.onnx
  veil infer fixtures/mnist_relu_bn.onnx --input fixtures/digits64.f32 --shape 64,1,28,28 --out result.json
`;

/** The package version (package.json two or three folders up: sources or dist/). */
function version(): string {
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'veil-fhe' && pkg.version) return pkg.version;
    } catch {
      /* try the next */
    }
  }
  return 'unknown';
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
  if (!shape) throw new CliError('VEIL_CLI_OPTION', `${path} is raw float32 and needs a shape`, 'pass --shape N,C,H,W');
  const per = shape.slice(1).reduce((a, b) => a * b, 1);
  const values = bytes.length / 4;
  if (shape.length > 1 && Number.isInteger(values / per) && values !== per * shape[0]) {
    // the usual slip: a file of many images with the shape of one (or the other way round)
    const n = values / per;
    throw new CliError('VEIL_CLI_INPUT', `${path} holds ${n} input(s) of [${shape.slice(1)}], --shape says ${shape[0]}`,
      `pass --shape ${[n, ...shape.slice(1)].join(',')} (the channel and packed layouts run the images one after another), or write the images you want to a file of their own`);
  }
  return readRawFloat32(bytes, shape);
}

function readLabels(path: string): number[] {
  const bytes = new Uint8Array(readFileSync(path));
  if (path.toLowerCase().endsWith('.json')) {
    const v = JSON.parse(new TextDecoder().decode(bytes)) as unknown;
    if (!Array.isArray(v) || v.some((x) => !Number.isInteger(x))) throw new CliError('VEIL_CLI_INPUT', `${path}: labels must be a JSON array of integers`, 'write the labels as [7, 2, 1, …] or as one uint8 per image');
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
  checkInputRange(x, tensorRange(calib));
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

function modelOptions(c: Command, labels?: number[]): ModelOptions {
  let degrees: ModelOptions['degrees'];
  if (c.degrees) degrees = parseDegreeSpec(c.degrees.toLowerCase().endsWith('.json') ? readFileSync(c.degrees, 'utf8') : c.degrees);
  return {
    ...(degrees ? { degrees } : {}), ...(labels ? { labels } : {}), ...(c.minLogScale !== undefined ? { minLogScale: c.minLogScale } : {}),
    ...(c.cluster ? { cluster: c.cluster } : {}),
  };
}

/** Worker threads for compilation and simulation: --threads, else every core. */
const compileThreads = (c: Command) => (c.threadsGiven ? c.threads : Math.max(1, Math.min(256, os.availableParallelism())));

/** Runs f with a forward pool of the command's thread count (none for one thread). */
async function withForwardPool<T>(c: Command, f: (opts: ParallelOptions) => Promise<T>): Promise<T> {
  const threads = compileThreads(c);
  if (threads <= 1) return f({});
  const pool = await ForwardPool.create(threads);
  try {
    return await f({ pool });
  } finally {
    await pool.close();
  }
}

/** Progress of the compile-time stages on the reporter. */
const stageProgress = (reporter: ProgressReporter) => (stage: string, done: number, total: number) => reporter.update(stage, done, total);

async function inspect(c: Command, reporter: ProgressReporter): Promise<void> {
  const graph = importOnnx(new Uint8Array(readFileSync(c.model)));
  const needsCalib = graph.nodes.some((n) => n.op === 'Relu' || n.op === 'Gelu');
  const lines: string[] = [describeGraph(graph), ''];
  if (!c.calibration && needsCalib) {
    lines.push('This model has ReLU/GELU activations: pass --calibration FILE (representative inputs) to choose their polynomials, depth and parameters.');
    process.stdout.write(lines.join('\n') + '\n');
    return;
  }
  const calib = c.calibration ? fitShape(readTensorFile(c.calibration, c.shape), graph.input.shape) : { shape: [1, ...graph.input.shape], data: new Float64Array(sizeOf(graph.input.shape)) };
  const labels = c.labels ? readLabels(c.labels).slice(0, calib.shape[0]) : undefined;
  const mo = modelOptions(c, labels);
  const report: Record<string, unknown> = { model: c.model, input: graph.input.shape, output: graph.output.shape };
  const layouts: Layout[] = c.layout === 'auto' ? ['batch', 'channel'] : [c.layout];
  if (c.layout === 'auto') layouts.push('packed');
  reporter.log(`compiling (calibration on ${calib.shape[0]} input(s), ${compileThreads(c)} thread(s))...`);
  const compiled = await withForwardPool(c, (p) => compileModelAsync(graph, calib, { ...mo, ...p, onProgress: stageProgress(reporter) }));
  for (const layout of layouts) {
    if ((layout === 'packed' || layout === 'channel') && c.bootstrap) {
      reporter.log(`${layout} layout with ${c.bootstrap}: placing bootstraps, value ranges over the calibration inputs...`);
      const r = bootstrapReport(compiled.graph, calib, c.bootstrap, c.threads, 8, layout);
      report[`${layout}Bootstrap`] = bootstrapReportJson(r, c.threads);
      lines.push(...describeBootstraps(compiled.graph, r, c.threads), '');
      continue;
    }
    if (layout === 'packed') {
      let m: Model;
      try {
        m = Model.fromCompiled(compiled, { ...mo, layout });
      } catch (e) {
        // auto lists the layouts that can hold the network; an explicit --layout packed reports why not
        if (c.layout === 'auto' && e instanceof VeilError) {
          lines.push(`== packed layout: not available (${e.message})`, '');
          report.packed = { unavailable: e.message };
          continue;
        }
        throw e;
      }
      reporter.log(`packed layout: timing operations at ${m.params.toString()} (${c.threads} server thread(s))...`);
      const pred = await predictPackedRun(m, c.threads);
      const err = predictPackedRunError(m, c.calibration ? calib : undefined);
      report.packed = packedReport(m, pred, c.threads, err, !!c.calibration);
      lines.push(...describePacked(m, pred, c.threads, err, !!c.calibration), '');
      continue;
    }
    const m = Model.fromCompiled(compiled, { ...mo, layout });
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
    if (layout === 'channel') {
      const err = predictChannelRunError(m, c.calibration ? calib : undefined);
      (report[layout] as Record<string, unknown>).error = errorReport(err, !!c.calibration);
      lines.push(errorLine(err, !!c.calibration, 'reference'));
    }
    lines.push('');
  }
  if (c.json) process.stdout.write(JSON.stringify(report, (_k, v) => (v instanceof Float64Array ? Array.from(v) : v), 2) + '\n');
  else process.stdout.write(lines.join('\n'));
}

/** One line per layout estimate, for stderr and the result file. */
function describeEstimate(e: LayoutEstimate, images: number): string {
  return `${e.layout}: ${e.runs} run(s) × ${formatDuration(e.secondsPerRun)} = ${formatDuration(e.seconds)} for ${images} image(s), ` +
    `memory ${mib(e.memory)}${e.fits ? '' : ' (over the memory budget)'}, ${e.model.params.toString()}`;
}

async function infer(c: Command, reporter: ProgressReporter): Promise<void> {
  const outPath = c.out!;
  const t0 = performance.now();
  const graph = importOnnx(new Uint8Array(readFileSync(c.model)));
  const x = fitShape(readTensorFile(c.input!, c.shape), graph.input.shape);
  const calib = c.calibration ? fitShape(readTensorFile(c.calibration, c.calibrationShape ?? c.shape), graph.input.shape) : x;
  const labels = c.labels ? readLabels(c.labels) : undefined;
  const n = x.shape[0];
  const timings: Record<string, unknown> = {};
  const result: Record<string, unknown> = { model: c.model, images: n };
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
  if (c.plain) {
    finish(runReference(graph, x), 'plain');
    return;
  }
  checkRange(x, calib);
  const mo = modelOptions(c, labels && calib === x ? labels : undefined);
  const tc = performance.now();
  let model: Model;
  /** Predicted seconds per node of one run (progress weights) and in all. */
  let prediction: { seconds: number; nodes: { node: string; seconds: number }[]; setupSeconds?: number } | undefined;
  let packedMemory: PackedMemory | undefined;
  // the compilation does not depend on the layout: once, on every core, for every layout considered
  reporter.log(`compiling (calibration on ${calib.shape[0]} input(s), ${compileThreads(c)} thread(s))...`);
  if (c.simulate) {
    // the simulation does not depend on the run's cost: auto takes the channel layout
    const sim = await withForwardPool(c, async (p) => {
      const compiled = await compileModelAsync(graph, calib, { ...mo, ...p, onProgress: stageProgress(reporter) });
      timings.compile_s = (performance.now() - tc) / 1000;
      const ts = performance.now();
      const logits = await simulateAsync(compiled, x, { ...p, onProgress: stageProgress(reporter) });
      timings.simulate_s = (performance.now() - ts) / 1000;
      return { compiled, logits };
    });
    model = Model.fromCompiled(sim.compiled, { ...mo, layout: c.layout === 'auto' ? 'channel' : c.layout });
    result.params = model.params.describe();
    result.layout = model.layout;
    result.depth = model.plan.depth;
    result.activations = model.compiled.fits.map((f) => ({ node: f.node, replaces: f.replaces, degree: f.degree }));
    finish(sim.logits, 'simulate');
    return;
  }
  const compiled = await withForwardPool(c, (p) => compileModelAsync(graph, calib, { ...mo, ...p, onProgress: stageProgress(reporter) }));
  if (c.layout === 'auto') {
    reporter.log(`choosing a layout for ${n} image(s): timing each layout's operations at its parameters...`);
    const estimates = estimateLayouts(graph, calib, n, mo, {
      compiled, onOption: (l) => reporter.log(`  ${l} layout: measuring...`), onSkip: (l, why) => reporter.log(`  ${l} layout: left out (${why})`),
    });
    const { choice, reason } = chooseLayout(estimates);
    for (const e of estimates) reporter.log(`  ${e === choice ? '→' : ' '} ${describeEstimate(e, n)}`);
    reporter.log(`layout: ${choice.layout} (${reason})`);
    result.layout_choice = {
      choice: choice.layout, reason,
      estimates: estimates.map((e) => ({ layout: e.layout, runs: e.runs, seconds_per_run: e.secondsPerRun, seconds: e.seconds, memory_bytes: e.memory, fits: e.fits })),
    };
    model = choice.model;
    if (choice.packed) {
      prediction = { seconds: choice.packed.seconds, nodes: choice.packed.layers, setupSeconds: choice.packed.setupSeconds };
      packedMemory = choice.packed.memory;
    } else prediction = predictRun(model.graph, model.params, model.layout, choice.opTimes!);
  } else if (c.bootstrap) {
    reporter.log(`${c.layout} layout with ${c.bootstrap}: placing bootstraps, value ranges over the calibration inputs...`);
    model = Model.fromCompiled(compiled, { ...mo, layout: c.layout as 'packed' | 'channel', bootstrap: c.bootstrap, calibration: calib });
  } else {
    model = Model.fromCompiled(compiled, { ...mo, layout: c.layout });
  }
  timings.compile_s = (performance.now() - tc) / 1000;
  result.params = model.params.describe();
  result.layout = model.layout;
  result.depth = model.plan.depth;
  result.activations = model.compiled.fits.map((f) => ({ node: f.node, replaces: f.replaces, degree: f.degree }));
  if (model.bootstrap) {
    // the measured seconds per bootstrap; the layer predictions assume inputs at the top level, so none here
    const b = bootstrapRunJson(c.bootstrap!, model.bootstrap.bp, model.plan, model.bootstrap.placement, model.bootstrap.calls, c.threads);
    result.bootstrap = b;
    const pr = b.prediction as { seconds: number | null; secondsEach: number | null };
    prediction = { seconds: pr.seconds ?? 0, nodes: [] };
    reporter.log(`${model.bootstrap.placement.count} refresh(es) in ${model.bootstrap.calls} bootstrap(s) at ${model.bootstrap.bp.outputLevel} user levels (depth ${model.plan.depth}); ` +
      (pr.seconds !== null ? `predicted bootstrapping time ${formatDuration(pr.seconds)} per image (${pr.secondsEach!.toFixed(2)} s each, measured)` : `${c.bootstrap} was not measured on ${c.threads} thread(s)`));
  }
  if (model.layout === 'packed' && !prediction) {
    reporter.log(`packed layout: timing operations at ${model.params.toString()} (${c.threads} server thread(s))...`);
    const p = await predictPackedRun(model, c.threads);
    prediction = { seconds: p.seconds, nodes: p.layers, setupSeconds: p.setupSeconds };
    packedMemory = p.memory;
    result.packed = packedReport(model, p, c.threads);
  }
  // the packed layout holds one ciphertext per value: its own prediction (keys, working set)
  const mem = packedMemory ?? model.memory();
  result.memory_predicted = { peakCiphertexts: mem.peakCiphertexts, keys: mem.keys, total: mem.total };
  if (mem.total > 0.85 * os.totalmem()) {
    throw new CliError('VEIL_CLI_MEMORY', `the ${model.layout} layout needs about ${mib(mem.total)} (ciphertexts ${mib(mem.peakCiphertexts)} + keys ${mib(mem.keys)}); this machine has ${mib(os.totalmem())}`,
      `use ${model.layout === 'batch' ? '--layout channel (one image at a time)' : model.layout === 'packed' ? '--layout channel (smaller keys)' : 'a smaller model'} or lower degrees (--degrees uniform:2)`);
  }
  if (!prediction) prediction = predictRun(model.graph, model.params, model.layout, measureOpTimes(model.params));
  const runs = Math.ceil(n / model.imagesPerRun);
  // bootstrapped: only the bootstraps are predicted (result.bootstrap.prediction)
  if (!model.bootstrap) result.predicted_server_s = prediction.seconds * runs;
  if (prediction.setupSeconds) result.predicted_server_setup_s = prediction.setupSeconds;
  reporter.log(`${model.params.toString()}; layout ${model.layout}, depth ${model.plan.depth}, predicted memory ${mib(mem.total)}, ` +
    `predicted ${model.bootstrap ? 'bootstrapping' : 'server'} time ${formatDuration(prediction.seconds * runs)} (${runs} run(s))${prediction.setupSeconds ? ` after ${formatDuration(prediction.setupSeconds)} encoding the weights' diagonals once` : ''}`);
  // client
  let tk = performance.now();
  reporter.log('generating keys...');
  const client = new Client(model.plan);
  const keys = client.evaluationKeys();
  timings.keygen_s = (performance.now() - tk) / 1000;
  result.key_bytes = keys.length;
  const server = await Server.create(model, keys, { threads: c.threads });
  result.threads = c.threads;
  if (model.layout === 'packed' && !model.bootstrap) {
    // the weights' diagonals are encoded once per server (kept across images when they fit)
    tk = performance.now();
    reporter.log('encoding the weights\' diagonals...');
    new PackedRunner(model.graph, model.packedPlan!, server.evaluator, server.encoder).prepare();
    timings.server_setup_s = (performance.now() - tk) / 1000;
  }
  const chunk = model.imagesPerRun;
  const all = new Float64Array(n * sizeOf(graph.output.shape));
  let encS = 0;
  let runS = 0;
  let decS = 0;
  const perNode = new Map<string, number>();
  /** Seconds of each bootstrap, per image (bootstrapped runs). */
  const bootS: number[][] = [];
  // progress in predicted seconds, so the estimate of the time left weighs layers by their cost
  const before = new Map<string, number>();
  let acc = 0;
  for (const nc of prediction.nodes) {
    acc += nc.seconds;
    before.set(nc.node, acc);
  }
  const perRun = Math.max(acc, 1e-9);
  try {
    for (let start = 0, r = 0; start < n; start += chunk, r++) {
      const count = Math.min(chunk, n - start);
      const per = sizeOf(graph.input.shape);
      const part: Tensor = { shape: [count, ...graph.input.shape], data: x.data.subarray(start * per, (start + count) * per) };
      tk = performance.now();
      const enc = client.encrypt(part, (d, t) => reporter.update(`encrypting images ${start + 1}–${start + count}`, d, t));
      encS += (performance.now() - tk) / 1000;
      result.input_bytes = ((result.input_bytes as number) ?? 0) + enc.length;
      tk = performance.now();
      const out = await server.inferAsync(enc, (p) => reporter.update('inference on ciphertexts', r * perRun + (before.get(p.node) ?? 0), runs * perRun, `${p.op} ${p.node}${runs > 1 ? `, run ${r + 1}/${runs}` : ''}`));
      runS += (performance.now() - tk) / 1000;
      for (const t of server.timings) perNode.set(`${t.op} ${t.node}`, (perNode.get(`${t.op} ${t.node}`) ?? 0) + t.seconds);
      if (model.bootstrap) {
        bootS.push(server.bootstraps.map((b) => b.ms / 1000));
        reporter.log(`image ${start + 1}: ${server.bootstraps.length} bootstrap(s), ${server.bootstraps.map((b) => `${(b.ms / 1000).toFixed(2)} s`).join(', ') || 'none'}`);
      }
      result.output_bytes = ((result.output_bytes as number) ?? 0) + out.length;
      tk = performance.now();
      const y = client.decrypt(out);
      decS += (performance.now() - tk) / 1000;
      all.set(y.data, start * sizeOf(graph.output.shape));
    }
  } finally {
    await server.close();
  }
  timings.encrypt_s = encS;
  timings.server_s = runS;
  timings.decrypt_s = decS;
  timings.per_layer_s = Object.fromEntries(perNode);
  timings.server_per_image_s = runS / n;
  if (model.bootstrap) {
    const each = bootS.flat();
    timings.bootstrap_s = bootS;
    (result.bootstrap as Record<string, unknown>).measured = { count: each.length / n, secondsEach: each, meanSeconds: each.length ? each.reduce((a, b) => a + b, 0) / each.length : null };
  }
  result.memory_rss_peak_bytes = process.resourceUsage().maxRSS * 1024;
  finish({ shape: [n, ...graph.output.shape], data: all }, 'encrypted');
}

/** Runs the command line; returns the exit code (0 ok, 1 any error). */
async function main(argv: string[]): Promise<number> {
  try {
    if (argv[0] === 'train') return await runTrain(argv.slice(1));
    const parsed = parseCommandLine(argv);
    if (parsed.kind === 'help') {
      process.stdout.write(USAGE);
      return 0;
    }
    if (parsed.kind === 'version') {
      process.stdout.write(`veil-fhe ${version()}\n`);
      return 0;
    }
    const reporter = new ProgressReporter();
    if (parsed.command.cmd === 'inspect') await inspect(parsed.command, reporter);
    else await infer(parsed.command, reporter);
    return 0;
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    const name = err.name && err.name !== 'Error' ? `${err.name}: ` : '';
    process.stderr.write(`veil: ${name}${err.message}\n`);
    if (!(err instanceof VeilError) && !/Fix:/.test(err.message)) process.stderr.write('veil: (unexpected error; set VEIL_DEBUG=1 for the stack trace and report it)\n');
    if (process.env.VEIL_DEBUG) process.stderr.write(`${err.stack}\n`);
    return 1;
  }
}

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
