/**
 * @module nn/packed/plan
 * The static plan of a packed-layout run (one image, or replicas, in ONE ciphertext per value):
 * the layout of every value, the linear map and diagonal set of every linear layer, each layer's
 * baby-step/giant-step split, the rotation steps (Galois keys) and the level plan.
 *
 * Per node:
 *  - Conv, Dense, BatchNormalization, MulConstant: one diagonal transform (`diagonals.ts`), one
 *    level. A Conv's output keeps the input grid, multiplexed by its stride (`layout.ts`).
 *  - AveragePool: composed into the linear layer that consumes it (`linear.ts`), so it costs no
 *    level and no rotation of its own; otherwise its own transform (one level).
 *  - GlobalAveragePool (a sum after the compiler folded its divisor): rotate-and-sum over the
 *    channel's pixels when the map is a power-of-two square (no level; the sums land on each
 *    channel's first pixel); otherwise a transform.
 *  - Poly, Add, AddConstant, Flatten, Reshape: slot-wise, layouts unchanged (Add needs equal layouts).
 */
import { type LevelPlan, polyCost } from '../compile/compile.js';
import type { IrGraph, IrNode } from '../graph.js';
import { type DiagonalSet, diagonalsOf } from './diagonals.js';
import {
  type PackedLayout, PackedLayoutError, gridLayout, pow2AtLeast, vectorLayout,
} from './layout.js';
import { type LinearMap, composeMaps, isLinearNode, linearMapOf } from './linear.js';
import { type BsgsCosts, type BsgsSplit, chooseSplit } from '../../ckks/linear/bsgs.js';

/** What a node does in the packed layout. */
export type PackedStep =
  | { kind: 'transform'; map: LinearMap; from: PackedLayout; to: PackedLayout; split: BsgsSplit; diagonals: number; taps: number }
  | { kind: 'rotsum'; steps: number[] }
  | { kind: 'slotwise' }
  | { kind: 'fused' }
  | { kind: 'relabel' };

/** The plan of a graph in the packed layout. */
export interface PackedPlan {
  slots: number;
  input: PackedLayout;
  output: PackedLayout;
  /** Layout of every value by name (fused pools have none). */
  layouts: Map<string, PackedLayout>;
  /** What each node does, by node name. */
  steps: Map<string, PackedStep>;
  /** Every rotation step the run uses (Galois keys), sorted. */
  rotations: number[];
  /**
   * Per entry of `rotations`, the smallest depth (levels consumed since the input) at which the
   * step rotates: the step's key is used at level top − depth and below, so it can be generated
   * capped there (`GaloisKeyOptions.maxLevel`; see {@link rotationLevels}). Always set by
   * `planPacked`; absent means depth 0 (full keys).
   */
  rotationDepths?: number[];
  levels: LevelPlan;
}

/**
 * The highest level each rotation of the plan runs at, for an input encrypted at `top` (the
 * parameters' top level): per entry of `plan.rotations`, top − its depth.
 */
export function rotationLevels(plan: Pick<PackedPlan, 'rotations' | 'rotationDepths'>, top: number): number[] {
  return plan.rotations.map((_, i) => top - (plan.rotationDepths?.[i] ?? 0));
}

/** Options of {@link planPacked}. */
export interface PackedPlanOptions {
  /** Relative costs of a hoisted baby rotation and a giant rotation. */
  costs?: BsgsCosts;
}

/** The diagonal set of a transform step (recomputed on demand: it can be large). */
export function stepDiagonals(step: Extract<PackedStep, { kind: 'transform' }>): DiagonalSet {
  return diagonalsOf(step.map, step.from, step.to);
}

/** Rotate-and-sum steps that bring the sum of a channel's pixels onto its first pixel, or null. */
function rotateSumSteps(l: PackedLayout): number[] | null {
  if (!l.grid) return null;
  const [, H, W] = l.shape;
  if ((H & (H - 1)) !== 0 || (W & (W - 1)) !== 0) return null;
  const { t, Wg } = l.grid;
  const out: number[] = [];
  for (let s = 1; s < W; s <<= 1) out.push(t * s);
  for (let s = 1; s < H; s <<= 1) out.push(t * s * Wg);
  return out;
}

