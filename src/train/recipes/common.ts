/**
 * @module train/recipes/common
 * What the three recipes share: options, results, the ReLU baseline, profiling of activation
 * inputs (SmartPAF CT's "profile the input distribution", BEAA's initial fit), splitting a data set,
 * and running a fit with the recipe's progress reporting.
 */
import { InvalidArgumentError } from '../../errors.js';
import { type IrGraph, sizeOf } from '../../nn/graph.js';
import { Network } from '../network.js';
import type { Dataset } from '../step.js';
import { type EpochRecord, type FitOptions, type FitResult, type TrainProgress, evaluate, fit, mulberry32 } from '../trainer.js';

/** Options every recipe takes. */
export interface RecipeOptions {
  /** Epochs of the main fine-tuning (each recipe has its default). */
  epochs?: number;
  /** Worker threads (default 1). */
  threads?: number;
  seed?: number;
  batchSize?: number;
  /** Base learning rate (each recipe has its default). */
  lr?: number;
  /** Storage precision of the trainer (default float32). */
  dtype?: 'float32' | 'float64';
  onProgress?: (p: TrainProgress) => void;
  /** Free-form log lines (phases, choices). */
  log?: (line: string) => void;
}

/** One epoch of a recipe's history. */
export interface RecipeEpoch extends EpochRecord {
  phase: string;
}

/** What a recipe returns. */
export interface RecipeResult {
  recipe: 'paper' | 'smartpaf' | 'beaa';
  /** The trained graph: batch-norm kept, activations as 'Polynomial' nodes (write it with writeOnnx). */
  graph: IrGraph;
  /** Validation accuracy of the input (ReLU) model. */
  baseline: number;
  /** Validation accuracy of the trained model in its deployed form (no clamp, static scale). */
  validation: number;
  /** Degree of the polynomial of each activation. */
  degree: number;
  /** Recipe-specific choices (form, scales, coefficients, penalty…). */
  details: Record<string, unknown>;
  history: RecipeEpoch[];
  seconds: number;
}

/** Names of the activation nodes a recipe replaces (ReLU, GELU), in inference order. */
export function activationNodes(graph: IrGraph): string[] {
  return graph.nodes.filter((n) => n.op === 'Relu' || n.op === 'Gelu').map((n) => n.name);
}

/** Splits off the last `validation` samples (the order is the caller's: shuffle before if needed). */
export function splitDataset(d: Dataset, validation: number): { train: Dataset; validation: Dataset } {
  if (!(validation > 0 && validation < d.count)) throw new InvalidArgumentError(`validation size ${validation} is not between 1 and ${d.count - 1}`, 'keep at least one sample on each side of the split');
  const D = d.x.length / d.count;
  const K = d.teacher ? d.teacher.length / d.count : 0;
  const cut = d.count - validation;
  const part = (a: number, b: number): Dataset => ({
    x: d.x.subarray(a * D, b * D), labels: d.labels.subarray(a, b), shape: d.shape, count: b - a,
    ...(d.teacher ? { teacher: d.teacher.subarray(a * K, b * K) } : {}),
  });
  return { train: part(0, cut), validation: part(cut, d.count) };
}

/** Statistics of one activation's inputs over (part of) the training set. */
export interface ActivationProfile {
  node: string;
  /** Up to `samples` values, a seeded random subset of the profiled activations. */
  samples: Float64Array;
  maxAbs: number;
  std: number;
}

/**
 * Runs the model in evaluation mode on up to `images` training images and records every
 * activation's inputs.
 */
