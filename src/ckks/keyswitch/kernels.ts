/**
 * @module ckks/keyswitch/kernels
 *
 * The per-coefficient loops of hybrid key switching (`switcher.ts`): the lazy inner products of the
 * extended digits with the switching key (one straight loop per digit count), and the ModDown
 * combinations x + (u_Q − Conv(u_P))·P^−1, plain or fused with a rescale. Residues are int32 below
 * p < 2^30; products use a float64 quotient corrected with `Math.imul`.
 */

/**
 * acc0[o + n] = Σ_j x_j·b_j, acc1 = Σ_j x_j·a_j mod p for n < N, slot offset o, digit stride
 * `step` (acc1 follows acc0 by the same stride); the key's slot sits at `ko` with digit stride
 * `kstep` (a capped key is narrower than the extended digits). x lazy in [0, 2p), keys in [0, p). Each product
 * is reduced lazily into [0, 2p) (float quotient, one correction) and the running sum is kept in
 * [0, 2p) as well (a sum of two is below 4p < 2^32: uint32 bit patterns), fully reduced once.
 * One straight loop per digit count up to 3: a loop over digits inside the coefficient loop was
 * measured 5× slower (V8 re-checked the arrays per iteration), and summing the products in float64
 * then reducing with Math.floor 3.5× slower (Math.floor is not inlined on this V8/CPU: ≈ 6 ns).
 */
/** @internal Exported for tests. */
export function innerProduct(
  ext: Int32Array, kb: Int32Array, ka: Int32Array, acc: Int32Array, o: number, step: number, dnum: number, N: number, p: number, pInv: number,
  ko = o, kstep = step,
): void {
  switch (dnum) {
    case 1: ip1(ext, kb, ka, acc, o, step, N, p, pInv, ko); return;
    case 2: ip2(ext, kb, ka, acc, o, step, N, p, pInv, ko, kstep); return;
    case 3: ip3(ext, kb, ka, acc, o, step, N, p, pInv, ko, kstep); return;
    default: ipN(ext, kb, ka, acc, o, step, dnum, N, p, pInv, ko, kstep);
  }
}

function ip1(x: Int32Array, kb: Int32Array, ka: Int32Array, acc: Int32Array, o: number, step: number, N: number, p: number, pInv: number, ko: number): void {
  const a1 = o + step;
  for (let n = 0; n < N; n++) {
    const q = o + n;
    const x0 = x[q];
    const u = kb[ko + n];
    const w = ka[ko + n];
    let r0 = (Math.imul(x0, u) - Math.imul((x0 * u * pInv) | 0, p)) | 0; // [−p, 2p)
    r0 = (r0 + ((r0 >> 31) & p)) | 0;
    r0 = (r0 - p) | 0;
    r0 = (r0 + ((r0 >> 31) & p)) | 0;
    let r1 = (Math.imul(x0, w) - Math.imul((x0 * w * pInv) | 0, p)) | 0;
    r1 = (r1 + ((r1 >> 31) & p)) | 0;
    r1 = (r1 - p) | 0;
    r1 = (r1 + ((r1 >> 31) & p)) | 0;
    acc[q] = r0;
    acc[a1 + n] = r1;
  }
}

