/**
 * @module train/gemm
 * Dense matrix products for the training kernels (row-major, accumulate into C), the three forms
 * backpropagation needs: C += A·B (forward, im2col), C += A·Bᵀ (weight gradients), C += Aᵀ·B (input
 * gradients). Plain loops over typed arrays, four rows of C at a time so every load of B feeds four
 * multiply-adds; the innermost loops run over contiguous memory. Float32Array or Float64Array
 * (all operands of one call the same type; JavaScript computes in float64 either way).
 */

/** A float buffer: the engine runs in float32 or float64 storage. */
export type Arr = Float32Array | Float64Array;

/** Columns of C (and B) per tile: a 4-row strip of C stays in L1 while k runs. */
const NB = 256;
/** Reduction length per tile of the A·Bᵀ form (its rows stay in L1 across the columns). */
const KB = 512;

/**
 * C[M×N] += A[M×K]·B[K×N] (offsets into each buffer; leading dimensions = row lengths).
 * Tiles of NB columns; per tile, four rows of C and four k at a time: each inner iteration loads
 * four B values and four C values for sixteen multiply-adds.
 */
export function gemmNN(M: number, N: number, K: number, A: Arr, aOff: number, B: Arr, bOff: number, C: Arr, cOff: number): void {
  for (let j0 = 0; j0 < N; j0 += NB) {
    const j1 = Math.min(N, j0 + NB);
    let i = 0;
    for (; i + 4 <= M; i += 4) {
      const c0 = cOff + i * N, c1 = c0 + N, c2 = c1 + N, c3 = c2 + N;
      const a0 = aOff + i * K, a1 = a0 + K, a2 = a1 + K, a3 = a2 + K;
      let k = 0;
      for (; k + 4 <= K; k += 4) {
        const p0 = A[a0 + k], p1 = A[a0 + k + 1], p2 = A[a0 + k + 2], p3 = A[a0 + k + 3];
        const q0 = A[a1 + k], q1 = A[a1 + k + 1], q2 = A[a1 + k + 2], q3 = A[a1 + k + 3];
        const r0 = A[a2 + k], r1 = A[a2 + k + 1], r2 = A[a2 + k + 2], r3 = A[a2 + k + 3];
        const s0 = A[a3 + k], s1 = A[a3 + k + 1], s2 = A[a3 + k + 2], s3 = A[a3 + k + 3];
        const b0 = bOff + k * N, b1 = b0 + N, b2 = b1 + N, b3 = b2 + N;
        for (let j = j0; j < j1; j++) {
          const x0 = B[b0 + j], x1 = B[b1 + j], x2 = B[b2 + j], x3 = B[b3 + j];
          C[c0 + j] += p0 * x0 + p1 * x1 + p2 * x2 + p3 * x3;
          C[c1 + j] += q0 * x0 + q1 * x1 + q2 * x2 + q3 * x3;
          C[c2 + j] += r0 * x0 + r1 * x1 + r2 * x2 + r3 * x3;
          C[c3 + j] += s0 * x0 + s1 * x1 + s2 * x2 + s3 * x3;
        }
      }
      for (; k < K; k++) {
        const p0 = A[a0 + k], q0 = A[a1 + k], r0 = A[a2 + k], s0 = A[a3 + k];
        const b0 = bOff + k * N;
        for (let j = j0; j < j1; j++) {
          const x0 = B[b0 + j];
          C[c0 + j] += p0 * x0;
          C[c1 + j] += q0 * x0;
          C[c2 + j] += r0 * x0;
          C[c3 + j] += s0 * x0;
        }
      }
    }
    for (; i < M; i++) {
      const c0 = cOff + i * N;
      const a0 = aOff + i * K;
      for (let k = 0; k < K; k++) {
        const p0 = A[a0 + k];
        const b0 = bOff + k * N;
        for (let j = j0; j < j1; j++) C[c0 + j] += p0 * B[b0 + j];
      }
    }
  }
}

/**
 * C[M×N] += A[M×K]·B[N×K]ᵀ: dot products of rows of A with rows of B, four rows of A by two rows
 * of B per pass, the reduction in tiles of KB so the four A rows stay in L1 across all of B.
 */
