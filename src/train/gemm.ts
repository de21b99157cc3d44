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

/**
 * C[M×N] += A[M×K]·B[K×N] (offsets into each buffer; leading dimensions = row lengths).
 */
export function gemmNN(M: number, N: number, K: number, A: Arr, aOff: number, B: Arr, bOff: number, C: Arr, cOff: number): void {
  let i = 0;
  for (; i + 4 <= M; i += 4) {
    const c0 = cOff + i * N, c1 = c0 + N, c2 = c1 + N, c3 = c2 + N;
    const a0 = aOff + i * K, a1 = a0 + K, a2 = a1 + K, a3 = a2 + K;
    for (let k = 0; k < K; k++) {
      const x0 = A[a0 + k], x1 = A[a1 + k], x2 = A[a2 + k], x3 = A[a3 + k];
      if (x0 === 0 && x1 === 0 && x2 === 0 && x3 === 0) continue;
      const b = bOff + k * N;
      for (let j = 0; j < N; j++) {
        const v = B[b + j];
        C[c0 + j] += x0 * v;
        C[c1 + j] += x1 * v;
        C[c2 + j] += x2 * v;
        C[c3 + j] += x3 * v;
      }
    }
  }
  for (; i < M; i++) {
    const c0 = cOff + i * N;
    const a0 = aOff + i * K;
    for (let k = 0; k < K; k++) {
      const x0 = A[a0 + k];
      if (x0 === 0) continue;
      const b = bOff + k * N;
      for (let j = 0; j < N; j++) C[c0 + j] += x0 * B[b + j];
    }
  }
}

/**
 * C[M×N] += A[M×K]·B[N×K]ᵀ: dot products of rows of A with rows of B (both contiguous), four rows
 * of A by two rows of B per pass.
 */
export function gemmNT(M: number, N: number, K: number, A: Arr, aOff: number, B: Arr, bOff: number, C: Arr, cOff: number): void {
  let i = 0;
  for (; i + 4 <= M; i += 4) {
    const a0 = aOff + i * K, a1 = a0 + K, a2 = a1 + K, a3 = a2 + K;
    let j = 0;
    for (; j + 2 <= N; j += 2) {
      const b0 = bOff + j * K, b1 = b0 + K;
      let s00 = 0, s01 = 0, s10 = 0, s11 = 0, s20 = 0, s21 = 0, s30 = 0, s31 = 0;
      for (let k = 0; k < K; k++) {
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
      for (let k = 0; k < K; k++) {
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
      for (let k = 0; k < K; k++) s += A[a0 + k] * B[b0 + k];
      C[cOff + i * N + j] += s;
    }
  }
}

/**
 * C[M×N] += A[K×M]ᵀ·B[K×N]: for each k, the outer product of row k of A and row k of B, four
 * rows of C at a time.
 */
export function gemmTN(M: number, N: number, K: number, A: Arr, aOff: number, B: Arr, bOff: number, C: Arr, cOff: number): void {
  let i = 0;
  for (; i + 4 <= M; i += 4) {
    const c0 = cOff + i * N, c1 = c0 + N, c2 = c1 + N, c3 = c2 + N;
    for (let k = 0; k < K; k++) {
      const a = aOff + k * M + i;
      const x0 = A[a], x1 = A[a + 1], x2 = A[a + 2], x3 = A[a + 3];
      if (x0 === 0 && x1 === 0 && x2 === 0 && x3 === 0) continue;
      const b = bOff + k * N;
      for (let j = 0; j < N; j++) {
        const v = B[b + j];
        C[c0 + j] += x0 * v;
        C[c1 + j] += x1 * v;
        C[c2 + j] += x2 * v;
        C[c3 + j] += x3 * v;
      }
    }
  }
  for (; i < M; i++) {
    const c0 = cOff + i * N;
    for (let k = 0; k < K; k++) {
      const x0 = A[aOff + k * M + i];
      if (x0 === 0) continue;
      const b = bOff + k * N;
      for (let j = 0; j < N; j++) C[c0 + j] += x0 * B[b + j];
    }
  }
}
