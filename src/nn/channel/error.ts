/**
 * @module nn/channel/error
 * Predicted error of an encrypted channel-layout run (`channel.ts`) against the float64 reference:
 * the noise model of `packed/error.ts` (per-operation variances from Costache et al. eprint
 * 2022/162 and Kim–Papadimitriou–Polyakov eprint 2020/1118; average-case, central limit) applied to
 * the channel layout's operations. What differs from the packed layout:
 *  - a convolution is Σ_{c,k} w·rot(x_c, δ_k) with scalar weights, every (c, k) term included:
 *    taps that fall in the padding read the channel's unused slots, which hold noise (and, after
 *    an unmasked layer, partial sums). Each ciphertext carries a variance for its unused slots
 *    (`bg`): fresh noise at the input, the channel's largest element variance after a convolution,
 *    a pool or an unmasked activation, the evaluation's own rounding after a masked activation
 *    (its coefficients vanish there).
 *  - rotate-and-sum (global pooling, spatial dense layers) sums every slot of [0, end): the unused
 *    slots' noise and, for a dense layer, the rescale rounding of all `end` slots add up:
 *    σ² = Σ_pixels w²·σ²_in + (end − pixels)·bg (pooling) or end·ρ (dense) + (2^m − 1)·κ.
 *  - per-channel affine maps and dense layers on vectors are scalar products and one rescale.
 * The rounding of scalar weights (1/(2t) each) and of the dense layers' weight plaintexts are
 * included like the packed layout's encodings.
 */
import type { Parameters } from '../../ckks/params.js';
import type { IrGraph, IrNode } from '../graph.js';
import { type ChannelPlan, ChannelLayoutError, planChannel } from './runner.js';
import { applyMap, linearMapOf } from '../packed/linear.js';
import {
  type CkksNoise, type ErrorValue, type PackedErrorOptions, type PackedErrorPrediction, checkSamples, ckksNoise, magOf, maxOf, polyError,
} from '../packed/error.js';

/** A value in the channel layout: per-element state plus the variance of each ciphertext's unused slots. */
interface ChannelValue extends ErrorValue {
  /** Per ciphertext (channel, or element of a vector): error variance of the slots outside the map. */
  bg: Float64Array;
  /** Spatial layout's slot span end (pixels sit below it), or 0 for vectors. */
  end: number;
  /** Per-sample shape. */
  shape: number[];
}

/**
 * Predicts, per output element, the standard deviation of (encrypted − float64 reference) of a
 * channel-layout run of `graph` at `params`, and a bound of `sigmas` standard deviations.
 * @throws ChannelLayoutError when the graph has no channel plan.
 */