function ip2(x: Int32Array, kb: Int32Array, ka: Int32Array, acc: Int32Array, o: number, step: number, N: number, p: number, pInv: number, ko: number, kstep: number): void {
  const a1 = o + step;
  const p2 = (p << 1) | 0;
  // two coefficients per iteration, each in its own block (one set of temporaries live at a
  // time): 6–8% faster than one per iteration at N = 2^13 (measured); N is even
  for (let n = 0; n < N; n += 2) {
    {
      const q0 = o + n;
      const q1 = q0 + step;
      const k0 = ko + n;
      const k1 = k0 + kstep;
      const x0 = x[q0];
      const x1 = x[q1];
      const u0 = kb[k0];
      const u1 = kb[k1];
      const w0 = ka[k0];
      const w1 = ka[k1];
      const z0 = x0 * pInv; // shared by both products of x0 (quotients stay within ±1)
      const z1 = x1 * pInv;
      let r = (Math.imul(x0, u0) - Math.imul((z0 * u0) | 0, p)) | 0; // [−p, 2p)
      let t = (Math.imul(x1, u1) - Math.imul((z1 * u1) | 0, p)) | 0;
      r = (r + ((r >> 31) & p)) | 0; // [0, 2p)
      t = (t + ((t >> 31) & p)) | 0;
      let s0 = (r + t - p2) | 0; // [−2p, 2p)
      r = (Math.imul(x0, w0) - Math.imul((z0 * w0) | 0, p)) | 0;
      t = (Math.imul(x1, w1) - Math.imul((z1 * w1) | 0, p)) | 0;
      r = (r + ((r >> 31) & p)) | 0;
      t = (t + ((t >> 31) & p)) | 0;
      let s1 = (r + t - p2) | 0;
      s0 = (s0 + ((s0 >> 31) & p2)) | 0; // [0, 2p)
      s0 = (s0 - p) | 0;
      s0 = (s0 + ((s0 >> 31) & p)) | 0; // [0, p)
      s1 = (s1 + ((s1 >> 31) & p2)) | 0;
      s1 = (s1 - p) | 0;
      s1 = (s1 + ((s1 >> 31) & p)) | 0;
      acc[q0] = s0;
      acc[a1 + n] = s1;
    }
    {
      const q0 = o + n + 1;
      const q1 = q0 + step;
      const k0 = ko + n + 1;
      const k1 = k0 + kstep;
      const x0 = x[q0];
      const x1 = x[q1];
      const u0 = kb[k0];
      const u1 = kb[k1];
      const w0 = ka[k0];
      const w1 = ka[k1];
      const z0 = x0 * pInv;
      const z1 = x1 * pInv;
      let r = (Math.imul(x0, u0) - Math.imul((z0 * u0) | 0, p)) | 0;
      let t = (Math.imul(x1, u1) - Math.imul((z1 * u1) | 0, p)) | 0;
      r = (r + ((r >> 31) & p)) | 0;
      t = (t + ((t >> 31) & p)) | 0;
      let s0 = (r + t - p2) | 0;
      r = (Math.imul(x0, w0) - Math.imul((z0 * w0) | 0, p)) | 0;
      t = (Math.imul(x1, w1) - Math.imul((z1 * w1) | 0, p)) | 0;
      r = (r + ((r >> 31) & p)) | 0;
      t = (t + ((t >> 31) & p)) | 0;
      let s1 = (r + t - p2) | 0;
      s0 = (s0 + ((s0 >> 31) & p2)) | 0;
      s0 = (s0 - p) | 0;
      s0 = (s0 + ((s0 >> 31) & p)) | 0;
      s1 = (s1 + ((s1 >> 31) & p2)) | 0;
      s1 = (s1 - p) | 0;
      s1 = (s1 + ((s1 >> 31) & p)) | 0;
      acc[q0] = s0;
      acc[a1 + n + 1] = s1;
    }
  }
}

