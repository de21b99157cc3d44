/**
 * @module nn/packed/bootstraps
 * Bootstrap placement for a packed run deeper than the user levels of a bootstrapping parameter
 * set (CKKS bootstrapping: Cheon–Han–Kim–Kim–Song eprint 2018/153; bootstrapping between the layers
 * of a ResNet as in Lee et al., MPCNN, ICML 2022, eprint 2021/1688, here placed automatically and
 * restricted to refreshing whole values).
 *
 * Model. Every value v of the graph has a level ℓ(v) ∈ [0, U], U = the user levels of the
 * bootstrapping set (`bp.outputLevel`): the input starts at U, a node of cost c (levels it
 * consumes: `LevelPlan.cost`) needs every input at ≥ c and leaves min(inputs) − c (a residual Add
 * costs 0 and aligns its operands to the lower level). A bootstrap of v refreshes v to U for ALL of
 * v's consumers (it runs once, right after v is produced). One bootstrap in the packed layout is
 * one `Bootstrapper.bootstrap` call (one ciphertext per value).
 *
 * Placement (`placeBootstraps`). Greedy, latest first: walk the nodes in order; at the first node
 * whose input lacks levels, refresh that input. For a chain this is optimal (each refresh is as
 * late as it can be, so each segment between refreshes uses all U levels). In a DAG a refresh of
 * an earlier value can serve two branches (a residual block's input feeds both the block and the
 * skip), so at each deficit the candidates are the deficient input and each of its ancestors; the
 * one whose greedy completion needs the fewest bootstraps wins (ties: the latest, the deficient
 * input itself). Tests compare it with an exhaustive search on small graphs.
 *
 * Value range (`bootstrapRanges`). EvalMod is exact only while y = t/q0 = I + ε has |ε| ≤ 2^−r
 * (its interval is |y − 1/4| ≤ K + 1/4 + 2^−r, `bootstrap/evalmod.ts`), and ScaleUp puts the
 * message at Δ' ∈ (q0/2^(r+1), q0/2^r], so ε = Δ'·c/q0 for a message coefficient c: every
 * coefficient must satisfy |c| ≤ 1. The coefficients of a slot vector z are
 * c_j = (1/n)·Re Σ_k z_k·ζ_k^(−j), so |c_j| ≤ max_k |z_k|: slot values within [−1, 1] are always
 * safe. (A constant vector z has c_0 = z exactly: the bound is tight.) Values of a network are not
 * in [−1, 1], so each refreshed value is divided by s before the bootstrap and multiplied by s
 * after, with s = 2^⌈log2(headroom·B)⌉ from the calibrated bound B on |slot| (the float64 packed
 * simulation over the calibration images: every slot, unused ones included, which the bootstrap
 * sees too). Neither costs a level: the division relabels the ciphertext's scale (Δ_0 → Δ_0·s, so
 * the same integers read x/s; ScaleUp's integer 2^e is then s times smaller, which is what keeps
 * ε in range), and the multiplication back is an exact integer product by s (`mulInt`) on the
 * bootstrapped ciphertext. What it costs is precision: the bootstrap's error, fixed in units of
 * x/s, is multiplied by s, and the sine's relative distortion (2π·|c|/(s·2^r))²/6 is at most
 * (π/2^r)²/6 ≈ 2^−11.3 with the default headroom 2 (r = 6). No neighbouring linear map changes.
 * The relabelling is possible while e ≥ 0, i.e. s·Δ_0 ≤ q0/2^r (s ≤ 2^24 at N16-BOOT);
 * beyond that {@link BootstrapRangeError}, never a silent wrong result.
 */
import { VeilError } from '../../errors.js';
import type { IrGraph } from '../graph.js';
import type { PackedPlan } from './plan.js';
import { simulatePacked } from './simulate.js';

/** A network cannot be placed at these user levels (a node needs more levels than a bootstrap gives). */
export class BootstrapPlacementError extends VeilError {
  static override readonly code: string = 'BOOTSTRAP_PLACEMENT';
}

/** A value to bootstrap exceeds what bootstrapping can take, even scaled (or has no calibrated bound). */
export class BootstrapRangeError extends VeilError {
  static override readonly code: string = 'BOOTSTRAP_RANGE';
}

/** One refreshed value. */
export interface BootstrapPoint {
  /** The value refreshed (every consumer reads the refreshed ciphertext). */
  value: string;
  /** The node producing it (the bootstrap runs right after it). */
  after: string;
  /** The first node that would not fit without the refresh. */
  neededBy: string;
  /** Level of the value when refreshed (it is brought to level 0 first). */
  levelBefore: number;
  /** Level after the bootstrap (the top user level). */
  levelAfter: number;
  /** Calibrated max |slot| of the value (set by {@link bootstrapRanges}). */
  bound?: number;
  /** The power of two s the value is divided by for the bootstrap (set by {@link bootstrapRanges}). */
  scale?: number;
}