/**
 * The smallest input grid on which every strided map fits: t·H ≤ Hg and t·W ≤ Wg for each spatial
 * value (t the product of the strides up to it). Usually the input's own H × W; larger when a
 * stride does not divide the map (28 → 14 → 7 → 4 at t = 8 needs a 32 × 32 grid, which costs no
 * slot when the block is 1,024 slots either way).
 */
function inputGrid(g: IrGraph): [number, number] {
  const [, H0, W0] = g.input.shape;
  let Hg = H0;
  let Wg = W0;
  const t = new Map<string, number>([[g.input.name, 1]]);
  for (const n of g.nodes) {
    let f = t.get(n.inputs[0]) ?? 1;
    if ((n.op === 'Conv' || n.op === 'AveragePool') && n.strides[0] === n.strides[1]) f *= n.strides[0];
    t.set(n.output, f);
    if (n.outShape.length === 3) {
      Hg = Math.max(Hg, f * n.outShape[1]);
      Wg = Math.max(Wg, f * n.outShape[2]);
    }
  }
  return [Hg, Wg];
}

/** Plans a compiled graph in the packed layout for `slots` slots. @throws PackedLayoutError */
export function planPacked(g: IrGraph, slots: number, opts: PackedPlanOptions = {}): PackedPlan {
  const shape = g.input.shape;
  let input: PackedLayout;
  if (shape.length === 3) input = gridLayout(shape[0], shape[1], shape[2], ...inputGrid(g), 1, slots);
  else if (shape.length === 1) input = vectorLayout(shape[0], pow2AtLeast(shape[0]));
  else throw new PackedLayoutError(`the packed layout needs a [C,H,W] or [F] input, got [${shape}]`, 'use the batch layout');
  const layouts = new Map<string, PackedLayout>([[g.input.name, input]]);
  /** Pools waiting to be composed into their consumer: value → (source value, map). */
  const pending = new Map<string, { from: string; map: LinearMap }>();
  const steps = new Map<string, PackedStep>();
  const cost = new Map<string, number>();
  const depthAt = new Map<string, number>([[g.input.name, 0]]);
  /** Rotation step → the smallest depth at which it is used. */
  const rot = new Map<number, number>();
  const useRot = (r: number, depth: number) => {
    if (r !== 0 && !(rot.get(r)! <= depth)) rot.set(r, depth);
  };
  let ctMults = 0;
  const consumers = new Map<string, IrNode[]>();
  for (const n of g.nodes) for (const v of n.inputs) consumers.set(v, [...(consumers.get(v) ?? []), n]);

  const outLayoutOf = (n: IrNode, from: PackedLayout): PackedLayout => {
    const os = n.outShape;
    if (os.length === 3 && from.grid) {
      let t = from.grid.t;
      if (n.op === 'Conv' || n.op === 'AveragePool') {
        const [sh, sw] = n.strides;
        if (sh !== sw) throw new PackedLayoutError(`'${n.name}' has strides ${sh}×${sw}`, 'use equal strides in both directions, or the channel layout');
        t *= sh;
      }
      return gridLayout(os[0], os[1], os[2], from.grid.Hg, from.grid.Wg, t, slots);
    }
    if (n.op === 'BatchNormalization' || n.op === 'MulConstant') return from;
    // vectors: compact, with the input's period (no output replicas inside one input period)
    const F = os.reduce((a, b) => a * b, 1);
    return { ...vectorLayout(F, Math.max(pow2AtLeast(F), from.period)), shape: [...os] };
  };

  const addTransform = (n: IrNode, map: LinearMap, fromValue: string): PackedLayout => {
    const from = layouts.get(fromValue)!;
    const to = outLayoutOf(n, from);
    const set = diagonalsOf(map, from, to);
    const split = chooseSplit([...set.diagonals.keys()], from.period, opts.costs);
    // baby and giant steps both rotate at the transform's input level (double hoisting)
    const depth = depthAt.get(fromValue) ?? 0;
    for (const r of [...split.babies, ...split.giants]) useRot(r, depth);
    steps.set(n.name, { kind: 'transform', map, from, to, split, diagonals: set.diagonals.size, taps: set.taps });
    return to;
  };

  for (const n of g.nodes) {
    const v = n.inputs[0];
    let c = 0;
    let source = v;
    let pend = pending.get(v);
    if (pend && !isLinearNode(n)) {
      // a pool read by a non-linear node: it becomes a transform of its own after all
      const pool = g.nodes.find((m) => m.output === v)!;
      layouts.set(v, addTransform(pool, pend.map, pend.from));
      cost.set(pool.name, 1);
      depthAt.set(v, (depthAt.get(pend.from) ?? 0) + 1);
      pending.delete(v);
      pend = undefined;
    }
    if (isLinearNode(n)) {
      const inShape = pend ? pend.map.outShape : layouts.get(v)?.shape;
      if (!inShape) throw new PackedLayoutError(`internal: no layout for '${v}'`, 'report this as a bug');
      let map = linearMapOf(n, inShape);
      if (pend) {
        map = composeMaps(map, pend.map);
        source = pend.from;
        pending.delete(v);
      }
      const users = consumers.get(n.output) ?? [];
      const from = layouts.get(source)!;
      if (n.op === 'AveragePool' && users.length === 1 && isLinearNode(users[0]) && n.output !== g.output.name) {
        pending.set(n.output, { from: source, map });
        steps.set(n.name, { kind: 'fused' });
        cost.set(n.name, 0);
        depthAt.set(n.output, depthAt.get(source) ?? 0);
        continue;
      }
      const sums = n.op === 'GlobalAveragePool' && n.sum && !pend ? rotateSumSteps(from) : null;
      if (sums) {
        sums.forEach((s) => useRot(s, depthAt.get(source) ?? 0));
        steps.set(n.name, { kind: 'rotsum', steps: sums });
        const [C] = from.shape;
        const pos = Int32Array.from({ length: C }, (_, ch) => from.pos[ch * from.shape[1] * from.shape[2]]);
        layouts.set(n.output, { shape: [...n.outShape], pos, period: from.period });
      } else {
        layouts.set(n.output, addTransform(n, map, source));
        c = 1;
      }
    } else {
      const from = layouts.get(v);
      if (!from) throw new PackedLayoutError(`internal: no layout for '${v}'`, 'report this as a bug');
      switch (n.op) {
        case 'Poly': {
          const pc = polyCost(n, false);
          c = pc.depth;
          ctMults += pc.ctMults;
          steps.set(n.name, { kind: 'slotwise' });
          layouts.set(n.output, from);
          break;
        }
        case 'Add': {
          const other = layouts.get(n.inputs[1]);
          if (!other || other.period !== from.period || other.pos.length !== from.pos.length || other.pos.some((p, i) => p !== from.pos[i])) {
            throw new PackedLayoutError(`residual add '${n.name}' joins values in different packed layouts`, 'give both branches the same strides and channel counts');
          }
          steps.set(n.name, { kind: 'slotwise' });
          layouts.set(n.output, from);
          break;
        }
        case 'AddConstant':
          steps.set(n.name, { kind: 'slotwise' });
          layouts.set(n.output, from);
          break;
        case 'Flatten':
        case 'Reshape':
          steps.set(n.name, { kind: 'relabel' });
          layouts.set(n.output, { ...from, shape: [...n.outShape], grid: undefined });
          break;
        default:
          throw new PackedLayoutError(`node '${n.name}' (${n.op}) is not supported in the packed layout`, 'compile the graph first (activations become polynomials), or use the batch layout');
      }
    }
    cost.set(n.name, c);
    depthAt.set(n.output, Math.max(...n.inputs.map((x) => depthAt.get(x === v ? source : x) ?? 0)) + c);
  }
  const output = layouts.get(g.output.name);
  if (!output) throw new PackedLayoutError('internal: the output has no layout', 'report this as a bug');
  const levels: LevelPlan = { cost, depthAt, depth: depthAt.get(g.output.name) ?? 0, ctMults, masked: new Set() };
  const rotations = [...rot.keys()].sort((a, b) => a - b);
  return { slots, input, output, layouts, steps, rotations, rotationDepths: rotations.map((r) => rot.get(r)!), levels };
}