export function predictChannelError(graph: IrGraph, params: Parameters, opts: PackedErrorOptions = {}, plan: ChannelPlan = planChannel(graph, params.slots)): PackedErrorPrediction {
  const noise = opts.noise ?? ckksNoise(params);
  const L = params.levels;
  const t = params.scales;
  const sigmas = opts.sigmas ?? 6;
  const samples = opts.samples && opts.samples.length > 0 ? opts.samples : null;
  const levelOf = (value: string) => L - (plan.levels.depthAt.get(value) ?? 0);
  const [C, H, W] = graph.input.shape;
  const size = C * H * W;
  checkSamples(samples, graph.input.shape);
  const xs0 = samples ? samples.map((s) => Float64Array.from({ length: size }, (_, i) => s[i])) : null;
  const endOf = (v: string) => {
    const l = plan.layouts.get(v);
    return l ? l.off + (l.H - 1) * l.rs + (l.W - 1) * l.cs + 1 : 0;
  };
  const input: ChannelValue = {
    v: new Float64Array(size).fill(noise.fresh), mag: xs0 ? magOf(xs0) : new Float64Array(size).fill(1), xs: xs0,
    bg: new Float64Array(C).fill(noise.fresh), end: endOf(graph.input.name), shape: [C, H, W],
  };
  const values = new Map<string, ChannelValue>([[graph.input.name, input]]);
  const perNode = new Map<string, number>();
  for (const n of graph.nodes) {
    const x = values.get(n.inputs[0]);
    if (!x) throw new ChannelLayoutError(`internal: no value for '${n.inputs[0]}'`, 'report this as a bug');
    const lin = levelOf(n.inputs[0]);
    let out: ChannelValue;
    switch (n.op) {
      case 'Conv':
      case 'AveragePool':
        out = convError(n, x, lin, noise, t, endOf(n.output));
        break;
      case 'GlobalAveragePool':
      case 'Dense':
        out = sumError(n, x, lin, noise, t, params.slots);
        break;
      case 'BatchNormalization':
      case 'MulConstant': {
        const y = linear(n, x);
        const map = linearMapOf(n, x.shape);
        const v = new Float64Array(y.v.length);
        for (let o = 0; o < v.length; o++) {
          const w = map.vals[map.rowStart[o]] ?? 0;
          v[o] = w * w * x.v[o] + noise.rescale[lin - 1] + (noise.encode * x.mag[o] ** 2) / t[lin] ** 2;
        }
        const bg = x.bg.map((b, c) => {
          const plane = v.length / x.bg.length;
          const w = map.vals[map.rowStart[c * plane]] ?? 0;
          return w * w * b + noise.rescale[lin - 1];
        });
        out = { ...y, v, bg, end: x.end };
        break;
      }
      case 'AddConstant': {
        const c = linear(n, x);
        out = { ...c, v: x.v, bg: x.bg, end: x.end };
        break;
      }
      case 'Flatten':
      case 'Reshape':
        out = { ...x, shape: [...n.outShape] };
        break;
      case 'Poly': {
        const y = polyError(n, x, lin, levelOf(n.output), noise);
        const masked = plan.levels.masked.has(n.name);
        const own = polyError(n, { v: new Float64Array(1), mag: new Float64Array(1), xs: null }, lin, levelOf(n.output), noise).v[0];
        const plane = y.v.length / x.bg.length;
        const bg = x.bg.map((_, c) => (masked ? own : maxOf(y.v.subarray(c * plane, (c + 1) * plane))));
        out = { ...y, bg, end: x.end, shape: [...n.outShape] };
        break;
      }
      case 'Add': {
        const y = values.get(n.inputs[1])!;
        const xs = x.xs && y.xs ? x.xs.map((a, s) => a.map((u, i) => u + y.xs![s][i])) : null;
        out = {
          v: x.v.map((u, i) => u + y.v[i]), mag: xs ? magOf(xs) : x.mag.map((m, i) => m + y.mag[i]), xs,
          bg: x.bg.map((b, i) => b + y.bg[i]), end: x.end, shape: [...n.outShape],
        };
        break;
      }
      default:
        throw new ChannelLayoutError(`node '${n.name}' (${n.op}) is not supported in the channel layout`, 'compile the graph first');
    }
    values.set(n.output, out);
    perNode.set(n.name, Math.sqrt(maxOf(out.v)));
  }
  const res = values.get(graph.output.name)!;
  const perOutput = res.v.map(Math.sqrt);
  const bound = perOutput.map((s) => sigmas * s);
  return { perOutput, bound, sigmas, maxSigma: maxOf(perOutput), maxBound: maxOf(bound), perNode, noise };
}

/** The float64 values (per sample) and magnitudes of a linear node's output, variances left to the caller. */
function linear(n: IrNode, x: ChannelValue): ChannelValue {
  const inShape = x.shape;
  if (n.op === 'AddConstant') {
    const c = n.constant.data;
    const at = (i: number) => c[c.length === 1 ? 0 : Math.floor(i / (x.v.length / c.length))];
    const xs = x.xs ? x.xs.map((a) => a.map((u, i) => u + at(i))) : null;
    return { ...x, xs, mag: xs ? magOf(xs) : x.mag.map((m, i) => m + Math.abs(at(i))), shape: [...n.outShape] };
  }
  const map = linearMapOf(n, inShape);
  const xs = x.xs ? x.xs.map((a) => applyMap(map, a)) : null;
  const rows = map.rowStart.length - 1;
  const mag = new Float64Array(rows);
  for (let o = 0; o < rows; o++) {
    for (let k = map.rowStart[o]; k < map.rowStart[o + 1]; k++) mag[o] += Math.abs(map.vals[k]) * x.mag[map.cols[k]];
    if (map.bias) mag[o] += Math.abs(map.bias[o]);
  }
  return { ...x, xs, mag: xs ? magOf(xs) : mag, shape: [...n.outShape] };
}

