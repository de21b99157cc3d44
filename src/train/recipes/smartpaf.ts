/**
 * @module train/recipes/smartpaf
 * SmartPAF's framework (Tong et al., MLSys 2024, digest §3.3–3.7) for a trained ReLU network:
 *  - CT (§4.2): profile each ReLU's inputs on training data, then tune that layer's composite
 *    sign polynomial to minimise the ReLU MSE on them (`tuneComposite`: Adam lr 0.01, 40 epochs);
 *  - PA (§4.3): replace one ReLU at a time, in inference order, fine-tuning after each;
 *  - AT (§4.4): within a step, epochs alternate between the polynomial coefficients (everything
 *    else frozen) and the linear and batch-norm layers (coefficients frozen), with their own
 *    learning rates and weight decays (Table 5: Adam; PAF 1e-4/0.01, others 1e-5/0.1 at ImageNet
 *    scale; the defaults here are larger for short fine-tuning);
 *  - DS→SS (§4.5): inputs are divided by the batch's max |x| while training, and by the running
 *    max over the training inputs for validation and deployment. Optionally the last
 *    `staticEpochs` final epochs train at that static scale, so training sees what is deployed:
 *    a batch's max |x| is often well below the running max, and the polynomial then differs.
 * The deployed activation is (x + x·p(x/s))/2 expanded into one polynomial in x (degree
 * 1 + Π deg), which the compiler evaluates as a Chebyshev series on the calibrated range.
 * Forms: SmartPAF's five (Table 2) and lower ones from the same components (f1, g1, f1∘g1 …).
 */
import { type CompositePoly, oddPowerComponent } from '../../approx/composite.js';
import { G1, G2, ckkFOdd, smartpafForm, type SmartPafForm } from '../../approx/sign.js';
import { tuneComposite } from '../../approx/tuning.js';
import type { IrGraph } from '../../nn/graph.js';
import { type ActivationSpec, Network } from '../network.js';
import type { Dataset } from '../step.js';
import { evaluate } from '../trainer.js';
import { type RecipeEpoch, type RecipeOptions, type RecipeResult, activationNodes, baselineAccuracy, profileActivations, runPhase } from './common.js';

/** Composite forms, from the lowest degree up (degree of p; the ReLU has one more). */
export const PAF_FORMS = ['f1', 'g1', 'g2', 'f1∘g1', 'f1∘g2', 'f2∘g2', 'f2∘g3', 'alpha7', 'f1^2∘g1^2'] as const;
export type PafForm = (typeof PAF_FORMS)[number];

/** The composite of a form (components in application order, f first as in SmartPAF's code). */
export function pafComposite(form: PafForm, scale = 1): CompositePoly {
  const odd = (c: readonly number[]) => oddPowerComponent(c);
  switch (form) {
    case 'f1':
      return { name: form, inputScale: scale, components: [odd(ckkFOdd(1))] };
    case 'g1':
      return { name: form, inputScale: scale, components: [odd(G1)] };
    case 'g2':
      return { name: form, inputScale: scale, components: [odd(G2)] };
    case 'f1∘g1':
      return { name: form, inputScale: scale, components: [odd(ckkFOdd(1)), odd(G1)] };
    default:
      return smartpafForm(form as SmartPafForm, scale);
  }
}

/** Degree of the composite p (product of the component degrees). */
export function pafDegree(form: PafForm): number {
  return pafComposite(form).components.reduce((d, c) => d * (c.coeffs.length - 1), 1);
}

/** Options of {@link trainSmartPaf}. */
export interface SmartPafOptions extends RecipeOptions {
  form?: PafForm;
  /** Epochs of fine-tuning after each replacement (default 2: one for the coefficients, one for the rest). */
  stepEpochs?: number;
  /** Epochs after the last replacement (default `epochs`, 4). */
  epochs?: number;
  /** Learning rate of the coefficients (default 1e-3). */
  pafLr?: number;
  /** Learning rate of linear and batch-norm layers (default 1e-4). */
  linearLr?: number;
  /** CT epochs (default 40). */
  ctEpochs?: number;
  /**
   * The last `staticEpochs` epochs of the final phase train at the static scale, as deployed,
   * instead of the batch's max |x| (default 0: SmartPAF's DS throughout, SS only at deployment).
   */
  staticEpochs?: number;
}

/**
 * Fine-tunes `graph` with SmartPAF (CT, PA, AT, DS→SS).
 * @throws RangeError for empty data or bad options
 */