/** Where a packed run bootstraps. */
export interface BootstrapPlacement {
  /** User levels: a refreshed value sits at this level. */
  budget: number;
  points: BootstrapPoint[];
  count: number;
  /** Level of every value (after its refresh, if refreshed). */
  levelAt: Map<string, number>;
  /** Level of the network output. */
  outputLevel: number;
}

/** Result of walking the graph with a set of refreshed values. */
interface Walk {
  /** Level of each value as produced (before its refresh). */
  produced: Map<string, number>;
  /** Level of each value as read (after its refresh). */
  level: Map<string, number>;
  /** The first node that does not fit, and its inputs short of levels. */
  fail?: { node: string; short: string[] };
}

/** Levels of every value with `refreshed` values bootstrapped; stops at the first node that does not fit. */
function walk(g: IrGraph, cost: ReadonlyMap<string, number>, budget: number, refreshed: ReadonlySet<string>): Walk {
  const produced = new Map<string, number>([[g.input.name, budget]]);
  const level = new Map<string, number>([[g.input.name, budget]]);
  for (const n of g.nodes) {
    const c = cost.get(n.name) ?? 0;
    const ins = n.inputs.map((v) => level.get(v) ?? budget);
    const short = n.inputs.filter((_, i) => ins[i] < c);
    if (short.length > 0) return { produced, level, fail: { node: n.name, short: [...new Set(short)] } };
    const l = Math.min(...ins) - c;
    produced.set(n.output, l);
    level.set(n.output, refreshed.has(n.output) ? budget : l);
  }
  return { produced, level };
}

/** Values upstream of v (v excluded) up to the nearest refreshed ones (excluded: they are at the top already), graph input excluded. */
function ancestors(g: IrGraph, v: string, refreshed: ReadonlySet<string>): string[] {
  const producer = new Map(g.nodes.map((n) => [n.output, n]));
  const seen = new Set<string>();
  const stack = [v];
  while (stack.length) {
    const n = producer.get(stack.pop()!);
    if (!n) continue;
    for (const u of n.inputs) {
      if (!seen.has(u) && producer.has(u) && !refreshed.has(u)) {
        seen.add(u);
        stack.push(u);
      }
    }
  }
  return [...seen];
}

/** Plain greedy (refresh every short input of the first node that does not fit) from `start`; the refreshed set. */
function greedy(g: IrGraph, cost: ReadonlyMap<string, number>, budget: number, start: ReadonlySet<string>): Set<string> {
  const R = new Set(start);
  for (;;) {
    const w = walk(g, cost, budget, R);
    if (!w.fail) return R;
    for (const v of w.fail.short) {
      if (R.has(v) || v === g.input.name) throw new BootstrapPlacementError(`node '${w.fail.node}' needs ${cost.get(w.fail.node)} levels; a bootstrap gives ${budget}`, `use lower polynomial degrees for '${w.fail.node}', or a bootstrapping set with more user levels`);
      R.add(v);
    }
  }
}

/**
 * Chooses the values to bootstrap so every node of `g` has the levels it needs, for `budget` user
 * levels (see the module documentation). `cost` is the levels each node consumes (`plan.levels.cost`
 * of a packed plan).
 * @throws BootstrapPlacementError when a single node needs more than `budget` levels.
 */
export function placeBootstraps(g: IrGraph, cost: ReadonlyMap<string, number>, budget: number): BootstrapPlacement {
  if (!Number.isInteger(budget) || budget < 1) throw new BootstrapPlacementError(`user levels ${budget}`, 'use a bootstrapping set with at least one user level');
  for (const n of g.nodes) {
    const c = cost.get(n.name) ?? 0;
    if (c > budget) throw new BootstrapPlacementError(`node '${n.name}' needs ${c} levels; a bootstrap gives ${budget}`, `use lower polynomial degrees for '${n.name}', or a bootstrapping set with more user levels`);
  }
  const R = new Set<string>();
  const neededBy = new Map<string, string>();
  for (;;) {
    const w = walk(g, cost, budget, R);
    if (!w.fail) break;
    // candidates: refresh the short inputs themselves, or instead one ancestor of one of them
    // (a value feeding both a branch and its skip); keep the fewest bootstraps after completion
    const base = new Set([...R, ...w.fail.short]);
    let best = base;
    let bestCount = greedy(g, cost, budget, base).size;
    for (const v of w.fail.short) {
      for (const a of ancestors(g, v, R)) {
        const alt = new Set([...R, a]);
        // the ancestor must itself help: the failing node must fit afterwards, or later refreshes decide
        let n: number;
        try {
          n = greedy(g, cost, budget, alt).size;
        } catch (e) {
          if (e instanceof BootstrapPlacementError) continue;
          throw e;
        }
        if (n < bestCount) {
          bestCount = n;
          best = alt;
        }
      }
    }
    for (const v of best) {
      if (!R.has(v)) {
        R.add(v);
        neededBy.set(v, w.fail.node);
      }
    }
  }
  const w = walk(g, cost, budget, R);
  const producer = new Map(g.nodes.map((n) => [n.output, n.name]));
  const order = new Map(g.nodes.map((n, i) => [n.output, i]));
  const points = [...R].sort((a, b) => order.get(a)! - order.get(b)!).map((v) => ({
    value: v, after: producer.get(v)!, neededBy: neededBy.get(v)!, levelBefore: w.produced.get(v)!, levelAfter: budget,
  }));
  return { budget, points, count: points.length, levelAt: w.level, outputLevel: w.level.get(g.output.name) ?? budget };
}

