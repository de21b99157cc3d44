/**
 * @module approx/ola
 *
 * OLA — Optimized Layerwise Approximation (Lee et al., arXiv 2310.10349; our reconstruction in
 * digest §1.4, everything beyond the abstract is [I]): choose one polynomial degree per activation
 * layer to minimise total evaluation cost under a total error budget.
 *
 * 1. Candidates: for each layer l and candidate degree d, fit p_{l,d} by weighted least squares on
 *    the layer's input histogram (`fit/lsq.ts`), error e_{l,d} = E_x[(p(x) − act(x))²]·s_l (s_l an
 *    optional caller-supplied sensitivity), cost t_l(d) from `cost()` (or a caller function).
 * 2. Knapsack DP over layers with the budget quantised into B steps of δ = budget/B:
 *      ê_{l,d} = ⌈e_{l,d}/δ⌉,  F[0][b] = 0,  F[l][b] = min_{d: ê_{l,d} ≤ b} t_l(d) + F[l−1][b − ê_{l,d}],
 *    with F[l][b] the least cost of layers 1…l using at most b error units; backtrack from F[L][b].
 *    O(L·|D|·B) time. Rounding errors UP makes every returned assignment truly within budget.
 * 3. One DP pass gives F[L][b] for every b ≤ B, i.e. the whole latency/accuracy trade-off: the
 *    Pareto front is read off by backtracking each b where the optimal cost drops.
 *
 * The error e_{l,d} is only worth what the fit's estimate is worth. Two things make the estimate
 * at the bin centres wrong for high degrees (measured on the ResNet fixtures, docs/compile-performance.md):
 * with few bins per coefficient the fit nearly interpolates the centres, and where the histogram
 * is empty or sparse (the tails) nothing constrains the polynomial, which then reaches 1e3–1e9
 * between the centres. {@link fitHistogramFloored} answers both: the caller gives ≥ 8 bins per
 * coefficient ({@link fitBins}), every bin weighs at least a small floor in the fit, and the error
 * is measured under the histogram's own counts.
 */

import { getActivation, type Activation, type ActivationName } from './activations.js';
import { type Interval, clenshaw, toUnit } from './fit/chebyshev.js';
import { cost, type CostWeights, scalarCost } from './eval/cost.js';
import { ApproxError, InfeasibleBudgetError } from './errors.js';
import { fitHistogram, fitWeighted, histogramRange, type Histogram } from './fit/lsq.js';

/**
 * Default floor weight of a bin in the fit, relative to the mean bin count (so the floors add up
 * to 1e-4 of the total weight). The smallest of 1e-4, 1e-3, 1e-2 that brought the bin-centre
 * estimate of every degree ≤ 63 within a few percent of the error over every calibration value on
 * the ResNet fixtures (512 bins); it raises the error of a degree-7 fit by about 5–10 %.
 */
export const DEFAULT_FLOOR_WEIGHT = 1e-4;

/** Bins a histogram needs for fits up to degree dMax: at least 8 per coefficient, never fewer than 64. */
export function fitBins(dMax: number): number {
  return Math.max(64, 8 * (Math.max(0, Math.floor(dMax)) + 1));
}

/** A histogram fit with its error measured under the histogram's own counts. */
export interface FlooredFit {
  coeffs: Float64Array;
  interval: Interval;
  /** Σ_k counts_k·(p(c_k) − f(c_k))² / Σ_k counts_k over the bin centres c_k. */
  error: number;
}

/**
 * Weighted least squares of f on a histogram where every bin weighs max(count, floor·mean count)
 * (floor ≥ 0; 0 is the plain {@link fitHistogram}), so the polynomial follows f over the whole
 * interval, empty bins included; the error is E[(p − f)²] under the real counts. The estimate is
 * as good as the bins are fine: use ≥ 8 bins per coefficient ({@link fitBins}).
 */
export function fitHistogramFloored(f: (x: number) => number, hist: Histogram, degree: number, floor = DEFAULT_FLOOR_WEIGHT, interval?: Interval): FlooredFit {
  if (!(floor >= 0) || !Number.isFinite(floor)) throw new ApproxError(`floor weight ${floor} must be finite and ≥ 0`, 'pass a floor weight ≥ 0 (default 1e-4)');
  if (floor === 0) {
    const fit = fitHistogram(f, hist, degree, interval === undefined ? {} : { interval });
    return { coeffs: fit.coeffs, interval: fit.interval, error: fit.weightedMse };
  }
  const c = hist.counts;
  let total = 0;
  for (let k = 0; k < c.length; k++) total += c[k]!;
  const w = new Float64Array(c.length);
  const fl = (floor * total) / c.length;
  for (let k = 0; k < c.length; k++) w[k] = Math.max(c[k]!, fl);
  const fit = fitWeighted(f, hist.centers, w, degree, { interval: interval ?? histogramRange(hist) });
  let s = 0;
  for (let k = 0; k < c.length; k++) {
    if (c[k] === 0) continue;
    const x = hist.centers[k]!;
    const e = clenshaw(fit.coeffs, toUnit(x, fit.interval)) - f(x);
    s += c[k]! * e * e;
  }
  return { coeffs: fit.coeffs, interval: fit.interval, error: total > 0 ? s / total : 0 };
}

