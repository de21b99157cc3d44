/**
 * @module nn/packed/runner
 * Encrypted execution of a packed plan (`plan.ts`): one ciphertext per value, every linear layer
 * one diagonal transform (`ckks/linear/transform.ts`) then one rescale, polynomial activations
 * slot-wise on the whole ciphertext (the approx evaluator at minimal depth), residual adds aligned
 * by level. The client side places one image in the input layout and reads the output layout.
 *
 * Scales follow the parameters' level ladder: a value at level ℓ has scale t_ℓ, diagonals are
 * encoded at t_ℓ, so after the rescale every linear layer lands exactly on t_{ℓ−1} and residual
 * branches add equal scales.
 */
import {
  type Ciphertext, type CkksContext, type Decryptor, type Encoder, type Encryptor, type Evaluator, LevelError, LinearTransform, type Plaintext,
} from '../../ckks/index.js';
import { CkksPolyBackend, evalChebyshev, evalQuadratic } from '../../approx/index.js';
import type { IrGraph, IrNode, PolyNode, Tensor } from '../graph.js';
import { type NodeTiming, type Progress, executeGraph } from '../batch/runner.js';
import { broadcastConstant } from '../reference.js';
import { type PackedLayout, PackedLayoutError, gather, scatter } from './layout.js';
import { type PackedPlan, type PackedStep, stepDiagonals } from './plan.js';
import { polyMap, polySlotCoefficients } from './simulate.js';
import { PACKED_HOISTING, cachesDiagonals } from './cost.js';

/**
 * Per polynomial node, when the plan's plaintexts are kept: its slot-wise map and coefficient
 * vectors (the same arrays on every run) and their encodings by level and scale.
 */
const polyKept = new WeakMap<PolyNode, {
  ctx: CkksContext; layout: PackedLayout; map: { scale: Float64Array; shift: Float64Array } | null; cs: ReturnType<typeof polySlotCoefficients>;
  pts: WeakMap<object, Map<string, Plaintext>>;
}>();

/** Encoded transforms kept across runs, by plan step (when the plan's plaintexts fit: `cost.ts`). */
const encoded = new WeakMap<PackedStep, { ctx: CkksContext; level: number; lt: LinearTransform; bias: Float64Array | null; biasPt?: Plaintext }>();

/** Client side: one image (per-sample shape) placed in the input layout, encrypted at the top level. */
export function encryptPacked(ctx: CkksContext, enc: Encoder, encr: Encryptor, layout: PackedLayout, image: ArrayLike<number>): Ciphertext {
  const P = ctx.params;
  return encr.encrypt(enc.encode(scatter(layout, image, P.slots), { level: P.levels, scale: P.scales[P.levels] }));
}

/** Client side: the output values (element order) of a packed ciphertext. */
export function decryptPacked(enc: Encoder, dec: Decryptor, layout: PackedLayout, ct: Ciphertext): Float64Array {
  return gather(layout, enc.decode(dec.decrypt(ct)));
}

/** Per-node operation counts of a run (for profiles). */
export interface PackedNodeCost {
  node: string;
  diagonals: number;
  babies: number;
  giants: number;
}

/**
 * What a run does to a node's output before its consumers read it (bootstrapping at placed
 * points: `bootstrap-runner.ts`). With it the runner leaves level management to the hook.
 */
export interface PackedRefresh {
  after(node: IrNode, out: Ciphertext): Ciphertext;
}

/** Server side: runs a compiled graph in the packed layout on one ciphertext. */
export class PackedRunner {
  readonly timings: NodeTiming[] = [];

  constructor(
    readonly graph: IrGraph, readonly plan: PackedPlan, readonly ev: Evaluator, readonly enc: Encoder, readonly onProgress?: Progress,
    readonly refresh?: PackedRefresh,
  ) {
    const P = ev.ctx.params;
    if (plan.slots !== P.slots) throw new PackedLayoutError(`the plan is for ${plan.slots} slots, the parameters have ${P.slots}`, 'plan with the parameters you run with');
    if (!refresh && plan.levels.depth > P.levels) throw new LevelError(plan.levels.depth, P.levels, `the network (depth ${plan.levels.depth} in the packed layout)`);
  }

  get ctx(): CkksContext {
    return this.ev.ctx;
  }

  run(input: Ciphertext): Ciphertext {
    const step = this.refresh ? (n: IrNode, ins: Ciphertext[]) => this.refresh!.after(n, this.node(n, ins)) : (n: IrNode, ins: Ciphertext[]) => this.node(n, ins);
    return executeGraph(this.graph, input, step, (ct) => ({ level: ct.level, outputs: 1 }), this.timings, this.onProgress);
  }

  private node(n: IrNode, ins: Ciphertext[]): Ciphertext {
    const step = this.plan.steps.get(n.name);
    if (!step) throw new PackedLayoutError(`internal: node '${n.name}' is not in the plan`, 'plan the graph you run');
    const x = ins[0];
    switch (step.kind) {
      case 'fused':
      case 'relabel':
        return x;
      case 'transform':
        return this.transform(n, step, x);
      case 'rotsum': {
        let acc = x;
        for (const s of step.steps) acc = this.ev.add(acc, this.ev.rotate(acc, s));
        return acc;
      }
      case 'slotwise':
        return this.slotwise(n, ins);
    }
  }

