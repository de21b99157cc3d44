/**
 * @module train/loss
 * Losses on logits [n, K] and their gradients, scaled by 1/N for a global batch of N samples (so
 * the gradients of data-parallel shards add up to the batch mean):
 *  - softmax cross-entropy: dL/dz = (softmax(z) − onehot(y))/N;
 *  - knowledge distillation (Hinton et al.; BEAA trains its per-element quadratics with the ReLU
 *    network as teacher, digest §4.2): L = α·CE(y, softmax(z)) + (1 − α)·T²·KL(softmax(z_t/T) ‖
 *    softmax(z/T)), dL/dz = α·(softmax(z) − onehot(y)) + (1 − α)·T·(softmax(z/T) − softmax(z_t/T)),
 *    over N.
 * Log-sum-exp with the row maximum subtracted keeps both finite for any finite logits.
 */
import { InvalidArgumentError } from '../errors.js';
import type { Arr } from './gemm.js';

/** Loss configuration. */
export type LossSpec =
  | { kind: 'ce' }
  | { kind: 'distill'; temperature: number; alpha: number };

/** Sums over a shard: loss (already divided by N), correct predictions. */
export interface LossResult {
  loss: number;
  correct: number;
}

function softmaxRow(z: Arr, off: number, K: number, T: number, out: Float64Array): number {
  let m = -Infinity;
  for (let k = 0; k < K; k++) m = Math.max(m, z[off + k] / T);
  let s = 0;
  for (let k = 0; k < K; k++) {
    const e = Math.exp(z[off + k] / T - m);
    out[k] = e;
    s += e;
  }
  for (let k = 0; k < K; k++) out[k] /= s;
  return m + Math.log(s);
}

/**
 * Loss and dL/dz for rows [0, n) of logits z ([n, K]); labels[i] is row i's class; `teacher` holds
 * the teacher's logits for the same rows (distillation). Writes the gradient into dz.
 *
 * @param ceWeight - multiplies the whole loss (PAPER's first epoch trains on the penalty alone: 0)
 */
export function lossAndGradient(
  spec: LossSpec, z: Arr, labels: ArrayLike<number>, teacher: ArrayLike<number> | null, n: number, K: number, N: number, dz: Arr, ceWeight = 1,
): LossResult {
  const p = new Float64Array(K);
  const q = new Float64Array(K);
  const pt = new Float64Array(K);
  let loss = 0;
  let correct = 0;
  for (let i = 0; i < n; i++) {
    const o = i * K;
    const y = labels[i];
    const lse = softmaxRow(z, o, K, 1, p);
    let best = 0;
    for (let k = 1; k < K; k++) if (z[o + k] > z[o + best]) best = k;
    if (best === y) correct++;
    const ce = lse - z[o + y];
    if (spec.kind === 'ce') {
      loss += ce;
      for (let k = 0; k < K; k++) dz[o + k] = (ceWeight * (p[k] - (k === y ? 1 : 0))) / N;
      continue;
    }
    const { temperature: T, alpha: a } = spec;
    if (!teacher) throw new InvalidArgumentError('a distillation loss without teacher logits', 'give the data set its teacher logits (dataset.teacher), or train with the cross-entropy loss { kind: \'ce\' }');
    const lseS = softmaxRow(z, o, K, T, q);
    const lseT = softmaxRow(teacher as Arr, o, K, T, pt);
    // KL(pt ‖ q) = Σ pt·(log pt − log q), log q_k = z_k/T − lseS, log pt_k = t_k/T − lseT
    let kl = 0;
    for (let k = 0; k < K; k++) if (pt[k] > 0) kl += pt[k] * (teacher[o + k] / T - lseT - (z[o + k] / T - lseS));
    loss += a * ce + (1 - a) * T * T * kl;
    for (let k = 0; k < K; k++) {
      dz[o + k] = (ceWeight * (a * (p[k] - (k === y ? 1 : 0)) + (1 - a) * T * (q[k] - pt[k]))) / N;
    }
  }
  return { loss: (ceWeight * loss) / N, correct };
}
