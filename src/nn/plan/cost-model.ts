/**
 * @module nn/plan/cost-model
 * Predicted run time of a compiled graph in a layout: an operation count per node (what the batch
 * runner, `src/nn/batch/runner.ts`, and the channel runner, `src/nn/channel/runner.ts`, execute) times per-operation times
 * measured at the run's own parameters, each scaled by the limbs at the node's level (the engine's
 * operations are linear in the limb count, except key switching, which also pays the special
 * limbs: counted at its full top-level cost). Used to choose a layout (`layout-choice.ts`) and for
 * the CLI's estimate and ETA. Time units are seconds.
 *
 * Counting rules (per run):
 *  - batch: one ciphertext per tensor element (all images in the slots). A Conv/Dense output is a
 *    linear combination of its in-bounds inputs (`term` each) then a rescale; pools and per-channel
 *    affine nodes likewise; a Poly costs its ct×ct products (`polyCost`) plus one `term` per
 *    coefficient, per element; Add/AddConstant one `add` per element.
 *  - channel: one ciphertext per channel (vectors: per element). A Conv/AveragePool rotates each
 *    input channel by its kernel offsets (hoisted `rotation`s), then one `term` per weight and a
 *    rescale per output channel; a Dense on a spatial value multiplies by an encoded weight vector
 *    per (output, channel) (`plainMul`), rescales, and sums slots with ⌈log2(span)⌉ rotations.
 *
 * The packed layout (`packed/cost.ts`) is priced from its plan's own steps with operation times
 * measured at two levels (`measureLevelOpTimes`: decomposition, hoisted and full rotations,
 * plaintext products, encodings, …) and interpolated to each layer's level (`timeAt`).
 */
import {
  type Ciphertext, CkksContext, Encoder, Encryptor, Evaluator, KeyGenerator, Parameters, type ParametersLiteral, type WorkerPool,
} from '../../ckks/index.js';
import { type DhSource, encodeSourceQP } from '../../ckks/linear/hoisted.js';
import { linearCombination } from '../lincomb.js';
import { type Layout, maskedPolys, planLevels, polyCost } from '../compile/compile.js';
import { type IrGraph, type IrNode, sizeOf } from '../graph.js';

/** The operation kinds of the model. */
export type OpKind = 'term' | 'add' | 'rescale' | 'mulRelinRescale' | 'rotation' | 'plainMul';

/** Seconds per operation at the top level of a parameter set. */
export type OpTimes = Record<OpKind, number>;

/** Operation counts, each weighted by the limb fraction of its level (so `Σ count·time` is seconds). */
export type OpCounts = Record<OpKind, number>;

const zero = (): OpCounts => ({ term: 0, add: 0, rescale: 0, mulRelinRescale: 0, rotation: 0, plainMul: 0 });

/** A node's predicted share of a run. */
export interface NodeCost {
  node: string;
  op: string;
  counts: OpCounts;
  seconds: number;
}

/** A layout's predicted run. */
export interface RunPrediction {
  layout: Layout;
  /** Seconds of one run (one image in the channel layout, up to `slots` images in the batch layout). */
  seconds: number;
  nodes: NodeCost[];
}

/** In-bounds kernel taps over all output positions of a 2-D window op (padding taps cost nothing). */
function tapsInBounds(inH: number, inW: number, outH: number, outW: number, kh: number, kw: number, strides: readonly number[], pads: readonly number[]): number {
  let taps = 0;
  for (let oy = 0; oy < outH; oy++) {
    for (let ox = 0; ox < outW; ox++) {
      for (let ky = 0; ky < kh; ky++) {
        const y = oy * strides[0] + ky - pads[0];
        if (y < 0 || y >= inH) continue;
        for (let kx = 0; kx < kw; kx++) {
          const x = ox * strides[1] + kx - pads[1];
          if (x >= 0 && x < inW) taps++;
        }
      }
    }
  }
  return taps;
}