function ip3(x: Int32Array, kb: Int32Array, ka: Int32Array, acc: Int32Array, o: number, step: number, N: number, p: number, pInv: number, ko: number, kstep: number): void {
  const a1 = o + step;
  const p2 = (p << 1) | 0;
  for (let n = 0; n < N; n++) {
    const q0 = o + n;
    const q1 = q0 + step;
    const q2 = q1 + step;
    const k0 = ko + n;
    const k1 = k0 + kstep;
    const k2 = k1 + kstep;
    const x0 = x[q0];
    const x1 = x[q1];
    const x2 = x[q2];
    const u0 = kb[k0];
    const u1 = kb[k1];
    const u2 = kb[k2];
    let r = (Math.imul(x0, u0) - Math.imul((x0 * u0 * pInv) | 0, p)) | 0;
    let t = (Math.imul(x1, u1) - Math.imul((x1 * u1 * pInv) | 0, p)) | 0;
    r = (r + ((r >> 31) & p)) | 0;
    t = (t + ((t >> 31) & p)) | 0;
    let s0 = (r + t - p2) | 0;
    s0 = (s0 + ((s0 >> 31) & p2)) | 0; // [0, 2p)
    r = (Math.imul(x2, u2) - Math.imul((x2 * u2 * pInv) | 0, p)) | 0;
    r = (r + ((r >> 31) & p)) | 0;
    s0 = (s0 + r - p2) | 0;
    s0 = (s0 + ((s0 >> 31) & p2)) | 0;
    s0 = (s0 - p) | 0;
    s0 = (s0 + ((s0 >> 31) & p)) | 0;
    const w0 = ka[k0];
    const w1 = ka[k1];
    const w2 = ka[k2];
    r = (Math.imul(x0, w0) - Math.imul((x0 * w0 * pInv) | 0, p)) | 0;
    t = (Math.imul(x1, w1) - Math.imul((x1 * w1 * pInv) | 0, p)) | 0;
    r = (r + ((r >> 31) & p)) | 0;
    t = (t + ((t >> 31) & p)) | 0;
    let s1 = (r + t - p2) | 0;
    s1 = (s1 + ((s1 >> 31) & p2)) | 0;
    r = (Math.imul(x2, w2) - Math.imul((x2 * w2 * pInv) | 0, p)) | 0;
    r = (r + ((r >> 31) & p)) | 0;
    s1 = (s1 + r - p2) | 0;
    s1 = (s1 + ((s1 >> 31) & p2)) | 0;
    s1 = (s1 - p) | 0;
    s1 = (s1 + ((s1 >> 31) & p)) | 0;
    acc[q0] = s0;
    acc[a1 + n] = s1;
  }
}

function ipN(x: Int32Array, kb: Int32Array, ka: Int32Array, acc: Int32Array, o: number, step: number, dnum: number, N: number, p: number, pInv: number, ko: number, kstep: number): void {
  // digits outer, the running sums kept in acc in [0, 2p) and reduced at the end
  const a1 = o + step;
  const p2 = (p << 1) | 0;
  for (let j = 0; j < dnum; j++) {
    const oj = o + j * step;
    const kj = ko + j * kstep;
    for (let n = 0; n < N; n++) {
      const q = oj + n;
      const x0 = x[q];
      const u = kb[kj + n];
      const w = ka[kj + n];
      let r = (Math.imul(x0, u) - Math.imul((x0 * u * pInv) | 0, p)) | 0;
      r = (r + ((r >> 31) & p)) | 0;
      let t = (Math.imul(x0, w) - Math.imul((x0 * w * pInv) | 0, p)) | 0;
      t = (t + ((t >> 31) & p)) | 0;
      if (j > 0) {
        r = (r + acc[o + n] - p2) | 0;
        r = (r + ((r >> 31) & p2)) | 0;
        t = (t + acc[a1 + n] - p2) | 0;
        t = (t + ((t >> 31) & p2)) | 0;
      }
      acc[o + n] = r;
      acc[a1 + n] = t;
    }
  }
  for (let n = 0; n < N; n++) {
    let r = (acc[o + n] - p) | 0;
    r = (r + ((r >> 31) & p)) | 0;
    acc[o + n] = r;
    let t = (acc[a1 + n] - p) | 0;
    t = (t + ((t >> 31) & p)) | 0;
    acc[a1 + n] = t;
  }
}

