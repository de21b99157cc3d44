/**
 * @module nn/compile/approximate
 * Replacing activations by polynomials fitted to the inputs they really see (OLA, Lee et al.,
 * arXiv 2310.10349, digest §1.4): each Relu/Gelu node gets a Chebyshev polynomial fitted by
 * weighted least squares on its calibrated input histogram over the calibrated range (plus a
 * margin), x² stays exact. The histogram has ≥ 8 bins per coefficient of the highest degree
 * ({@link calibrationBins}) and every bin a small floor weight, so the fit's error estimate holds
 * for high degrees too (`fitHistogramFloored` in `approx/ola.ts`). Degrees are per layer: uniform, explicit, or chosen by OLA's dynamic
 * program over (error, cost) candidates, with the error budget swept along the Pareto front until
 * the simulated network meets an accuracy target.
 */
import { VeilError, brief } from '../../errors.js';
import {
  DEFAULT_FLOOR_WEIGHT, DEFAULT_OLA_DEGREES, type Histogram as LsqHistogram, type OlaCandidate, cost as polyCost, fitBins,
  fitHistogramFloored, gelu, olaCandidates, olaOptimize, relu,
} from '../../approx/index.js';
import type { ActivationStats, CalibrationResult } from './calibrate.js';
import { type ActivationNode, type IrGraph, type PolyNode, type Tensor, isActivation } from '../graph.js';
import { evalNode } from '../reference.js';

/** How to pick activation degrees. */
export type DegreeSpec =
  | { kind: 'uniform'; degree: number }
  | { kind: 'explicit'; degrees: Record<string, number> }
  | { kind: 'ola'; candidates?: readonly number[]; targetAccuracy?: number };

/** Error for a bad degree specification or missing calibration. */
export class ApproximationError extends VeilError {
  static override readonly code: string = 'APPROXIMATION';
}

/** Parses a CLI-style degree spec: "ola", "uniform:7", or a JSON object {"node": degree}. */
export function parseDegreeSpec(s: string): DegreeSpec {
  if (s === 'ola') return { kind: 'ola' };
  const m = /^uniform:(\d+)$/.exec(s);
  if (m) return { kind: 'uniform', degree: Number(m[1]) };
  try {
    const o = JSON.parse(s) as unknown;
    if (o && typeof o === 'object' && !Array.isArray(o) && Object.values(o).every((v) => Number.isInteger(v) && (v as number) >= 1)) {
      return { kind: 'explicit', degrees: o as Record<string, number> };
    }
  } catch {
    /* fall through */
  }
  throw new ApproximationError(`degree spec ${brief(s)} is not understood`, 'use "ola", "uniform:N" (N ≥ 2) or a JSON object {"<activation node>": degree}');
}

/** Converts calibration's histogram to the fitter's (bin centres + counts). */
export function toLsqHistogram(st: ActivationStats): LsqHistogram {
  const h = st.histogram;
  const k = h.counts.length;
  const centers = new Float64Array(k);
  for (let i = 0; i < k; i++) centers[i] = h.lo + (i + 0.5) * h.binWidth;
  return { centers, counts: Float64Array.from(h.counts), lo: h.lo, hi: h.hi };
}

/** The function an activation node computes (for fitting). */
export function activationFunction(node: ActivationNode): (x: number) => number {
  switch (node.op) {
    case 'Relu':
      return relu;
    case 'Gelu':
      return node.approximate === 'tanh'
        ? (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)))
        : gelu;
    case 'Square':
      return (x) => x * x;
  }
}

/** A fitted polynomial for one activation node. */
export interface ActivationFit {
  node: string;
  replaces: 'Relu' | 'Gelu' | 'Square';
  degree: number;
  /** Chebyshev coefficients on `interval` (power [0,0,1] on the identity map for x²). */
  basis: 'chebyshev' | 'power';
  coeffs: Float64Array;
  interval: [number, number];
  /** Estimated E[(p − act)²] over the calibration inputs: the error at the bin centres weighted by the bin counts (0 for exact x²). */
  error: number;
}

/**
 * Histogram bins the calibration needs for a degree spec: ≥ 8 per coefficient of the highest
 * degree it can fit (512 for OLA's default candidates up to 63), at least 64.
 */
