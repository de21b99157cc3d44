/**
 * @module nn/compile/calibrate
 *
 * Calibration: runs the plaintext reference on calibration data and records, for every
 * activation node (Relu, Gelu, Square — the nodes replaced by polynomials), the statistics of
 * its **input**: min, max, mean, std, max|x|, per-channel ranges, a histogram over
 * `[min, max]` widened by a margin (the weights OLA's weighted least squares needs), and a
 * seeded reservoir sample of the raw values.
 *
 * Two passes over the data: the first gathers moments, ranges and samples; the second fills
 * the histograms once their ranges are known. Memory stays bounded by `batchSize`.
 */

import { VeilError } from '../../errors.js';
import { isActivation, isModelPolynomial, sizeOf, type IrGraph, type IrNode, type IrOp } from '../graph.js';
import { validateTensor, type TensorLike } from '../io.js';
import { runReference } from '../reference.js';

/** Invalid calibration options or data. */
export class CalibrationError extends VeilError {
  static override readonly code: string = 'CALIBRATION';

  constructor(message: string, fix: string) {
    super(message, fix);
  }
}

/** Options for {@link calibrate}. */
export interface CalibrationOptions {
  /** Histogram bins (default 64). */
  bins?: number;
  /** Relative margin added on each side of `[min, max]`: `span·margin` (default 0.05). */
  margin?: number;
  /** Reservoir size per activation; `Infinity` keeps every value (default 4096). */
  maxSamples?: number;
  /** Seed of the reservoir sampler (default 1). */
  seed?: number;
  /** Images per reference run (default 256). */
  batchSize?: number;
  /** Which node ops to record (default: the activations Relu, Gelu, Square, and the model's own polynomials of degree ≥ 3). */
  ops?: readonly IrOp[];
}

/** A histogram over `[lo, hi]` with equal-width bins. */
export interface Histogram {
  lo: number;
  hi: number;
  /** `counts[k]` = number of values in `[lo + k·w, lo + (k+1)·w)` (last bin closed). */
  counts: Float64Array;
  /** Bin width `w = (hi − lo) / bins`. */
  binWidth: number;
}

/** Statistics of one activation node's input over the calibration set. */
export interface ActivationStats {
  /** IR node name. */
  node: string;
  op: IrOp;
  /** Name of the recorded value (the activation's input). */
  input: string;
  /** Per-sample shape of that value. */
  shape: number[];
  /** Number of recorded scalars (images × elements). */
  count: number;
  min: number;
  max: number;
  mean: number;
  /** Population standard deviation. */
  std: number;
  maxAbs: number;
  /** Ranges per channel (dimension 0 of the per-sample shape). */
  perChannel: { min: Float64Array; max: Float64Array; maxAbs: Float64Array };
  histogram: Histogram;
  /** Reservoir sample of the raw values (all values, in order, if `count ≤ maxSamples`). */
  samples: Float64Array;
}

/** Result of {@link calibrate}. */
export interface CalibrationResult {
  /** Number of calibration images. */
  images: number;
  /** One entry per recorded node, in graph order. */
  activations: ActivationStats[];
  /** Stats by node name. */
  byNode: Map<string, ActivationStats>;
}

