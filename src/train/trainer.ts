/**
 * @module train/trainer
 * The training loop: seeded shuffles, minibatches over one thread or several (`parallel.ts`),
 * optimiser steps with per-group settings, running batch-norm statistics, SmartPAF static scales,
 * per-epoch plans (PAPER's penalty warm-up, SmartPAF's alternate training), validation after every
 * epoch, the best epoch kept, and progress (epoch, loss, accuracy, time left) through a callback.
 */
import { InvalidArgumentError } from '../errors.js';
import type { Arr } from './gemm.js';
import type { LossSpec } from './loss.js';
import type { Network } from './network.js';
import { type Group, type GroupSettings, type OptimizerSpec, Optimizer, type Schedule, gradNorm, scheduledRate } from './optim.js';
import { LocalBackend, type StepBackend, WorkerBackend } from './parallel.js';
import type { Dataset, StepSpec } from './step.js';

/** What changes from one epoch to the next. */
export interface EpochSettings {
  /** Weight of the data loss (default 1). */
  ceWeight?: number;
  /** Total penalty weight ζ, shared equally by the clamped polynomial layers (default 0). */
  penalty?: number;
  groups?: Partial<Record<Group, GroupSettings>>;
  /** Train SmartPAF layers at their static scale (SS) rather than the batch's max |x| (DS). */
  pafStatic?: boolean;
}

/** Progress of a run. */
export interface TrainProgress {
  phase: string;
  epoch: number;
  epochs: number;
  batch: number;
  batches: number;
  /** Mean loss (data + penalty) over the epoch so far. */
  loss: number;
  /** Training accuracy over the epoch so far. */
  accuracy: number;
  /** Validation accuracy of the last finished epoch. */
  validation?: number;
  seconds: number;
  /** Estimated seconds left in this phase. */
  eta: number;
}

/** Options of {@link fit}. */
export interface FitOptions {
  epochs: number;
  batchSize?: number;
  seed?: number;
  optimizer?: OptimizerSpec;
  lr?: number;
  weightDecay?: number;
  schedule?: Schedule;
  groups?: Partial<Record<Group, GroupSettings>>;
  loss?: LossSpec;
  /** Worker threads (default 1: the calling thread). */
  threads?: number;
  /** Clip the gradient to this global L2 norm. */
  clipNorm?: number;
  validation?: Dataset;
  /** Settings per epoch (0-based), merged over the defaults. */
  epochPlan?: (epoch: number) => EpochSettings;
  bnMomentum?: number;
  /** Restore the parameters of the epoch with the best validation accuracy (default true with validation). */
  keepBest?: boolean;
  /** Label of this run in progress reports. */
  phase?: string;
  onProgress?: (p: TrainProgress) => void;
  /** Called after every epoch (e.g. to log). */
  onEpoch?: (r: EpochRecord) => void;
}

/** One epoch's figures. */
export interface EpochRecord {
  epoch: number;
  loss: number;
  penalty: number;
  trainAccuracy: number;
  validation?: number;
  lr: number;
  seconds: number;
}

/** Result of {@link fit}. */
export interface FitResult {
  history: EpochRecord[];
  /** The epoch whose parameters the network holds at the end, and its validation accuracy. */
  best?: { epoch: number; validation: number };
  seconds: number;
}