export function calibrationBins(spec: DegreeSpec, olaDegrees: readonly number[] = DEFAULT_OLA_DEGREES): number {
  const ds = spec.kind === 'uniform' ? [spec.degree] : spec.kind === 'explicit' ? Object.values(spec.degrees) : (spec.candidates ?? olaDegrees);
  return fitBins(Math.max(2, ...ds.filter((d) => Number.isFinite(d))));
}

/**
 * Fits one activation at a degree (floor: each bin's least weight in the fit relative to the mean
 * count, see `fitHistogramFloored`; 0 gives the plain histogram fit).
 */
export function fitActivation(node: ActivationNode, st: ActivationStats, degree: number, floor = DEFAULT_FLOOR_WEIGHT): ActivationFit {
  if (node.op === 'Square') {
    return { node: node.name, replaces: 'Square', degree: 2, basis: 'power', coeffs: Float64Array.from([0, 0, 1]), interval: [st.histogram.lo, st.histogram.hi], error: 0 };
  }
  if (!Number.isInteger(degree) || degree < 1) throw new ApproximationError(`degree ${degree} for '${node.name}' is not a positive integer`, 'use an integer degree ≥ 1');
  const f = activationFunction(node);
  const fit = fitHistogramFloored(f, toLsqHistogram(st), degree, floor);
  return { node: node.name, replaces: node.op, degree, basis: 'chebyshev', coeffs: fit.coeffs, interval: [fit.interval[0], fit.interval[1]], error: fit.error };
}

/** Activation nodes of a graph with their calibration statistics (throws if one is missing). */
export function activationsWithStats(graph: IrGraph, calib: CalibrationResult): { node: ActivationNode; stats: ActivationStats }[] {
  const out: { node: ActivationNode; stats: ActivationStats }[] = [];
  for (const n of graph.nodes) {
    if (!isActivation(n)) continue;
    const st = calib.byNode.get(n.name);
    if (!st) throw new ApproximationError(`no calibration statistics for activation '${n.name}'`, 'calibrate the same graph you compile');
    out.push({ node: n, stats: st });
  }
  return out;
}

/** Fits every activation with degrees from a uniform/explicit spec. */
export function fitAll(graph: IrGraph, calib: CalibrationResult, spec: DegreeSpec, floor = DEFAULT_FLOOR_WEIGHT): ActivationFit[] {
  return activationsWithStats(graph, calib).map(({ node, stats }) => {
    let d: number;
    if (spec.kind === 'uniform') d = spec.degree;
    else if (spec.kind === 'explicit') {
      const v = spec.degrees[node.name];
      if (v === undefined && node.op !== 'Square') throw new ApproximationError(`no degree given for activation '${node.name}'`, `add "${node.name}": <degree> to the degree file`);
      d = v ?? 2;
    } else throw new ApproximationError(`fitAll got a '${spec.kind}' degree spec`, 'pass a uniform or explicit spec to fitAll; OLA specs go through olaFront (or compileModel)');
    return fitActivation(node, stats, d, floor);
  });
}

/** OLA candidates of every non-square activation, and the Pareto front of (cost, error). */
export interface OlaPlan {
  /** Activation nodes in graph order (x² nodes excluded: they are exact). */
  nodes: ActivationNode[];
  stats: ActivationStats[];
  candidates: OlaCandidate[][];
  /** Degree assignments from cheapest to most accurate. */
  front: { degrees: number[]; cost: number; error: number }[];
}

/**
 * Sensitivity of the network output to an error at each activation's output (OLA's "layerwise
 * impact", digest §1.4 step 3, our reconstruction): add i.i.d. Gaussian noise of standard deviation
 * σ_l (1% of the activation's output spread) at node l only and measure the mean squared change of
 * the output; s_l = ΔMSE/σ_l², so s_l·E[(p − act)²] estimates the output error p causes.
 */