/** Seeded 32-bit PRNG (mulberry32), uniform in [0, 1). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Acc {
  node: IrNode;
  shape: number[];
  count: number;
  min: number;
  max: number;
  mean: number;
  m2: number;
  cmin: Float64Array;
  cmax: Float64Array;
  reservoir: number[];
  rand: () => number;
  hist?: Histogram;
}

/** Validated calibration options with defaults. */
function resolveOptions(options: CalibrationOptions): Required<Omit<CalibrationOptions, 'ops'>> & Pick<CalibrationOptions, 'ops'> {
  const bins = options.bins ?? 64;
  const margin = options.margin ?? 0.05;
  const maxSamples = options.maxSamples ?? 4096;
  const batchSize = options.batchSize ?? 256;
  const seed = options.seed ?? 1;
  if (!Number.isSafeInteger(bins) || bins < 1) throw new CalibrationError(`bins = ${bins} is not a positive integer`, 'pass bins as a positive integer (default 64)');
  if (!(margin >= 0) || !Number.isFinite(margin)) throw new CalibrationError(`margin = ${margin} is not a finite number ≥ 0`, 'pass margin as a finite number ≥ 0 (default 0.05)');
  if (!(maxSamples >= 0) || (Number.isFinite(maxSamples) && !Number.isSafeInteger(maxSamples))) {
    throw new CalibrationError(`maxSamples = ${maxSamples} is not a non-negative integer or Infinity`, 'pass maxSamples as a non-negative integer, or Infinity to keep every value (default 4096)');
  }
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new CalibrationError(`batchSize = ${batchSize} is not a positive integer`, 'pass batchSize as a positive integer');
  return { bins, margin, maxSamples, batchSize, seed, ...(options.ops ? { ops: options.ops } : {}) };
}

/**
 * The statistics of {@link calibrate}, fed with the recorded nodes' inputs batch by batch: pass 1
 * ({@link addRange}: moments, ranges, reservoir), {@link closeRanges}, pass 2 ({@link addHistogram}),
 * then {@link result}. Each pass must see every image once, in image order (the reservoir and the
 * histogram counts then do not depend on how the images were batched; the moments are merged per
 * batch, so the mean and std change in the last bits with the batching).
 */
export class CalibrationAccumulator {
  /** Names of the recorded nodes, in graph order (their first input is recorded). */
  readonly nodes: string[];
  private readonly accs = new Map<string, Acc>();
  private readonly opts: ReturnType<typeof resolveOptions>;

  /** @throws CalibrationError for invalid options */
  constructor(graph: IrGraph, options: CalibrationOptions = {}) {
    this.opts = resolveOptions(options);
    const wanted = (node: IrNode): boolean => (options.ops === undefined ? isActivation(node) || isModelPolynomial(node) : options.ops.includes(node.op));
    const shapes = new Map<string, number[]>([[graph.input.name, graph.input.shape]]);
    for (const node of graph.nodes) shapes.set(node.output, node.outShape);
    let salt = 0;
    for (const node of graph.nodes) {
      if (!wanted(node)) continue;
      const shape = shapes.get(node.inputs[0]!) ?? node.outShape;
      const c = shape[0] ?? 1;
      this.accs.set(node.name, {
        node,
        shape: [...shape],
        count: 0,
        min: Infinity,
        max: -Infinity,
        mean: 0,
        m2: 0,
        cmin: new Float64Array(c).fill(Infinity),
        cmax: new Float64Array(c).fill(-Infinity),
        reservoir: [],
        rand: prng((this.opts.seed ^ Math.imul(++salt, 0x9e3779b1)) >>> 0),
      });
    }
    this.nodes = [...this.accs.keys()];
  }

  /** Pass 1: moments, ranges and reservoir of a batch of node `name`'s input (images in order). */
  addRange(name: string, values: Float64Array): void {
    const a = this.accs.get(name);
    if (!a || values.length === 0) return;
    const maxSamples = this.opts.maxSamples;
    const c = a.cmin.length;
    const plane = sizeOf(a.shape) / c;
    let bmin = Infinity;
    let bmax = -Infinity;
    let sum = 0;
    for (let k = 0; k < values.length; k++) {
      const v = values[k]!;
      sum += v;
      if (v < bmin) bmin = v;
      if (v > bmax) bmax = v;
      const ch = Math.floor(k / plane) % c;
      if (v < a.cmin[ch]!) a.cmin[ch] = v;
      if (v > a.cmax[ch]!) a.cmax[ch] = v;
    }
    const bmean = sum / values.length;
    let bm2 = 0;
    for (let k = 0; k < values.length; k++) bm2 += (values[k]! - bmean) ** 2;
    // Chan et al. parallel merge of (count, mean, M2).
    const tot = a.count + values.length;
    const delta = bmean - a.mean;
    a.mean += (delta * values.length) / tot;
    a.m2 += bm2 + (delta * delta * a.count * values.length) / tot;
    if (bmin < a.min) a.min = bmin;
    if (bmax > a.max) a.max = bmax;
    // Reservoir sampling (Algorithm R).
    for (let k = 0; k < values.length; k++) {
      const t = a.count + k;
      if (t < maxSamples) a.reservoir.push(values[k]!);
      else {
        const j = Math.floor(a.rand() * (t + 1));
        if (j < maxSamples) a.reservoir[j] = values[k]!;
      }
    }
    a.count = tot;
  }

