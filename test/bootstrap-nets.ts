/**
 * Small networks for the bootstrapping tests (`nn-packed-bootstrap.test.ts`, `nn-model-bootstrap.test.ts`,
 * `nn-channel-bootstrap.test.ts`): a tiny ResNet deeper than the user levels of the `-T`
 * bootstrapping sets, and the network with perturbed refreshed values (what bootstrap errors do to
 * the output) in the float64 packed simulation or reference.
 */
import type { IrGraph, IrNode, PolyNode } from '../src/nn/index.js';
import { runReference } from '../src/nn/index.js';
import {
  type BootstrapPlacement, type PackedPlan, PackedBootstrapRunner, decryptPacked, encryptPackedForBootstrap, genPackedBootstrapKeys, planPacked, simulatePacked,
} from '../src/nn/packed/index.js';
import { type BootstrapParameters, Bootstrapper } from '../src/bootstrap/index.js';
import { CkksContext, Decryptor, Encoder, Encryptor, Evaluator, KeyGenerator } from '../src/index.js';
import { randomVector } from './helpers.js';

let seed = 1;
export const tensor = (shape: number[], scale = 0.5) => ({ shape, data: randomVector(shape.reduce((a, b) => a * b, 1), seed++, -scale, scale) });

export function conv(name: string, input: string, ci: number, co: number, k: number, stride: number, inHW: number, gain = 1): IrNode {
  const pad = (k - 1) >> 1;
  const o = Math.floor((inHW + 2 * pad - k) / stride) + 1;
  return {
    op: 'Conv', name, inputs: [input], output: name, outShape: [co, o, o], sources: [], weight: tensor([co, ci, k, k], gain / Math.sqrt(ci * k * k)),
    bias: tensor([co], 0.1), kernel: [k, k], strides: [stride, stride], pads: [pad, pad, pad, pad],
  };
}
/** x² + 0.5x + 0.2 (one level: the fast quadratic) or a degree-3 Chebyshev series on [−4, 4] (two levels). */
export function poly(name: string, input: string, shape: number[], cubic = false): PolyNode {
  return {
    op: 'Poly', name, inputs: [input], output: name, outShape: shape, sources: [], replaces: 'Relu', mapScale: new Float64Array(shape[0]).fill(1),
    mapShift: new Float64Array(shape[0]), mapFolded: true, basis: cubic ? 'chebyshev' : 'power',
    coeffs: cubic ? Float64Array.of(0.3, 0.5, 0.25, 0.05) : Float64Array.of(0.2, 0.5, 1), interval: [-4, 4],
  };
}

/** A tiny ResNet: conv, a strided block with a 1×1 projection shortcut, residual add, GAP, dense. */
export function tinyResNet(C = 2, HW = 8): IrGraph {
  const nodes: IrNode[] = [
    conv('c1', 'x', C, 4, 3, 1, HW), poly('a1', 'c1', [4, HW, HW]),
    conv('c2', 'a1', 4, 8, 3, 2, HW), poly('a2', 'c2', [8, HW / 2, HW / 2], true),
    conv('c3', 'a2', 8, 8, 3, 1, HW / 2), conv('sc', 'a1', 4, 8, 1, 2, HW),
    { op: 'Add', name: 'add', inputs: ['c3', 'sc'], output: 'add', outShape: [8, HW / 2, HW / 2], sources: [] },
    poly('a3', 'add', [8, HW / 2, HW / 2]),
    { op: 'GlobalAveragePool', name: 'gap', inputs: ['a3'], output: 'gap', outShape: [8, 1, 1], sources: [], sum: true },
    { op: 'Flatten', name: 'flat', inputs: ['gap'], output: 'flat', outShape: [8], sources: [] },
    { op: 'Dense', name: 'fc', inputs: ['flat'], output: 'fc', outShape: [5], sources: [], weight: tensor([5, 8], 0.3), bias: tensor([5], 0.1) },
  ];
  return { name: 'tiny', input: { name: 'x', shape: [C, HW, HW] }, output: { name: 'fc', shape: [5] }, nodes, origin: 'test' };
}

/** `g` with every value v of `deltas` perturbed by ±δ_v per element (random signs from `rnd`). */
export function perturbGraph(g: IrGraph, deltas: Map<string, number>, rnd: number): IrGraph {
  const nodes: IrNode[] = [];
  const rename = new Map<string, string>();
  let k = 0;
  for (const n of g.nodes) {
    nodes.push({ ...n, inputs: n.inputs.map((v) => rename.get(v) ?? v) } as IrNode);
    const d = deltas.get(n.output);
    if (d === undefined) continue;
    const size = n.outShape.reduce((a, b) => a * b, 1);
    const noise = randomVector(size, rnd * 1000 + k++).map((u) => (u < 0 ? -d : d));
    const name = `${n.output}~`;
    nodes.push({ op: 'AddConstant', name, inputs: [n.output], output: name, outShape: n.outShape, sources: [], constant: { shape: [...n.outShape], data: noise } });
    rename.set(n.output, name);
  }
  return { ...g, nodes, output: { ...g.output, name: rename.get(g.output.name) ?? g.output.name } };
}

/** The float64 packed simulation of {@link perturbGraph}: the output's deviation is what bootstrap errors of δ_v do. */
export function perturbedOutput(g: IrGraph, deltas: Map<string, number>, x: Float64Array, slots: number, rnd: number): Float64Array {
  const h = perturbGraph(g, deltas, rnd);
  return simulatePacked(h, planPacked(h, slots), x).output;
}

/** The float64 reference of {@link perturbGraph} (the channel layout computes the graph itself). */
export function perturbedReference(g: IrGraph, deltas: Map<string, number>, x: Float64Array, rnd: number): Float64Array {
  return runReference(perturbGraph(g, deltas, rnd), { shape: [1, ...g.input.shape], data: x }).data;
}

/** A packed run with its bootstraps on fresh keys: the runner, and one image through it (encrypted, run, decrypted). */
export function packedBootstrapRun(bp: BootstrapParameters, g: IrGraph, plan: PackedPlan, placement: BootstrapPlacement): { runner: PackedBootstrapRunner; run: (x: Float64Array) => Float64Array } {
  const ctx = new CkksContext(bp.params);
  const kg = new KeyGenerator(ctx);
  const sk = kg.genSecretKey();
  const keys = genPackedBootstrapKeys(kg, sk, bp, plan);
  const enc = new Encoder(ctx);
  const runner = new PackedBootstrapRunner(g, plan, placement, new Bootstrapper(ctx, bp, new Evaluator(ctx, keys), enc, keys), enc);
  const encr = new Encryptor(ctx, kg.genPublicKey(sk));
  const dec = new Decryptor(ctx, sk);
  return { runner, run: (x) => decryptPacked(enc, dec, plan.output, runner.run(encryptPackedForBootstrap(ctx, enc, encr, bp, plan.input, x))) };
}

/** Max |out − want| and max |want|. */
export function maxError(out: ArrayLike<number>, want: ArrayLike<number>): { err: number; top: number } {
  let err = 0;
  let top = 0;
  for (let i = 0; i < want.length; i++) {
    err = Math.max(err, Math.abs(out[i] - want[i]));
    top = Math.max(top, Math.abs(want[i]));
  }
  return { err, top };
}
