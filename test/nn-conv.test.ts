/**
 * The reference executor's convolution (im2col + blocked GEMM) against the textbook direct loop:
 * the same products added in the same order, so the outputs must be bit-identical.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { ConvNode } from '../src/nn/graph.js';
import { evalNode } from '../src/nn/reference.js';

/** Direct convolution: bias, then Σ over (c, ky, kx) ascending, skipping the padding. */
function naiveConv(w: Float64Array, bias: Float64Array | null, co: number, ci: number, kh: number, kw: number, s: [number, number],
  p: [number, number, number, number], x: Float64Array, n: number, h: number, wd: number, oh: number, ow: number): Float64Array {
  const out = new Float64Array(n * co * oh * ow);
  for (let b = 0; b < n; b++) {
    for (let o = 0; o < co; o++) {
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++) {
          let acc = bias ? bias[o]! : 0;
          for (let c = 0; c < ci; c++) {
            for (let ky = 0; ky < kh; ky++) {
              for (let kx = 0; kx < kw; kx++) {
                const iy = oy * s[0] - p[0] + ky;
                const ix = ox * s[1] - p[1] + kx;
                if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                acc += w[((o * ci + c) * kh + ky) * kw + kx]! * x[((b * ci + c) * h + iy) * wd + ix]!;
              }
            }
          }
          out[((b * co + o) * oh + oy) * ow + ox] = acc;
        }
      }
    }
  }
  return out;
}

describe('convolution kernel', () => {
  test('bit-identical to the direct loop over shapes, strides, padding, with and without bias', () => {
    fc.assert(
      fc.property(
        fc.record({
          n: fc.integer({ min: 1, max: 3 }), ci: fc.integer({ min: 1, max: 6 }), co: fc.integer({ min: 1, max: 9 }),
          kh: fc.integer({ min: 1, max: 4 }), kw: fc.integer({ min: 1, max: 4 }), sh: fc.integer({ min: 1, max: 3 }),
          sw: fc.integer({ min: 1, max: 3 }), pt: fc.integer({ min: 0, max: 2 }), pl: fc.integer({ min: 0, max: 2 }),
          pb: fc.integer({ min: 0, max: 2 }), pr: fc.integer({ min: 0, max: 2 }), h: fc.integer({ min: 1, max: 9 }),
          wd: fc.integer({ min: 1, max: 9 }), hasBias: fc.boolean(), seed: fc.integer({ min: 1, max: 2 ** 30 }),
        }),
        (r) => {
          const oh = Math.floor((r.h + r.pt + r.pb - r.kh) / r.sh) + 1;
          const ow = Math.floor((r.wd + r.pl + r.pr - r.kw) / r.sw) + 1;
          if (oh < 1 || ow < 1) return;
          let s = r.seed;
          const rnd = () => ((s = (s * 48271) % 2147483647) / 2147483647) * 2 - 1;
          const w = Float64Array.from({ length: r.co * r.ci * r.kh * r.kw }, rnd);
          const bias = r.hasBias ? Float64Array.from({ length: r.co }, rnd) : null;
          const x = Float64Array.from({ length: r.n * r.ci * r.h * r.wd }, rnd);
          const node: ConvNode = {
            op: 'Conv', name: 'c', inputs: ['x'], output: 'y', outShape: [r.co, oh, ow], sources: [],
            weight: { shape: [r.co, r.ci, r.kh, r.kw], data: w }, bias: bias ? { shape: [r.co], data: bias } : null,
            kernel: [r.kh, r.kw], strides: [r.sh, r.sw], pads: [r.pt, r.pl, r.pb, r.pr],
          };
          const got = evalNode(node, [{ shape: [r.n, r.ci, r.h, r.wd], data: x }], r.n).data;
          const want = naiveConv(w, bias, r.co, r.ci, r.kh, r.kw, [r.sh, r.sw], [r.pt, r.pl, r.pb, r.pr], x, r.n, r.h, r.wd, oh, ow);
          expect(got.length).toBe(want.length);
          for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) expect(got[i]).toBe(want[i]);
        },
      ),
      { numRuns: 300 },
    );
  });
});