/** One degree option of one layer. */
export interface OlaCandidate {
  degree: number;
  /** Error contribution (already multiplied by the layer's sensitivity). */
  error: number;
  /** Cost (latency proxy). */
  cost: number;
  /** Chebyshev coefficients of the fitted polynomial on `interval` (absent for hand-made candidates). */
  coeffs?: Float64Array;
  interval?: Interval;
}

/** An activation layer to approximate. */
export interface OlaLayer {
  name?: string;
  activation: ActivationName | Activation | ((x: number) => number);
  /** Histogram of the layer's profiled inputs. */
  histogram: Histogram;
  /** Fit interval; default the histogram's range. */
  interval?: Interval;
  /** Sensitivity s_l multiplying the layer's error (default 1). */
  sensitivity?: number;
  /** Floor weight of a bin in the fit, relative to the mean bin count (default 0: the plain histogram fit; see {@link fitHistogramFloored}). */
  floorWeight?: number;
}

/** Default candidate degrees: every degree 2…15, plus 31 and 63 (depth 2…6). */
export const DEFAULT_OLA_DEGREES: readonly number[] = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 31, 63];

/** Options of {@link olaCandidates} and {@link ola}. */
export interface OlaCandidateOptions {
  /** Candidate degrees. Default {@link DEFAULT_OLA_DEGREES}. */
  degrees?: readonly number[];
  /** Cost of degree d in layer l; default scalarCost(cost(d, {interval}), weights). */
  cost?: (degree: number, layer: number) => number;
  /** Weights of the default scalar cost. */
  weights?: CostWeights;
  /**
   * Whether the affine map to [−1, 1] is folded into the previous linear layer (default true: cost
   * without the map level). When false, cost(d, {interval}) charges the map.
   */
  mapFolded?: boolean;
}

/** Fit every candidate degree of one layer. */
export function olaCandidates(layer: OlaLayer, layerIndex: number, opts: OlaCandidateOptions = {}): OlaCandidate[] {
  const act = getActivation(layer.activation);
  const degrees = opts.degrees ?? DEFAULT_OLA_DEGREES;
  if (degrees.length === 0) throw new ApproxError(`no candidate degrees`, `pass at least one degree`);
  const s = layer.sensitivity ?? 1;
  if (!(s >= 0) || !Number.isFinite(s)) throw new ApproxError(`sensitivity ${s} must be finite and ≥ 0`, 'pass a finite sensitivity ≥ 0');
  return degrees.map((d) => {
    const fit = fitHistogramFloored(act.fn, layer.histogram, d, layer.floorWeight ?? 0, layer.interval);
    const c =
      opts.cost !== undefined
        ? opts.cost(d, layerIndex)
        : scalarCost(cost(d, opts.mapFolded === false ? { interval: fit.interval } : {}), opts.weights);
    return { degree: d, error: fit.error * s, cost: c, coeffs: fit.coeffs, interval: fit.interval };
  });
}

/** A chosen degree assignment. */
export interface OlaSolution {
  /** Index into each layer's candidate list. */
  choice: number[];
  /** Chosen degree per layer. */
  degrees: number[];
  totalCost: number;
  /** Σ of the chosen candidates' (unquantised) errors. */
  totalError: number;
}

/** A point of the latency/accuracy trade-off. */
export interface ParetoPoint extends OlaSolution {
  /** The (quantised) budget at which this solution became optimal. */
  budget: number;
}

/** Options of {@link olaOptimize}. */
export interface OlaDpOptions {
  /** Number of quantisation steps B of the budget. Default 1000. */
  steps?: number;
}

/** Result of {@link olaOptimize}. */
export interface OlaDpResult {
  /** The cheapest assignment within the budget. */
  best: OlaSolution;
  /** The Pareto front (cost increasing, error decreasing) over budgets δ·b, b = 0…B. */
  front: ParetoPoint[];
}

/**
 * The knapsack DP of OLA on given candidates.
 * @throws InfeasibleBudgetError when no assignment fits the (quantised) budget.
 */