export function profileActivations(graph: IrGraph, data: Dataset, nodes: readonly string[], images = 1024, samples = 8192): ActivationProfile[] {
  const net = new Network(graph, { dtype: 'float64' });
  const D = data.x.length / data.count;
  const n = Math.min(images, data.count);
  const byNode = new Map(graph.nodes.map((x) => [x.name, x]));
  const acc = nodes.map((name) => {
    const total = n * sizeOf(byNode.get(name)!.outShape);
    return { out: [] as number[], keep: Math.min(1, samples / total), seen: 0, maxAbs: 0, s: 0, s2: 0 };
  });
  // a seeded random subset: a fixed stride would alias with the map width (a stride of 98 on
  // 14×14 maps only ever sees column 0, the zero-padded border)
  const rand = mulberry32(0x5eed);
  const B = 128;
  const buf = new Float64Array(B * D);
  for (let a = 0; a < n; a += B) {
    const m = Math.min(B, n - a);
    for (let i = 0; i < m * D; i++) buf[i] = data.x[a * D + i];
    net.forward(buf.subarray(0, m * D), m, 'eval');
    nodes.forEach((name, k) => {
      const v = net.value(byNode.get(name)!.inputs[0])!;
      const r = acc[k];
      for (let i = 0; i < v.length; i++) {
        const x = v[i];
        const ax = Math.abs(x);
        if (ax > r.maxAbs) r.maxAbs = ax;
        r.s += x;
        r.s2 += x * x;
        r.seen++;
        if (rand() < r.keep && r.out.length < samples) r.out.push(x);
      }
    });
  }
  return nodes.map((node, k) => {
    const r = acc[k];
    const mean = r.s / r.seen;
    return { node, samples: Float64Array.from(r.out), maxAbs: r.maxAbs, std: Math.sqrt(Math.max(0, r.s2 / r.seen - mean * mean)) };
  });
}

/** Validation accuracy of the graph as given (the ReLU baseline). */
export function baselineAccuracy(graph: IrGraph, validation: Dataset): number {
  return evaluate(new Network(graph, { dtype: 'float32' }), validation).accuracy;
}

/** `fit` with the recipe's phase name, seeds, threads and progress; appends to `history`. */
export async function runPhase(
  net: Network, train: Dataset, validation: Dataset, phase: string, common: RecipeOptions, opts: Omit<FitOptions, 'phase' | 'threads' | 'validation'>,
  history: RecipeEpoch[],
): Promise<FitResult> {
  const r = await fit(net, train, {
    ...opts, phase, threads: common.threads ?? 1, validation, seed: opts.seed ?? common.seed ?? 1, batchSize: opts.batchSize ?? common.batchSize,
    onProgress: common.onProgress,
    onEpoch: (e) => common.log?.(`${phase}: epoch ${e.epoch}/${opts.epochs}, loss ${e.loss.toFixed(4)}${e.penalty ? ` (penalty ${e.penalty.toFixed(4)})` : ''}, train ${(100 * e.trainAccuracy).toFixed(2)} %, validation ${((e.validation ?? 0) * 100).toFixed(2)} %, ${e.seconds.toFixed(1)} s`),
  });
  for (const e of r.history) history.push({ ...e, phase });
  return r;
}

/** Least-squares polynomial of ReLU on samples (power coefficients c_0 … c_d). */
export function fitReluOnSamples(xs: Float64Array, degree: number): number[] {
  const d = degree;
  // normal equations in a scaled variable t = x/s for conditioning
  let s = 0;
  for (const x of xs) s = Math.max(s, Math.abs(x));
  s = s || 1;
  const n = d + 1;
  const A = Array.from({ length: n }, () => new Float64Array(n));
  const b = new Float64Array(n);
  const pw = new Float64Array(2 * n);
  for (const x of xs) {
    const t = x / s;
    pw[0] = 1;
    for (let k = 1; k < 2 * n; k++) pw[k] = pw[k - 1] * t;
    const y = x > 0 ? x : 0;
    for (let i = 0; i < n; i++) {
      b[i] += pw[i] * y;
      for (let j = 0; j < n; j++) A[i][j] += pw[i + j];
    }
  }
  // Gaussian elimination with partial pivoting
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(A[r][c]) > Math.abs(A[p][c])) p = r;
    [A[c], A[p]] = [A[p], A[c]];
    [b[c], b[p]] = [b[p], b[c]];
    for (let r = c + 1; r < n; r++) {
      const f = A[r][c] / A[c][c];
      for (let j = c; j < n; j++) A[r][j] -= f * A[c][j];
      b[r] -= f * b[c];
    }
  }
  const t = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let v = b[i];
    for (let j = i + 1; j < n; j++) v -= A[i][j] * t[j];
    t[i] = v / A[i][i];
  }
  // back to x: c_k = t_k / s^k
  return Array.from(t, (v, k) => v / s ** k);
}
