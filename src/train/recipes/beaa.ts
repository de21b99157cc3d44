/**
 * @module train/recipes/beaa
 * BEAA's recipe (Zhang et al., arXiv 2403.10920, digest §4): every ReLU becomes a per-element
 * quadratic a_j·x² + b_j·x + c_j (its own coefficients for every position j of the activation
 * map, the plaintext scalars of the batch layout), trained with knowledge distillation from the
 * ReLU network: L = α·CE + (1 − α)·T²·KL(teacher ‖ student) at temperature T. The paper's α, T
 * and schedule are not published (digest §4.2); the defaults here are α = 0.5, T = 4, Adam.
 * Each quadratic starts from the least-squares fit of ReLU on that layer's profiled inputs.
 * To keep early training stable the activations are replaced in two halves (inference order),
 * each followed by fine-tuning; then everything trains together.
 */
import type { IrGraph } from '../../nn/graph.js';
import { type ActivationSpec, Network } from '../network.js';
import type { Dataset } from '../step.js';
import { evaluate } from '../trainer.js';
import {
  type RecipeEpoch, type RecipeOptions, type RecipeResult, activationNodes, baselineAccuracy, fitReluOnSamples, profileActivations, runPhase,
} from './common.js';

/** Options of {@link trainBeaa}. */
export interface BeaaOptions extends RecipeOptions {
  /** Distillation temperature T (default 4). */
  temperature?: number;
  /** Weight α of the cross-entropy (default 0.5). */
  alpha?: number;
  /** Grain of the coefficients (default per element, BEAA's). */
  grain?: 'element' | 'channel' | 'layer';
  /** Epochs after each partial replacement (default 2). */
  stageEpochs?: number;
  /** Replacement stages (default 2: first half, then all). */
  stages?: number;
}

/**
 * Fine-tunes `graph` with per-element quadratics and distillation from the ReLU network.
 * @throws RangeError for empty data or bad options
 */
export async function trainBeaa(graph: IrGraph, train: Dataset, validation: Dataset, opts: BeaaOptions = {}): Promise<RecipeResult> {
  const t0 = performance.now();
  const acts = activationNodes(graph);
  const baseline = baselineAccuracy(graph, validation);
  const T = opts.temperature ?? 4;
  const alpha = opts.alpha ?? 0.5;
  const grain = opts.grain ?? 'element';
  opts.log?.(`BEAA: ${acts.length} activations → quadratics per ${grain}, distillation T = ${T}, α = ${alpha}; ReLU validation ${(100 * baseline).toFixed(2)} %`);
  // teacher logits (evaluation mode) for the training set
  const teacherNet = new Network(graph, { dtype: 'float32' });
  const teacher = evaluate(teacherNet, train).logits;
  const data: Dataset = { ...train, teacher };
  const profiles = profileActivations(graph, train, acts);
  const init: Record<string, number[]> = {};
  for (const p of profiles) {
    init[p.node] = fitReluOnSamples(p.samples, 2);
    opts.log?.(`BEAA init ${p.node}: ${init[p.node].map((c) => c.toFixed(4)).join(', ')} (inputs std ${p.std.toFixed(3)}, max |x| ${p.maxAbs.toFixed(2)})`);
  }
  const threads = opts.threads ?? 1;
  const history: RecipeEpoch[] = [];
  const lr = opts.lr ?? 1e-3;
  const stages = Math.max(1, opts.stages ?? 2);
  let current = graph;
  let net: Network | null = null;
  const original = new Map(graph.nodes.map((n) => [n.name, n]));
  const trained = new Map<string, Float64Array>();
  for (let s = 1; s <= stages; s++) {
    const upto = Math.ceil((acts.length * s) / stages);
    const specs: Record<string, ActivationSpec> = Object.fromEntries(acts.slice(0, upto).map((a) => [a, { kind: 'poly', coeffs: init[a], grain }]));
    net = new Network(current, { dtype: opts.dtype, activations: specs, shared: threads > 1 });
    // coefficients trained in earlier stages
    for (const l of net.polyLayers()) {
      const c = trained.get(l.node.name);
      if (c) net.params.set(c, l.slots[0].offset);
    }
    const last = s === stages;
    await runPhase(net, data, validation, last ? 'beaa' : `beaa stage ${s}/${stages}`, opts, {
      epochs: last ? (opts.epochs ?? 8) : (opts.stageEpochs ?? 2), lr, optimizer: { kind: 'adam' }, schedule: { kind: 'cosine' }, clipNorm: 5,
      loss: { kind: 'distill', temperature: T, alpha }, weightDecay: 0, groups: { poly: { lrScale: 3 } },
    }, history);
    for (const l of net.polyLayers()) {
      const sl = l.slots[0];
      trained.set(l.node.name, Float64Array.from(net.params.subarray(sl.offset, sl.offset + sl.size)));
    }
    if (!last) {
      const g = net.toGraph();
      // keep the activation nodes, the next stage's network rebuilds the polynomials
      current = { ...g, nodes: g.nodes.map((n) => (n.op === 'Poly' ? original.get(n.name)! : n)) };
    }
  }
  const validationAcc = evaluate(net!, validation).accuracy;
  return {
    recipe: 'beaa', graph: net!.toGraph(), baseline, validation: validationAcc, degree: 2,
    details: { grain, temperature: T, alpha, initial: init },
    history, seconds: (performance.now() - t0) / 1000,
  };
}