/** Operation counts of one node (unweighted by level). */
export function nodeOpCounts(n: IrNode, inShape: readonly number[], layout: Layout, masked: boolean, span: number): OpCounts {
  const c = zero();
  const E = sizeOf(n.outShape);
  const spatial = n.outShape.length === 3;
  const cts = layout === 'batch' ? E : spatial ? n.outShape[0] : E;
  switch (n.op) {
    case 'Conv': {
      const [co, ciG, kh, kw] = n.weight.shape;
      const ci = inShape[0];
      if (layout === 'batch') {
        c.term = co * ciG * tapsInBounds(inShape[1], inShape[2], n.outShape[1], n.outShape[2], kh, kw, n.strides, n.pads);
        c.rescale = E;
      } else {
        c.rotation = ci * (kh * kw - 1);
        c.term = co * ci * kh * kw;
        c.rescale = co;
      }
      break;
    }
    case 'AveragePool': {
      const [kh, kw] = n.kernel;
      if (layout === 'batch') {
        c.term = n.outShape[0] * tapsInBounds(inShape[1], inShape[2], n.outShape[1], n.outShape[2], kh, kw, n.strides, n.pads);
        if (!n.sum) c.rescale = E;
      } else {
        c.rotation = n.outShape[0] * (kh * kw - 1);
        c.add = n.outShape[0] * (kh * kw - 1);
      }
      break;
    }
    case 'GlobalAveragePool':
      if (layout === 'batch') {
        c.term = sizeOf(inShape);
        if (!n.sum) c.rescale = E;
      } else {
        c.rotation = inShape[0] * Math.ceil(Math.log2(span));
        c.add = c.rotation;
      }
      break;
    case 'Dense': {
      const [O, I] = n.weight.shape;
      if (layout === 'channel' && inShape.length === 3) {
        const C = inShape[0];
        c.plainMul = O * C;
        c.add = O * C + O * Math.ceil(Math.log2(span));
        c.rotation = O * Math.ceil(Math.log2(span));
      } else c.term = O * I;
      c.rescale = O;
      break;
    }
    case 'BatchNormalization':
    case 'MulConstant':
      c.term = cts;
      c.rescale = cts;
      break;
    case 'AddConstant':
    case 'Add':
      c.add = cts;
      break;
    case 'Poly': {
      const pc = polyCost(n, masked);
      c.mulRelinRescale = pc.ctMults * cts;
      c.term = n.coeffs.length * cts;
      if (masked) c.plainMul = cts;
      break;
    }
    default:
      break;
  }
  return c;
}

/**
 * Predicts one run of `g` in `layout` at parameters `P` from per-operation times measured at `P`
 * (`measureOpTimes`). Each node's counts are weighted by limbs(level)/limbs(top) at its input level;
 * rotations are counted at full cost (key switching also works over the special limbs).
 */
export function predictRun(g: IrGraph, P: Parameters, layout: Layout, times: OpTimes): RunPrediction {
  const plan = planLevels(g, layout);
  const masked = layout === 'channel' ? maskedPolys(g) : new Set<string>();
  const shapes = new Map<string, readonly number[]>([[g.input.name, g.input.shape]]);
  const span = g.input.shape.length === 3 ? g.input.shape[1] * g.input.shape[2] : 1;
  const top = P.limbsAt(P.levels);
  const nodes: NodeCost[] = [];
  let seconds = 0;
  for (const n of g.nodes) {
    const inShape = shapes.get(n.inputs[0]) ?? n.outShape;
    shapes.set(n.output, n.outShape);
    const raw = nodeOpCounts(n, inShape, layout, masked.has(n.name), span);
    const level = Math.max(0, P.levels - Math.max(...n.inputs.map((v) => plan.depthAt.get(v) ?? 0)));
    const f = P.limbsAt(level) / top;
    const counts = zero();
    let s = 0;
    for (const k of Object.keys(counts) as OpKind[]) {
      counts[k] = raw[k] * (k === 'rotation' ? 1 : f);
      s += counts[k] * times[k];
    }
    nodes.push({ node: n.name, op: n.op, counts, seconds: s });
    seconds += s;
  }
  return { layout, seconds, nodes };
}

/**
 * Seconds of `f`: the sample at `quantile` (default 1/4, the first quartile) of at least `minRuns`
 * runs within about `budget` seconds. A low quantile suits single operations: other work on the
 * machine only adds time, and a pause in a few samples must not move the prediction.
 */
export function timeOp(f: () => unknown, minRuns: number, budget: number, quantile = 0.25): number {
  f(); // warm-up (JIT, scratch allocation)
  const samples: number[] = [];
  const end = performance.now() + budget * 1000;
  while (samples.length < minRuns || (performance.now() < end && samples.length < 50)) {
    const t = performance.now();
    f();
    samples.push((performance.now() - t) / 1000);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor((samples.length - 1) * quantile)];
}

/**
 * Measures each operation of the model once at the top level of `params` (keys: relinearization
 * and one rotation). About 0.1 s at N = 2^12 and 1–2 s at N = 2^14 on one core (key generation
 * included). `budget`: seconds per operation (default 0.1).
 */