  /** Ends pass 1: the histogram ranges, [min, max] widened by the margin. */
  closeRanges(): void {
    const { bins, margin } = this.opts;
    for (const a of this.accs.values()) {
      const span = a.max > a.min ? a.max - a.min : Math.max(Math.abs(a.max), 1);
      const lo = a.min - margin * span;
      let hi = a.max + margin * span;
      if (!(hi > lo)) hi = lo + span;
      a.hist = { lo, hi, counts: new Float64Array(bins), binWidth: (hi - lo) / bins };
    }
  }

  /** Pass 2: histogram counts of a batch of node `name`'s input. */
  addHistogram(name: string, values: Float64Array): void {
    const h = this.accs.get(name)?.hist;
    if (!h) return;
    const bins = h.counts.length;
    const scale = bins / (h.hi - h.lo);
    for (let k = 0; k < values.length; k++) {
      let b = Math.floor((values[k]! - h.lo) * scale);
      if (b < 0) b = 0;
      else if (b >= bins) b = bins - 1;
      h.counts[b]!++;
    }
  }

  /** The statistics of `images` images. */
  result(images: number): CalibrationResult {
    const activations: ActivationStats[] = [];
    for (const a of this.accs.values()) {
      activations.push({
        node: a.node.name,
        op: a.node.op,
        input: a.node.inputs[0]!,
        shape: a.shape,
        count: a.count,
        min: a.min,
        max: a.max,
        mean: a.mean,
        std: Math.sqrt(a.m2 / a.count),
        maxAbs: Math.max(Math.abs(a.min), Math.abs(a.max)),
        perChannel: { min: a.cmin, max: a.cmax, maxAbs: a.cmin.map((v, i) => Math.max(Math.abs(v), Math.abs(a.cmax[i]!))) },
        histogram: a.hist!,
        samples: Float64Array.from(a.reservoir),
      });
    }
    return { images, activations, byNode: new Map(activations.map((s) => [s.node, s])) };
  }
}

/**
 * Runs the reference executor over calibration data and records activation input statistics.
 *
 * @param graph - the IR graph
 * @param data - calibration inputs `[N, ...graph.input.shape]`
 * @param options - see {@link CalibrationOptions}
 * @returns per-activation statistics, histograms and samples
 * @throws CalibrationError for invalid options; the reference executor's input errors for bad data
 */
export function calibrate(graph: IrGraph, data: TensorLike, options: CalibrationOptions = {}): CalibrationResult {
  const acc = new CalibrationAccumulator(graph, options);
  const { batchSize } = resolveOptions(options);
  const x = validateTensor(data);
  const n = x.shape[0]!;
  const per = x.data.length / n;
  const wanted = new Set(acc.nodes);
  const forEachBatch = (fn: (node: string, values: Float64Array) => void): void => {
    for (let start = 0; start < n; start += batchSize) {
      const k = Math.min(batchSize, n - start);
      const batch = { shape: [k, ...x.shape.slice(1)], data: x.data.subarray(start * per, (start + k) * per) };
      runReference(graph, batch, {
        onNode: (node, inputs) => {
          if (wanted.has(node.name)) fn(node.name, inputs[0]!.data);
        },
      });
    }
  };
  forEachBatch((node, values) => acc.addRange(node, values));
  acc.closeRanges();
  forEachBatch((node, values) => acc.addHistogram(node, values));
  return acc.result(n);
}