/** Whether refreshing `refreshed` gives every node its levels (for tests and checks). */
export function placementFits(g: IrGraph, cost: ReadonlyMap<string, number>, budget: number, refreshed: ReadonlySet<string>): boolean {
  return !walk(g, cost, budget, refreshed).fail;
}

/** Options of {@link bootstrapRanges}. */
export interface BootstrapRangeOptions {
  /** s is chosen so that headroom·max|slot| ≤ s (default 2: inputs may exceed the calibration). */
  headroom?: number;
  /** log2 of the largest s the parameters allow: log2(q0) − r − log2(Δ_0) (see {@link maxBootstrapLogScale}). */
  maxLogScale: number;
}

/** log2 of the largest divisor s a value can be relabelled by before bootstrapping (ScaleUp's e ≥ 0). */
export function maxBootstrapLogScale(p: { q: ArrayLike<number>; baseLimbs: number; scales: ArrayLike<number> }, logMessageRatio: number): number {
  let logQ0 = 0;
  for (let i = 0; i < p.baseLimbs; i++) logQ0 += Math.log2(p.q[i]);
  return Math.floor(logQ0 - logMessageRatio - Math.log2(p.scales[0]));
}

/**
 * Sets each point's calibrated bound (largest |slot| of the value over the float64 packed
 * simulation of `samples`, every slot counted) and divisor s = 2^⌈log2(headroom·bound)⌉, at least 1.
 * @throws BootstrapRangeError when a value's bound needs s above 2^maxLogScale, or is not finite.
 */
export function bootstrapRanges(g: IrGraph, plan: PackedPlan, placement: BootstrapPlacement, samples: readonly ArrayLike<number>[], opts: BootstrapRangeOptions): void {
  if (placement.count === 0) return;
  if (samples.length === 0) throw new BootstrapRangeError('no calibration samples for the values to bootstrap', 'pass calibration images (the compiler\'s calibration data) so their ranges are known');
  const headroom = opts.headroom ?? 2;
  const producer = new Map(g.nodes.map((n) => [n.output, n]));
  // a fused pool passes its source's ciphertext on: its bound is the source's
  const nodeOf = (v: string): string | undefined => {
    let n = producer.get(v);
    while (n && plan.steps.get(n.name)?.kind === 'fused') n = producer.get(n.inputs[0]);
    return n?.name;
  };
  const bound = new Map<string, number>();
  for (const x of samples) {
    const sim = simulatePacked(g, plan, x);
    for (const p of placement.points) {
      const m = sim.maxAbs.get(nodeOf(p.value) ?? '') ?? Infinity;
      bound.set(p.value, Math.max(bound.get(p.value) ?? 0, m));
    }
  }
  for (const p of placement.points) {
    const b = bound.get(p.value)!;
    const need = Number.isFinite(b) ? Math.max(0, Math.ceil(Math.log2(Math.max(headroom * b, 2 ** -1074)))) : Infinity;
    if (!(need <= opts.maxLogScale)) {
      throw new BootstrapRangeError(
        `value '${p.value}' reaches |x| = ${b.toPrecision(4)} in calibration; bootstrapping at these parameters takes |x| ≤ 2^${opts.maxLogScale} (with headroom ${headroom})`,
        `scale the layer producing '${p.value}' down (normalize its weights or the inputs), or use a bootstrapping set with a larger q0 or a smaller logMessageRatio`,
      );
    }
    p.bound = b;
    p.scale = 2 ** need;
  }
}

/**
 * Measured seconds of one full-slot bootstrap per parameter set and server thread count: medians
 * of `npm run bench -- --op=bootstrap --bootstrap=NAME` (`bench/results/bootstrap.jsonl`, 2-vCPU VM;
 * N16-BOOT at load 1.0 on one thread, at load 2.2 on two with the DFTs split by limb on the pool;
 * the test sets at load 5.3, CPU 0.69 s and 1.48 s).
 */
export const BOOTSTRAP_SECONDS: Readonly<Record<string, Readonly<Record<number, number>>>> = Object.freeze({
  'N16-BOOT': { 1: 46.8, 2: 32.3 },
  'N12-BOOT-T': { 1: 1.46 },
  'N11-BOOT-T': { 1: 0.94 },
});

/** Predicted seconds of `count` bootstraps (undefined when the set was never measured on `threads` threads). */
export function bootstrapSeconds(preset: string, threads: number, count: number): number | undefined {
  const s = BOOTSTRAP_SECONDS[preset]?.[threads];
  return s === undefined ? undefined : s * count;
}