  /**
   * Encodes every transform's diagonals now, when the runner keeps them (a server does this once,
   * before its first input; runs then skip the encoding).
   */
  prepare(): void {
    const P = this.ctx.params;
    if (!cachesDiagonals(this.graph, this.plan, P)) return;
    for (const n of this.graph.nodes) {
      const step = this.plan.steps.get(n.name);
      if (step?.kind !== 'transform') continue;
      const e = this.encodedAt(step, P.levels - Math.max(...n.inputs.map((v) => this.plan.levels.depthAt.get(v) ?? 0)));
      e.lt.encodeAll();
    }
  }

  /** The step's transform at a level: kept across runs when the plan's plaintexts fit, else made for this run. */
  private encodedAt(step: Extract<PackedStep, { kind: 'transform' }>, level: number): { lt: LinearTransform; bias: Float64Array | null } {
    const hit = encoded.get(step);
    if (hit && hit.ctx === this.ctx && hit.level === level) return hit;
    const set = stepDiagonals(step);
    const cache = cachesDiagonals(this.graph, this.plan, this.ctx.params);
    const e = { ctx: this.ctx, level, lt: new LinearTransform(this.ctx, this.enc, set.diagonals, { level, scale: this.ctx.params.scales[level], babyStep: step.split.n1, cache, hoisting: PACKED_HOISTING }), bias: set.bias };
    if (cache) encoded.set(step, e);
    return e;
  }

  /** A transform's bias encoded at a level and scale (kept with its diagonals when those are kept). */
  private biasAt(step: PackedStep, bias: Float64Array, level: number, scale: number): Plaintext {
    const e = encoded.get(step);
    if (e?.biasPt && e.biasPt.level === level && e.biasPt.scale === scale) return e.biasPt;
    const pt = this.enc.encode(bias, { level, scale, fill: 'repeat' });
    if (e) e.biasPt = pt;
    return pt;
  }

  /** One diagonal transform, one rescale, then the bias. */
  private transform(n: IrNode, step: Extract<PackedStep, { kind: 'transform' }>, x: Ciphertext): Ciphertext {
    const level = x.level;
    if (level === 0) throw new LevelError(1, 0, `layer '${n.name}'`);
    const P = this.ctx.params;
    const { lt, bias } = this.encodedAt(step, level);
    const set = { bias };
    const y = lt.evaluate(this.ev, x);
    this.ev.rescaleInPlace(y);
    y.scale = P.scales[level - 1];
    if (set.bias) this.ev.addInPlace(y, this.biasAt(step, set.bias, level - 1, y.scale));
    return y;
  }

  private slotwise(n: IrNode, ins: Ciphertext[]): Ciphertext {
    const x = ins[0];
    const S = this.ctx.params.slots;
    const l = this.plan.layouts.get(n.output)!;
    switch (n.op) {
      case 'Add':
        return this.backend(Math.max(x.level, ins[1].level)).add(x, ins[1]);
      case 'AddConstant':
        return this.ev.add(x, this.enc.encode(scatter(l, broadcastConstant(n.constant, n.outShape), S), { level: x.level, scale: x.scale }));
      case 'Poly':
        return this.poly(n, x, l);
      default:
        throw new PackedLayoutError(`internal: '${n.name}' (${n.op}) is not slot-wise`, 'report this as a bug');
    }
  }

  private backend(level: number, plaintexts?: WeakMap<object, Map<string, Plaintext>>): CkksPolyBackend {
    const P = this.ctx.params;
    return new CkksPolyBackend(this.ev, this.enc, { level, scale: P.scales[level] }, { plaintexts });
  }

  /** A polynomial node's slot vectors, the same arrays across runs (and their encodings kept) when the plan's plaintexts fit. */
  private polyVectors(n: PolyNode, l: PackedLayout) {
    const hit = polyKept.get(n);
    if (hit && hit.ctx === this.ctx && hit.layout === l) return hit;
    const S = this.ctx.params.slots;
    const m = polyMap(n, n.outShape);
    const e = {
      ctx: this.ctx, layout: l, map: m ? { scale: scatter(l, m.scale, S), shift: scatter(l, m.shift, S) } : null, cs: polySlotCoefficients(n, l, S),
      pts: new WeakMap<object, Map<string, Plaintext>>(),
    };
    if (cachesDiagonals(this.graph, this.plan, this.ctx.params)) polyKept.set(n, e);
    return e;
  }

  private poly(n: PolyNode, x: Ciphertext, l: PackedLayout): Ciphertext {
    const v = this.polyVectors(n, l);
    const b = this.backend(x.level, polyKept.get(n) === v ? v.pts : undefined);
    let t = x;
    if (v.map) t = b.linear([t], [v.map.scale], v.map.shift);
    const cs = v.cs;
    if (n.basis === 'power') {
      if (n.coeffs.length !== 3) throw new PackedLayoutError(`polynomial '${n.name}' in the power basis has degree ${n.coeffs.length - 1}`, 'use the Chebyshev basis for degrees other than 2');
      return evalQuadratic(b, t, cs[2], cs[1], cs[0]);
    }
    return evalChebyshev(b, t, cs);
  }
}

/** Runs the graph on one image given as a tensor [1, ...] (tests): encrypt, run, decrypt. */
export function runPackedOnce(
  graph: IrGraph, plan: PackedPlan, ev: Evaluator, enc: Encoder, encr: Encryptor, dec: Decryptor, image: Tensor,
): Float64Array {
  const ct = encryptPacked(ev.ctx, enc, encr, plan.input, image.data);
  return decryptPacked(enc, dec, plan.output, new PackedRunner(graph, plan, ev, enc).run(ct));
}
