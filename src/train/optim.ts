/**
 * @module train/optim
 * Optimisers over the flat parameter buffer, with per-group settings (SmartPAF trains polynomial
 * coefficients and linear layers with different learning rates and weight decays, and freezes one
 * group while the other trains: digest §3.5, Table 5):
 *  - SGD with momentum, PyTorch's form: g ← g + λ·w, v ← μ·v + g, w ← w − η·v (PAPER: η 0.013,
 *    μ 0.9, λ 5e-4, digest §2.2);
 *  - Adam, PyTorch's form with L2 weight decay added to the gradient (SmartPAF CT/fine-tuning),
 *    bias-corrected moments.
 * Learning-rate schedules: constant, cosine (with linear warm-up), step decay. Gradients can be
 * clipped by global norm first.
 */
import type { Arr } from './gemm.js';
import type { ParamSlot } from './layers.js';

/** Parameter groups. */
export type Group = ParamSlot['group'];

/** Settings of one group for a step. */
export interface GroupSettings {
  /** Multiplies the scheduled learning rate (default 1). */
  lrScale?: number;
  weightDecay?: number;
  /** False freezes the group (no update, no decay). */
  trainable?: boolean;
}

/** Optimiser configuration. */
export type OptimizerSpec =
  | { kind: 'sgd'; momentum?: number; nesterov?: boolean }
  | { kind: 'adam'; beta1?: number; beta2?: number; epsilon?: number };

/** Learning-rate schedule over the whole run (t = fraction of steps done, in [0, 1)). */
export type Schedule =
  | { kind: 'constant' }
  | { kind: 'cosine'; warmup?: number; floor?: number }
  | { kind: 'step'; every: number; gamma: number };

/** Learning rate at step `step` of `total`, epoch `epoch` (for step decay). */
export function scheduledRate(base: number, s: Schedule, step: number, total: number, epoch: number): number {
  switch (s.kind) {
    case 'constant':
      return base;
    case 'step':
      return base * s.gamma ** Math.floor(epoch / s.every);
    case 'cosine': {
      const w = s.warmup ?? 0;
      if (step < w) return (base * (step + 1)) / w;
      const t = total > w ? (step - w) / (total - w) : 1;
      const floor = s.floor ?? 0;
      return floor + (base - floor) * 0.5 * (1 + Math.cos(Math.PI * Math.min(1, t)));
    }
  }
}

/** Global L2 norm of the gradient. */
export function gradNorm(g: Arr): number {
  let s = 0;
  for (let i = 0; i < g.length; i++) s += g[i] * g[i];
  return Math.sqrt(s);
}

/** An optimiser with its state (momentum / moments) for one parameter layout. */
export class Optimizer {
  private readonly m: Float64Array;
  private readonly v: Float64Array | null;
  private t = 0;

  constructor(readonly spec: OptimizerSpec, readonly slots: readonly ParamSlot[], size: number) {
    this.m = new Float64Array(size);
    this.v = spec.kind === 'adam' ? new Float64Array(size) : null;
  }

  /**
   * One update of `params` from `grads` at learning rate `lr`, group settings applied.
   * @param defaults - weight decay used where a group gives none
   */
  step(params: Arr, grads: Arr, lr: number, groups: Partial<Record<Group, GroupSettings>>, weightDecay: number): void {
    this.t++;
    const { m, v } = this;
    const s = this.spec;
    for (const slot of this.slots) {
      const gs = groups[slot.group] ?? {};
      if (gs.trainable === false) continue;
      const eta = lr * (gs.lrScale ?? 1);
      const wd = gs.weightDecay ?? weightDecay;
      const end = slot.offset + slot.size;
      if (s.kind === 'sgd') {
        const mu = s.momentum ?? 0.9;
        for (let i = slot.offset; i < end; i++) {
          const g = grads[i] + wd * params[i];
          const mi = mu * m[i] + g;
          m[i] = mi;
          params[i] -= eta * (s.nesterov ? g + mu * mi : mi);
        }
      } else {
        const b1 = s.beta1 ?? 0.9;
        const b2 = s.beta2 ?? 0.999;
        const eps = s.epsilon ?? 1e-8;
        const c1 = 1 - b1 ** this.t;
        const c2 = 1 - b2 ** this.t;
        for (let i = slot.offset; i < end; i++) {
          const g = grads[i] + wd * params[i];
          m[i] = b1 * m[i] + (1 - b1) * g;
          v![i] = b2 * v![i] + (1 - b2) * g * g;
          params[i] -= (eta * (m[i] / c1)) / (Math.sqrt(v![i] / c2) + eps);
        }
      }
    }
  }
}