export function measureOpTimes(params: Parameters | ParametersLiteral, budget = 0.1): OpTimes {
  const ctx = new CkksContext(params);
  const P = ctx.params;
  const enc = new Encoder(ctx);
  const kg = new KeyGenerator(ctx);
  const sk = kg.genSecretKey();
  const ev = new Evaluator(ctx, { relin: kg.genRelinKey(sk), galois: kg.genGaloisKeys(sk, [1]) });
  const e = new Encryptor(ctx, kg.genPublicKey(sk));
  const v = Float64Array.from({ length: P.slots }, (_, i) => Math.sin(i) / 2);
  const a: Ciphertext = e.encrypt(enc.encode(v));
  const b: Ciphertext = e.encrypt(enc.encode(v));
  const L = P.levels;
  const S = P.scales[L];
  // distinct ciphertexts spanning about 32 MiB, as a layer's inputs do: a layer streams its
  // inputs from memory, and a few ciphertexts reused would stay in cache and time 2–3× too fast
  const K = Math.max(16, Math.min(256, Math.round(2 ** 25 / (2 * P.limbsAt(P.levels) * P.N * 4))));
  const cts: Ciphertext[] = [a];
  for (let i = 1; i < K; i++) cts.push(ev.add(cts[i - 1], b));
  const ws = Array.from({ length: K }, (_, i) => (i + 1) / K);
  const t: OpTimes = {
    term: timeOp(() => linearCombination(ctx, cts, ws, S), 5, budget) / K,
    add: timeOp(() => ev.add(a, b), 5, budget),
    rescale: L > 0 ? timeOp(() => ev.rescale(ev.mulConst(a, 0.5)), 5, budget) - timeOp(() => ev.mulConst(a, 0.5), 5, budget) : 0,
    mulRelinRescale: L > 0 ? timeOp(() => ev.mulRelinRescale(a, b), 4, budget) : 0,
    rotation: timeOp(() => ev.rotate(a, 1), 4, budget),
    plainMul: timeOp(() => ev.mulPlain(a, enc.encode(v, { level: L, scale: S })), 4, budget),
  };
  // a difference of medians can come out slightly negative for cheap operations
  t.rescale = Math.max(t.rescale, t.add);
  return t;
}

/**
 * Operation kinds measured at a level for diagonal transforms (the packed layout, `packed/cost.ts`):
 *  - decompose: the shared digit decomposition of c1 before hoisted rotations (once per transform);
 *  - hoistedRotation: one more step of a hoisted rotation (inner product, ModDown, permutation);
 *  - rotation: a full rotation (decomposition + key switch);
 *  - plainMul: ciphertext × encoded plaintext; encode: one slot vector encoded at the level (FFT of
 *    the slots, then one NTT per limb);
 *  - add, rescale, mulRelinRescale (ct × ct, relinearization and rescale), term (ciphertext × scalar
 *    then add: one coefficient of a polynomial).
 */
export type LevelOpKind = 'decompose' | 'hoistedRotation' | 'rotation' | 'plainMul' | 'encode' | 'add' | 'rescale' | 'mulRelinRescale' | 'term'
  | DoubleHoistingOpKind;

/**
 * The parts of a double-hoisted transform (`ckks/linear/hoisted.ts`), measured as whole transforms
 * on the evaluator's threads: dhDecompose (the input's decomposition), dhBaby (an inner product and
 * a permutation over QP), dhGiant (a ModDown of one polynomial, a decomposition, an inner product),
 * dhDiagonal (a diagonal encoded over QP by limb and its product), dhDiagonalKept (the product of a
 * diagonal encoded ahead), dhFinish (the final ModDown and fixed costs).
 */
export type DoubleHoistingOpKind = 'dhDecompose' | 'dhBaby' | 'dhGiant' | 'dhDiagonal' | 'dhDiagonalKept' | 'dhFinish';

/** Seconds per operation at one level. */
export type LevelOpTimes = Record<LevelOpKind, number>;

/** Per-operation times measured at a few levels of one parameter set. */
export interface LevelTimes {
  /** Parameter hash the times belong to. */
  hash: string;
  /** Threads of the evaluator they were measured with (1, or a worker pool's size). */
  threads: number;
  /** Measured levels, descending. */
  levels: number[];
  /** Times at each of `levels`. */
  times: LevelOpTimes[];
}

/** Kinds whose cost follows key switching: digits × (limbs + special limbs). */
const KEY_SWITCH_KINDS = new Set<LevelOpKind>(['decompose', 'hoistedRotation', 'rotation', 'mulRelinRescale', 'dhDecompose', 'dhBaby', 'dhGiant']);