export function gemmNT(M: number, N: number, K: number, A: Arr, aOff: number, B: Arr, bOff: number, C: Arr, cOff: number): void {
  for (let k0 = 0; k0 < K; k0 += KB) {
    const k1 = Math.min(K, k0 + KB);
    let i = 0;
    for (; i + 4 <= M; i += 4) {
      const a0 = aOff + i * K, a1 = a0 + K, a2 = a1 + K, a3 = a2 + K;
      let j = 0;
      for (; j + 2 <= N; j += 2) {
        const b0 = bOff + j * K, b1 = b0 + K;
        let s00 = 0, s01 = 0, s10 = 0, s11 = 0, s20 = 0, s21 = 0, s30 = 0, s31 = 0;
        for (let k = k0; k < k1; k++) {
          const u = B[b0 + k], w = B[b1 + k];
          const x0 = A[a0 + k], x1 = A[a1 + k], x2 = A[a2 + k], x3 = A[a3 + k];
          s00 += x0 * u; s01 += x0 * w;
          s10 += x1 * u; s11 += x1 * w;
          s20 += x2 * u; s21 += x2 * w;
          s30 += x3 * u; s31 += x3 * w;
        }
        const c = cOff + i * N + j;
        C[c] += s00; C[c + 1] += s01;
        C[c + N] += s10; C[c + N + 1] += s11;
        C[c + 2 * N] += s20; C[c + 2 * N + 1] += s21;
        C[c + 3 * N] += s30; C[c + 3 * N + 1] += s31;
      }
      for (; j < N; j++) {
        const b0 = bOff + j * K;
        let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (let k = k0; k < k1; k++) {
          const u = B[b0 + k];
          s0 += A[a0 + k] * u; s1 += A[a1 + k] * u; s2 += A[a2 + k] * u; s3 += A[a3 + k] * u;
        }
        const c = cOff + i * N + j;
        C[c] += s0; C[c + N] += s1; C[c + 2 * N] += s2; C[c + 3 * N] += s3;
      }
    }
    for (; i < M; i++) {
      const a0 = aOff + i * K;
      for (let j = 0; j < N; j++) {
        const b0 = bOff + j * K;
        let s = 0;
        for (let k = k0; k < k1; k++) s += A[a0 + k] * B[b0 + k];
        C[cOff + i * N + j] += s;
      }
    }
  }
}

/**
 * C[M×N] += A[K×M]ᵀ·B[K×N]: tiles of NB columns; four rows of C and four k at a time, as
 * {@link gemmNN} with A read down its columns.
 */
export function gemmTN(M: number, N: number, K: number, A: Arr, aOff: number, B: Arr, bOff: number, C: Arr, cOff: number): void {
  for (let j0 = 0; j0 < N; j0 += NB) {
    const j1 = Math.min(N, j0 + NB);
    let i = 0;
    for (; i + 4 <= M; i += 4) {
      const c0 = cOff + i * N, c1 = c0 + N, c2 = c1 + N, c3 = c2 + N;
      let k = 0;
      for (; k + 4 <= K; k += 4) {
        const e0 = aOff + k * M + i, e1 = e0 + M, e2 = e1 + M, e3 = e2 + M;
        const p0 = A[e0], p1 = A[e1], p2 = A[e2], p3 = A[e3];
        const q0 = A[e0 + 1], q1 = A[e1 + 1], q2 = A[e2 + 1], q3 = A[e3 + 1];
        const r0 = A[e0 + 2], r1 = A[e1 + 2], r2 = A[e2 + 2], r3 = A[e3 + 2];
        const s0 = A[e0 + 3], s1 = A[e1 + 3], s2 = A[e2 + 3], s3 = A[e3 + 3];
        const b0 = bOff + k * N, b1 = b0 + N, b2 = b1 + N, b3 = b2 + N;
        for (let j = j0; j < j1; j++) {
          const x0 = B[b0 + j], x1 = B[b1 + j], x2 = B[b2 + j], x3 = B[b3 + j];
          C[c0 + j] += p0 * x0 + p1 * x1 + p2 * x2 + p3 * x3;
          C[c1 + j] += q0 * x0 + q1 * x1 + q2 * x2 + q3 * x3;
          C[c2 + j] += r0 * x0 + r1 * x1 + r2 * x2 + r3 * x3;
          C[c3 + j] += s0 * x0 + s1 * x1 + s2 * x2 + s3 * x3;
        }
      }
      for (; k < K; k++) {
        const e0 = aOff + k * M + i;
        const p0 = A[e0], q0 = A[e0 + 1], r0 = A[e0 + 2], s0 = A[e0 + 3];
        const b0 = bOff + k * N;
        for (let j = j0; j < j1; j++) {
          const x0 = B[b0 + j];
          C[c0 + j] += p0 * x0;
          C[c1 + j] += q0 * x0;
          C[c2 + j] += r0 * x0;
          C[c3 + j] += s0 * x0;
        }
      }
    }
    for (; i < M; i++) {
      const c0 = cOff + i * N;
      for (let k = 0; k < K; k++) {
        const p0 = A[aOff + k * M + i];
        const b0 = bOff + k * N;
        for (let j = j0; j < j1; j++) C[c0 + j] += p0 * B[b0 + j];
      }
    }
  }
}
