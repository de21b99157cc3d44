/**
 * @module nn/compile/ola-search
 *
 * The compilation's forward work as job steps (`src/nn/forward/jobs.ts`), so it runs on one thread or on a pool
 * of workers with the same result: calibration, OLA's layer sensitivity and degree sweep (Lee et
 * al., arXiv 2310.10349, digest §1.4; `approximate.ts`), the uniform-degree comparison, and the
 * simulation. What makes it fast, every lever exact:
 *  - one pass over the calibration data records the activation inputs for both calibration passes
 *    (kept while they fit in {@link KEEP_BYTES}), the clean output and the values after each
 *    activation for the sensitivity probe, whose noisy passes then run only the layers after the
 *    noise;
 *  - the degree sweep evaluates a front point chunk by chunk, hardest images first and in chunks
 *    that start at one image, and stops as soon as the disagreements exceed what the target allows
 *    (the point's verdict is then known); a point restarts each chunk after the last activation
 *    its graph shares with the chunk's previous one;
 *  - chunks run on the pool's workers (`src/nn/forward/pool.ts`).
 * One rule is not exact, by design: when no point meets the target, only the `fallbackPoints`
 * points of least estimated error (and points already scored on every image) compete for the most
 * accurate, so the fallback costs a bounded number of passes. The estimate is sound for every
 * candidate degree because the fits use ≥ 8 bins per coefficient and a floor weight per bin
 * (`fitHistogramFloored`, `approx/ola.ts`).
 * Images are split into chunks of a size that depends only on the image count, never on the
 * thread count, so results do not depend on the thread count.
 */

import { DEFAULT_FLOOR_WEIGHT, DEFAULT_OLA_DEGREES } from '../../approx/index.js';
import {
  type ActivationFit, activationsWithStats, calibrationBins, fitActivation, fitAll, olaFront,
} from './approximate.js';
import { CalibrationAccumulator } from './calibrate.js';
import {
  type CompileOptions, type CompiledModel, type OlaStep, buildCompiled, mapModelPolynomials, planLevels, withClustering,
} from './compile.js';
import type { ForwardResult, ForwardTask } from '../forward/forward.js';
import { type IrGraph, type Tensor, foldBatchNorm, sizeOf } from '../graph.js';
import type { Job, Steps } from '../forward/jobs.js';
import { InvalidArgumentError } from '../../errors.js';
import { argmaxRows, evalNode } from '../reference.js';

/** Calibration inputs kept between the two calibration passes up to this many bytes (else a second pass). */
export const KEEP_BYTES = 512 * 2 ** 20;

/** Images the sensitivity probe uses (the first ones). */
const SENSITIVITY_IMAGES = 256;

/** Front points that compete for the most accurate when none meets the target (those of least estimated error). */
const FALLBACK_POINTS = 8;

/** Seed of the sensitivity probe's noise. */
const SENSITIVITY_SEED = 7;

/**
 * Images per chunk for a batch of n: a power of two near n/16, at most 32 (so it divides the
 * sensitivity probe's 256 images), depending on n only.
 */
export function chunkSize(n: number): number {
  let c = 1;
  while (c * 2 <= 32 && c * 2 * 16 <= n) c *= 2;
  return c;
}

interface Chunk {
  start: number;
  count: number;
  chunk: number;
}

function chunksOf(n: number): Chunk[] {
  const size = chunkSize(n);
  const out: Chunk[] = [];
  for (let start = 0, i = 0; start < n; start += size, i++) out.push({ start, count: Math.min(size, n - start), chunk: i });
  return out;
}

/**
 * Chunks of the degree sweep: four of 1 image, four of 2, four of 4, … up to {@link chunkSize}(n),
 * then that size. A point that misses the target usually fails on the first, hardest images (the
 * sweep scores them first, see `hardestFirst`); a pool of two workers keeps four chunks in flight,
 * so small first chunks waste few images on a point whose verdict is already known. Depends on n
 * only (never on the thread count).
 */
export function sweepChunks(n: number): Chunk[] {
  const size = chunkSize(n);
  const out: Chunk[] = [];
  for (let start = 0, i = 0; start < n; i++) {
    const count = Math.min(n - start, Math.min(size, 2 ** Math.floor(i / 4)));
    out.push({ start, count, chunk: i });
    start += count;
  }
  return out;
}