/** out[oo + n] = x[xo + n]·c + acc[ao + n] mod p (c in [0, p), x and acc in [0, p)). */
export function mulScalarAddInto(x: Int32Array, xo: number, c: number, acc: Int32Array, ao: number, out: Int32Array, oo: number, N: number, p: number, pInv: number): void {
  for (let n = 0; n < N; n++) {
    const y = x[xo + n];
    let r = ((Math.imul(y, c) - Math.imul((y * c * pInv) | 0, p)) | 0) + acc[ao + n] - p; // [−2p, 2p)
    r = (r + ((r >> 31) & p)) | 0;
    r = (r + ((r >> 31) & p)) | 0; // [0, 2p)
    r = (r - p) | 0;
    r = (r + ((r >> 31) & p)) | 0;
    out[oo + n] = r;
  }
}

/** out = x + (acc − t)·c (ModDown then add); x, acc in [0, p), t lazy in [0, 2p). */
/** @internal Exported for tests. */
export function combineAdd(x: Int32Array, xo: number, acc: Int32Array, ao: number, t: Int32Array, c: number, cf: number, out: Int32Array, oo: number, N: number, p: number): void {
  const p2 = (p << 1) | 0;
  // unrolled by four, one block per coefficient (see `addVec` in ring/ring.ts); N is a multiple of 4
  for (let n = 0; n < N; n += 4) {
    {
      const d = (acc[ao + n] - t[n] + p2) | 0; // (0, 3p)
      let r = (((Math.imul(d, c) - Math.imul(((d >>> 0) * cf) | 0, p)) | 0) + x[xo + n] - p2) | 0; // [−2p, p)
      r = (r + ((r >> 31) & p2)) | 0;
      r = (r - p) | 0;
      r = (r + ((r >> 31) & p)) | 0;
      out[oo + n] = r;
    }
    {
      const d = (acc[ao + n + 1] - t[n + 1] + p2) | 0;
      let r = (((Math.imul(d, c) - Math.imul(((d >>> 0) * cf) | 0, p)) | 0) + x[xo + n + 1] - p2) | 0;
      r = (r + ((r >> 31) & p2)) | 0;
      r = (r - p) | 0;
      r = (r + ((r >> 31) & p)) | 0;
      out[oo + n + 1] = r;
    }
    {
      const d = (acc[ao + n + 2] - t[n + 2] + p2) | 0;
      let r = (((Math.imul(d, c) - Math.imul(((d >>> 0) * cf) | 0, p)) | 0) + x[xo + n + 2] - p2) | 0;
      r = (r + ((r >> 31) & p2)) | 0;
      r = (r - p) | 0;
      r = (r + ((r >> 31) & p)) | 0;
      out[oo + n + 2] = r;
    }
    {
      const d = (acc[ao + n + 3] - t[n + 3] + p2) | 0;
      let r = (((Math.imul(d, c) - Math.imul(((d >>> 0) * cf) | 0, p)) | 0) + x[xo + n + 3] - p2) | 0;
      r = (r + ((r >> 31) & p2)) | 0;
      r = (r - p) | 0;
      r = (r + ((r >> 31) & p)) | 0;
      out[oo + n + 3] = r;
    }
  }
}

/** out = (acc − t)·c (ModDown). */
/** @internal Exported for tests. */
export function combinePlain(acc: Int32Array, ao: number, t: Int32Array, c: number, cf: number, out: Int32Array, oo: number, N: number, p: number): void {
  const p2 = (p << 1) | 0;
  // unrolled by four, one block per coefficient (see `addVec` in ring/ring.ts); N is a multiple of 4
  for (let n = 0; n < N; n += 4) {
    {
      const d = (acc[ao + n] - t[n] + p2) | 0;
      let r = ((Math.imul(d, c) - Math.imul(((d >>> 0) * cf) | 0, p)) | 0) - p;
      r = (r + ((r >> 31) & p)) | 0;
      out[oo + n] = r;
    }
    {
      const d = (acc[ao + n + 1] - t[n + 1] + p2) | 0;
      let r = ((Math.imul(d, c) - Math.imul(((d >>> 0) * cf) | 0, p)) | 0) - p;
      r = (r + ((r >> 31) & p)) | 0;
      out[oo + n + 1] = r;
    }
    {
      const d = (acc[ao + n + 2] - t[n + 2] + p2) | 0;
      let r = ((Math.imul(d, c) - Math.imul(((d >>> 0) * cf) | 0, p)) | 0) - p;
      r = (r + ((r >> 31) & p)) | 0;
      out[oo + n + 2] = r;
    }
    {
      const d = (acc[ao + n + 3] - t[n + 3] + p2) | 0;
      let r = ((Math.imul(d, c) - Math.imul(((d >>> 0) * cf) | 0, p)) | 0) - p;
      r = (r + ((r >> 31) & p)) | 0;
      out[oo + n + 3] = r;
    }
  }
}

