/**
 * A float64 evaluator for the test-built ONNX graphs of `onnx-builder.ts`, written from the ONNX
 * operator definitions with full NumPy broadcasting (batch dimension included) and no code from
 * the library: the independent reference the importer's output is checked against.
 * Ops: Conv (group 1, pads, strides), BatchNormalization, Add, Sub, Mul, Div, Pow, Neg, Relu,
 * Flatten, Gemm (transB), GlobalAveragePool, Identity.
 */
import type { A, N, T } from './onnx-builder.js';

interface V {
  shape: number[];
  data: Float64Array;
}

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

function binary(a: V, b: V, f: (x: number, y: number) => number): V {
  const r = Math.max(a.shape.length, b.shape.length);
  const as = [...new Array<number>(r - a.shape.length).fill(1), ...a.shape];
  const bs = [...new Array<number>(r - b.shape.length).fill(1), ...b.shape];
  const shape = as.map((d, i) => Math.max(d, bs[i]!));
  const data = new Float64Array(size(shape));
  const idx = new Array<number>(r).fill(0);
  for (let k = 0; k < data.length; k++) {
    let ia = 0;
    let ib = 0;
    for (let d = 0; d < r; d++) {
      ia = ia * as[d]! + (as[d] === 1 ? 0 : idx[d]!);
      ib = ib * bs[d]! + (bs[d] === 1 ? 0 : idx[d]!);
    }
    data[k] = f(a.data[ia]!, b.data[ib]!);
    for (let d = r - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
  return { shape, data };
}

function attr(n: N, name: string): A | undefined {
  return n.attrs?.[name];
}
const ints = (n: N, name: string, d: number[]): number[] => {
  const a = attr(n, name);
  return a && 'ints' in a ? a.ints : d;
};
const int = (n: N, name: string, d: number): number => {
  const a = attr(n, name);
  return a && 'i' in a ? a.i : d;
};

/** Runs the graph on `input` (with its batch dimension) and returns the named output. */
export function evalOnnx(nodes: N[], inits: T[], inputName: string, input: V, output = 'y'): V {
  const vals = new Map<string, V>();
  for (const t of inits) vals.set(t.name!, { shape: t.dims, data: Float64Array.from(t.values, (v) => Math.fround(v)) });
  vals.set(inputName, input);
  for (const n of nodes) {
    const x = vals.get(n.inputs[0]!)!;
    const y = n.inputs.length > 1 ? vals.get(n.inputs[1]!) : undefined;
    let out: V;
    switch (n.op) {
      case 'Add': out = binary(x, y!, (a, b) => a + b); break;
      case 'Sub': out = binary(x, y!, (a, b) => a - b); break;
      case 'Mul': out = binary(x, y!, (a, b) => a * b); break;
      case 'Div': out = binary(x, y!, (a, b) => a / b); break;
      case 'Pow': out = binary(x, y!, (a, b) => a ** b); break;
      case 'Neg': out = { shape: x.shape, data: x.data.map((v) => -v) }; break;
      case 'Relu': out = { shape: x.shape, data: x.data.map((v) => Math.max(v, 0)) }; break;
      case 'Identity': out = x; break;
      case 'Flatten': out = { shape: [x.shape[0]!, size(x.shape.slice(1))], data: x.data }; break;
      case 'GlobalAveragePool': {
        const [N, C] = x.shape as [number, number];
        const plane = size(x.shape.slice(2));
        const data = new Float64Array(N * C);
        for (let i = 0; i < N * C; i++) {
          let s = 0;
          for (let j = 0; j < plane; j++) s += x.data[i * plane + j]!;
          data[i] = s / plane;
        }
        out = { shape: [N, C, 1, 1], data };
        break;
      }
      case 'BatchNormalization': {
        const [s, b, m, v] = n.inputs.slice(1).map((k) => vals.get(k)!.data);
        const eps = attr(n, 'epsilon');
        const e = eps && 'f' in eps ? Math.fround(eps.f) : 1e-5;
        const [N, C] = x.shape as [number, number];
        const plane = size(x.shape.slice(2));
        const data = new Float64Array(x.data.length);
        for (let i = 0; i < N; i++) for (let c = 0; c < C; c++) for (let j = 0; j < plane; j++) {
          const k = (i * C + c) * plane + j;
          data[k] = ((x.data[k]! - m![c]!) / Math.sqrt(v![c]! + e)) * s![c]! + b![c]!;
        }
        out = { shape: x.shape, data };
        break;
      }
      case 'Gemm': {
        const W = y!;
        const transB = int(n, 'transB', 0) === 1;
        const [N, I] = x.shape as [number, number];
        const O = transB ? W.shape[0]! : W.shape[1]!;
        const bias = n.inputs[2] ? vals.get(n.inputs[2])!.data : null;
        const data = new Float64Array(N * O);
        for (let i = 0; i < N; i++) for (let o = 0; o < O; o++) {
          let s = bias ? bias[bias.length === 1 ? 0 : o]! : 0;
          for (let k = 0; k < I; k++) s += x.data[i * I + k]! * (transB ? W.data[o * I + k]! : W.data[k * O + o]!);
          data[i * O + o] = s;
        }
        out = { shape: [N, O], data };
        break;
      }
      case 'Conv': {
        const W = y!;
        const [N, C, H, Wd] = x.shape as [number, number, number, number];
        const [O, , KH, KW] = W.shape as [number, number, number, number];
        const [pt, pl, pb, pr] = ints(n, 'pads', [0, 0, 0, 0]) as [number, number, number, number];
        const [sh, sw] = ints(n, 'strides', [1, 1]) as [number, number];
        const OH = Math.floor((H + pt + pb - KH) / sh) + 1;
        const OW = Math.floor((Wd + pl + pr - KW) / sw) + 1;
        const bias = n.inputs[2] ? vals.get(n.inputs[2])!.data : null;
        const data = new Float64Array(N * O * OH * OW);
        for (let i = 0; i < N; i++) for (let o = 0; o < O; o++) for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) {
          let s = bias ? bias[o]! : 0;
          for (let c = 0; c < C; c++) for (let ky = 0; ky < KH; ky++) for (let kx = 0; kx < KW; kx++) {
            const iy = oy * sh - pt + ky;
            const ix = ox * sw - pl + kx;
            if (iy < 0 || iy >= H || ix < 0 || ix >= Wd) continue;
            s += x.data[((i * C + c) * H + iy) * Wd + ix]! * W.data[((o * C + c) * KH + ky) * KW + kx]!;
          }
          data[((i * O + o) * OH + oy) * OW + ox] = s;
        }
        out = { shape: [N, O, OH, OW], data };
        break;
      }
      default:
        throw new Error(`evalOnnx: op ${n.op} not implemented`);
    }
    vals.set(n.outputs[0]!, out);
  }
  return vals.get(output)!;
}