/** The size factor an operation's time is affine in at `level`: limbs, or digits × (limbs + special limbs) for key switching. */
export function levelFactor(P: Parameters, kind: LevelOpKind, level: number): number {
  const l = P.limbsAt(level);
  return KEY_SWITCH_KINDS.has(kind) ? P.dnumAt(level) * (l + P.p.length) : l;
}

/**
 * Seconds of `kind` at `level`: exact at a measured level; elsewhere affine in {@link levelFactor}
 * through the two nearest measured levels (clamped at 0; one measured level scales proportionally).
 */
export function timeAt(P: Parameters, lt: LevelTimes, kind: LevelOpKind, level: number): number {
  const i = lt.levels.indexOf(level);
  if (i >= 0) return lt.times[i][kind];
  const f = levelFactor(P, kind, level);
  if (lt.levels.length === 1) return lt.times[0][kind] * (f / levelFactor(P, kind, lt.levels[0]));
  // the two measured levels nearest to `level` (levels are descending)
  let j = lt.levels.findIndex((m) => m < level);
  if (j <= 0) j = j === 0 ? 1 : lt.levels.length - 1;
  const [a, b] = [lt.levels[j - 1], lt.levels[j]];
  const fa = levelFactor(P, kind, a);
  const fb = levelFactor(P, kind, b);
  const ta = lt.times[j - 1][kind];
  const tb = lt.times[j][kind];
  if (fa === fb) return (ta + tb) / 2;
  return Math.max(0, tb + ((ta - tb) * (f - fb)) / (fa - fb));
}

/**
 * Seconds of `f`, the median (`timeOp` at quantile 1/2). A whole transform runs for seconds and
 * meets the machine's load as it is, so its operations are priced at their typical time rather
 * than at a quiet moment's.
 */
const timeMedian = (f: () => unknown, minRuns: number, budget: number): number => timeOp(f, minRuns, budget, 0.5);

/** Options of {@link measureLevelOpTimes}. */
export interface LevelMeasureOptions {
  /** Seconds per operation and level (default 0.08). */
  budget?: number;
  /** Run the evaluator's key switches and rescales on this pool (the server's threads). */
  pool?: WorkerPool;
}

/**
 * Measures the transform operations ({@link LevelOpKind}) at each of `levels` (default: the top
 * and the lowest level 1, so the affine fit of {@link timeAt} spans the chain). Keys: relinearization
 * and four rotations (a hoisted rotation's per-step time is the difference of four steps and one).
 * About 2–4 s at N = 2^14 on one core, key generation included.
 */
export function measureLevelOpTimes(params: Parameters | ParametersLiteral, levels?: readonly number[], opts: LevelMeasureOptions = {}): LevelTimes {
  const ctx = new CkksContext(params);
  const P = ctx.params;
  const budget = opts.budget ?? 0.08;
  const enc = new Encoder(ctx);
  const kg = new KeyGenerator(ctx);
  const sk = kg.genSecretKey();
  const steps = [1, 2, 3, 4];
  const ev = new Evaluator(ctx, { relin: kg.genRelinKey(sk), galois: kg.genGaloisKeys(sk, steps) }, opts.pool ? { pool: opts.pool } : {});
  const e = new Encryptor(ctx, kg.genPublicKey(sk));
  const v = Float64Array.from({ length: P.slots }, (_, i) => Math.sin(i) / 2);
  const top = P.levels;
  const want = [...new Set(levels ?? [top, Math.min(top, 1)])].filter((l) => l >= 0 && l <= top).sort((a, b) => b - a);
  // distinct ciphertexts and plaintexts spanning about 32 MiB, as a transform's rotations and
  // products do: a few operands reused would stay in cache and time 1.5–2× too fast
  const K = Math.max(4, Math.min(32, Math.round(2 ** 25 / (2 * P.limbsAt(top) * P.N * 4))));
  const fresh: Ciphertext[] = [e.encrypt(enc.encode(v))];
  const b0 = e.encrypt(enc.encode(v));
  for (let i = 1; i < K; i++) fresh.push(ev.add(fresh[i - 1], b0));
  let i = 0;
  const next = <T>(xs: readonly T[]): T => xs[i++ % xs.length];
  const times = want.map((level): LevelOpTimes => {
    const cts = fresh.map((c) => (level === c.level ? c : ev.dropToLevel(c, level)));
    const b = level === b0.level ? b0 : ev.dropToLevel(b0, level);
    const S = P.scales[level];
    const pts = cts.map((_, j) => enc.encode(v.map((x) => x * (j + 1) / K), { level, scale: S }));
    const one = timeMedian(() => ev.rotateHoisted(next(cts), [1]), 4, budget);
    const four = timeMedian(() => ev.rotateHoisted(next(cts), steps), 3, budget);
    const hoistedRotation = Math.max(0, (four - one) / 3);
    const add = timeMedian(() => ev.add(next(cts), b), 5, budget);
    const mulConst = timeMedian(() => ev.mulConst(next(cts), 0.5), 5, budget);
    return {
      ...measureDoubleHoisting(ctx, ev, enc, cts, v, level, budget),
      decompose: Math.max(0, one - hoistedRotation),
      hoistedRotation,
      rotation: timeMedian(() => ev.rotate(next(cts), 1), 4, budget),
      plainMul: timeMedian(() => ev.mulPlain(next(cts), next(pts)), 5, budget),
      encode: timeMedian(() => enc.encode(v, { level, scale: S, fill: 'repeat' }), 5, budget),
      add,
      rescale: level > 0 ? Math.max(add, timeMedian(() => ev.rescale(ev.mulConst(next(cts), 0.5)), 5, budget) - mulConst) : 0,
      mulRelinRescale: level > 0 ? timeMedian(() => ev.mulRelinRescale(next(cts), b), 4, budget) : 0,
      term: mulConst + add,
    };
  });
  return { hash: P.hash, threads: opts.pool?.threads ?? 1, levels: want, times };
}

