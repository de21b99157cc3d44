/**
 * @module nn/plan/layout-choice
 * Chooses the encrypted layout for a number of images by predicted time and memory. The options
 * are a table (`LAYOUT_OPTIONS`): each says how many images one run takes at its parameters; a
 * new layout is one more row. For each option the model is compiled (which fixes its parameters),
 * per-operation times are measured at those parameters and a run is predicted from the operation
 * counts (`cost-model.ts`); the total is runs × seconds per run. The choice is the fastest option
 * whose predicted memory fits; on a tie the earlier row wins. The packed layout (one image in one
 * ciphertext, every linear layer one diagonal transform) is predicted from its plan's own steps and
 * operation times measured at two levels (`packed/cost.ts`); a network it cannot hold (e.g. unequal
 * strides) is left out of the choice.
 */
import { InvalidArgumentError } from '../../errors.js';
import type { Parameters } from '../../ckks/index.js';
import { type LevelTimes, type OpTimes, measureLevelOpTimes, measureOpTimes, predictRun } from './cost-model.js';
import { PackedLayoutError } from '../packed/layout.js';
import { type PackedPrediction, predictPacked } from '../packed/cost.js';
import type { CompiledModel, Layout } from '../compile/compile.js';
import type { IrGraph, Tensor } from '../graph.js';
import { Model, type ModelOptions } from '../model/model.js';

/** One row of the layout table. */
export interface LayoutOption {
  layout: Layout;
  /** Images one encrypted run takes at parameters P. */
  imagesPerRun(P: Parameters): number;
  /** A short description for reports. */
  describe: string;
}

/** The layouts the automatic choice considers, cheapest in memory first. */
export const LAYOUT_OPTIONS: readonly LayoutOption[] = [
  { layout: 'channel', imagesPerRun: () => 1, describe: 'one image per run, one ciphertext per channel' },
  { layout: 'batch', imagesPerRun: (P) => P.slots, describe: 'one image per slot, one ciphertext per value' },
  { layout: 'packed', imagesPerRun: () => 1, describe: 'one image per run in one ciphertext, every linear layer one diagonal transform' },
];

/** A layout's prediction for a whole job. */
export interface LayoutEstimate {
  layout: Layout;
  model: Model;
  runs: number;
  secondsPerRun: number;
  /** Predicted seconds for all images (runs × seconds per run, plus the packed layout's one-off encoding of its diagonals). */
  seconds: number;
  /** Predicted peak bytes of one run (ciphertexts + evaluation keys). */
  memory: number;
  /** Whether `memory` fits in the memory budget. */
  fits: boolean;
  /** Seconds spent measuring operation times. */
  measureSeconds: number;
  /** Per-operation times at the top level (batch and channel layouts). */
  opTimes?: OpTimes;
  /** Per-operation times at two levels and the layer-by-layer prediction (packed layout). */
  levelTimes?: LevelTimes;
  packed?: PackedPrediction;
}

/** Options of {@link estimateLayouts}. */
export interface EstimateOptions {
  /** Layout rows to consider (default: all of `LAYOUT_OPTIONS`). */
  options?: readonly LayoutOption[];
  /** Memory budget in bytes; 0 = unknown (everything fits). Default: 85% of the machine's memory. */
  memoryBudget?: number;
  /** Operation timing (tests substitute a fixed table). */
  measure?: (P: Parameters) => OpTimes;
  /** Operation timing at levels for the packed layout (tests substitute a fixed table). */
  measureLevels?: (P: Parameters) => LevelTimes;
  /** Whether the packed runner keeps its encoded diagonals (no encoding per run; their memory counts). */
  cachedDiagonals?: boolean;
  /** Called for a layout that cannot hold the network (it is left out). */
  onSkip?: (layout: Layout, reason: string) => void;
  /** Called before each option is compiled and measured. */
  onOption?: (layout: Layout) => void;
  /** A compilation of `graph` with `modelOptions` to reuse (it does not depend on the layout). */
  compiled?: CompiledModel;
}

/** Compiles `graph` for each layout option and predicts the time and memory of `images` images. */
export function estimateLayouts(graph: IrGraph, calibration: Tensor, images: number, modelOptions: ModelOptions, opts: EstimateOptions = {}): LayoutEstimate[] {
  const rows = opts.options ?? LAYOUT_OPTIONS;
  const measure = opts.measure ?? ((P: Parameters) => measureOpTimes(P));
  const measureLevels = opts.measureLevels ?? ((P: Parameters) => measureLevelOpTimes(P));
  const out: LayoutEstimate[] = [];
  for (const row of rows) {
    opts.onOption?.(row.layout);
    let model: Model;
    try {
      model = opts.compiled ? Model.fromCompiled(opts.compiled, { ...modelOptions, layout: row.layout })
        : Model.compile(graph, calibration, { ...modelOptions, layout: row.layout });
    } catch (e) {
      if (!(e instanceof PackedLayoutError)) throw e;
      opts.onSkip?.(row.layout, e.message);
      continue;
    }
    const runs = Math.ceil(images / row.imagesPerRun(model.params));
    const budgetOf = (available: number) => opts.memoryBudget ?? 0.85 * available;
    const t = performance.now();
    if (row.layout === 'packed') {
      const levelTimes = measureLevels(model.params);
      const measureSeconds = (performance.now() - t) / 1000;
      const packed = predictPacked(model.graph, model.packedPlan!, model.params, levelTimes, { cachedDiagonals: opts.cachedDiagonals });
      const budget = budgetOf(model.memory().available);
      const memory = packed.memory.total;
      out.push({
        // the kept diagonals are encoded once for the whole job
        layout: row.layout, model, runs, secondsPerRun: packed.seconds, seconds: packed.setupSeconds + runs * packed.seconds, memory,
        fits: !(budget > 0) || memory <= budget, measureSeconds, levelTimes, packed,
      });
      continue;
    }
    const opTimes = measure(model.params);
    const measureSeconds = (performance.now() - t) / 1000;
    const run = predictRun(model.graph, model.params, row.layout, opTimes);
    const mem = model.memory();
    const budget = budgetOf(mem.available);
    out.push({
      layout: row.layout, model, runs, secondsPerRun: run.seconds, seconds: runs * run.seconds, memory: mem.total,
      fits: !(budget > 0) || mem.total <= budget, measureSeconds, opTimes,
    });
  }
  return out;
}

/**
 * The fastest estimate that fits in memory (ties: the earlier row); if none fits, the one with the
 * least memory. `reason` says why, for the CLI.
 */
export function chooseLayout(estimates: readonly LayoutEstimate[]): { choice: LayoutEstimate; reason: string } {
  if (estimates.length === 0) throw new InvalidArgumentError('chooseLayout: no layout to choose from', 'pass the estimates of at least one layout (estimateLayouts)');
  const fitting = estimates.filter((e) => e.fits);
  if (fitting.length === 0) {
    const choice = estimates.reduce((a, b) => (b.memory < a.memory ? b : a));
    return { choice, reason: 'no layout fits the memory budget; the one needing the least memory' };
  }
  const choice = fitting.reduce((a, b) => (b.seconds < a.seconds ? b : a));
  const others = estimates.filter((e) => e !== choice);
  const why = others.map((o) => (o.fits ? `${o.layout} ${fmt(o.seconds)}` : `${o.layout} needs more memory than the budget`)).join(', ');
  return { choice, reason: `fastest predicted that fits in memory${why ? ` (vs ${why})` : ''}` };
}

const fmt = (s: number) => (s < 60 ? `${s.toFixed(1)} s` : `${(s / 60).toFixed(1)} min`);
