/**
 * @module nn/packed/linear
 * Linear layers as sparse matrices over tensor elements ("taps"): output element o reads input
 * elements cols[rowStart[o] .. rowStart[o+1]) with weights vals[·], plus bias[o]. Convolutions
 * (any stride and zero padding), sum/average pools, global pooling, dense layers and per-element
 * affine maps (unfolded batch-norm, constant products) all become such matrices, so the packed
 * layout turns each one into slot diagonals the same way (`diagonals.ts`), and consecutive linear
 * layers compose into one (a sum pool followed by a convolution costs one level, not two).
 */
import type { IrNode } from '../graph.js';
import { sizeOf } from '../graph.js';
import { broadcastConstant } from '../reference.js';
import { PackedLayoutError } from './layout.js';

/** A sparse linear map with bias: y = M·x + b over flattened per-sample tensors. */
export interface LinearMap {
  inShape: number[];
  outShape: number[];
  /** CSR row pointers, length outCount + 1. */
  rowStart: Int32Array;
  cols: Int32Array;
  vals: Float64Array;
  /** Per output element, or null for none. */
  bias: Float64Array | null;
}

/** Accumulates rows of a CSR matrix. */
class RowBuilder {
  private readonly starts: number[] = [0];
  private cols: number[] = [];
  private vals: number[] = [];
  push(col: number, w: number): void {
    if (w === 0) return;
    this.cols.push(col);
    this.vals.push(w);
  }
  endRow(): void {
    this.starts.push(this.cols.length);
  }
  build(inShape: number[], outShape: number[], bias: Float64Array | null): LinearMap {
    return { inShape, outShape, rowStart: Int32Array.from(this.starts), cols: Int32Array.from(this.cols), vals: Float64Array.from(this.vals), bias };
  }
}

/** True for the IR nodes this module turns into a linear map. */
export function isLinearNode(n: IrNode): boolean {
  return n.op === 'Conv' || n.op === 'Dense' || n.op === 'AveragePool' || n.op === 'GlobalAveragePool'
    || n.op === 'BatchNormalization' || n.op === 'MulConstant';
}

/**
 * The linear map of a Conv, Dense, AveragePool, GlobalAveragePool, BatchNormalization or
 * MulConstant node on an input of per-sample shape `inShape`.
 * @throws PackedLayoutError for other nodes.
 */