/**
 * Image order of the sweep: the original model's smallest top-two logit margin first (ties by
 * index). The images whose prediction a small error flips come first, so a point that misses the
 * target stops after few images. Accuracies and verdicts do not depend on the order.
 */
function hardestFirst(logits: Tensor): number[] {
  const n = logits.shape[0]!;
  const k = logits.data.length / n;
  const margin = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let a = -Infinity;
    let b = -Infinity;
    for (let j = 0; j < k; j++) {
      const v = logits.data[i * k + j]!;
      if (v > a) {
        b = a;
        a = v;
      } else if (v > b) b = v;
    }
    margin[i] = k > 1 ? a - b : 0;
  }
  return Array.from({ length: n }, (_, i) => i).sort((i, j) => margin[i]! - margin[j]! || i - j);
}

/** Concatenates chunk outputs (in order) into one `[n, ...shape]` tensor. */
function concat(results: readonly ForwardResult[], n: number, shape: readonly number[]): Tensor {
  const per = sizeOf(shape);
  const data = new Float64Array(n * per);
  let off = 0;
  for (const r of results) {
    data.set(r.output, off);
    off += r.output.length;
  }
  return { shape: [n, ...shape], data };
}

/** Calibration of `base` on `data`: both passes, plus what the sensitivity probe reuses. */
function* calibrationSteps(
  base: IrGraph, data: Tensor, opts: CompileOptions, extra: ForwardTask[], sensImages: number,
): Steps<{ calibration: ReturnType<CalibrationAccumulator['result']>; extra: ForwardResult[]; sens: ForwardResult[] }> {
  const n = data.shape[0]!;
  const bins = opts.bins ?? calibrationBins(opts.degrees ?? { kind: 'ola' }, opts.olaDegrees);
  const acc = new CalibrationAccumulator(base, { bins, margin: opts.margin ?? 0.05 });
  const capture = acc.nodes;
  const shapes = new Map<string, number[]>([[base.input.name, base.input.shape]]);
  for (const node of base.nodes) shapes.set(node.output, node.outShape);
  const perImage = base.nodes.filter((v) => capture.includes(v.name)).reduce((s, v) => s + sizeOf(shapes.get(v.inputs[0]!) ?? v.outShape), 0);
  const chunks = chunksOf(n);
  // images per job: all of them if their captured inputs fit in KEEP_BYTES (then pass 2 reuses them)
  const size = chunkSize(n);
  const groupImages = Math.max(size, Math.floor(KEEP_BYTES / Math.max(1, 8 * perImage) / size) * size);
  const keep = n <= groupImages;
  const task = (c: Chunk): ForwardTask => ({ graph: base, data, ...c, capture, ...(c.start < sensImages ? { slot: 'sens' } : {}) });
  const kept: ForwardResult[] = [];
  const sens: ForwardResult[] = [];
  let extraResults: ForwardResult[] = [];
  const total = keep ? chunks.length + extra.length : 2 * chunks.length + extra.length;
  let before = 0;
  for (let g = 0; g < n; g += groupImages) {
    const part = chunks.filter((c) => c.start >= g && c.start < g + groupImages);
    const job: Job = { stage: 'calibration', tasks: [...part.map(task), ...(g === 0 ? extra : [])], progress: { before, total } };
    const rs = yield job;
    before += job.tasks.length;
    if (g === 0) extraResults = rs.slice(part.length);
    part.forEach((c, i) => {
      const r = rs[i]!;
      capture.forEach((name, k) => acc.addRange(name, r.captured![k]!));
      if (c.start < sensImages) sens.push(r);
      if (keep) kept.push(r);
    });
  }
  acc.closeRanges();
  if (keep) {
    for (const r of kept) capture.forEach((name, k) => acc.addHistogram(name, r.captured![k]!));
  } else {
    for (let g = 0; g < n; g += groupImages) {
      const part = chunks.filter((c) => c.start >= g && c.start < g + groupImages);
      const job: Job = { stage: 'calibration', tasks: part.map((c) => ({ graph: base, data, ...c, capture })), progress: { before, total } };
      const rs = yield job;
      before += job.tasks.length;
      for (const r of rs) capture.forEach((name, k) => acc.addHistogram(name, r.captured![k]!));
    }
  }
  return { calibration: acc.result(n), extra: extraResults, sens };
}

/**
 * OLA's layer sensitivity (see `layerSensitivity` in `approximate.ts`, same probe, same numbers)
 * from the calibration pass's results on the first `sensImages` images: their clean output, the
 * activation inputs (hence outputs), and the values kept after each activation.
 */