/** A convolution or sum pool: every (channel, kernel offset) term, padding taps reading the unused slots. */
function convError(n: Extract<IrNode, { op: 'Conv' | 'AveragePool' }>, x: ChannelValue, level: number, noise: CkksNoise, t: Float64Array, end: number): ChannelValue {
  const [Ci, H, W] = x.shape;
  const [Co, Ho, Wo] = n.outShape;
  const [kh, kw] = n.op === 'Conv' ? [n.weight.shape[2], n.weight.shape[3]] : n.kernel;
  const [sh, sw] = n.strides;
  const [pt, pl] = n.pads;
  const ks = noise.keySwitch[level];
  const conv = n.op === 'Conv';
  // a convolution rescales (one rounding) and rounds each scalar weight at the level's scale
  const base = conv ? noise.rescale[level - 1] : 0;
  const wRound = conv ? noise.encode / (t[level] * t[level]) : 0;
  const v = new Float64Array(Co * Ho * Wo);
  for (let o = 0; o < Co; o++) {
    for (let y = 0; y < Ho; y++) {
      for (let xx = 0; xx < Wo; xx++) {
        let s = base;
        for (let c = 0; c < Ci; c++) {
          if (!conv && c !== o) continue;
          for (let ky = 0; ky < kh; ky++) {
            for (let kx = 0; kx < kw; kx++) {
              const w = conv ? n.weight.data[((o * Ci + c) * kh + ky) * kw + kx] : 1;
              if (w === 0) continue;
              const iy = y * sh + ky - pt;
              const ix = xx * sw + kx - pl;
              const inside = iy >= 0 && iy < H && ix >= 0 && ix < W;
              const e = (c * H + iy) * W + ix;
              const vin = inside ? x.v[e] : x.bg[c];
              s += w * w * (vin + (ky !== pt || kx !== pl ? ks : 0)) + (inside ? wRound * x.mag[e] ** 2 : 0);
            }
          }
        }
        v[(o * Ho + y) * Wo + xx] = s;
      }
    }
  }
  const y = linear(n, x);
  const plane = Ho * Wo;
  const bg = Float64Array.from({ length: Co }, (_, o) => maxOf(v.subarray(o * plane, (o + 1) * plane)));
  return { ...y, v, bg, end };
}

/** Global pooling or a dense layer: rotate-and-sum of spatial inputs, scalar products of vectors. */
function sumError(n: Extract<IrNode, { op: 'GlobalAveragePool' | 'Dense' }>, x: ChannelValue, level: number, noise: CkksNoise, t: Float64Array, slots: number): ChannelValue {
  const y = linear(n, x);
  const map = linearMapOf(n, x.shape);
  // a spatial dense layer's weights are one full-slot plaintext per channel, a vector's are scalars
  const enc = (noise.encode * (x.end > 0 ? slots : 1)) / t[level] ** 2;
  const rows = map.rowStart.length - 1;
  const spatial = x.end > 0;
  let m = 0;
  for (let s = 1; s < x.end; s <<= 1) m++;
  const planes = x.bg.length;
  const plane = x.v.length / planes;
  const v = new Float64Array(rows);
  for (let o = 0; o < rows; o++) {
    let s = 0;
    for (let k = map.rowStart[o]; k < map.rowStart[o + 1]; k++) {
      const c = map.cols[k];
      s += map.vals[k] ** 2 * x.v[c] + (n.op === 'Dense' ? enc * x.mag[c] ** 2 : 0);
    }
    if (n.op === 'GlobalAveragePool') {
      // one channel's pixels plus its unused slots below `end`, and the rotations
      s += (x.end - plane) * x.bg[o] + (2 ** m - 1) * noise.keySwitch[level];
    } else {
      s += spatial ? x.end * noise.rescale[level - 1] + (2 ** m - 1) * noise.keySwitch[level - 1] : noise.rescale[level - 1];
    }
    v[o] = s;
  }
  return { ...y, v, bg: v.slice(), end: 0 };
}