/** out = x·u + (acc − t)·c (ModDown merged with a rescale). */
/** @internal Exported for tests. */
export function combineRescale(
  x: Int32Array, xo: number, u: number, uf: number, acc: Int32Array, ao: number, t: Int32Array, c: number, cf: number,
  out: Int32Array, oo: number, N: number, p: number,
): void {
  const p2 = (p << 1) | 0;
  // unrolled by four, one block per coefficient (see `addVec` in ring/ring.ts); N is a multiple of 4
  for (let n = 0; n < N; n += 4) {
    {
      const d = (acc[ao + n] - t[n] + p2) | 0;
      const y = x[xo + n];
      let r = (((Math.imul(d, c) - Math.imul(((d >>> 0) * cf) | 0, p)) | 0) + ((Math.imul(y, u) - Math.imul((y * uf) | 0, p)) | 0) - p2) | 0;
      r = (r + ((r >> 31) & p2)) | 0;
      r = (r - p) | 0;
      r = (r + ((r >> 31) & p)) | 0;
      out[oo + n] = r;
    }
    {
      const d = (acc[ao + n + 1] - t[n + 1] + p2) | 0;
      const y = x[xo + n + 1];
      let r = (((Math.imul(d, c) - Math.imul(((d >>> 0) * cf) | 0, p)) | 0) + ((Math.imul(y, u) - Math.imul((y * uf) | 0, p)) | 0) - p2) | 0;
      r = (r + ((r >> 31) & p2)) | 0;
      r = (r - p) | 0;
      r = (r + ((r >> 31) & p)) | 0;
      out[oo + n + 1] = r;
    }
    {
      const d = (acc[ao + n + 2] - t[n + 2] + p2) | 0;
      const y = x[xo + n + 2];
      let r = (((Math.imul(d, c) - Math.imul(((d >>> 0) * cf) | 0, p)) | 0) + ((Math.imul(y, u) - Math.imul((y * uf) | 0, p)) | 0) - p2) | 0;
      r = (r + ((r >> 31) & p2)) | 0;
      r = (r - p) | 0;
      r = (r + ((r >> 31) & p)) | 0;
      out[oo + n + 2] = r;
    }
    {
      const d = (acc[ao + n + 3] - t[n + 3] + p2) | 0;
      const y = x[xo + n + 3];
      let r = (((Math.imul(d, c) - Math.imul(((d >>> 0) * cf) | 0, p)) | 0) + ((Math.imul(y, u) - Math.imul((y * uf) | 0, p)) | 0) - p2) | 0;
      r = (r + ((r >> 31) & p2)) | 0;
      r = (r - p) | 0;
      r = (r + ((r >> 31) & p)) | 0;
      out[oo + n + 3] = r;
    }
  }
}

/** out[oo + n] = src[so + index[n]] (NTT-domain automorphism of one limb). */
export function gather(src: Int32Array, so: number, index: Int32Array, out: Int32Array, oo: number, N: number): void {
  for (let n = 0; n < N; n++) out[oo + n] = src[so + index[n]];
}