function* sensitivitySteps(base: IrGraph, data: Tensor, names: readonly string[], sens: readonly ForwardResult[], capture: readonly string[], sensImages: number): Steps<Map<string, number>> {
  const res = new Map<string, number>();
  if (names.length === 0) return res;
  const clean = concat(sens, sensImages, base.output.shape).data;
  const chunks = chunksOf(data.shape[0]!).filter((c) => c.start < sensImages);
  const spread = new Map<string, number>();
  for (const name of names) {
    const node = base.nodes.find((v) => v.name === name)!;
    const k = capture.indexOf(name);
    // the activation's output, recomputed from its captured input (evalNode is elementwise here)
    let m = 0;
    let m2 = 0;
    let len = 0;
    chunks.forEach((c, i) => {
      const input = sens[i]!.captured![k]!;
      const out = evalNode(node, [{ shape: [c.count, ...node.outShape], data: input }], c.count).data;
      for (const v of out) {
        m += v;
        m2 += v * v;
      }
      len += out.length;
    });
    m /= len;
    spread.set(name, Math.sqrt(Math.max(1e-24, m2 / len - m * m)));
  }
  const tasks: ForwardTask[] = [];
  for (const name of names) {
    const node = base.nodes.find((v) => v.name === name)!;
    const sigma = 0.01 * (spread.get(name) ?? 1);
    const per = sizeOf(node.outShape);
    for (const c of chunks) {
      tasks.push({ graph: base, data, ...c, slot: 'sens', checkFinite: false, noise: { node: name, sigma, seed: SENSITIVITY_SEED, offset: c.start * per } });
    }
  }
  const rs = yield { stage: 'layer sensitivity', tasks };
  names.forEach((name, l) => {
    const noisy = concat(rs.slice(l * chunks.length, (l + 1) * chunks.length), sensImages, base.output.shape).data;
    const sigma = 0.01 * (spread.get(name) ?? 1);
    let mse = 0;
    for (let i = 0; i < clean.length; i++) mse += (noisy[i]! - clean[i]!) ** 2;
    res.set(name, mse / clean.length / (sigma * sigma));
  });
  return res;
}

/** Agreement counts of a graph over the first `next` chunks (images in order). */
interface Score {
  ok: number;
  bad: number;
  /** Chunks evaluated. */
  next: number;
  /** Images evaluated. */
  evaluated: number;
}

const emptyScore = (): Score => ({ ok: 0, bad: 0, next: 0, evaluated: 0 });

/**
 * Continues scoring a compiled graph on the calibration data against `want` (labels or the
 * original predictions) from `from`, chunk by chunk in image order, until every image is scored
 * or `stop(score)` holds.
 */
function* scoreSteps(
  g: IrGraph, data: Tensor, want: ArrayLike<number>, stage: string, progress: Job['progress'],
  stop: (s: Score) => boolean = () => false, from: Score = emptyScore(), chunks: Chunk[] = chunksOf(data.shape[0]!), slot: string | undefined = 'sweep',
): Steps<Score> {
  const n = data.shape[0]!;
  const k = sizeOf(g.output.shape);
  const s = { ...from };
  if (s.next >= chunks.length) return s;
  yield {
    stage, progress,
    tasks: chunks.slice(s.next).map((c) => ({ graph: g, data, ...c, ...(slot === undefined ? {} : { slot }), checkFinite: false })),
    consume: (_i, r) => {
      const c = chunks[s.next++]!;
      const pred = argmaxRows({ shape: [c.count, k], data: r.output });
      pred.forEach((p, j) => (p === want[c.start + j] ? s.ok++ : s.bad++));
      s.evaluated += c.count;
      return s.evaluated === n || !stop(s);
    },
  };
  return s;
}

