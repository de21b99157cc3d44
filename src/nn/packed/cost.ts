/**
 * @module nn/packed/cost
 * Predicted time and memory of a packed-layout run (`plan.ts`, executed by `runner.ts`), from the
 * plan's own steps. Each linear layer is one baby-step/giant-step diagonal transform (Halevi–Shoup,
 * CRYPTO 2014 §4.3; hoisting as in Bossuat et al., Eurocrypt 2021 §4):
 *
 *   one decomposition of x, |babies \ {0}| hoisted rotations, |giants \ {0}| full rotations,
 *   one plaintext product, one encoding and one addition per diagonal, one rescale, a bias.
 *
 * A rotate-and-sum costs one full rotation and one addition per step; a polynomial its ct×ct
 * products (`polyCost`, `src/nn/compile/levels.ts`) and one scalar term per coefficient. Operation times are
 * measured at the run's parameters at two levels (`src/nn/plan/cost-model.ts`'s `measureLevelOpTimes`) and
 * interpolated to each layer's level, so a layer low in the chain costs what it costs there.
 *
 * Memory: Galois keys (one switching key per rotation step plus the relinearization key; a key
 * capped at level ℓ is generated over the limbs up to ℓ only, `galoisKeyBytes`), the ciphertexts
 * live at once (one per value, at its level, freed after its last use), a transform's working set
 * (the hoisted baby rotations, the decomposition over Q_ℓ·P, two accumulators, one plaintext) and,
 * when the runner keeps them, every encoded diagonal.
 */
import type { Parameters } from '../../ckks/index.js';
import { polyCost } from '../compile/compile.js';
import { type LevelOpKind, type LevelTimes, timeAt } from '../plan/cost-model.js';
import type { IrGraph } from '../graph.js';
import { ciphertextBytes } from '../plan/params.js';
import { polyMap } from './simulate.js';
import type { PackedPlan } from './plan.js';
import { DOUBLE_HOISTING_ACC_BYTES } from '../../ckks/evaluator.js';

/**
 * How the runner evaluates transforms: 'double' (default) keeps baby rotations over QP with one
 * ModDown per giant step and splits encoding and products by limb on a pool
 * (`ckks/linear/hoisted.ts`); VEIL_HOISTING=single selects the single-hoisted form, for comparisons.
 */