export function olaOptimize(candidates: readonly (readonly OlaCandidate[])[], budget: number, opts: OlaDpOptions = {}): OlaDpResult {
  const L = candidates.length;
  if (L === 0) throw new ApproxError(`no layers to optimise`, `pass at least one layer of candidates`);
  const B = opts.steps ?? 1000;
  if (!Number.isInteger(B) || B < 1 || B > 1e7) throw new ApproxError(`steps ${B} must be an integer in [1, 1e7]`, 'use an integer number of steps in [1, 1e7]');
  if (!(budget > 0) || !Number.isFinite(budget)) throw new ApproxError(`error budget ${budget} must be finite and > 0`, 'pass a finite budget > 0');
  const delta = budget / B;
  const units: number[][] = candidates.map((cs, l) => {
    if (cs.length === 0) throw new ApproxError(`layer ${l} has no candidates`, `give every layer at least one degree`);
    return cs.map((c) => {
      if (!(c.error >= 0) || !Number.isFinite(c.cost)) {
        throw new ApproxError(`layer ${l} candidate ${c.degree} has error ${c.error} / cost ${c.cost}`, `both must be finite, error ≥ 0`);
      }
      return Math.ceil(c.error / delta);
    });
  });
  // F[l][b]: least cost of layers 0…l−1 with total units ≤ b. arg[l][b]: candidate of layer l−1.
  const W = B + 1;
  let prev = new Float64Array(W); // F[0] = 0
  const arg: Int32Array[] = [];
  for (let l = 0; l < L; l++) {
    const cur = new Float64Array(W).fill(Infinity);
    const a = new Int32Array(W).fill(-1);
    const cs = candidates[l]!;
    const u = units[l]!;
    for (let b = 0; b < W; b++) {
      let best = Infinity;
      let bi = -1;
      for (let i = 0; i < cs.length; i++) {
        const ui = u[i]!;
        if (ui > b) continue;
        const v = cs[i]!.cost + prev[b - ui]!;
        // ties: prefer the smaller error (then the earlier candidate)
        if (v < best || (v === best && bi >= 0 && cs[i]!.error < cs[bi]!.error)) {
          best = v;
          bi = i;
        }
      }
      cur[b] = best;
      a[b] = bi;
    }
    arg.push(a);
    prev = cur;
  }
  const final = prev;
  const backtrack = (b0: number): OlaSolution => {
    const choice = new Array<number>(L);
    let b = b0;
    for (let l = L - 1; l >= 0; l--) {
      const i = arg[l]![b]!;
      choice[l] = i;
      b -= units[l]![i]!;
    }
    // Valid for "≤ b" tables: arg[l][b] was chosen against F[l−1][b − u], whose own arg continues the path.
    let totalCost = 0;
    let totalError = 0;
    const degrees: number[] = [];
    for (let l = 0; l < L; l++) {
      const c = candidates[l]![choice[l]!]!;
      totalCost += c.cost;
      totalError += c.error;
      degrees.push(c.degree);
    }
    return { choice, degrees, totalCost, totalError };
  };
  if (!Number.isFinite(final[B]!)) {
    let minUnits = 0;
    for (const u of units) minUnits += Math.min(...u);
    throw new InfeasibleBudgetError(budget, minUnits * delta);
  }
  const best = backtrack(B);
  const front: ParetoPoint[] = [];
  let lastCost = Infinity;
  for (let b = 0; b < W; b++) {
    const v = final[b]!;
    if (!Number.isFinite(v) || v >= lastCost) continue;
    lastCost = v;
    front.push({ ...backtrack(b), budget: b * delta });
  }
  // `front` has budget increasing and cost strictly decreasing. Reverse it (cost increasing) and
  // keep only points whose real (unquantised) error beats every cheaper point: the Pareto front.
  front.reverse();
  const pareto: ParetoPoint[] = [];
  let bestErr = Infinity;
  for (const p of front) {
    if (p.totalError < bestErr) {
      pareto.push(p);
      bestErr = p.totalError;
    }
  }
  return { best, front: pareto };
}

/** Per-layer result of {@link ola}. */
export interface OlaLayerResult {
  name?: string;
  degree: number;
  /** Chebyshev coefficients on `interval` (evaluate with evalChebyshev(…, {interval})). */
  coeffs: Float64Array;
  interval: Interval;
  error: number;
  cost: number;
}

/** Result of {@link ola}. */
export interface OlaResult {
  layers: OlaLayerResult[];
  totalCost: number;
  totalError: number;
  front: ParetoPoint[];
  /** All candidates, per layer (for inspection or re-optimisation with another budget). */
  candidates: OlaCandidate[][];
}

/**
 * OLA end to end: fit candidates per layer, then the DP under `budget` (total error, i.e.
 * Σ_l s_l·E[(p_l − act)²]).
 */
export function ola(layers: readonly OlaLayer[], budget: number, opts: OlaCandidateOptions & OlaDpOptions = {}): OlaResult {
  const candidates = layers.map((l, i) => olaCandidates(l, i, opts));
  const dp = olaOptimize(candidates, budget, opts);
  const out: OlaLayerResult[] = dp.best.choice.map((ci, l) => {
    const c = candidates[l]![ci]!;
    const name = layers[l]!.name;
    return {
      ...(name === undefined ? {} : { name }),
      degree: c.degree,
      coeffs: c.coeffs!,
      interval: c.interval!,
      error: c.error,
      cost: c.cost,
    };
  });
  return { layers: out, totalCost: dp.best.totalCost, totalError: dp.best.totalError, front: dp.front, candidates };
}
