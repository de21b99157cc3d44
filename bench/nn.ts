/**
 * Private-inference benchmark: the fixture CNNs, batch layout at full slots (amortised time per
 * image), channel and packed layouts (single-image latency), 1 and 2 threads. Each configuration
 * runs in its own process so peak memory (max RSS) is its own. Single-image rows carry the cost
 * model's prediction of a run (`predicted_s`, operation times measured in the same process just
 * before, on the same thread count) and `measured / predicted`, and the share of the machine used
 * by other processes during the timed runs (`other_load`).
 *
 *   npm run bench:nn [-- --json] [--models relu,square] [--threads 1,2] [--layouts batch,channel,packed] [--runs 3]
 * JSON lines: {"kind":"nn","model":…,"layout":…,"threads":…,"server_s":…,"per_image_ms":…,…}
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Client, Model, Server, WorkerPool } from '../src/index.js';
import { argmaxRows, measureLevelOpTimes, measureOpTimes, predictRun, readRawUint8 } from '../src/nn/index.js';
import { predictPacked } from '../src/nn/packed/cost.js';
import { PackedRunner } from '../src/nn/packed/runner.js';
import { args, cpuSnap, otherLoad } from './measure.js';

const A = args();
const FIX = new URL('../../fixtures/', import.meta.url);
const MODELS: Record<string, string> = { relu: 'mnist_relu_bn', square: 'mnist_square' };

interface Config {
  model: string;
  layout: 'batch' | 'channel' | 'packed';
  threads: number;
  runs?: number;
}

/** The cost model's prediction of one single-image run, timed on `threads` threads like the server. */
async function predictOne(model: Model, threads: number): Promise<{ seconds: number; setup?: number; layers: Record<string, number>; measure_s: number }> {
  const t = performance.now();
  if (model.layout === 'packed') {
    const pool = threads > 1 ? await WorkerPool.create(model.params, { threads }) : undefined;
    try {
      const lt = measureLevelOpTimes(model.params, undefined, pool ? { pool } : {});
      const p = predictPacked(model.graph, model.packedPlan!, model.params, lt);
      return {
        seconds: p.seconds, setup: p.setupSeconds, layers: Object.fromEntries(p.layers.map((l) => [`${l.op} ${l.node}`, +l.seconds.toFixed(3)])), measure_s: (performance.now() - t) / 1000,
      };
    } finally {
      await pool?.close();
    }
  }
  const p = predictRun(model.graph, model.params, model.layout, measureOpTimes(model.params));
  return { seconds: p.seconds, layers: Object.fromEntries(p.nodes.map((l) => [`${l.op} ${l.node}`, +l.seconds.toFixed(3)])), measure_s: (performance.now() - t) / 1000 };
}