/** xorshift128+-free, portable PRNG (mulberry32) for shuffles. */
export function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher–Yates permutation of 0…n−1 from a seed. */
export function permutation(n: number, seed: number): Int32Array {
  const r = mulberry32(seed);
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

/** Everything `fit` restores for the best epoch. */
interface Snapshot {
  params: Arr;
  running: { node: string; mean: Float64Array; variance: Float64Array }[];
  scales: number[];
}

function snapshot(net: Network): Snapshot {
  return {
    params: net.params.slice(),
    running: net.runningStats().map((s) => ({ node: s.node, mean: Float64Array.from(s.mean), variance: Float64Array.from(s.variance) })),
    scales: net.pafLayers().map((p) => p.staticScale),
  };
}

function restore(net: Network, s: Snapshot): void {
  net.params.set(s.params);
  net.setRunningStats(s.running);
  net.pafLayers().forEach((p, k) => {
    p.staticScale = s.scales[k];
  });
}

/**
 * Trains `net` on `data`.
 *
 * @throws RangeError for an empty data set or bad options; Error if a worker fails
 * @example
 * ```ts
 * const net = new Network(graph, { activations: { relu1: { kind: 'poly', coeffs: [0.19, 0.5, 0.23], grain: 'layer', clip: 2 } } });
 * const r = await fit(net, train, { epochs: 5, lr: 1e-3, validation: val });
 * ```
 */
export async function fit(net: Network, data: Dataset, opts: FitOptions): Promise<FitResult> {
  if (data.count <= 0) throw new InvalidArgumentError('the training set is empty', 'pass at least one sample');
  if (!(opts.epochs >= 0)) throw new InvalidArgumentError(`epochs = ${opts.epochs}`, 'pass a number of epochs ≥ 0');
  const threads = Math.max(1, Math.floor(opts.threads ?? 1));
  const bs = Math.min(data.count, opts.batchSize ?? 64);
  const batches = Math.ceil(data.count / bs);
  const total = batches * opts.epochs;
  const lr0 = opts.lr ?? 1e-3;
  const wd = opts.weightDecay ?? 0;
  const schedule = opts.schedule ?? { kind: 'cosine' };
  const loss = opts.loss ?? { kind: 'ce' };
  const keepBest = opts.keepBest ?? opts.validation !== undefined;
  const optim = new Optimizer(opts.optimizer ?? { kind: 'adam' }, net.slots, net.size);
  const polys = net.polyLayers();
  const clamped = polys.filter((p) => p.clip !== undefined).length;
  const pafs = net.pafLayers();
  let backend: StepBackend;
  if (threads > 1) {
    if (!(net.params.buffer instanceof SharedArrayBuffer)) throw new InvalidArgumentError('training on several threads with a network whose parameters are not shared', 'build the network with { shared: true }, or train on one thread');
    backend = await WorkerBackend.create(net, data, threads, net.activations);
  } else backend = new LocalBackend(net, data);
  const history: EpochRecord[] = [];
  let best: { epoch: number; validation: number; snap: Snapshot } | undefined;
  const t0 = performance.now();
  let step = 0;
  try {
    for (let ep = 0; ep < opts.epochs; ep++) {
      const te = performance.now();
      const plan = opts.epochPlan?.(ep) ?? {};
      const groups = { ...(opts.groups ?? {}), ...(plan.groups ?? {}) };
      const zeta = plan.penalty ?? 0;
      const perm = permutation(data.count, (opts.seed ?? 1) * 7919 + ep);
      let lossSum = 0;
      let penSum = 0;
      let correct = 0;
      let seen = 0;
      let lr = lr0;
      for (let b = 0; b < batches; b++) {
        const idx = perm.subarray(b * bs, Math.min(data.count, (b + 1) * bs));
        lr = scheduledRate(lr0, schedule, step, total, ep);
        const spec: StepSpec = {
          loss, ceWeight: plan.ceWeight ?? 1, batch: idx.length,
          penaltyWeights: polys.map((p) => (p.clip !== undefined && clamped > 0 ? zeta / clamped : 0)),
          pafScales: pafs.map((p) => p.staticScale),
          pafStatic: plan.pafStatic ?? false,
        };
        const r = await backend.step(idx, spec);
        if (!Number.isFinite(r.loss)) throw new InvalidArgumentError(`the loss became ${r.loss} at epoch ${ep + 1}, batch ${b + 1}`, 'lower the learning rate (lr), or clip the gradients (clipNorm)');
        if (opts.clipNorm !== undefined) {
          const gn = gradNorm(net.grads);
          if (gn > opts.clipNorm) {
            const f = opts.clipNorm / gn;
            for (let i = 0; i < net.grads.length; i++) net.grads[i] *= f;
          }
        }
        optim.step(net.params, net.grads, lr, groups, wd);
        net.updateRunningStats(r.stats, opts.bnMomentum ?? 0.1);
        pafs.forEach((p, k) => {
          p.staticScale = Math.max(p.staticScale, r.pafMax[k] ?? 0);
        });
        step++;
        lossSum += r.loss * idx.length + r.penalty * idx.length;
        penSum += r.penalty * idx.length;
        correct += r.correct;
        seen += idx.length;
        const el = (performance.now() - t0) / 1000;
        opts.onProgress?.({
          phase: opts.phase ?? 'train', epoch: ep + 1, epochs: opts.epochs, batch: b + 1, batches, loss: lossSum / seen, accuracy: correct / seen,
          validation: history.at(-1)?.validation, seconds: el, eta: (el / step) * (total - step),
        });
      }
      const rec: EpochRecord = {
        epoch: ep + 1, loss: lossSum / seen, penalty: penSum / seen, trainAccuracy: correct / seen, lr, seconds: (performance.now() - te) / 1000,
      };
      if (opts.validation) {
        rec.validation = evaluate(net, opts.validation).accuracy;
        if (keepBest && (!best || rec.validation > best.validation)) best = { epoch: ep + 1, validation: rec.validation, snap: snapshot(net) };
      }
      history.push(rec);
      opts.onEpoch?.(rec);
    }
  } finally {
    await backend.close();
  }
  if (best && keepBest) restore(net, best.snap);
  return { history, ...(best ? { best: { epoch: best.epoch, validation: best.validation } } : {}), seconds: (performance.now() - t0) / 1000 };
}

/** Accuracy and logits of `net` in evaluation mode (batch-norm running statistics, static scales). */
export function evaluate(net: Network, data: Dataset, batchSize = 250): { accuracy: number; logits: Float32Array } {
  const D = data.x.length / data.count;
  const K = net.graph.output.shape.reduce((a, b) => a * b, 1);
  const logits = new Float32Array(data.count * K);
  const buf = net.dtype === 'float32' ? new Float32Array(batchSize * D) : new Float64Array(batchSize * D);
  let correct = 0;
  for (let s = 0; s < data.count; s += batchSize) {
    const n = Math.min(batchSize, data.count - s);
    buf.set(data.x.subarray(s * D, (s + n) * D));
    const z = net.forward(buf.subarray(0, n * D), n, 'eval');
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let k = 1; k < K; k++) if (z[i * K + k] > z[i * K + best]) best = k;
      if (best === data.labels[s + i]) correct++;
      for (let k = 0; k < K; k++) logits[(s + i) * K + k] = z[i * K + k];
    }
  }
  return { accuracy: correct / data.count, logits };
}
