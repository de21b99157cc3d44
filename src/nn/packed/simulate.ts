/**
 * @module nn/packed/simulate
 * The packed plan executed on float64 slot vectors: exactly the slot operations of the encrypted
 * run (diagonal products, rotate-and-sum, slot-wise polynomials on every slot, unused slots
 * included), without encryption. Tests check it against the reference executor (layouts, maps and
 * fusions are right) and the encrypted run against it (slot for slot). It also reports the largest
 * magnitude any slot reaches, the bound the encrypted run's scales must leave room for.
 */
import type { IrGraph, IrNode, PolyNode, Tensor } from '../graph.js';
import { broadcastConstant } from '../reference.js';
import { coefficientsPerElement } from '../polynomial.js';
import { applyDiagonals } from './diagonals.js';
import { type PackedLayout, PackedLayoutError, gather, scatter } from './layout.js';
import { type PackedPlan, stepDiagonals } from './plan.js';

/** Result of a slot-level simulation of one sample. */
export interface PackedSimulation {
  /** The output values (element order). */
  output: Float64Array;
  /** The output's full slot vector. */
  slots: Float64Array;
  /** Largest |slot| of every node's output, by node name. */
  maxAbs: Map<string, number>;
}

/** Horner / Clenshaw evaluation of a Poly node's polynomial at t (coefficients `c`, default the node's scalars). */
export function polyAt(n: PolyNode, t: number, c: ArrayLike<number> = n.coeffs): number {
  if (n.basis === 'power') {
    let y = 0;
    for (let k = c.length - 1; k >= 0; k--) y = y * t + c[k];
    return y;
  }
  let b1 = 0;
  let b2 = 0;
  for (let k = c.length - 1; k >= 1; k--) {
    const b0 = 2 * t * b1 - b2 + c[k];
    b2 = b1;
    b1 = b0;
  }
  return t * b1 - b2 + c[0];
}

/**
 * A Poly node's coefficients for the packed run: its scalars, or for coefficients per channel or
 * element (`coeffTensor`) one number where a coefficient is the same for every element and else a
 * slot vector (zero in unused slots).
 */
export function polySlotCoefficients(n: PolyNode, l: PackedLayout, slots: number): (number | Float64Array)[] {
  if (!n.coeffTensor) return Array.from(n.coeffs);
  return coefficientsPerElement(n.coeffTensor, n.outShape).map((v) => (v.every((u) => u === v[0]) ? v[0] : scatter(l, v, slots)));
}

/** Per-slot values of a per-element quantity (zero in unused slots). */
export function slotVector(l: PackedLayout, values: ArrayLike<number>, slots: number): Float64Array {
  return scatter(l, values, slots);
}

/** The per-element input map (scale, shift) of a Poly node, or null when folded. */
export function polyMap(n: PolyNode, shape: readonly number[]): { scale: Float64Array; shift: Float64Array } | null {
  if (n.mapFolded) return null;
  const C = n.mapScale.length;
  const size = shape.reduce((a, b) => a * b, 1);
  const plane = size / C;
  const scale = new Float64Array(size);
  const shift = new Float64Array(size);
  for (let c = 0; c < C; c++) {
    scale.fill(n.mapScale[c], c * plane, (c + 1) * plane);
    shift.fill(n.mapShift[c], c * plane, (c + 1) * plane);
  }
  return { scale, shift };
}

/** Runs the plan on one sample `x` (per-sample shape of the graph input). */
export function simulatePacked(g: IrGraph, plan: PackedPlan, x: ArrayLike<number>): PackedSimulation {
  const S = plan.slots;
  const values = new Map<string, Float64Array>([[g.input.name, scatter(plan.input, x, S)]]);
  const maxAbs = new Map<string, number>();
  const fusedFrom = new Map<string, string>();
  for (const n of g.nodes) {
    const step = plan.steps.get(n.name)!;
    const src = (v: string) => values.get(fusedFrom.get(v) ?? v)!;
    let y: Float64Array;
    switch (step.kind) {
      case 'fused':
        fusedFrom.set(n.output, fusedFrom.get(n.inputs[0]) ?? n.inputs[0]);
        continue;
      case 'transform':
        y = applyDiagonals(stepDiagonals(step), src(n.inputs[0]), S);
        break;
      case 'rotsum': {
        y = Float64Array.from(src(n.inputs[0]));
        for (const s of step.steps) {
          const r = new Float64Array(S);
          for (let z = 0; z < S; z++) r[z] = y[(z + s) % S];
          for (let z = 0; z < S; z++) y[z] += r[z];
        }
        break;
      }
      case 'relabel':
        y = src(n.inputs[0]);
        break;
      case 'slotwise':
        y = slotwise(n, plan, n.inputs.map(src), S);
        break;
    }
    values.set(n.output, y);
    let m = 0;
    for (let z = 0; z < S; z++) m = Math.max(m, Math.abs(y[z]));
    maxAbs.set(n.name, m);
  }
  const out = values.get(g.output.name)!;
  return { output: gather(plan.output, out), slots: out, maxAbs };
}

function slotwise(n: IrNode, plan: PackedPlan, ins: Float64Array[], S: number): Float64Array {
  const x = ins[0];
  const l = plan.layouts.get(n.output)!;
  switch (n.op) {
    case 'Add':
      return x.map((v, z) => v + ins[1][z]);
    case 'AddConstant': {
      const c = slotVector(l, broadcastConstant(n.constant, n.outShape), S);
      return x.map((v, z) => v + c[z]);
    }
    case 'Poly': {
      const m = polyMap(n, n.outShape);
      const a = m ? slotVector(l, m.scale, S) : null;
      const b = m ? slotVector(l, m.shift, S) : null;
      const cs = polySlotCoefficients(n, l, S);
      const col = new Float64Array(n.coeffs.length);
      return x.map((v, z) => {
        for (let k = 0; k < col.length; k++) col[k] = typeof cs[k] === 'number' ? (cs[k] as number) : (cs[k] as Float64Array)[z];
        return polyAt(n, a ? a[z] * v + b![z] : v, col);
      });
    }
    default:
      throw new PackedLayoutError(`internal: '${n.name}' (${n.op}) is not slot-wise`, 'report this as a bug');
  }
}

/** Simulates every sample of a batch [N, ...] and returns the outputs [N, ...out]. */
export function simulatePackedBatch(g: IrGraph, plan: PackedPlan, data: Tensor): Tensor {
  const n = data.shape[0];
  const inSize = data.data.length / n;
  const outSize = plan.output.pos.length;
  const out = new Float64Array(n * outSize);
  for (let i = 0; i < n; i++) out.set(simulatePacked(g, plan, data.data.subarray(i * inSize, (i + 1) * inSize)).output, i * outSize);
  return { shape: [n, ...g.output.shape], data: out };
}