/** The whole compilation (see `compileModel`). */
export function* compileSteps(graph: IrGraph, calibData: Tensor, opts: CompileOptions = {}): Steps<CompiledModel> {
  let base = foldBatchNorm(graph);
  const n = calibData.shape[0]!;
  const spec = opts.degrees ?? { kind: 'ola' };
  const ola = spec.kind === 'ola';
  const sensOn = ola && opts.sensitivity !== false;
  const sensImages = sensOn ? Math.min(SENSITIVITY_IMAGES, n) : 0;
  // the original model's predictions ride along with the first calibration job
  const origTasks: ForwardTask[] = ola ? chunksOf(n).map((c) => ({ graph, data: calibData, ...c })) : [];
  const floor = opts.floorWeight ?? DEFAULT_FLOOR_WEIGHT;
  const keep = opts.fallbackPoints ?? FALLBACK_POINTS;
  if (!(floor >= 0) || !Number.isFinite(floor)) throw new InvalidArgumentError(`floorWeight = ${floor} is not a finite number ≥ 0`, 'pass floorWeight ≥ 0 (default 1e-4; 0 fits the plain histogram)');
  if (!(keep >= 1)) throw new InvalidArgumentError(`fallbackPoints = ${keep} is not ≥ 1`, 'pass fallbackPoints ≥ 1 (default 8), or Infinity to let every point of the front compete');
  const cal = yield* calibrationSteps(base, calibData, opts, origTasks, sensImages);
  const calibration = cal.calibration;
  base = mapModelPolynomials(base, calibration);
  if (!ola) {
    const fits = fitAll(base, calibration, spec, floor);
    const { graph: g, log } = buildCompiled(base, fits);
    return withClustering({ original: graph, graph: g, fits, log, calibration }, opts);
  }
  // OLA: walk the front from cheapest, simulate, keep the first that meets the target.
  const acts = activationsWithStats(base, calibration);
  const actNames = acts.filter((a) => a.node.op !== 'Square').map((a) => a.node.name);
  const capture = calibration.activations.map((a) => a.node);
  const sens = sensOn ? yield* sensitivitySteps(base, calibData, actNames, cal.sens, capture, sensImages) : undefined;
  const plan = olaFront(base, calibration, spec.candidates ?? opts.olaDegrees ?? DEFAULT_OLA_DEGREES, sens, floor);
  const squares = acts.filter((a) => a.node.op === 'Square');
  const origLogits = concat(cal.extra, n, graph.output.shape);
  const origPred = argmaxRows(origLogits);
  const labels = opts.labels;
  const metric = labels ? 'accuracy' : 'agreement';
  const want: ArrayLike<number> = labels ?? origPred;
  let okOrig = 0;
  for (let i = 0; i < n; i++) if (origPred[i] === want[i]) okOrig++;
  const original = okOrig / n;
  const target = opts.targetAccuracy ?? spec.targetAccuracy ?? (labels ? original - 0.01 : 0.99);
  // the sweep scores the images hardest first, in chunks that start small (exact: a point's
  // accuracy and verdict do not depend on the order)
  const perm = hardestFirst(origLogits);
  const per = calibData.data.length / n;
  const sweepData: Tensor = { shape: calibData.shape, data: new Float64Array(calibData.data.length) };
  perm.forEach((i, k) => sweepData.data.set(calibData.data.subarray(i * per, (i + 1) * per), k * per));
  const sweepWant = perm.map((i) => want[i]!);
  const ramp = sweepChunks(n);
  // each (layer, degree) is fitted once: front points share most of their fits, and a fit on the
  // fine histogram (512 bins by default) costs milliseconds
  const fitCache = new Map<string, ActivationFit>();
  const fitOnce = (i: number, d: number): ActivationFit => {
    const key = `${i}:${d}`;
    let f = fitCache.get(key);
    if (!f) fitCache.set(key, (f = fitActivation(plan.nodes[i]!, plan.stats[i]!, d, floor)));
    return f;
  };
  const fitsFor = (degrees: number[]) => {
    const fits: ActivationFit[] = plan.nodes.map((_, i) => fitOnce(i, degrees[i]!));
    for (const s of squares) fits.push(fitActivation(s.node, s.stats, 2, floor));
    return fits;
  };
  const steps: OlaStep[] = [];
  const scores: Score[] = [];
  let chosen = -1;
  let best: { fits: ActivationFit[]; graph: IrGraph; log: string[] } | undefined;
  const front = plan.front.length ? plan.front : [{ degrees: [], cost: 0, error: 0 }];
  const perChunk = 1 / ramp.length;
  /** Accuracy if complete, else the upper bound (n − disagreements so far)/n. */
  const bound = (s: Score) => (s.evaluated === n ? s.ok / n : (n - s.bad) / n);
  for (const [k, p] of front.entries()) {
    const fits = fitsFor(p.degrees);
    const c = buildCompiled(base, fits);
    // stop once the point cannot reach the target: its verdict is known
    const sc = yield* scoreSteps(c.graph, sweepData, sweepWant, 'degree search', { before: k, total: front.length, scale: perChunk }, (s) => bound(s) < target, emptyScore(), ramp);
    const lv = planLevels(c.graph, 'batch');
    scores.push(sc);
    steps.push({
      degrees: Object.fromEntries(plan.nodes.map((v, i) => [v.name, p.degrees[i]!])), depth: lv.depth,
      ctMults: lv.ctMults, accuracy: bound(sc), evaluated: sc.evaluated,
    });
    if (sc.evaluated === n && bound(sc) >= target) {
      chosen = steps.length - 1;
      best = { fits, ...c };
      break;
    }
  }
  // the search is over (usually before the front's end): close its progress
  if (steps.length < front.length) yield { stage: 'degree search', tasks: [], progress: { before: front.length, total: front.length } };
  if (!best) {
    // Nothing met the target: the most accurate of the contenders, the first of equals (full-pass
    // accuracy). The contenders are the `fallbackPoints` points of least estimated error (the front's
    // last ones: its error falls as its cost rises) and any point already scored on every image, so
    // the fallback costs at most that many full passes however long the front is.
    // Branch and bound over the contenders' upper bounds: a point is scored further only while its
    // bound can beat the best complete point, resuming where it stopped; the likeliest winners
    // first (highest bound, then most images before the first disagreement) so the best rises early.
    const contenders = steps.map((_, i) => i).filter((i) => i >= steps.length - keep || scores[i]!.evaluated === n);
    const beats = (acc: number, k: number, bi: number) => bi < 0 || acc > steps[bi]!.accuracy || (acc === steps[bi]!.accuracy && k < bi);
    const order = contenders.sort((a, b) => steps[b]!.accuracy - steps[a]!.accuracy || scores[b]!.evaluated - scores[a]!.evaluated || a - b);
    let bi = -1;
    for (const [j, k] of order.entries()) {
      if (!beats(steps[k]!.accuracy, k, bi)) continue;
      if (scores[k]!.evaluated < n) {
        const g = buildCompiled(base, fitsFor(front[k]!.degrees)).graph;
        const sc = yield* scoreSteps(g, sweepData, sweepWant, 'degree search (most accurate)', { before: j, total: order.length, scale: perChunk },
          (s) => !beats(bound(s), k, bi), scores[k], ramp);
        scores[k] = sc;
        steps[k]!.accuracy = bound(sc);
        steps[k]!.evaluated = sc.evaluated;
      }
      if (scores[k]!.evaluated === n && beats(steps[k]!.accuracy, k, bi)) bi = k;
    }
    yield { stage: 'degree search (most accurate)', tasks: [], progress: { before: order.length, total: order.length } };
    chosen = bi;
    const fits = fitsFor(front[bi]!.degrees);
    best = { fits, ...buildCompiled(base, fits) };
    best.log.push(`OLA: no degree assignment reached the target ${metric} ${target.toFixed(4)}; using the most accurate (${steps[bi]!.accuracy.toFixed(4)})`);
  }
  const uniform: { degree: number; depth: number; ctMults: number; accuracy: number }[] = [];
  if (actNames.length) {
    const degrees = opts.compareUniform ?? [2, 3, 4, 5, 7, 15];
    for (const [k, d] of degrees.entries()) {
      const fits = fitAll(base, calibration, { kind: 'uniform', degree: d }, floor);
      const c = buildCompiled(base, fits);
      const lv = planLevels(c.graph, 'batch');
      const sc = yield* scoreSteps(c.graph, calibData, want, 'uniform comparison', { before: k, total: degrees.length, scale: 1 / chunksOf(n).length }, undefined, emptyScore(), chunksOf(n), undefined);
      uniform.push({ degree: d, depth: lv.depth, ctMults: lv.ctMults, accuracy: sc.ok / n });
    }
  }
  return withClustering({
    original: graph, graph: best.graph, fits: best.fits, log: best.log, calibration,
    ola: { steps, chosen, target, original, metric, uniform, ...(sens ? { sensitivity: Object.fromEntries(sens) } : {}) },
  }, opts);
}

/** The simulation of a compiled graph on a batch (see `simulate`). */
export function* simulateSteps(g: IrGraph, data: Tensor): Steps<Tensor> {
  const n = data.shape[0]!;
  const rs = yield { stage: 'simulation', tasks: chunksOf(n).map((c) => ({ graph: g, data, ...c, checkFinite: false })) };
  return concat(rs, n, g.output.shape);
}
