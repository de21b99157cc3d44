/**
 * @module nn/polynomial
 * Polynomials in one tensor value x whose coefficients are broadcast tensors:
 * y = Σ_k c_k ⊙ x^k, with each c_k of the value's rank and every dimension 1 or equal to the
 * value's (NumPy broadcasting, batch excluded): scalar `[1,1,1]` (per layer), `[C,1,1]` (per
 * channel) or `[C,H,W]` (per element: BEAA's a_j·x² + b_j·x + c_j, digest §4.1).
 *
 * The ONNX importer evaluates Mul/Add/Sub/Div/Pow subgraphs over one dynamic input symbolically
 * with this algebra (so a Horner chain, or whatever an exporter emits for a·x·x + b·x + c, becomes
 * one polynomial node), and the compiler uses it to compose per-channel input maps into the
 * coefficients and to divide out a leading coefficient it moved into the next layer (PAPER weight
 * redistribution, digest §2.4). Every operation is exact up to float64 rounding.
 */
import { powerToCheb } from '../approx/fit/chebyshev.js';
import { GraphError, type Tensor, sizeOf } from './graph.js';

/** Coefficient tensors c_0 … c_d of Σ c_k ⊙ x^k (all of one rank; c_d may be zero). */
export type TensorPoly = Tensor[];

/** Row-major strides of a shape with zero stride on broadcast (size-1) dimensions of `of`. */
function broadcastStrides(of: readonly number[]): number[] {
  const s = new Array<number>(of.length);
  let acc = 1;
  for (let d = of.length - 1; d >= 0; d--) {
    s[d] = of[d] === 1 ? 0 : acc;
    acc *= of[d]!;
  }
  return s;
}

/** The broadcast of two shapes of equal rank (each dimension 1 or equal). */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] {
  if (a.length !== b.length) throw new GraphError(`polynomial coefficient ranks differ: [${a}] and [${b}]`, undefined, 'give every coefficient tensor the rank of the value it multiplies (per layer, per channel [C,1,1] or per element [C,H,W])');
  return a.map((d, i) => {
    const e = b[i]!;
    if (d !== e && d !== 1 && e !== 1) throw new GraphError(`polynomial coefficient shapes [${a}] and [${b}] do not broadcast`, undefined, 'give coefficient tensors whose dimensions are 1 or equal to the value\'s');
    return d === 1 ? e : d;
  });
}