/**
 * The parts of a double-hoisted transform at `level` ({@link DoubleHoistingOpKind}), solved from
 * seven small transforms (keys of steps 1–4; steps 0 repeated give identity baby steps):
 *   T([0],[0]) = F + D, T([0 ×8],[0]) = F + 8D, the same with kept plaintexts (F + D', F + 8D'),
 *   T([1],[0]) = F + dec + B + D, T([1,2,3,4],[0]) = F + dec + 4B + 4D, T([1],[0,1,2,3]) = F + dec + B + 3G + 4D.
 */
function measureDoubleHoisting(
  ctx: CkksContext, ev: Evaluator, enc: Encoder, cts: readonly Ciphertext[], v: Float64Array, level: number, budget: number,
): Record<DoubleHoistingOpKind, number> {
  const P = ctx.params;
  const S = P.scales[level];
  const limbs = P.limbsAt(level);
  const qp = (limbs + P.p.length) * P.N;
  const values = (k: number): DhSource => ({ kind: 'values', re: Float64Array.from(v, (x) => x / (k + 1)), im: null, shift: 0 });
  const kept = (k: number): DhSource => {
    const src = values(k) as Extract<DhSource, { kind: 'values' }>;
    const pt = new Int32Array(qp);
    encodeSourceQP(ctx, enc, src, S, limbs, pt);
    return { kind: 'qp', pt };
  };
  let i = 0;
  const time = (babies: number[], giants: number[], terms: number[][], source: (k: number) => DhSource) => {
    const spec = { babies, giants, terms: Int32Array.from(terms.flat()), sources: terms.map((_, k) => source(k)), scale: S };
    return timeMedian(() => ev.evaluateDoubleHoisted(cts[i++ % cts.length], spec, enc), 3, budget);
  };
  const eight = Array.from({ length: 8 }, (_, b) => [b, 0, b]);
  const t1 = time([0], [0], [[0, 0, 0]], values);
  const t8 = time(eight.map(() => 0), [0], eight, values);
  const k1 = time([0], [0], [[0, 0, 0]], kept);
  const k8 = time(eight.map(() => 0), [0], eight, kept);
  const a = time([1], [0], [[0, 0, 0]], values);
  const b4 = time([1, 2, 3, 4], [0], [0, 1, 2, 3].map((b) => [b, 0, b]), values);
  const g4 = time([1], [0, 1, 2, 3], [0, 1, 2, 3].map((g) => [0, g, g]), values);
  const D = Math.max(0, (t8 - t1) / 7);
  const F = Math.max(0, t1 - D);
  const B = Math.max(0, (b4 - a) / 3 - D);
  return {
    dhDiagonal: D,
    dhDiagonalKept: Math.max(0, (k8 - k1) / 7),
    dhFinish: F,
    dhBaby: B,
    dhDecompose: Math.max(0, a - F - B - D),
    dhGiant: Math.max(0, (g4 - a - 3 * D) / 3),
  };
}
