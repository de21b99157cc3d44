/**
 * Compile-time benchmark (OLA degree search, calibration, simulation) on the ResNet fixtures, each
 * configuration in its own process (cold start: worker start-up and JIT warm-up included, as a
 * user's `veil` run has them), rounds interleaved, medians reported:
 *  - relu:  mnist_relu_res, OLA with the first 256 test digits as calibration; then --simulate of
 *           the 2,000 test digits with the compiled model (targets: compile ≤ 20 s, simulate ≤ 15 s)
 *  - r20:   resnet20_relu, OLA with 64 seeded random inputs uniform in [0, 1] (target ≤ 120 s)
 *  - gelu:  mnist_gelu_res, compile calibrating on the 2,000 test digits (the default of
 *           `veil infer --simulate`) + simulate them (target ≤ 60 s)
 *
 *   npm run bench:compile [-- --json] [--configs=relu,r20,gelu] [--threads=2] [--rounds=3]
 *                         [--bins=N] [--floor=X] [--fallback=K]
 * --bins, --floor and --fallback set CompileOptions.bins / floorWeight / fallbackPoints (defaults:
 * the library's); `--bins=64 --floor=0 --fallback=Infinity` is the search as it was before the
 * fit estimate was corrected (64-bin fits, every front point in the fallback).
 * JSON lines: {"kind":"compile","config":…,"threads":…,"round":…,"compile_s":…,"simulate_s":…,"total_s":…,
 *   "cpu_s":…,"other_load":…,"degrees":[…],"depth":…,"agreement":…}, then one {"kind":"compile-median",…} per
 *   configuration and thread count with the medians and the target.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { ForwardPool, compileModelAsync, importOnnx, planLevels, readRawUint8, simulateAsync, type Tensor } from '../src/nn/index.js';
import { argmaxRows } from '../src/nn/reference.js';
import { args, cpuSnap, otherLoad } from './measure.js';

const A = args();
const FIX = new URL('../../fixtures/', import.meta.url);
const bytes = (n: string) => new Uint8Array(readFileSync(new URL(n, FIX)));

interface Config {
  config: 'relu' | 'r20' | 'gelu';
  threads: number;
  round: number;
  /** Numbers as given on the command line (strings, so that Infinity survives JSON). */
  bins?: string;
  floor?: string;
  fallback?: string;
}

/** Targets of the issue (seconds, wall time on 2 threads). */
const TARGETS: Record<Config['config'], { what: string; key: 'compile_s' | 'simulate_s' | 'total_s'; target: number }[]> = {
  relu: [
    { what: 'compile, OLA, MNIST ResNet, 256 calibration images', key: 'compile_s', target: 20 },
    { what: '--simulate of 2,000 digits after compile', key: 'simulate_s', target: 15 },
  ],
  r20: [{ what: 'compile, OLA, ResNet-20 CIFAR shape, 64 calibration inputs', key: 'compile_s', target: 120 }],
  gelu: [{ what: 'GELU ResNet, compile + simulate of 2,000 digits', key: 'total_s', target: 60 }],
};

/** n seeded inputs uniform in [0, 1) of shape [n, 3, 32, 32] (mulberry32, seed 64). */
function cifarInputs(n: number): Tensor {
  let a = 64;
  const r = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const data = new Float64Array(n * 3072);
  for (let i = 0; i < data.length; i++) data[i] = Math.fround(r());
  return { shape: [n, 3, 32, 32], data };
}

