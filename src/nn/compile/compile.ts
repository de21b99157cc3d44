/**
 * @module nn/compile/compile
 * From an imported graph to an encryptable one (PAPER, Chielle et al. arXiv 2509.22857, §2.3–2.5
 * of the digest: node fusing, weight redistribution, level accounting):
 *  1. fold BatchNormalization into a preceding Conv/Dense (`foldBatchNorm`);
 *  2. replace Relu/Gelu by fitted polynomials (`approximate.ts`), x² stays exact;
 *  3. fuse a remaining BatchNormalization into the polynomial that follows it (BN → POLY), and
 *     through a residual Add into both branches (BN + ADD → POLY);
 *  4. fold each polynomial's input map t = s·x + u into the producing Conv/Dense (or both
 *     producers of a residual Add), so the map costs no level;
 *  5. fold average-pool divisors into the next linear layer (or the producing polynomial), so pools
 *     are sums and cost no level;
 *  6. redistribute a quadratic's leading coefficient into the next linear layer, so x² + c1·x + c0
 *     costs one level (PAPER `redistribute_weights`, forward-solvable case).
 * Every pass is exact (the compiled graph computes the same function as the polynomial network),
 * which `simulate` (= the reference executor on the compiled graph) checks in tests. Then the level
 * plan: levels each node consumes in a layout, and the network depth. The rewrites are in
 * `fuse.ts`, the level plan in `levels.ts`.
 * The forward work (calibration, OLA's sensitivity and degree sweep, simulation) is in
 * `ola-search.ts`, as job steps that run on the calling thread or on worker threads.
 */
import { InvalidArgumentError } from '../../errors.js';
import { type ActivationFit, type DegreeSpec } from './approximate.js';
import { type CalibrationResult, calibrate } from './calibrate.js';
import { clusterWeights } from './cluster.js';
import { type IrGraph, type IrNode, type Tensor, isModelPolynomial } from '../graph.js';
import { ForwardPool } from '../forward/pool.js';
import { type ProgressCallback, runStepsSync } from '../forward/jobs.js';
import { compileSteps, simulateSteps } from './ola-search.js';
import { argmaxRows, checkInput, runReference } from '../reference.js';
import { type TensorLike, tensorRange } from '../io.js';
import { powerToCheb } from '../../approx/fit/chebyshev.js';
import { powerToChebyshevTensor } from '../polynomial.js';

/** Encrypted data layouts: one image per slot (batch), one ciphertext per channel (channel), one ciphertext per value (packed). */
export type Layout = 'batch' | 'channel' | 'packed';

/** Options of {@link compileModel}. */
export interface CompileOptions {
  /** Degree choice (default OLA). */
  degrees?: DegreeSpec;
  /** Labels of the calibration images: OLA then targets accuracy instead of agreement. */
  labels?: ArrayLike<number>;
  /**
   * OLA target: with labels, the simulated accuracy must reach this (default: the original
   * model's accuracy minus 0.01); without labels, the agreement with the original predictions.
   */
  targetAccuracy?: number;
  /** Candidate degrees for OLA. */
  olaDegrees?: readonly number[];
  /**
   * Calibration histogram bins: default ≥ 8 per coefficient of the highest degree that may be
   * fitted (`calibrationBins`: 512 for OLA's default candidates, 64 at least).
   */
  bins?: number;
  margin?: number;
  /**
   * Least weight of a histogram bin in the fits, relative to the mean bin count (default 1e-4;
   * 0 fits the plain histogram). It keeps high-degree polynomials bounded where the calibration
   * inputs are sparse (see `fitHistogramFloored`).
   */
  floorWeight?: number;
  /**
   * When no point of OLA's front meets the target, only this many points (those of least
   * estimated error) compete for the most accurate by full passes (default 8; Infinity: all).
   */
  fallbackPoints?: number;
  /** Weight OLA's per-layer errors by the layer's measured output sensitivity (default true). */
  sensitivity?: boolean;
  /** Also simulate uniform degrees for comparison (default [2, 3, 4, 5, 7, 15] with OLA). */
  compareUniform?: readonly number[];
  /** Parameter clustering: snap each Conv/Dense layer's weights to k k-means centroids. */
  cluster?: number;
  /**
   * Progress: `onProgress(stage, done, total)` per chunk of images, layer or point of the degree
   * search (stages `calibration`, `layer sensitivity`, `degree search`, `uniform comparison`).
   */
  onProgress?: ProgressCallback;
}

