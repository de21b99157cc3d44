/**
 * @module nn/plan/bootstraps
 * Where a network deeper than the user levels of a bootstrapping parameter set bootstraps, in any
 * layout (CKKS bootstrapping: Cheon–Han–Kim–Kim–Song eprint 2018/153; bootstrapping between the
 * layers of a ResNet as in Lee et al., MPCNN, ICML 2022, eprint 2021/1688, here placed
 * automatically and restricted to refreshing whole values). The layouts add what a refresh costs
 * them: the packed layout bootstraps one ciphertext per value (`packed/bootstraps.ts`), the channel
 * layout packs a value's channels into as few ciphertexts as fit and unpacks them afterwards
 * (`channel/bootstraps.ts`).
 *
 * Model. Every value v of the graph has a level ℓ(v) ∈ [0, U], U = the levels a refresh gives
 * (`budget`): the input starts at `inputLevel` (default U), a node of cost c (levels it consumes:
 * `LevelPlan.cost`) needs every input at ≥ c and leaves min(inputs) − c (a residual Add costs 0
 * and aligns its operands to the lower level). A bootstrap of v refreshes v to U for ALL of v's
 * consumers (it runs once, right after v is produced).
 *
 * Placement (`placeBootstraps`). Greedy, latest first: walk the nodes in order; at the first node
 * whose input lacks levels, refresh that input. For a chain this is optimal (each refresh is as
 * late as it can be, so each segment between refreshes uses all U levels). In a DAG a refresh of
 * an earlier value can serve two branches (a residual block's input feeds both the block and the
 * skip), so at each deficit the candidates are the deficient input and each of its ancestors; the
 * one whose greedy completion costs least (the number of refreshes, or their summed `weight`: the
 * channel layout's refresh costs one bootstrap per group of channels) wins (ties: the latest, the
 * deficient input itself). Tests compare it with an exhaustive search on small graphs.
 */
import { VeilError } from '../../errors.js';
import type { IrGraph } from '../graph.js';
import type { GaloisKeys, KeyGenerator, SecretKey } from '../../ckks/index.js';
import { type BootstrapKeys, bootstrapRotations, genBootstrapKeys } from '../../bootstrap/bootstrapper.js';
import type { BootstrapParameters } from '../../bootstrap/params.js';

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

/** Options of {@link placeBootstraps}. */
export interface PlacementOptions {
  /** Level of the network input (default `budget`; may differ when a refresh gives fewer levels than a fresh encryption). */
  inputLevel?: number;
  /** What refreshing a value costs (default 1: a bootstrap); the placement minimizes the sum. */
  weight?: (value: string) => number;
  /** A value can be refreshed only if produced at this level or above (default 0; per value or for all). */
  minRefreshLevel?: number | ((value: string) => number);
}