/** Expands `t` to `shape` (which it must broadcast to). Returns `t.data` itself when no expansion is needed. */
export function expandTo(t: Tensor, shape: readonly number[]): Float64Array {
  const size = sizeOf(shape);
  if (t.data.length === size) return t.data;
  const st = broadcastStrides(t.shape);
  const out = new Float64Array(size);
  const r = shape.length;
  const idx = new Array<number>(r).fill(0);
  for (let k = 0; k < size; k++) {
    let src = 0;
    for (let d = 0; d < r; d++) src += idx[d]! * st[d]!;
    out[k] = t.data[src]!;
    for (let d = r - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

/** Element-wise f(a, b) with broadcasting. */
export function broadcastBinary(a: Tensor, b: Tensor, f: (x: number, y: number) => number): Tensor {
  const shape = broadcastShapes(a.shape, b.shape);
  const x = expandTo(a, shape);
  const y = expandTo(b, shape);
  const data = new Float64Array(x.length);
  for (let i = 0; i < data.length; i++) data[i] = f(x[i]!, y[i]!);
  return { shape, data };
}

/** A constant tensor of `rank` holding v everywhere (shape all ones). */
export function scalarTensor(v: number, rank: number): Tensor {
  return { shape: new Array<number>(rank).fill(1), data: Float64Array.of(v) };
}

const isZero = (t: Tensor): boolean => t.data.every((v) => v === 0);

/** Drops trailing all-zero coefficients (keeps at least c_0). */
export function trimPoly(p: TensorPoly): TensorPoly {
  let n = p.length;
  while (n > 1 && isZero(p[n - 1]!)) n--;
  return p.slice(0, n);
}

/** Degree after trimming (0 for a constant). */
export function polyDegree(p: TensorPoly): number {
  return trimPoly(p).length - 1;
}

/** p + q. */
export function polyAdd(p: TensorPoly, q: TensorPoly, sign = 1): TensorPoly {
  const n = Math.max(p.length, q.length);
  const rank = (p[0] ?? q[0])!.shape.length;
  const out: TensorPoly = [];
  for (let k = 0; k < n; k++) {
    const a = p[k] ?? scalarTensor(0, rank);
    const b = q[k] ?? scalarTensor(0, rank);
    out.push(broadcastBinary(a, b, (x, y) => x + sign * y));
  }
  return trimPoly(out);
}

/** p ⊙ k for a coefficient tensor k. */
export function polyScale(p: TensorPoly, k: Tensor): TensorPoly {
  return trimPoly(p.map((c) => broadcastBinary(c, k, (x, y) => x * y)));
}

/** p·q (Cauchy product with broadcast coefficient products). */
export function polyMul(p: TensorPoly, q: TensorPoly): TensorPoly {
  const rank = p[0]!.shape.length;
  const out: TensorPoly = [];
  for (let k = 0; k < p.length + q.length - 1; k++) out.push(scalarTensor(0, rank));
  for (let i = 0; i < p.length; i++) {
    if (isZero(p[i]!)) continue;
    for (let j = 0; j < q.length; j++) {
      if (isZero(q[j]!)) continue;
      const prod = broadcastBinary(p[i]!, q[j]!, (x, y) => x * y);
      out[i + j] = broadcastBinary(out[i + j]!, prod, (x, y) => x + y);
    }
  }
  return trimPoly(out);
}

/** p^e for an integer e ≥ 0 (by squaring). */
export function polyPow(p: TensorPoly, e: number): TensorPoly {
  const rank = p[0]!.shape.length;
  let result: TensorPoly = [scalarTensor(1, rank)];
  let base = p;
  for (let k = e; k > 0; k >>= 1) {
    if (k & 1) result = polyMul(result, base);
    if (k > 1) base = polyMul(base, base);
  }
  return result;
}

/** The identity x (coefficients [0, 1]) at a rank. */
export function identityPoly(rank: number): TensorPoly {
  return [scalarTensor(0, rank), scalarTensor(1, rank)];
}

/** True when every coefficient is one number (a per-layer polynomial). */
export function isScalarPoly(p: TensorPoly): boolean {
  return p.every((c) => c.data.length === 1);
}

/** The common broadcast shape of all coefficients. */
export function polyShape(p: TensorPoly): number[] {
  let s = p[0]!.shape;
  for (const c of p) s = broadcastShapes(s, c.shape);
  return [...s];
}

/**
 * Packs coefficients into one tensor `[d+1, ...shape]` (shape = their common broadcast shape), the
 * form `PolyNode.coeffTensor` stores.
 */
export function packCoefficients(p: TensorPoly): Tensor {
  const shape = polyShape(p);
  const per = sizeOf(shape);
  const data = new Float64Array(p.length * per);
  p.forEach((c, k) => data.set(expandTo(c, shape), k * per));
  return { shape: [p.length, ...shape], data };
}

/** Inverse of {@link packCoefficients}. */
export function unpackCoefficients(t: Tensor): TensorPoly {
  const shape = t.shape.slice(1);
  const per = sizeOf(shape);
  const out: TensorPoly = [];
  for (let k = 0; k < t.shape[0]!; k++) out.push({ shape: [...shape], data: t.data.slice(k * per, (k + 1) * per) });
  return out;
}

/**
 * Coefficient vectors per element of a value of `valueShape`: `out[k][e]` is coefficient k at
 * element e (row-major). For a packed tensor `[d+1, ...b]`.
 */
export function coefficientsPerElement(t: Tensor, valueShape: readonly number[]): Float64Array[] {
  const p = unpackCoefficients(t);
  return p.map((c) => Float64Array.from(expandTo(c, valueShape)));
}

/**
 * Composes an input map per channel (dimension 0): q(x) = p(s_c·x + u_c). Returns the new
 * coefficients (their shape gains the channel dimension when s or u vary).
 */
export function composeChannelMap(p: TensorPoly, scale: ArrayLike<number>, shift: ArrayLike<number>): TensorPoly {
  const rank = p[0]!.shape.length;
  const C = scale.length;
  const chShape = [C, ...new Array<number>(rank - 1).fill(1)];
  const s: Tensor = { shape: chShape, data: Float64Array.from(scale) };
  const u: Tensor = { shape: chShape, data: Float64Array.from(shift) };
  // Horner on polynomials: r ← r·(s·x + u) + c_k
  const lin: TensorPoly = [u, s];
  let r: TensorPoly = [p[p.length - 1]!];
  for (let k = p.length - 2; k >= 0; k--) r = polyAdd(polyMul(r, lin), [p[k]!]);
  return r;
}

/**
 * Power coefficients → Chebyshev coefficients on `interval` (default [−1, 1]), element by element:
 * the same polynomial, Σ c'_j·T_j(t) with t = (2x − lo − hi)/(hi − lo).
 */
export function powerToChebyshevTensor(t: Tensor, interval: readonly [number, number] = [-1, 1]): Tensor {
  const n = t.shape[0]!;
  const per = t.data.length / n;
  const out = new Float64Array(t.data.length);
  const col = new Float64Array(n);
  for (let e = 0; e < per; e++) {
    for (let k = 0; k < n; k++) col[k] = t.data[k * per + e]!;
    const c = powerToCheb(col, interval);
    for (let k = 0; k < n; k++) out[k * per + e] = c[k]!;
  }
  return { shape: [...t.shape], data: out };
}

/**
 * The same values on the smallest broadcast shape: every dimension along which the tensor is
 * constant collapses to 1 (so a per-element tensor that happens to be per channel is seen as one).
 */
export function compactTensor(t: Tensor): Tensor {
  let cur = t;
  for (let d = 0; d < cur.shape.length; d++) {
    const n = cur.shape[d]!;
    if (n === 1) continue;
    const inner = sizeOf(cur.shape.slice(d + 1));
    const outer = sizeOf(cur.shape.slice(0, d));
    let same = true;
    for (let o = 0; o < outer && same; o++) {
      const base = o * n * inner;
      for (let j = 1; j < n && same; j++) for (let i = 0; i < inner; i++) if (cur.data[base + j * inner + i] !== cur.data[base + i]) { same = false; break; }
    }
    if (!same) continue;
    const data = new Float64Array(outer * inner);
    for (let o = 0; o < outer; o++) data.set(cur.data.subarray(o * n * inner, o * n * inner + inner), o * inner);
    const shape = [...cur.shape];
    shape[d] = 1;
    cur = { shape, data };
  }
  return cur;
}
