/** Small networks for the error-model tests (packed and channel layouts). */
import type { IrGraph, IrNode, PolyNode } from '../src/nn/index.js';
import { randomVector } from './helpers.js';

let seed = 7;
const tensor = (shape: number[], scale = 0.5) => ({ shape, data: randomVector(shape.reduce((a, b) => a * b, 1), seed++, -scale, scale) });

export function conv(name: string, input: string, ci: number, co: number, k: number, stride: number, inHW: number): IrNode {
  const pad = (k - 1) >> 1;
  const o = Math.floor((inHW + 2 * pad - k) / stride) + 1;
  return {
    op: 'Conv', name, inputs: [input], output: name, outShape: [co, o, o], sources: [], weight: tensor([co, ci, k, k], 1.7 / Math.sqrt(ci * k * k)),
    bias: tensor([co], 0.1), kernel: [k, k], strides: [stride, stride], pads: [pad, pad, pad, pad],
  };
}
/** 0.25x² + 0.5x + 0.2 (a "quad" activation) on the calibration interval [−2, 2]. */
export function quad(name: string, input: string, shape: number[]): PolyNode {
  return {
    op: 'Poly', name, inputs: [input], output: name, outShape: shape, sources: [], replaces: 'Relu', mapScale: new Float64Array(shape[0]).fill(1),
    mapShift: new Float64Array(shape[0]), mapFolded: true, basis: 'power', coeffs: Float64Array.of(0.2, 0.5, 0.25), interval: [-2, 2],
  };
}
export const dense = (name: string, input: string, i: number, o: number): IrNode => (
  { op: 'Dense', name, inputs: [input], output: name, outShape: [o], sources: [], weight: tensor([o, i], 1.5 / Math.sqrt(i)), bias: tensor([o], 0.1) });

/** conv → quad → conv → quad → GAP (sum) → dense. */
export function convQuad(C = 2, HW = 8): IrGraph {
  const nodes: IrNode[] = [
    conv('c1', 'x', C, 4, 3, 1, HW), quad('a1', 'c1', [4, HW, HW]),
    conv('c2', 'a1', 4, 4, 3, 1, HW), quad('a2', 'c2', [4, HW, HW]),
    { op: 'GlobalAveragePool', name: 'gap', inputs: ['a2'], output: 'gap', outShape: [4, 1, 1], sources: [], sum: true },
    { op: 'Flatten', name: 'flat', inputs: ['gap'], output: 'flat', outShape: [4], sources: [] },
    dense('fc', 'flat', 4, 6),
  ];
  return { name: 'convquad', input: { name: 'x', shape: [C, HW, HW] }, output: { name: 'fc', shape: [6] }, nodes, origin: 'test' };
}

/** A residual block: conv → quad → conv, + the block input, → quad; the conv output is the result. */
export function residual(C = 4, HW = 8): IrGraph {
  const nodes: IrNode[] = [
    conv('c0', 'x', 1, C, 3, 1, HW), quad('a0', 'c0', [C, HW, HW]),
    conv('c1', 'a0', C, C, 3, 1, HW), quad('a1', 'c1', [C, HW, HW]), conv('c2', 'a1', C, C, 3, 1, HW),
    { op: 'Add', name: 'add', inputs: ['c2', 'a0'], output: 'add', outShape: [C, HW, HW], sources: [] },
    quad('a2', 'add', [C, HW, HW]),
  ];
  return { name: 'residual', input: { name: 'x', shape: [1, HW, HW] }, output: { name: 'a2', shape: [C, HW, HW] }, nodes, origin: 'test' };
}

/** dense → quad → dense on a vector. */
export function denseNet(F = 48): IrGraph {
  const nodes: IrNode[] = [
    dense('d1', 'x', F, 16), quad('a1', 'd1', [16]), dense('d2', 'a1', 16, 10),
  ];
  return { name: 'dense', input: { name: 'x', shape: [F] }, output: { name: 'd2', shape: [10] }, nodes, origin: 'test' };
}

/** strided conv → quad → flatten → dense on the spatial value. */
export function spatialDense(C = 2, HW = 8): IrGraph {
  const nodes: IrNode[] = [
    conv('c1', 'x', C, 3, 3, 2, HW), quad('a1', 'c1', [3, HW / 2, HW / 2]),
    { op: 'Flatten', name: 'flat', inputs: ['a1'], output: 'flat', outShape: [3 * (HW / 2) ** 2], sources: [] },
    dense('fc', 'flat', 3 * (HW / 2) ** 2, 5),
  ];
  return { name: 'spatialdense', input: { name: 'x', shape: [C, HW, HW] }, output: { name: 'fc', shape: [5] }, nodes, origin: 'test' };
}