async function runOne(cfg: Config): Promise<Record<string, unknown>> {
  const digits = readRawUint8(bytes('mnist_test_2000.u8'), [2000, 1, 28, 28], { divisor: 255, float32: true });
  const first = (k: number): Tensor => ({ shape: [k, 1, 28, 28], data: digits.data.subarray(0, k * 784) });
  const file = { relu: 'mnist_relu_res', r20: 'resnet20_relu', gelu: 'mnist_gelu_res' }[cfg.config];
  const graph = importOnnx(bytes(`${file}.onnx`));
  const calib = cfg.config === 'relu' ? first(256) : cfg.config === 'r20' ? cifarInputs(64) : digits;
  const sim = cfg.config === 'r20' ? undefined : digits;
  const s0 = cpuSnap();
  const t0 = performance.now();
  const pool = cfg.threads > 1 ? await ForwardPool.create(cfg.threads) : undefined;
  const par = pool ? { pool } : {};
  const stages: Record<string, number> = {};
  let stage = '';
  let ts = t0;
  const onProgress = (s: string) => {
    if (s === stage) return;
    const now = performance.now();
    if (stage) stages[stage] = +(((stages[stage] ?? 0) + (now - ts) / 1000).toFixed(3));
    stage = s;
    ts = now;
  };
  const variant = {
    ...(cfg.bins === undefined ? {} : { bins: Number(cfg.bins) }), ...(cfg.floor === undefined ? {} : { floorWeight: Number(cfg.floor) }),
    ...(cfg.fallback === undefined ? {} : { fallbackPoints: Number(cfg.fallback) }),
  };
  const m = await compileModelAsync(graph, calib, { ...par, ...variant, onProgress });
  const t1 = performance.now();
  if (stage) stages[stage] = +(((stages[stage] ?? 0) + (t1 - ts) / 1000).toFixed(3));
  let simulateS: number | undefined;
  let agreement: number | undefined;
  if (sim) {
    const logits = await simulateAsync(m, sim, par);
    simulateS = (performance.now() - t1) / 1000;
    // agreement of the simulation with the labels (accuracy) on the 2,000 digits
    const labels = bytes('mnist_test_2000_labels.u8');
    agreement = argmaxRows(logits).filter((p, i) => p === labels[i]).length / 2000;
  }
  const t2 = performance.now();
  await pool?.close();
  const s1 = cpuSnap();
  return {
    kind: 'compile', config: cfg.config, model: file, threads: cfg.threads, round: cfg.round, calibration_images: calib.shape[0],
    bins: m.calibration.activations[0]?.histogram.counts.length, floor: cfg.floor ?? null, fallback: cfg.fallback ?? null,
    compile_s: +((t1 - t0) / 1000).toFixed(3), ...(simulateS === undefined ? {} : { simulate_s: +simulateS.toFixed(3), accuracy_2000: agreement }),
    total_s: +((t2 - t0) / 1000).toFixed(3), cpu_s: +(s1.own - s0.own).toFixed(2), other_load: otherLoad(s0, s1),
    degrees: m.fits.map((f) => f.degree), depth: planLevels(m.graph, 'batch').depth, ola_steps: m.ola?.steps.length,
    ola_target: m.ola?.target, ola_chosen_agreement: m.ola ? m.ola.steps[m.ola.chosen]?.accuracy : undefined, stages_s: stages,
    max_rss_bytes: process.resourceUsage().maxRSS * 1024,
  };
}

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

if (A.opt('config', '')) {
  const cfg = JSON.parse(A.opt('config', '')) as Config;
  process.stdout.write(JSON.stringify(await runOne(cfg)) + '\n');
} else {
  const json = A.flag('json');
  const configs = A.opt('configs', 'relu,r20,gelu').split(',') as Config['config'][];
  const threads = A.opt('threads', '2').split(',').map(Number);
  const rounds = Number(A.opt('rounds', '3'));
  const num = (k: string) => (A.opt(k, '') === '' ? {} : { [k]: A.opt(k, '') });
  const variant = { ...num('bins'), ...num('floor'), ...num('fallback') };
  const self = fileURLToPath(import.meta.url);
  if (!json) process.stdout.write(`# compile benchmark, ${os.cpus()[0]?.model} ×${os.cpus().length}, node ${process.version}, ${new Date().toISOString()}\n`);
  const rows: Record<string, unknown>[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const config of configs) for (const t of threads) {
      process.stderr.write(`[compile bench] round ${round + 1}/${rounds}: ${config}, ${t} thread(s)...\n`);
      const r = spawnSync(process.execPath, [self, `--config=${JSON.stringify({ config, threads: t, round, ...variant })}`], { encoding: 'utf8', maxBuffer: 1 << 24, stdio: ['ignore', 'pipe', 'inherit'] });
      const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
      if (!line) {
        process.stderr.write(`[compile bench] failed (exit ${r.status})\n`);
        continue;
      }
      rows.push(JSON.parse(line) as Record<string, unknown>);
      if (json) process.stdout.write(line + '\n');
    }
  }
  for (const config of configs) for (const t of threads) {
    const mine = rows.filter((r) => r.config === config && r.threads === t);
    if (mine.length === 0) continue;
    const med = (k: string) => {
      const v = mine.map((r) => r[k]).filter((x): x is number => typeof x === 'number');
      return v.length ? +median(v).toFixed(2) : undefined;
    };
    const targets = TARGETS[config].map((x) => ({ ...x, median_s: med(x.key), met: (med(x.key) ?? Infinity) <= x.target }));
    const summary = {
      kind: 'compile-median', config, threads: t, rounds: mine.length, compile_s: med('compile_s'), simulate_s: med('simulate_s'), total_s: med('total_s'),
      cpu_s: med('cpu_s'), other_load_max: Math.max(...mine.map((r) => (r.other_load as number | null) ?? 0)), degrees: mine[0]!.degrees, depth: mine[0]!.depth, targets,
    };
    if (json) process.stdout.write(JSON.stringify(summary) + '\n');
    else {
      for (const x of targets) {
        process.stdout.write(`${x.what.padEnd(60)} ${t}T: median ${x.median_s} s of ${mine.length} (target ≤ ${x.target} s${x.met ? ', met' : ', NOT met'}); ` +
          `degrees ${JSON.stringify(summary.degrees)}, depth ${summary.depth}; other load ≤ ${(summary.other_load_max * 100).toFixed(0)}%\n`);
      }
    }
  }
}