/** One step of the OLA sweep (for reports). */
export interface OlaStep {
  degrees: Record<string, number>;
  depth: number;
  ctMults: number;
  /**
   * Accuracy (or agreement) on the calibration images. Exact when `evaluated` is the image count;
   * a point stopped early (its disagreements already exceed what the target allows) records the
   * upper bound (N − disagreements so far)/N, which is below the target.
   */
  accuracy: number;
  /** Images evaluated before the verdict was known. */
  evaluated: number;
}

/** A compiled model. */
export interface CompiledModel {
  /** The imported graph. */
  original: IrGraph;
  /** The encryptable graph: Poly nodes, folded maps, sum pools. */
  graph: IrGraph;
  fits: ActivationFit[];
  /** What each pass did, one line per fold. */
  log: string[];
  calibration: CalibrationResult;
  /** [min, max] of the calibration inputs (the model's plan refuses inputs far outside it). */
  inputRange?: [number, number];
  /** OLA sweep (when degrees were chosen by OLA). */
  ola?: {
    steps: OlaStep[]; chosen: number; target: number; original: number; metric: 'accuracy' | 'agreement';
    sensitivity?: Record<string, number>;
    /** Uniform-degree comparison: accuracy and depth per degree. */
    uniform: { degree: number; depth: number; ctMults: number; accuracy: number }[];
  };
}

/**
 * Compiles an imported graph for encrypted inference, calibrating on `calibData` (`[N, ...input]`),
 * on the calling thread. {@link compileModelAsync} does the same work on worker threads, with the
 * same result.
 *
 * @example
 * ```ts
 * const m = compileModel(importOnnx(bytes), calib, { onProgress: (s, d, t) => console.error(s, d, t) });
 * const logits = simulate(m, images);
 * ```
 * @throws InputShapeError / NonFiniteInputError for bad calibration data, NumericalError if the
 *   model overflows on it, ApproximationError for a bad degree specification
 */
export function compileModel(graph: IrGraph, calibData: TensorLike, opts: CompileOptions = {}): CompiledModel {
  const x = checkInput(graph, calibData);
  return { ...runStepsSync(compileSteps(graph, x, opts), opts.onProgress), inputRange: tensorRange(x) };
}

/** Where {@link compileModelAsync} and {@link simulateAsync} run their chunks. */
export interface ParallelOptions {
  /**
   * Worker threads to start for this call (default 1: the calling thread). Results do not depend
   * on it.
   */
  threads?: number;
  /** A pool to use (and leave open), e.g. shared by a compilation and a simulation. */
  pool?: ForwardPool;
  /** Progress of the simulation (for compilation, {@link CompileOptions.onProgress}). */
  onProgress?: ProgressCallback;
}

/**
 * {@link compileModel} on worker threads (Node `worker_threads` or Web Workers): the chunks of every
 * pass run in parallel; the result is the same as on one thread.
 *
 * @example
 * ```ts
 * const m = await compileModelAsync(graph, calib, { threads: 2, onProgress: (s, d, t) => console.error(s, d, t) });
 * ```
 * @throws as {@link compileModel}; WorkerPoolUnavailableError where no worker threads exist
 */
export async function compileModelAsync(graph: IrGraph, calibData: TensorLike, opts: CompileOptions & ParallelOptions = {}): Promise<CompiledModel> {
  const x = checkInput(graph, calibData);
  const m = await withPool(opts, (pool) => (pool ? pool.runSteps(compileSteps(graph, x, opts), opts.onProgress) : compileModel(graph, x, opts)));
  return { ...m, inputRange: tensorRange(x) };
}

