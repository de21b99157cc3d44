/**
 * @module nn/compile/levels
 *
 * Level accounting of a compiled graph (PAPER, Chielle et al. arXiv 2509.22857, digest §2.5): the
 * multiplicative levels each node consumes in a layout (a polynomial its Paterson–Stockmeyer or
 * fast-quadratic depth, plus one for the pixel mask in the channel layout; linear layers one), and
 * the network depth along the critical path.
 */
import type { Layout } from './compile.js';
import { cost as approxCost, polyDepth } from '../../approx/index.js';
import { type IrGraph, type PolyNode, GraphError, sizeOf } from '../graph.js';

/** Levels consumed by each node in a layout, and the network depth. */
export interface LevelPlan {
  /** Levels consumed by the node itself. */
  cost: Map<string, number>;
  /** Levels consumed from the input up to and including the node (critical path). */
  depthAt: Map<string, number>;
  depth: number;
  /** ct×ct products per image-slot vector (one tensor element in batch, one channel in channel layout). */
  ctMults: number;
  /** Poly nodes that need slot masks in the channel layout (their output reaches a Conv). */
  masked: Set<string>;
}

/** Whether a Poly evaluates by the one-level quadratic path (leading coefficient ±1). */
export function isFastQuadratic(p: PolyNode): boolean {
  return p.basis === 'power' && p.coeffs.length === 3 && leadIsUnit(p);
}

/** Leading coefficient ±1 everywhere (scalar, or every entry of a coefficient tensor). */
function leadIsUnit(p: PolyNode): boolean {
  if (!p.coeffTensor) return Math.abs(p.coeffs[p.coeffs.length - 1]) === 1;
  const per = p.coeffTensor.data.length / p.coeffTensor.shape[0];
  const d = p.coeffTensor.data;
  for (let i = d.length - per; i < d.length; i++) if (Math.abs(d[i]) !== 1) return false;
  return true;
}

/** Levels and ct×ct products of one Poly node in a layout. */
export function polyCost(p: PolyNode, masked: boolean): { depth: number; ctMults: number } {
  const map = p.mapFolded ? 0 : 1;
  const deg = p.coeffs.length - 1;
  if (p.basis === 'power' && deg === 2 && leadIsUnit(p) && !masked) return { depth: map + 1, ctMults: 1 };
  if (p.basis === 'power' && deg === 2 && !masked) return { depth: map + 2, ctMults: 1 };
  return { depth: map + polyDepth(deg), ctMults: deg <= 1 ? 0 : approxCost(deg).ctMults };
}

/** The level plan of a compiled graph in a layout. */
export function planLevels(g: IrGraph, layout: Layout): LevelPlan {
  const masked = layout === 'channel' ? maskedPolys(g) : new Set<string>();
  const cost = new Map<string, number>();
  const depthAt = new Map<string, number>([[g.input.name, 0]]);
  let ctMults = 0;
  for (const n of g.nodes) {
    let c = 0;
    switch (n.op) {
      case 'Conv':
      case 'Dense':
      case 'BatchNormalization':
      case 'MulConstant':
        c = 1;
        break;
      case 'AveragePool':
      case 'GlobalAveragePool':
        c = n.sum ? 0 : 1;
        break;
      case 'Poly': {
        const pc = polyCost(n, masked.has(n.name));
        c = pc.depth;
        ctMults += pc.ctMults * (layout === 'batch' ? sizeOf(n.outShape) : n.outShape.length === 3 ? n.outShape[0] : sizeOf(n.outShape));
        break;
      }
      case 'Relu':
      case 'Gelu':
      case 'Square':
        throw new GraphError(`the graph still has a ${n.op} node`, n.name, 'compile the model first (Model.compile or compileModel), which replaces activations by polynomials');
      default:
        c = 0;
    }
    cost.set(n.name, c);
    const d = Math.max(...n.inputs.map((v) => depthAt.get(v) ?? 0)) + c;
    depthAt.set(n.output, d);
  }
  return { cost, depthAt, depth: depthAt.get(g.output.name) ?? 0, ctMults, masked };
}

/**
 * Poly nodes on spatial tensors that must zero unused slots in the channel layout: those whose
 * output reaches a Conv, a pool with padding (both read the zero margins) or a global pool (its
 * rotate-and-sum adds every slot of the span), through pools, adds and per-channel affine nodes.
 */
export function maskedPolys(g: IrGraph): Set<string> {
  const out = new Set<string>();
  for (const p of g.nodes) {
    if (p.op !== 'Poly' || p.outShape.length !== 3) continue;
    const stack = [p.output];
    const seen = new Set<string>();
    let reaches = false;
    while (stack.length && !reaches) {
      const v = stack.pop()!;
      if (seen.has(v)) continue;
      seen.add(v);
      for (const c of g.nodes.filter((n) => n.inputs.includes(v))) {
        if (c.op === 'Conv' || c.op === 'GlobalAveragePool' || (c.op === 'AveragePool' && c.pads.some((p) => p > 0))) reaches = true;
        else if (c.op === 'AveragePool' || c.op === 'Add' || c.op === 'BatchNormalization' || c.op === 'MulConstant' || c.op === 'AddConstant') stack.push(c.output);
      }
    }
    if (reaches) out.add(p.name);
  }
  return out;
}