export const PACKED_HOISTING: 'single' | 'double' =
  (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.VEIL_HOISTING === 'single' ? 'single' : 'double';

/**
 * Bytes of encoded diagonals a runner keeps across runs at most (1 GiB): below it every transform's
 * plaintexts are encoded once and kept (encoding is about a third of a run at N = 2^14); above it
 * (large networks at N = 2^16, whose plaintexts would not fit in memory all at once) they are
 * encoded on every run.
 */
export const DIAGONAL_CACHE_BYTES = 2 ** 30;

/** Bytes of every transform's encoded diagonals, each at its layer's input level. */
export function encodedDiagonalBytes(g: IrGraph, plan: PackedPlan, P: Parameters): number {
  let bytes = 0;
  for (const n of g.nodes) {
    const step = plan.steps.get(n.name);
    if (step?.kind !== 'transform') continue;
    const level = P.levels - Math.max(...n.inputs.map((v) => plan.levels.depthAt.get(v) ?? 0));
    // over QP with double hoisting (the K special limbs too)
    bytes += step.diagonals * (P.limbsAt(Math.max(0, level)) + (PACKED_HOISTING === 'double' ? P.p.length : 0)) * P.N * 4;
  }
  return bytes;
}

/** Whether a runner keeps the encoded diagonals of `plan` (they fit in {@link DIAGONAL_CACHE_BYTES}). */
export function cachesDiagonals(g: IrGraph, plan: PackedPlan, P: Parameters): boolean {
  return encodedDiagonalBytes(g, plan, P) <= DIAGONAL_CACHE_BYTES;
}

/** Operation counts of one node of a packed run. */
export type PackedCounts = Record<LevelOpKind, number>;

const zero = (): PackedCounts => ({
  decompose: 0, hoistedRotation: 0, rotation: 0, plainMul: 0, encode: 0, add: 0, rescale: 0, mulRelinRescale: 0, term: 0,
  dhDecompose: 0, dhBaby: 0, dhGiant: 0, dhDiagonal: 0, dhDiagonalKept: 0, dhFinish: 0,
});

/** One node's predicted share of a packed run. */
export interface PackedLayerCost {
  node: string;
  op: string;
  /** What the plan does: transform, rotsum, slotwise, fused, relabel. */
  kind: string;
  /** Level of the node's input ciphertext. */
  level: number;
  counts: PackedCounts;
  seconds: number;
  /** Distinct tensor elements / slots of the node's output (0 for fused nodes). */
  slotUse: number;
  /** Elements / layout period: the fraction of slots holding data, replicas included. */
  slotFill: number;
}

/** Predicted peak memory of a packed run, in bytes. */
export interface PackedMemory {
  /** Galois keys (one per rotation step) and the relinearization key, each generated over the full chain. */
  keys: number;
  /** The same keys if each were capped at the highest level it is used at. */
  keysCapped: number;
  /** Bytes of one full-chain switching key. */
  keyBytes: number;
  galoisKeys: number;
  /** Largest working set of ciphertexts, decomposition and a plaintext at any node. */
  peakCiphertexts: number;
  /** Every encoded diagonal at its level (what caching them would keep). */
  diagonals: number;
  /** Whether the runner keeps the encoded diagonals (`diagonals` then counts in `total`). */
  cached: boolean;
  /** keysCapped (the client generates capped keys) + peakCiphertexts (+ diagonals when cached). */
  total: number;
}

/** A packed run's prediction. */
export interface PackedPrediction {
  /** Seconds of one run (encodings included only when the diagonals are not kept). */
  seconds: number;
  /** Seconds of encoding the kept diagonals once, before the first run (0 when not kept). */
  setupSeconds: number;
  layers: PackedLayerCost[];
  memory: PackedMemory;
  /** Highest level each rotation step is used at (what a capped key needs). */
  rotationLevels: Map<number, number>;
}

/**
 * Bytes of one switching key (Galois or relinearization) at parameters P: 2 polynomials per
 * digit over the Q limbs and the special limbs, int32 residues. With `maxLevel`, the key of a
 * capped key set, generated over the limbs up to that level only (digits = P.dnumAt(maxLevel)).
 */
export function galoisKeyBytes(P: Parameters, maxLevel: number = P.levels): number {
  const level = Math.max(0, Math.min(P.levels, maxLevel));
  return 2 * P.dnumAt(level) * (P.limbsAt(level) + P.p.length) * P.N * 4;
}

/** Operation counts of every node of a plan (unweighted), with each node's input level. */
export function packedCounts(g: IrGraph, plan: PackedPlan, P: Parameters, hoisting: 'single' | 'double' = PACKED_HOISTING): { node: string; op: string; kind: string; level: number; counts: PackedCounts }[] {
  const depth = plan.levels.depthAt;
  return g.nodes.map((n) => {
    const step = plan.steps.get(n.name)!;
    const level = P.levels - Math.max(...n.inputs.map((v) => depth.get(v) ?? 0));
    const c = zero();
    switch (step.kind) {
      case 'transform': {
        const babies = step.split.babies.filter((b) => b !== 0).length;
        const giants = step.split.giants.filter((s) => s !== 0).length;
        if (hoisting === 'double') {
          // accumulators for `chunk` giant steps at a time: each further chunk redoes the decomposition and its baby steps
          const chunks = Math.ceil(step.split.giants.length / Math.max(1, Math.floor(DOUBLE_HOISTING_ACC_BYTES / (2 * (P.q.length + P.p.length) * P.N * 4))));
          c.dhDecompose = babies > 0 ? chunks : 0;
          c.dhBaby = babies * chunks;
          c.dhGiant = giants;
          // a diagonal of period P is encoded with transforms of size N·P/S (`ckks/linear/hoisted.ts`):
          // its encoding part (dhDiagonal − dhDiagonalKept) divided by k = S/P, its product not
          const period = Math.max(step.from.period, step.to.period);
          const k = period < P.slots && P.N / (P.slots / period) >= 256 ? P.slots / period : 1;
          c.dhDiagonal = step.diagonals / k;
          c.dhDiagonalKept = step.diagonals - c.dhDiagonal;
          c.dhFinish = 1;
          c.encode = step.map.bias ? 1 : 0;
          c.add = step.map.bias ? 1 : 0;
        } else {
          c.decompose = babies > 0 ? 1 : 0;
          c.hoistedRotation = babies;
          c.rotation = giants;
          c.plainMul = step.diagonals;
          c.encode = step.diagonals + (step.map.bias ? 1 : 0);
          c.add = Math.max(0, step.diagonals - 1) + (step.map.bias ? 1 : 0);
        }
        c.rescale = 1;
        break;
      }
      case 'rotsum':
        c.rotation = step.steps.length;
        c.add = step.steps.length;
        break;
      case 'slotwise':
        if (n.op === 'Poly') {
          const pc = polyCost(n, false);
          c.mulRelinRescale = pc.ctMults;
          c.term = n.coeffs.length;
          if (polyMap(n, n.outShape)) {
            c.plainMul = 1;
            c.encode = 2;
            c.add = 1;
            c.rescale = 1;
          }
        } else {
          c.add = 1;
          if (n.op === 'AddConstant') c.encode = 1;
        }
        break;
      default:
        break;
    }
    return { node: n.name, op: n.op, kind: step.kind, level, counts: c };
  });
}

/** Seconds of counts at a level (a polynomial's products spread over the levels it descends). */
function secondsOf(P: Parameters, lt: LevelTimes, counts: PackedCounts, level: number, polyDepth: number): number {
  let s = 0;
  for (const k of Object.keys(counts) as LevelOpKind[]) {
    if (counts[k] === 0) continue;
    // a polynomial's products and terms happen over its levels: priced at the middle one
    const at = k === 'mulRelinRescale' || k === 'term' ? Math.max(1, level - Math.floor(polyDepth / 2)) : level;
    s += counts[k] * timeAt(P, lt, k, Math.max(0, at));
  }
  return s;
}

/** Options of {@link predictPacked}. */
export interface PackedPredictOptions {
  /**
   * Whether the runner keeps the encoded diagonals (then no encoding per run, but their memory);
   * default: as the runner decides (`cachesDiagonals`).
   */
  cachedDiagonals?: boolean;
}

/**
 * Predicts one packed run of `g` (compiled) with `plan` at parameters `P` from operation times
 * measured at P (`measureLevelOpTimes`).
 */
export function predictPacked(g: IrGraph, plan: PackedPlan, P: Parameters, lt: LevelTimes, opts: PackedPredictOptions = {}): PackedPrediction {
  const cached = opts.cachedDiagonals ?? cachesDiagonals(g, plan, P);
  const S = P.slots;
  const N = P.N;
  const rows = packedCounts(g, plan, P);
  const rotationLevels = new Map<number, number>();
  const layers: PackedLayerCost[] = [];
  let seconds = 0;
  let setupSeconds = 0;
  let diagonals = 0;
  let relinLevel = -1;
  for (let i = 0; i < g.nodes.length; i++) {
    const n = g.nodes[i];
    const r = rows[i];
    const step = plan.steps.get(n.name)!;
    const counts = { ...r.counts };
    if (step.kind === 'transform') {
      for (const s of [...step.split.babies, ...step.split.giants]) if (s !== 0) rotationLevels.set(s, Math.max(rotationLevels.get(s) ?? 0, r.level));
      diagonals += step.diagonals * (P.limbsAt(r.level) + (PACKED_HOISTING === 'double' ? P.p.length : 0)) * N * 4;
      if (cached && counts.dhDiagonal > 0) {
        // diagonals (and the bias) encoded over QP before the first run: products only per run
        counts.dhDiagonalKept += counts.dhDiagonal;
        counts.dhDiagonal = 0;
        setupSeconds += step.diagonals * Math.max(0, timeAt(P, lt, 'dhDiagonal', r.level) - timeAt(P, lt, 'dhDiagonalKept', r.level));
        setupSeconds += counts.encode * timeAt(P, lt, 'encode', r.level);
        counts.encode = 0;
      } else if (cached) {
        counts.encode = step.map.bias ? 1 : 0;
        setupSeconds += step.diagonals * timeAt(P, lt, 'encode', r.level);
      }
    } else if (step.kind === 'rotsum') {
      for (const s of step.steps) rotationLevels.set(s, Math.max(rotationLevels.get(s) ?? 0, r.level));
    }
    if (cached && n.op === 'Poly' && counts.encode > 0) {
      // a polynomial's slot-wise map is encoded once and kept with the diagonals
      setupSeconds += counts.encode * timeAt(P, lt, 'encode', r.level);
      counts.encode = 0;
    }
    if (counts.mulRelinRescale > 0) relinLevel = Math.max(relinLevel, r.level);
    const pd = n.op === 'Poly' ? polyCost(n, false).depth : 0;
    const s = secondsOf(P, lt, counts, r.level, pd);
    seconds += s;
    const l = plan.layouts.get(n.output);
    layers.push({
      node: n.name, op: n.op, kind: r.kind, level: r.level, counts, seconds: s,
      slotUse: l ? l.pos.length / S : 0, slotFill: l ? l.pos.length / l.period : 0,
    });
  }
  const keyBytes = galoisKeyBytes(P);
  const galoisKeys = plan.rotations.length;
  const keys = (galoisKeys + 1) * keyBytes;
  let keysCapped = galoisKeyBytes(P, relinLevel >= 0 ? relinLevel : P.levels);
  for (const r of plan.rotations) keysCapped += galoisKeyBytes(P, rotationLevels.get(r) ?? P.levels);
  const peakCiphertexts = peakWorkingSet(g, plan, P, cached);
  const memory: PackedMemory = {
    keys, keysCapped, keyBytes, galoisKeys, peakCiphertexts, diagonals, cached, total: keysCapped + peakCiphertexts + (cached ? diagonals : 0),
  };
  return { seconds, setupSeconds, layers, memory, rotationLevels };
}

/**
 * Largest bytes of ciphertexts live at once, walking the graph with last-use freeing as the
 * executor does (one ciphertext per value at its level), plus each transform's working set.
 */
function peakWorkingSet(g: IrGraph, plan: PackedPlan, P: Parameters, cached: boolean): number {
  const N = P.N;
  const K = P.p.length;
  const depth = plan.levels.depthAt;
  const ctAt = (v: string) => ciphertextBytes(N, P.limbsAt(Math.max(0, P.levels - (depth.get(v) ?? 0))));
  const lastUse = new Map<string, number>();
  g.nodes.forEach((n, i) => n.inputs.forEach((v) => lastUse.set(v, i)));
  const live = new Map<string, number>([[g.input.name, ctAt(g.input.name)]]);
  const sum = () => [...live.values()].reduce((a, b) => a + b, 0);
  let peak = sum();
  // the evaluator's double-hoisting scratch, kept from the first transform on at its largest size:
  // 6 polynomials and 2 per giant-step accumulator over the full QP, rounded coefficients per giant step
  const qpMax = (P.q.length + K) * N * 4;
  const chunk = Math.max(1, Math.floor(DOUBLE_HOISTING_ACC_BYTES / (2 * qpMax)));
  let dhScratch = 0;
  g.nodes.forEach((n, i) => {
    const step = plan.steps.get(n.name)!;
    let scratch = 0;
    if (step.kind === 'transform') {
      const level = P.levels - Math.max(...n.inputs.map((v) => depth.get(v) ?? 0));
      const l = P.limbsAt(level);
      if (PACKED_HOISTING === 'double') {
        const held = Math.min(chunk, step.split.giants.length);
        dhScratch = Math.max(dhScratch, (6 + 2 * held) * qpMax + held * N * 8);
        scratch = P.dnumAt(level) * (l + K) * N * 4;
      } else {
        // hoisted baby rotations + two accumulators + the decomposition over Q_ℓ·P + one plaintext
        // (not cached: the transform encodes all its diagonals for this run and holds them until it ends)
        scratch = (step.split.babies.length + 2) * ciphertextBytes(N, l) + P.dnumAt(level) * (l + K) * N * 4 + (cached ? 0 : step.diagonals * l * N * 4);
      }
    }
    if (step.kind !== 'transform' && (step.kind === 'rotsum' || n.op === 'Poly')) {
      const level = P.levels - Math.max(...n.inputs.map((v) => depth.get(v) ?? 0));
      scratch = 3 * ciphertextBytes(N, P.limbsAt(level));
    }
    scratch += dhScratch;
    // a fused pool or a relabel passes its input's ciphertext on: counted once, under the new name
    live.set(n.output, ctAt(n.output));
    peak = Math.max(peak, sum() + scratch);
    for (const v of n.inputs) if (lastUse.get(v) === i) live.delete(v);
  });
  return peak;
}