export function layerSensitivity(graph: IrGraph, data: Tensor, nodes: readonly string[], seed = 7): Map<string, number> {
  const n = data.shape[0];
  const run = (noisy: string | null, sigma: number): Float64Array => {
    const values = new Map<string, Tensor>([[graph.input.name, data]]);
    let s = seed >>> 0;
    const gauss = () => {
      // Box–Muller on a mulberry32 stream
      const u = () => {
        s = (s + 0x6d2b79f5) >>> 0;
        let t = s;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
      };
      return Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
    };
    for (const node of graph.nodes) {
      const out = evalNode(node, node.inputs.map((v) => values.get(v)!), n);
      if (node.name === noisy) {
        const d = Float64Array.from(out.data);
        for (let i = 0; i < d.length; i++) d[i] += sigma * gauss();
        values.set(node.output, { shape: out.shape, data: d });
      } else values.set(node.output, out);
    }
    return values.get(graph.output.name)!.data;
  };
  const clean = run(null, 0);
  const spread = new Map<string, number>();
  {
    const values = new Map<string, Tensor>([[graph.input.name, data]]);
    for (const node of graph.nodes) {
      const out = evalNode(node, node.inputs.map((v) => values.get(v)!), n);
      values.set(node.output, out);
      if (nodes.includes(node.name)) {
        let m = 0;
        let m2 = 0;
        for (const v of out.data) {
          m += v;
          m2 += v * v;
        }
        m /= out.data.length;
        spread.set(node.name, Math.sqrt(Math.max(1e-24, m2 / out.data.length - m * m)));
      }
    }
  }
  const res = new Map<string, number>();
  for (const name of nodes) {
    const sigma = 0.01 * (spread.get(name) ?? 1);
    const noisy = run(name, sigma);
    let mse = 0;
    for (let i = 0; i < clean.length; i++) mse += (noisy[i] - clean[i]) ** 2;
    res.set(name, mse / clean.length / (sigma * sigma));
  }
  return res;
}

/**
 * OLA's candidates and DP front. Cost of degree d = ct×ct products + 4·levels (a level costs
 * about four products of work downstream, since every later operation runs on one more limb).
 * With `sensitivity`, each layer's error is weighted by its impact on the output.
 */
export function olaFront(
  graph: IrGraph, calib: CalibrationResult, candidateDegrees: readonly number[] = DEFAULT_OLA_DEGREES, sensitivity?: Map<string, number>,
  floor = DEFAULT_FLOOR_WEIGHT,
): OlaPlan {
  const acts = activationsWithStats(graph, calib).filter((a) => a.node.op !== 'Square');
  const nodes = acts.map((a) => a.node);
  const stats = acts.map((a) => a.stats);
  if (nodes.length === 0) return { nodes, stats, candidates: [], front: [] };
  const candidates = acts.map((a, i) =>
    olaCandidates(
      { name: a.node.name, activation: activationFunction(a.node), histogram: toLsqHistogram(a.stats), sensitivity: sensitivity?.get(a.node.name) ?? 1, floorWeight: floor },
      i,
      { degrees: candidateDegrees, cost: (d) => { const c = polyCost(d); return c.ctMults + 4 * c.depth; } },
    ));
  // Budget: the sum of the worst candidates' errors covers every assignment.
  let budget = 0;
  for (const cs of candidates) budget += Math.max(...cs.map((c) => c.error));
  const dp = olaOptimize(candidates, budget * 1.0001 + 1e-300, { steps: 4000 });
  return {
    nodes, stats, candidates,
    front: dp.front.map((p) => ({ degrees: p.degrees, cost: p.totalCost, error: p.totalError })),
  };
}

/** PolyNode fields for a fit (map from the interval to [−1, 1] per channel; not yet folded). */
export function polyFields(fit: ActivationFit, channels: number): Pick<PolyNode, 'replaces' | 'mapScale' | 'mapShift' | 'mapFolded' | 'basis' | 'coeffs' | 'interval'> {
  const [lo, hi] = fit.interval;
  const exact = fit.basis === 'power';
  const s = exact ? 1 : 2 / (hi - lo);
  const t = exact ? 0 : -(lo + hi) / (hi - lo);
  return {
    replaces: fit.replaces,
    mapScale: new Float64Array(channels).fill(s),
    mapShift: new Float64Array(channels).fill(t),
    mapFolded: false,
    basis: fit.basis,
    coeffs: Float64Array.from(fit.coeffs),
    interval: [lo, hi],
  };
}

/** Total levels and ct×ct products of a set of fits (excluding folded maps). */
export function fitCost(fits: readonly ActivationFit[]): { depth: number; ctMults: number } {
  let depth = 0;
  let ctMults = 0;
  for (const f of fits) {
    const c = f.basis === 'power' ? { depth: 1, ctMults: 1 } : polyCost(f.degree);
    depth += c.depth;
    ctMults += c.ctMults;
  }
  return { depth, ctMults };
}