function minLevelOf(opts: PlacementOptions): (value: string) => number {
  const m = opts.minRefreshLevel ?? 0;
  return typeof m === 'number' ? () => m : m;
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

/** The fixed inputs of a placement. */
interface Problem {
  g: IrGraph;
  cost: ReadonlyMap<string, number>;
  budget: number;
  inputLevel: number;
  /** A value can be refreshed only when produced at this level or above. */
  minLevel: (value: string) => number;
}

/**
 * Levels of every value with `refreshed` values bootstrapped (those produced below `minLevel` stay
 * as produced); stops at the first node that does not fit.
 */
function walk(P: Problem, refreshed: ReadonlySet<string>): Walk {
  const { g, cost, budget } = P;
  const produced = new Map<string, number>([[g.input.name, P.inputLevel]]);
  const level = new Map<string, number>([[g.input.name, P.inputLevel]]);
  for (const n of g.nodes) {
    const c = cost.get(n.name) ?? 0;
    const ins = n.inputs.map((v) => level.get(v) ?? budget);
    const short = n.inputs.filter((_, i) => ins[i] < c);
    if (short.length > 0) return { produced, level, fail: { node: n.name, short: [...new Set(short)] } };
    const l = Math.min(...ins) - c;
    produced.set(n.output, l);
    level.set(n.output, refreshed.has(n.output) && l >= P.minLevel(n.output) ? budget : l);
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

const tooDeep = (P: Problem, node: string) => new BootstrapPlacementError(`node '${node}' needs ${P.cost.get(node)} levels; a bootstrap gives ${P.budget}`, `use lower polynomial degrees for '${node}', or a bootstrapping set with more user levels`);

/**
 * What plain greedy refreshes for the short inputs of a failed walk: each short input itself, or,
 * when it was produced below `minLevel` (it cannot be refreshed), the nearest value up its critical
 * path that can (else its latest ancestor that can).
 */
function repairs(P: Problem, w: Walk, R: ReadonlySet<string>): string[] {
  const order = new Map(P.g.nodes.map((n, i) => [n.output, i]));
  const out: string[] = [];
  for (const v of w.fail!.short) {
    if (v === P.g.input.name) throw tooDeep(P, w.fail!.node);
    if (!R.has(v) && w.produced.get(v)! >= P.minLevel(v)) {
      out.push(v);
      continue;
    }
    const critical = criticalAncestor(P, w, v, R);
    const up = critical ? [critical] : ancestors(P.g, v, R).filter((a) => w.produced.get(a)! >= P.minLevel(a)).sort((a, b) => order.get(b)! - order.get(a)!);
    if (!up.length) {
      throw new BootstrapPlacementError(
        `node '${w.fail!.node}' needs ${P.cost.get(w.fail!.node)} levels; its input '${v}' is at level ${w.produced.get(v)}, and neither it nor a value before it (back to the last refresh) is at the level ${P.minLevel(v)} a refresh of it needs`,
        `use lower polynomial degrees before '${w.fail!.node}', or a bootstrapping set with more user levels`);
    }
    out.push(up[0]);
  }
  return out;
}

/**
 * The nearest value up v's critical path (at each node, the input read at the lowest level: the one
 * that sets the node's level) that can be refreshed; undefined when the path reaches the input or
 * a refreshed value first.
 */
function criticalAncestor(P: Problem, w: Walk, v: string, R: ReadonlySet<string>): string | undefined {
  const producer = new Map(P.g.nodes.map((n) => [n.output, n]));
  for (let cur = v; ;) {
    const n = producer.get(cur);
    if (!n) return undefined;
    let low: string | undefined;
    for (const u of n.inputs) if (low === undefined || w.level.get(u)! < w.level.get(low)!) low = u;
    if (low === undefined || !producer.has(low) || R.has(low)) return undefined;
    if (w.produced.get(low)! >= P.minLevel(low)) return low;
    cur = low;
  }
}

/** Plain greedy (refresh what `repairs` names at the first node that does not fit) from `start`; the refreshed set. */
function greedy(P: Problem, start: ReadonlySet<string>): Set<string> {
  const R = new Set(start);
  for (;;) {
    const w = walk(P, R);
    if (!w.fail) return R;
    for (const v of repairs(P, w, R)) R.add(v);
  }
}

/**
 * Chooses the values to bootstrap so every node of `g` has the levels it needs, for `budget` user
 * levels (see the module documentation). `cost` is the levels each node consumes (`plan.levels.cost`
 * of a layout's plan).
 * @throws BootstrapPlacementError when a single node needs more than `budget` levels.
 */
export function placeBootstraps(g: IrGraph, cost: ReadonlyMap<string, number>, budget: number, opts: PlacementOptions = {}): BootstrapPlacement {
  if (!Number.isInteger(budget) || budget < 1) throw new BootstrapPlacementError(`user levels ${budget}`, 'use a bootstrapping set with at least one user level');
  const P: Problem = { g, cost, budget, inputLevel: opts.inputLevel ?? budget, minLevel: minLevelOf(opts) };
  if (!Number.isInteger(P.inputLevel) || P.inputLevel < 0) throw new BootstrapPlacementError(`input level ${P.inputLevel}`, 'encrypt the input at a level ≥ 0');
  const weight = opts.weight ?? (() => 1);
  const total = (R: ReadonlySet<string>) => {
    let t = 0;
    for (const v of R) t += weight(v);
    return t;
  };
  for (const n of g.nodes) if ((cost.get(n.name) ?? 0) > budget) throw tooDeep(P, n.name);
  const R = new Set<string>();
  const neededBy = new Map<string, string>();
  for (;;) {
    const w = walk(P, R);
    if (!w.fail) break;
    // candidates: refresh the short inputs themselves (or what stands for them), or instead one
    // ancestor of one of them (a value feeding both a branch and its skip); keep the cheapest
    // completion
    const base = new Set([...R, ...repairs(P, w, R)]);
    let best = base;
    let bestCount = total(greedy(P, base));
    for (const v of w.fail.short) {
      for (const a of ancestors(g, v, R)) {
        if (w.produced.get(a)! < P.minLevel(a)) continue;
        const alt = new Set([...R, a]);
        let n: number;
        try {
          n = total(greedy(P, alt));
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
  const w = walk(P, R);
  // a refresh named early that later ones made pointless (produced below minLevel) is dropped
  for (const v of [...R]) if (w.produced.get(v)! < P.minLevel(v)) R.delete(v);
  const producer = new Map(g.nodes.map((n) => [n.output, n.name]));
  const order = new Map(g.nodes.map((n, i) => [n.output, i]));
  const points = [...R].sort((a, b) => order.get(a)! - order.get(b)!).map((v) => ({
    value: v, after: producer.get(v)!, neededBy: neededBy.get(v)!, levelBefore: w.produced.get(v)!, levelAfter: budget,
  }));
  return { budget, points, count: points.length, levelAt: w.level, outputLevel: w.level.get(g.output.name) ?? P.inputLevel };
}

/** Whether refreshing `refreshed` gives every node its levels (for tests and checks). */
export function placementFits(g: IrGraph, cost: ReadonlyMap<string, number>, budget: number, refreshed: ReadonlySet<string>, opts: Omit<PlacementOptions, 'weight'> = {}): boolean {
  return !walk({ g, cost, budget, inputLevel: opts.inputLevel ?? budget, minLevel: minLevelOf(opts) }, refreshed).fail;
}

/** Options of the range functions (`bootstrapRanges`, `channelBootstrapRanges`). */
export interface BootstrapRangeOptions {
  /** s is chosen so that headroom·max|slot| ≤ s (default 2: inputs may exceed the calibration). */
  headroom?: number;
  /** log2 of the largest s the parameters allow: log2(q0) − r − log2(Δ_0) (see {@link maxBootstrapLogScale}). */
  maxLogScale: number;
}

/**
 * Sets each point's calibrated bound and divisor s = 2^⌈log2(headroom·bound)⌉, at least 1 (why:
 * `packed/bootstraps.ts`).
 * @throws BootstrapRangeError when a value's bound needs s above 2^maxLogScale, or is not finite.
 */
export function setBootstrapDivisors(placement: BootstrapPlacement, bound: ReadonlyMap<string, number>, opts: BootstrapRangeOptions): void {
  const headroom = opts.headroom ?? 2;
  for (const p of placement.points) {
    const b = bound.get(p.value) ?? Infinity;
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

/** log2 of the largest divisor s a value can be relabelled by before bootstrapping (ScaleUp's e ≥ 0). */
export function maxBootstrapLogScale(p: { q: ArrayLike<number>; baseLimbs: number; scales: ArrayLike<number> }, logMessageRatio: number): number {
  let logQ0 = 0;
  for (let i = 0; i < p.baseLimbs; i++) logQ0 += Math.log2(p.q[i]);
  return Math.floor(logQ0 - logMessageRatio - Math.log2(p.scales[0]));
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

/**
 * The keys of a bootstrapped network run: the bootstrap set (`genBootstrapKeys`: relinearization,
 * the DFT rotations at full height, conjugation, encapsulation) extended with the network's
 * `rotations` not already in it, capped at the top user level (the network never rotates above it,
 * so those keys need only the user levels' limbs).
 */
export function genNetworkBootstrapKeys(kg: KeyGenerator, sk: SecretKey, bp: BootstrapParameters, rotations: readonly number[]): BootstrapKeys {
  const keys = genBootstrapKeys(kg, sk, bp);
  const have = new Set(bootstrapRotations(bp));
  const extra = [...new Set(rotations)].filter((r) => !have.has(r));
  if (extra.length) kg.genGaloisKeys(sk, extra, { maxLevel: bp.outputLevel }, keys.galois as GaloisKeys);
  return keys;
}