export function linearMapOf(n: IrNode, inShape: readonly number[]): LinearMap {
  const rb = new RowBuilder();
  const out = [...n.outShape];
  const inS = [...inShape];
  switch (n.op) {
    case 'Conv': {
      const [Co, Ci, kh, kw] = n.weight.shape;
      const [, H, W] = inS;
      const [, Ho, Wo] = out;
      const [sh, sw] = n.strides;
      const [pt, pl] = n.pads;
      const wd = n.weight.data;
      for (let o = 0; o < Co; o++) {
        for (let y = 0; y < Ho; y++) {
          for (let x = 0; x < Wo; x++) {
            for (let c = 0; c < Ci; c++) {
              for (let ky = 0; ky < kh; ky++) {
                const iy = y * sh + ky - pt;
                if (iy < 0 || iy >= H) continue;
                for (let kx = 0; kx < kw; kx++) {
                  const ix = x * sw + kx - pl;
                  if (ix < 0 || ix >= W) continue;
                  rb.push((c * H + iy) * W + ix, wd[((o * Ci + c) * kh + ky) * kw + kx]);
                }
              }
            }
            rb.endRow();
          }
        }
      }
      let bias: Float64Array | null = null;
      if (n.bias) {
        bias = new Float64Array(Co * Ho * Wo);
        for (let o = 0; o < Co; o++) bias.fill(n.bias.data[o], o * Ho * Wo, (o + 1) * Ho * Wo);
      }
      return rb.build(inS, out, bias);
    }
    case 'AveragePool': {
      const [C, H, W] = inS;
      const [, Ho, Wo] = out;
      const [kh, kw] = n.kernel;
      const [sh, sw] = n.strides;
      const [pt, pl] = n.pads;
      for (let c = 0; c < C; c++) {
        for (let y = 0; y < Ho; y++) {
          for (let x = 0; x < Wo; x++) {
            let count = 0;
            const taps: number[] = [];
            for (let ky = 0; ky < kh; ky++) {
              for (let kx = 0; kx < kw; kx++) {
                const iy = y * sh + ky - pt;
                const ix = x * sw + kx - pl;
                const inside = iy >= 0 && iy < H && ix >= 0 && ix < W;
                if (inside) taps.push((c * H + iy) * W + ix);
                if (inside || n.countIncludePad) count++;
              }
            }
            const w = n.sum ? 1 : 1 / count;
            for (const t of taps) rb.push(t, w);
            rb.endRow();
          }
        }
      }
      return rb.build(inS, out, null);
    }
    case 'GlobalAveragePool': {
      const [C, H, W] = inS;
      const w = n.sum ? 1 : 1 / (H * W);
      for (let c = 0; c < C; c++) {
        for (let k = 0; k < H * W; k++) rb.push(c * H * W + k, w);
        rb.endRow();
      }
      return rb.build(inS, out, null);
    }
    case 'Dense': {
      const [O, I] = n.weight.shape;
      if (I !== sizeOf(inS)) throw new PackedLayoutError(`dense layer '${n.name}' expects ${I} inputs, its input has ${sizeOf(inS)}`, 'check the Flatten/Reshape before it');
      for (let o = 0; o < O; o++) {
        for (let i = 0; i < I; i++) rb.push(i, n.weight.data[o * I + i]);
        rb.endRow();
      }
      return rb.build(inS, out, n.bias ? Float64Array.from(n.bias.data) : null);
    }
    case 'BatchNormalization': {
      const [C] = inS;
      const plane = sizeOf(inS) / C;
      const bias = new Float64Array(sizeOf(inS));
      for (let c = 0; c < C; c++) {
        const s = n.scale[c] / Math.sqrt(n.variance[c] + n.epsilon);
        const b = n.bias[c] - n.mean[c] * s;
        for (let k = 0; k < plane; k++) {
          rb.push(c * plane + k, s);
          rb.endRow();
          bias[c * plane + k] = b;
        }
      }
      return rb.build(inS, out, bias);
    }
    case 'MulConstant': {
      const c = broadcastConstant(n.constant, n.outShape);
      for (let e = 0; e < c.length; e++) {
        rb.push(e, c[e]);
        rb.endRow();
      }
      return rb.build(inS, out, null);
    }
    default:
      throw new PackedLayoutError(`internal: '${n.name}' (${n.op}) is not a linear layer`, 'report this as a bug');
  }
}

/** Number of output elements of a map. */
export function rowsOf(m: LinearMap): number {
  return m.rowStart.length - 1;
}

/**
 * a ∘ b (apply b, then a): rows of a expanded through b's rows; biases a·b_b + b_a.
 * Products of many dense rows grow quadratically: callers compose only local maps (pools) into
 * their consumer.
 */
export function composeMaps(a: LinearMap, b: LinearMap): LinearMap {
  const rb = new RowBuilder();
  const rows = rowsOf(a);
  const acc = new Map<number, number>();
  let bias: Float64Array | null = a.bias ? Float64Array.from(a.bias) : null;
  for (let o = 0; o < rows; o++) {
    acc.clear();
    let bo = 0;
    for (let k = a.rowStart[o]; k < a.rowStart[o + 1]; k++) {
      const j = a.cols[k];
      const w = a.vals[k];
      for (let m = b.rowStart[j]; m < b.rowStart[j + 1]; m++) acc.set(b.cols[m], (acc.get(b.cols[m]) ?? 0) + w * b.vals[m]);
      if (b.bias) bo += w * b.bias[j];
    }
    for (const [c, w] of [...acc.entries()].sort((x, y) => x[0] - y[0])) rb.push(c, w);
    rb.endRow();
    if (bo !== 0) {
      bias ??= new Float64Array(rows);
      bias[o] += bo;
    }
  }
  return rb.build(b.inShape, a.outShape, bias);
}

/** y = M·x + b on one sample (float64; the reference for tests). */
export function applyMap(m: LinearMap, x: ArrayLike<number>): Float64Array {
  const rows = rowsOf(m);
  const y = new Float64Array(rows);
  for (let o = 0; o < rows; o++) {
    let s = m.bias ? m.bias[o] : 0;
    for (let k = m.rowStart[o]; k < m.rowStart[o + 1]; k++) s += m.vals[k] * x[m.cols[k]];
    y[o] = s;
  }
  return y;
}
