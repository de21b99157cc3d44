/**
 * @module train/recipes/paper
 * PAPER's recipe (Chielle et al., arXiv 2509.22857; code `training/src`, digest §2.2): every ReLU
 * becomes the fixed-point least-squares quadratic of ReLU on [−clip, clip] (`paperQuadratic`:
 * (193 + 512x + 239x²)/1024 for clip 2), one per layer; training clamps each activation's input to
 * [−clip, clip] and adds ζ·‖x − clamp(x)‖₂ per activation call (mean over calls), with the warm-up
 * epoch 1: penalty alone at ζ/100, then CE + ζ/50, ζ/10, ζ/5, and ζ from epoch 5 on; SGD with
 * momentum 0.9 and weight decay 5e-4. PAPER trains for 185 epochs from scratch at lr 0.013; here
 * the recipe fine-tunes a trained ReLU model, so fewer epochs and a cosine schedule (options).
 * The deployed quadratic has no clamp; with weight redistribution it costs one level.
 *
 * `clip: 'auto'` sets each layer's interval from its profiled inputs instead: [−B_l, B_l] with
 * B_l = max |x| over up to 1,024 training images (times `clipMargin`), and the quadratic is PAPER's
 * rescaled, p_B(x) = (B/2)·p_2(2x/B), the same rescaling as the fixture resnet20_quad (tools/README.md).
 * A network trained with ReLU has 5–30 % of its activation inputs outside [−2, 2] (MNIST ResNet
 * fixture), where the unclamped quadratic is far from ReLU; PAPER pulls them in by training from
 * scratch for 185 epochs with the penalty, which a short fine-tuning may not do (docs/training.md).
 */
import { paperQuadratic } from '../../approx/paper.js';
import type { IrGraph } from '../../nn/graph.js';
import { type ActivationSpec, Network } from '../network.js';
import type { Dataset } from '../step.js';
import { evaluate } from '../trainer.js';
import { type RecipeEpoch, type RecipeOptions, type RecipeResult, activationNodes, baselineAccuracy, profileActivations, runPhase } from './common.js';

/** Options of {@link trainPaper}. */
export interface PaperOptions extends RecipeOptions {
  /** Clamp interval and fit interval [−clip, clip] (default 2, PAPER's); 'auto': per layer from the profiled inputs. */
  clip?: number | 'auto';
  /** With clip 'auto', B_l = clipMargin · max |x| (default 1). */
  clipMargin?: number;
  /** Penalty weight ζ (default 1e-3, PAPER's). */
  zeta?: number;
  /** Degree of the polynomial (default 2). */
  degree?: number;
  /** Also train the coefficients (PAPER keeps them fixed; default false). */
  trainCoefficients?: boolean;
  /** Weight decay (default 5e-4). */
  weightDecay?: number;
}

/** PAPER's warm-up: [data-loss weight, penalty factor] for a 0-based epoch. */
export function paperWarmup(epoch: number): { ceWeight: number; factor: number } {
  if (epoch === 0) return { ceWeight: 0, factor: 1 / 100 };
  if (epoch === 1) return { ceWeight: 1, factor: 1 / 50 };
  if (epoch === 2) return { ceWeight: 1, factor: 1 / 10 };
  if (epoch === 3) return { ceWeight: 1, factor: 1 / 5 };
  return { ceWeight: 1, factor: 1 };
}

/**
 * Fine-tunes `graph` (a trained ReLU network) with PAPER's quadratic activations.
 * @throws RangeError for empty data or bad options
 */
export async function trainPaper(graph: IrGraph, train: Dataset, validation: Dataset, opts: PaperOptions = {}): Promise<RecipeResult> {
  const t0 = performance.now();
  const zeta = opts.zeta ?? 1e-3;
  const degree = opts.degree ?? 2;
  const acts = activationNodes(graph);
  const base = opts.clip === 'auto' ? 2 : (opts.clip ?? 2);
  const q = paperQuadratic({ clip: base, degree });
  const coeffs = Array.from(q.coeffs);
  // per layer: the interval [−B, B] and PAPER's polynomial rescaled to it, c_k·(B/2)^(1−k)
  const clips = new Map<string, number>(acts.map((a) => [a, base]));
  if (opts.clip === 'auto') {
    const margin = opts.clipMargin ?? 1;
    for (const p of profileActivations(graph, train, acts)) clips.set(p.node, Math.max(base, margin * p.maxAbs));
  }
  const layerCoeffs = (a: string) => coeffs.map((c, k) => c * (clips.get(a)! / base) ** (1 - k));
  const baseline = baselineAccuracy(graph, validation);
  opts.log?.(`PAPER: ${acts.length} activations → ${coeffs.map((c) => c.toFixed(5)).join(' + ')}·x^k on [−${base}, ${base}]` +
    `${opts.clip === 'auto' ? `, rescaled per layer to B = ${[...clips.values()].map((b) => b.toFixed(2)).join(', ')}` : ''}, ζ = ${zeta}; ReLU validation ${(100 * baseline).toFixed(2)} %`);
  const specs: Record<string, ActivationSpec> = Object.fromEntries(acts.map((a) => [a, { kind: 'poly', coeffs: layerCoeffs(a), grain: 'layer', clip: clips.get(a)! }]));
  const net = new Network(graph, { dtype: opts.dtype, activations: specs, shared: (opts.threads ?? 1) > 1 });
  const before = evaluate(net, validation).accuracy;
  opts.log?.(`PAPER: after replacement, before training: validation ${(100 * before).toFixed(2)} %`);
  const history: RecipeEpoch[] = [];
  const epochs = opts.epochs ?? 12;
  await runPhase(net, train, validation, 'paper', opts, {
    epochs, lr: opts.lr ?? 0.005, optimizer: { kind: 'sgd', momentum: 0.9 }, weightDecay: opts.weightDecay ?? 5e-4,
    schedule: { kind: 'cosine' }, batchSize: opts.batchSize ?? 128, clipNorm: 5,
    groups: { poly: { trainable: opts.trainCoefficients ?? false, weightDecay: 0 } },
    epochPlan: (ep) => {
      const w = paperWarmup(ep);
      return { ceWeight: w.ceWeight, penalty: zeta * w.factor };
    },
  }, history);
  const validationAcc = evaluate(net, validation).accuracy;
  return {
    recipe: 'paper', graph: net.toGraph(), baseline, validation: validationAcc, degree,
    details: { clip: opts.clip ?? 2, clips: Object.fromEntries(clips), zeta, coefficients: Object.fromEntries(acts.map((a) => [a, layerCoeffs(a)])), epochs, lr: opts.lr ?? 0.005, afterReplacement: before, trainCoefficients: opts.trainCoefficients ?? false },
    history, seconds: (performance.now() - t0) / 1000,
  };
}