async function withPool<T>(opts: ParallelOptions, f: (pool: ForwardPool | undefined) => T | Promise<T>): Promise<T> {
  if (opts.pool) return f(opts.pool);
  const threads = opts.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1 || threads > 256) throw new InvalidArgumentError(`threads = ${threads}`, 'use an integer number of threads in 1..256');
  if (threads === 1) return f(undefined);
  const pool = await ForwardPool.create(threads);
  try {
    return await f(pool);
  } finally {
    await pool.close();
  }
}

/** Adds weight clustering to a compiled model when asked for. */
export function withClustering(m: CompiledModel, opts: CompileOptions): CompiledModel {
  if (!opts.cluster) return m;
  const c = clusterWeights(m.graph, opts.cluster);
  return { ...m, graph: c.graph, log: [...m.log, ...c.log.map((l) => `cluster: ${l}`)] };
}

/**
 * The model's own polynomials of degree ≥ 3 (imported, power basis) as Chebyshev series on their
 * calibrated input range [lo, hi] (with the calibration margin), with the map t = (2x − lo − hi)/(hi − lo)
 * that the compiler folds like a fitted polynomial's: the same function, but evaluated where the
 * basis is bounded (|T_j(t)| ≤ 1), as a power series in x or T_j(x) on a wide range is not.
 * Nodes without calibration statistics are left as they are.
 */
export function mapModelPolynomials(graph: IrGraph, calibration: CalibrationResult): IrGraph {
  let changed = false;
  const nodes = graph.nodes.map((n): IrNode => {
    if (!isModelPolynomial(n) || n.basis !== 'power') return n;
    const st = calibration.byNode.get(n.name);
    if (!st) return n;
    let lo = st.histogram.lo;
    let hi = st.histogram.hi;
    if (!(hi > lo)) {
      lo -= 1;
      hi += 1;
    }
    const interval: [number, number] = [lo, hi];
    const C = n.mapScale.length;
    changed = true;
    return {
      ...n, basis: 'chebyshev', interval, mapFolded: false,
      mapScale: new Float64Array(C).fill(2 / (hi - lo)), mapShift: new Float64Array(C).fill(-(lo + hi) / (hi - lo)),
      ...(n.coeffTensor ? { coeffTensor: powerToChebyshevTensor(n.coeffTensor, interval) } : { coeffs: powerToCheb(n.coeffs, interval) }) };
  });
  return changed ? { ...graph, nodes } : graph;
}


export { buildCompiled } from './fuse.js';
export { type LevelPlan, isFastQuadratic, maskedPolys, planLevels, polyCost } from './levels.js';

/** Accuracy (or agreement) of a graph on data, for reports. */
export function accuracyOf(g: IrGraph, data: Tensor, labels: ArrayLike<number>): number {
  const pred = argmaxRows(runReference(g, data, { checkFinite: false }));
  let ok = 0;
  for (let i = 0; i < pred.length; i++) if (pred[i] === labels[i]) ok++;
  return ok / pred.length;
}

/**
 * Runs the compiled graph in float64 (the simulation of encrypted inference), on the calling thread.
 *
 * @param onProgress - progress of the `simulation` stage (chunks of images)
 */
export function simulate(model: CompiledModel, data: TensorLike, onProgress?: ProgressCallback): Tensor {
  return runStepsSync(simulateSteps(model.graph, checkInput(model.graph, data)), onProgress);
}

/** {@link simulate} on worker threads; the same result. */
export async function simulateAsync(model: CompiledModel, data: TensorLike, opts: ParallelOptions = {}): Promise<Tensor> {
  const x = checkInput(model.graph, data);
  return withPool(opts, (pool) => (pool ? pool.runSteps(simulateSteps(model.graph, x), opts.onProgress) : simulate(model, x, opts.onProgress)));
}

export { calibrate };
