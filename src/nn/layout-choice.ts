/**
 * @module nn/layout-choice
 * Chooses the encrypted layout for a number of images by predicted time and memory. The options
 * are a table (`LAYOUT_OPTIONS`): each says how many images one run takes at its parameters; a
 * new layout is one more row. For each option the model is compiled (which fixes its parameters),
 * per-operation times are measured at those parameters and a run is predicted from the operation
 * counts (`cost-model.ts`); the total is runs × seconds per run. The choice is the fastest option
 * whose predicted memory fits; on a tie the earlier row wins (the table lists the cheapest in
 * memory first).
 */
import { InvalidArgumentError } from '../errors.js';
import type { Parameters } from '../ckks/index.js';
import { type OpTimes, measureOpTimes, predictRun } from './cost-model.js';
import type { CompiledModel, Layout } from './compile.js';
import type { IrGraph, Tensor } from './graph.js';
import { Model, type ModelOptions } from './model.js';

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
];

/** A layout's prediction for a whole job. */
export interface LayoutEstimate {
  layout: Layout;
  model: Model;
  runs: number;
  secondsPerRun: number;
  /** Predicted seconds for all images (runs × seconds per run). */
  seconds: number;
  /** Predicted peak bytes of one run (ciphertexts + evaluation keys). */
  memory: number;
  /** Whether `memory` fits in the memory budget. */
  fits: boolean;
  /** Seconds spent measuring operation times. */
  measureSeconds: number;
  opTimes: OpTimes;
}

/** Options of {@link estimateLayouts}. */
export interface EstimateOptions {
  /** Layout rows to consider (default: all of `LAYOUT_OPTIONS`). */
  options?: readonly LayoutOption[];
  /** Memory budget in bytes; 0 = unknown (everything fits). Default: 85% of the machine's memory. */
  memoryBudget?: number;
  /** Operation timing (tests substitute a fixed table). */
  measure?: (P: Parameters) => OpTimes;
  /** Called before each option is compiled and measured. */
  onOption?: (layout: Layout) => void;
  /** A compilation of `graph` with `modelOptions` to reuse (it does not depend on the layout). */
  compiled?: CompiledModel;
}

/** Compiles `graph` for each layout option and predicts the time and memory of `images` images. */
export function estimateLayouts(graph: IrGraph, calibration: Tensor, images: number, modelOptions: ModelOptions, opts: EstimateOptions = {}): LayoutEstimate[] {
  const rows = opts.options ?? LAYOUT_OPTIONS;
  const measure = opts.measure ?? ((P: Parameters) => measureOpTimes(P));
  return rows.map((row) => {
    opts.onOption?.(row.layout);
    const model = opts.compiled ? Model.fromCompiled(opts.compiled, { ...modelOptions, layout: row.layout })
      : Model.compile(graph, calibration, { ...modelOptions, layout: row.layout });
    const t = performance.now();
    const opTimes = measure(model.params);
    const measureSeconds = (performance.now() - t) / 1000;
    const run = predictRun(model.graph, model.params, row.layout, opTimes);
    const runs = Math.ceil(images / row.imagesPerRun(model.params));
    const mem = model.memory();
    const budget = opts.memoryBudget ?? 0.85 * mem.available;
    return {
      layout: row.layout, model, runs, secondsPerRun: run.seconds, seconds: runs * run.seconds, memory: mem.total,
      fits: !(budget > 0) || mem.total <= budget, measureSeconds, opTimes,
    };
  });
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