export async function trainSmartPaf(graph: IrGraph, train: Dataset, validation: Dataset, opts: SmartPafOptions = {}): Promise<RecipeResult> {
  const t0 = performance.now();
  const form = opts.form ?? 'f1∘g2';
  const acts = activationNodes(graph);
  const baseline = baselineAccuracy(graph, validation);
  opts.log?.(`SmartPAF: ${acts.length} activations, form ${form} (p of degree ${pafDegree(form)}); ReLU validation ${(100 * baseline).toFixed(2)} %`);
  // CT on profiled inputs, each layer at its static scale
  const profiles = profileActivations(graph, train, acts);
  const tuned: Record<string, ActivationSpec> = {};
  const ct: Record<string, { scale: number; before: number; after: number }> = {};
  for (const p of profiles) {
    const r = tuneComposite(pafComposite(form, p.maxAbs), p.samples, { scale: p.maxAbs, epochs: opts.ctEpochs ?? 40 });
    tuned[p.node] = { kind: 'paf', composite: r.composite };
    ct[p.node] = { scale: p.maxAbs, before: r.initialMse, after: r.finalMse };
    opts.log?.(`SmartPAF CT ${p.node}: s = ${p.maxAbs.toFixed(3)}, ReLU MSE ${r.initialMse.toExponential(2)} → ${r.finalMse.toExponential(2)}`);
  }
  const threads = opts.threads ?? 1;
  const history: RecipeEpoch[] = [];
  const pafLr = opts.pafLr ?? opts.lr ?? 1e-3;
  const linLr = opts.linearLr ?? 1e-4;
  const at = (first: 'poly' | 'linear') => (ep: number) => {
    const polyTurn = (ep % 2 === 0) === (first === 'poly');
    return {
      groups: {
        poly: { trainable: polyTurn, lrScale: 1, weightDecay: 0 },
        linear: { trainable: !polyTurn, lrScale: linLr / pafLr, weightDecay: 1e-4 },
        norm: { trainable: !polyTurn, lrScale: linLr / pafLr, weightDecay: 0 },
      },
    };
  };
  // PA: one more activation per step, weights carried over
  let current = graph;
  let net: Network | null = null;
  const stepEpochs = opts.stepEpochs ?? 2;
  const scales = new Map<string, number>();
  for (let i = 0; i < acts.length; i++) {
    const specs = Object.fromEntries(acts.slice(0, i + 1).map((a) => [a, tuned[a]]));
    net = new Network(current, { dtype: opts.dtype, activations: specs, shared: threads > 1 });
    // carried-over coefficients of earlier steps, and their static scales
    for (const l of net.pafLayers()) if (scales.has(l.node.name)) l.staticScale = scales.get(l.node.name)!;
    await runPhase(net, train, validation, `smartpaf step ${i + 1}/${acts.length} (${acts[i]})`, opts, {
      epochs: stepEpochs, lr: pafLr, optimizer: { kind: 'adam' }, schedule: { kind: 'constant' }, epochPlan: at('poly'), clipNorm: 5,
    }, history);
    for (const l of net.pafLayers()) scales.set(l.node.name, l.staticScale);
    current = net.toGraph();
    // the exported graph holds the expanded polynomials; keep training the composites
    for (const l of net.pafLayers()) {
      tuned[l.node.name] = { kind: 'paf', composite: { name: form, inputScale: l.staticScale, components: l.components(net.params).map((c) => oddPowerComponent(c)) } };
    }
    current = restoreActivations(current, graph, acts.slice(0, i + 1));
  }
  // final alternate training with every activation replaced
  const specs = Object.fromEntries(acts.map((a) => [a, tuned[a]]));
  net = new Network(current, { dtype: opts.dtype, activations: specs, shared: threads > 1 });
  for (const l of net.pafLayers()) if (scales.has(l.node.name)) l.staticScale = scales.get(l.node.name)!;
  const finalEpochs = opts.epochs ?? 4;
  const ss = Math.min(finalEpochs, opts.staticEpochs ?? 0);
  await runPhase(net, train, validation, 'smartpaf final', opts, {
    epochs: finalEpochs, lr: pafLr, optimizer: { kind: 'adam' }, schedule: { kind: 'cosine' }, clipNorm: 5,
    epochPlan: (ep) => ({ ...at('poly')(ep), pafStatic: ep >= finalEpochs - ss }),
  }, history);
  const validationAcc = evaluate(net, validation).accuracy;
  const degree = 1 + pafDegree(form);
  return {
    recipe: 'smartpaf', graph: net.toGraph(), baseline, validation: validationAcc, degree,
    details: { form, compositeDegree: pafDegree(form), stepEpochs, finalEpochs, staticEpochs: ss, pafLr, linearLr: linLr, ct, staticScales: Object.fromEntries(net.pafLayers().map((l) => [l.node.name, l.staticScale])) },
    history, seconds: (performance.now() - t0) / 1000,
  };
}

/** Puts back the original activation nodes (the trainer rebuilds them from their specs). */
function restoreActivations(trained: IrGraph, original: IrGraph, names: readonly string[]): IrGraph {
  const keep = new Set(names);
  const orig = new Map(original.nodes.map((n) => [n.name, n]));
  return { ...trained, nodes: trained.nodes.map((n) => (keep.has(n.name) ? orig.get(n.name)! : n)) };
}