async function runOne(cfg: Config): Promise<Record<string, unknown>> {
  const bytes = (n: string) => new Uint8Array(readFileSync(new URL(n, FIX)));
  const digits = bytes('mnist_test_2000.u8');
  const labels = bytes('mnist_test_2000_labels.u8');
  const images = (start: number, n: number) => readRawUint8(digits.subarray(start * 784, (start + n) * 784), [n, 1, 28, 28], { divisor: 255, float32: true });
  const file = MODELS[cfg.model];
  let t = performance.now();
  const model = Model.fromOnnx(bytes(`${file}.onnx`), images(0, 1000), { labels: labels.subarray(0, 1000), layout: cfg.layout });
  const compileS = (performance.now() - t) / 1000;
  t = performance.now();
  const client = new Client(model.plan);
  const keys = client.evaluationKeys();
  const keygenS = (performance.now() - t) / 1000;
  const server = await Server.create(model, keys, { threads: cfg.threads });
  const row: Record<string, unknown> = {
    kind: 'nn', model: file, layout: cfg.layout, threads: cfg.threads, logN: model.params.logN, levels: model.params.levels,
    depth: model.plan.depth, log_scale: +Math.log2(model.params.defaultScale).toFixed(2), galois_keys: model.plan.rotations.length,
    degrees: model.compiled.fits.map((f) => f.degree), compile_s: +compileS.toFixed(2), keygen_s: +keygenS.toFixed(2), key_bytes: keys.length,
  };
  if (cfg.layout === 'batch') {
    // fill every slot (amortised cost), with the 1,000 evaluation digits repeated; accuracy on the distinct ones
    const slots = model.imagesPerRun;
    const evalX = images(1000, 1000);
    const full = { shape: [slots, 1, 28, 28], data: new Float64Array(slots * 784) };
    for (let i = 0; i < slots; i++) full.data.set(evalX.data.subarray((i % 1000) * 784, (i % 1000 + 1) * 784), i * 784);
    t = performance.now();
    const enc = client.encrypt(full);
    const encS = (performance.now() - t) / 1000;
    t = performance.now();
    const out = await server.inferAsync(enc);
    const serverS = (performance.now() - t) / 1000;
    t = performance.now();
    const logits = client.decrypt(out);
    const decS = (performance.now() - t) / 1000;
    const pred = argmaxRows(logits);
    const sim = argmaxRows(model.simulate(evalX));
    let ok = 0;
    let agree = 0;
    for (let i = 0; i < 1000; i++) {
      if (pred[i] === labels[1000 + i]) ok++;
      if (pred[i] === sim[i]) agree++;
    }
    Object.assign(row, {
      images: slots, server_s: +serverS.toFixed(2), per_image_ms: +((serverS * 1000) / slots).toFixed(3), encrypt_s: +encS.toFixed(2),
      decrypt_s: +decS.toFixed(2), input_bytes: enc.length, output_bytes: out.length, accuracy: ok / 1000, agreement_with_simulation: agree / 1000,
      per_layer_s: Object.fromEntries(server.timings.map((l) => [`${l.op} ${l.node}`, +l.seconds.toFixed(2)])),
    });
  } else {
    const pred = await predictOne(model, cfg.threads);
    const runs = Math.max(1, cfg.runs ?? 3);
    if (model.layout === 'packed') {
      // the weights' diagonals are encoded once per server, before its first input
      t = performance.now();
      new PackedRunner(model.graph, model.packedPlan!, server.evaluator, server.encoder).prepare();
      row.server_setup_s = +((performance.now() - t) / 1000).toFixed(3);
    }
    const times: number[] = [];
    let ok = 0;
    let inBytes = 0;
    const s0 = cpuSnap();
    for (let i = 0; i < runs; i++) {
      const x = images(1000 + i, 1);
      const enc = client.encrypt(x);
      inBytes = enc.length;
      t = performance.now();
      const out = await server.inferAsync(enc);
      times.push((performance.now() - t) / 1000);
      if (argmaxRows(client.decrypt(out))[0] === argmaxRows(model.simulate(x))[0]) ok++;
    }
    const load = otherLoad(s0, cpuSnap());
    const first = times[0];
    times.sort((a, b) => a - b);
    const median = times[(times.length - 1) >> 1];
    Object.assign(row, {
      images: 1, latency_s: +median.toFixed(3), latency_min_s: +times[0].toFixed(3), latency_first_s: +first.toFixed(3), runs,
      predicted_s: +pred.seconds.toFixed(3), ...(pred.setup !== undefined ? { predicted_setup_s: +pred.setup.toFixed(3) } : {}), measured_over_predicted: +(median / pred.seconds).toFixed(3), predict_measure_s: +pred.measure_s.toFixed(2),
      input_bytes: inBytes, agreement_with_simulation: ok / runs, other_load: load === null ? null : +load.toFixed(2),
      per_layer_s: Object.fromEntries(server.timings.map((l) => [`${l.op} ${l.node}`, +l.seconds.toFixed(3)])),
      per_layer_predicted_s: pred.layers,
    });
  }
  await server.close();
  row.max_rss_bytes = process.resourceUsage().maxRSS * 1024;
  return row;
}

if (A.opt('config', '')) {
  const cfg = JSON.parse(A.opt('config', '')) as Config;
  process.stdout.write(JSON.stringify(await runOne(cfg)) + '\n');
} else {
  const json = A.flag('json');
  const models = A.opt('models', 'relu,square').split(',');
  const threads = A.opt('threads', '1,2').split(',').map(Number);
  const layouts = A.opt('layouts', 'batch,channel,packed').split(',') as Config['layout'][];
  const runs = Number(A.opt('runs', '3'));
  const self = fileURLToPath(import.meta.url);
  if (!json) process.stdout.write(`# private inference benchmark, ${os.cpus()[0]?.model} ×${os.cpus().length}, node ${process.version}, ${new Date().toISOString()}\n`);
  for (const model of models) for (const layout of layouts) for (const t of threads) {
    process.stderr.write(`[nn bench] ${model} ${layout} ${t} thread(s)...\n`);
    const r = spawnSync(process.execPath, [self, `--config=${JSON.stringify({ model, layout, threads: t, runs })}`], { encoding: 'utf8', maxBuffer: 1 << 24, stdio: ['ignore', 'pipe', 'inherit'] });
    const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
    if (!line) {
      process.stderr.write(`[nn bench] failed (exit ${r.status})\n`);
      continue;
    }
    const row = JSON.parse(line) as Record<string, number | string>;
    if (json) process.stdout.write(line + '\n');
    else {
      const mem = `${((row.max_rss_bytes as number) / 2 ** 20).toFixed(0)} MiB RSS`;
      const what = layout === 'batch'
        ? `${row.server_s} s for ${row.images} images = ${row.per_image_ms} ms/image, accuracy ${((row.accuracy as number) * 100).toFixed(1)}%`
        : `latency ${row.latency_s} s (predicted ${row.predicted_s} s, ratio ${row.measured_over_predicted}, other load ${row.other_load})`;
      process.stdout.write(`${String(row.model).padEnd(14)} ${layout.padEnd(8)} ${t}T  N=2^${row.logN} depth ${row.depth}: ${what}; keys ${((row.key_bytes as number) / 2 ** 20).toFixed(1)} MiB; ${mem}\n`);
    }
  }
}
