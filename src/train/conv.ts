/**
 * @module train/conv
 * 2-D convolution (groups 1, dilation 1, zero padding, strides) and dense layers: forward and
 * backward as im2col + GEMM over the whole batch (columns = batch × output positions, so late,
 * small feature maps still give long inner loops). The im2col matrix of the forward pass is kept
 * for the weight gradient; the input gradient is col2im of Wᵀ·dY.
 *   forward:  col[K, B·P] = im2col(x), Y[Cout, B·P] = W[Cout, K]·col (+ bias)
 *   backward: dW += dY·colᵀ, db += Σ dY, dcol = Wᵀ·dY, dx = col2im(dcol)
 * with K = Cin·kh·kw and P = OH·OW.
 */
import { type Arr, gemmNN, gemmNT, gemmTN } from './gemm.js';

/** Geometry of a convolution on per-sample shapes. */
export interface ConvGeometry {
  cin: number;
  h: number;
  w: number;
  cout: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  /** [top, left, bottom, right]. */
  pads: readonly [number, number, number, number];
  oh: number;
  ow: number;
}

/** Grows a scratch buffer of the same type as `like` to at least n entries. */
export function ensure<T extends Arr>(buf: T | null, n: number, like: Arr): T {
  if (buf && buf.length >= n) return buf;
  return new (like.constructor as { new (n: number): T })(n);
}

/** col[k][b·P + p] = x[b][c][oy·sh − pt + ky][ox·sw − pl + kx] (0 outside), k = (c·kh + ky)·kw + kx. */
export function im2col(g: ConvGeometry, x: Arr, n: number, col: Arr): void {
  const { cin, h, w, kh, kw, sh, sw, oh, ow } = g;
  const [pt, pl] = g.pads;
  const P = oh * ow;
  const BP = n * P;
  for (let c = 0; c < cin; c++) {
    for (let ky = 0; ky < kh; ky++) {
      for (let kx = 0; kx < kw; kx++) {
        const row = ((c * kh + ky) * kw + kx) * BP;
        for (let b = 0; b < n; b++) {
          const xb = (b * cin + c) * h * w;
          const cb = row + b * P;
          for (let oy = 0; oy < oh; oy++) {
            const iy = oy * sh - pt + ky;
            const co = cb + oy * ow;
            if (iy < 0 || iy >= h) {
              for (let ox = 0; ox < ow; ox++) col[co + ox] = 0;
              continue;
            }
            const xr = xb + iy * w;
            for (let ox = 0; ox < ow; ox++) {
              const ix = ox * sw - pl + kx;
              col[co + ox] = ix >= 0 && ix < w ? x[xr + ix] : 0;
            }
          }
        }
      }
    }
  }
}

/** dx += col2im(dcol) (the adjoint of {@link im2col}). */
export function col2im(g: ConvGeometry, dcol: Arr, n: number, dx: Arr): void {
  const { cin, h, w, kh, kw, sh, sw, oh, ow } = g;
  const [pt, pl] = g.pads;
  const P = oh * ow;
  const BP = n * P;
  for (let c = 0; c < cin; c++) {
    for (let ky = 0; ky < kh; ky++) {
      for (let kx = 0; kx < kw; kx++) {
        const row = ((c * kh + ky) * kw + kx) * BP;
        for (let b = 0; b < n; b++) {
          const xb = (b * cin + c) * h * w;
          const cb = row + b * P;
          for (let oy = 0; oy < oh; oy++) {
            const iy = oy * sh - pt + ky;
            if (iy < 0 || iy >= h) continue;
            const co = cb + oy * ow;
            const xr = xb + iy * w;
            for (let ox = 0; ox < ow; ox++) {
              const ix = ox * sw - pl + kx;
              if (ix >= 0 && ix < w) dx[xr + ix] += dcol[co + ox];
            }
          }
        }
      }
    }
  }
}

/** Convolution state: scratch buffers reused across steps. */
export class ConvKernel {
  private col: Arr | null = null;
  private y2: Arr | null = null;
  private g2: Arr | null = null;
  private dcol: Arr | null = null;
  private n = 0;

  constructor(readonly g: ConvGeometry) {}

  /** y[n, cout, oh, ow] = conv(x) + bias. */
  forward(x: Arr, n: number, weight: Arr, bias: Arr | null, y: Arr): void {
    const g = this.g;
    const K = g.cin * g.kh * g.kw;
    const P = g.oh * g.ow;
    const BP = n * P;
    this.col = ensure(this.col, K * BP, x);
    this.y2 = ensure(this.y2, g.cout * BP, x);
    this.n = n;
    const col = this.col;
    const y2 = this.y2;
    im2col(g, x, n, col);
    y2.fill(0, 0, g.cout * BP);
    gemmNN(g.cout, BP, K, weight, 0, col, 0, y2, 0);
    // [Cout, B·P] → [B, Cout, P] with the bias
    for (let o = 0; o < g.cout; o++) {
      const bv = bias ? bias[o] : 0;
      for (let b = 0; b < n; b++) {
        const src = o * BP + b * P;
        const dst = (b * g.cout + o) * P;
        for (let p = 0; p < P; p++) y[dst + p] = y2[src + p] + bv;
      }
    }
  }

  /** Accumulates dW, db and (when dx is given) dx from dy of the last forward pass. */
  backward(dy: Arr, weight: Arr, dW: Arr, dB: Arr | null, dx: Arr | null): void {
    const g = this.g;
    const n = this.n;
    const K = g.cin * g.kh * g.kw;
    const P = g.oh * g.ow;
    const BP = n * P;
    this.g2 = ensure(this.g2, g.cout * BP, dy);
    const g2 = this.g2;
    for (let o = 0; o < g.cout; o++) {
      let s = 0;
      for (let b = 0; b < n; b++) {
        const src = (b * g.cout + o) * P;
        const dst = o * BP + b * P;
        for (let p = 0; p < P; p++) {
          const v = dy[src + p];
          g2[dst + p] = v;
          s += v;
        }
      }
      if (dB) dB[o] += s;
    }
    gemmNT(g.cout, K, BP, g2, 0, this.col!, 0, dW, 0);
    if (!dx) return;
    this.dcol = ensure(this.dcol, K * BP, dy);
    const dcol = this.dcol;
    dcol.fill(0, 0, K * BP);
    gemmTN(K, BP, g.cout, weight, 0, g2, 0, dcol, 0);
    col2im(g, dcol, n, dx);
  }
}

/** y[n, out] = x[n, in]·Wᵀ + b. */
export function denseForward(x: Arr, n: number, inF: number, outF: number, weight: Arr, bias: Arr | null, y: Arr): void {
  for (let b = 0; b < n; b++) {
    const yo = b * outF;
    if (bias) for (let o = 0; o < outF; o++) y[yo + o] = bias[o];
    else y.fill(0, yo, yo + outF);
  }
  gemmNT(n, outF, inF, x, 0, weight, 0, y, 0);
}

/** dW += dyᵀ·x, db += Σ dy, dx += dy·W. */
export function denseBackward(x: Arr, dy: Arr, n: number, inF: number, outF: number, weight: Arr, dW: Arr, dB: Arr | null, dx: Arr | null): void {
  gemmTN(outF, inF, n, dy, 0, x, 0, dW, 0);
  if (dB) for (let b = 0; b < n; b++) for (let o = 0; o < outF; o++) dB[o] += dy[b * outF + o];
  if (dx) gemmNN(n, inF, outF, dy, 0, weight, 0, dx, 0);
}
