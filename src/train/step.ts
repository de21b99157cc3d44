/**
 * @module train/step
 * One training step on one shard, shared by the single-thread trainer and the workers: gather the
 * shard's samples, forward in training mode, loss and its gradient (scaled by 1/N of the global
 * batch), backward into the network's gradient buffer, and the statistics the coordinator pools
 * (loss, correct predictions, penalties, batch-norm sums, SmartPAF batch maxima).
 */
import type { Arr } from './gemm.js';
import type { BatchStats } from './layers.js';
import { type LossSpec, lossAndGradient } from './loss.js';
import type { Network } from './network.js';

/** A training set in memory: x [count, ...shape] float32, labels uint8. */
export interface Dataset {
  x: Float32Array;
  labels: Uint8Array;
  /** Per-sample shape, e.g. [1, 28, 28]. */
  shape: number[];
  count: number;
  /** Teacher logits [count, K] for distillation. */
  teacher?: Float32Array;
}

/** What a step needs besides the data. */
export interface StepSpec {
  loss: LossSpec;
  /** Multiplies the data loss (PAPER's first epoch: 0, penalty only). */
  ceWeight: number;
  /** Penalty weight per polynomial layer (network order). */
  penaltyWeights: number[];
  /** Static scales of the SmartPAF layers to start from (network order). */
  pafScales: number[];
  /** Train the SmartPAF layers at their static scale instead of the batch's max |x| (default false). */
  pafStatic?: boolean;
  /** Global batch size N. */
  batch: number;
}

/** What a shard step reports. */
export interface StepResult {
  loss: number;
  correct: number;
  penalty: number;
  count: number;
  stats: BatchStats[];
  pafMax: number[];
}

/** Scratch for gathering a shard. */
export class ShardBuffers {
  x: Arr | null = null;
  dz: Arr | null = null;
  labels = new Uint8Array(0);
  teacher = new Float32Array(0);
}

/** Runs one shard (sample indices `idx`) through `net`, accumulating into `net.grads` (zeroed first). */
export function shardStep(net: Network, data: Dataset, idx: ArrayLike<number>, spec: StepSpec, buf: ShardBuffers): StepResult {
  const n = idx.length;
  const D = data.x.length / data.count;
  const K = net.graph.output.shape.reduce((a, b) => a * b, 1);
  const Ctor = net.params instanceof Float32Array ? Float32Array : Float64Array;
  if (!buf.x || buf.x.length < n * D) buf.x = new Ctor(n * D);
  if (!buf.dz || buf.dz.length < n * K) buf.dz = new Ctor(n * K);
  if (buf.labels.length < n) buf.labels = new Uint8Array(n);
  const withTeacher = spec.loss.kind === 'distill';
  if (withTeacher && buf.teacher.length < n * K) buf.teacher = new Float32Array(n * K);
  for (let i = 0; i < n; i++) {
    const j = idx[i];
    buf.x.set(data.x.subarray(j * D, (j + 1) * D), i * D);
    buf.labels[i] = data.labels[j];
    if (withTeacher) buf.teacher.set(data.teacher!.subarray(j * K, (j + 1) * K), i * K);
  }
  const polys = net.polyLayers();
  // a shard carries its share n/N of each penalty (PAPER's norm is then taken per shard)
  polys.forEach((p, k) => {
    p.penaltyWeight = ((spec.penaltyWeights[k] ?? 0) * n) / spec.batch;
  });
  const pafs = net.pafLayers();
  pafs.forEach((p, k) => {
    p.staticScale = spec.pafScales[k] ?? p.staticScale;
    p.staticInTraining = spec.pafStatic ?? false;
  });
  net.zeroGrad();
  const x = buf.x.length === n * D ? buf.x : buf.x.subarray(0, n * D);
  const z = net.forward(x, n, 'train');
  const dz = buf.dz.length === n * K ? buf.dz : buf.dz.subarray(0, n * K);
  const r = lossAndGradient(spec.loss, z, buf.labels, withTeacher ? buf.teacher : null, n, K, spec.batch, dz, spec.ceWeight);
  net.backward(dz, n);
  return {
    loss: r.loss, correct: r.correct, penalty: net.penalty(), count: n,
    stats: net.batchStats().map((s) => ({ node: s.node, sum: Float64Array.from(s.sum), sumSq: Float64Array.from(s.sumSq), count: s.count })),
    pafMax: pafs.map((p) => p.lastMax),
  };
}
