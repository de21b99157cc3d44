/**
 * @module cli/bootstrap-report
 * What `veil inspect --layout packed --bootstrap PRESET` prints and `--json` carries: the packed
 * plan on the bootstrapping set's slots and user levels, where bootstraps go (`nn/packed/
 * bootstraps.ts`: the value refreshed, its level, the node that needed it, its calibrated range
 * and divisor), how many, their predicted time (measured seconds per bootstrap of the preset,
 * `BOOTSTRAP_SECONDS`) and the key bytes they add (the bootstrapping key set in memory and on the
 * wire; the network's own rotations, capped at the top user level).
 */
import { type BootstrapParameters, bootstrapPreset } from '../bootstrap/index.js';
import { bootstrapKeyMemory } from '../nn/model-bootstrap.js';
import type { IrGraph, Tensor } from '../nn/graph.js';
import {
  type BootstrapPlacement, bootstrapRanges, bootstrapSeconds, maxBootstrapLogScale, placeBootstraps,
} from '../nn/packed/bootstraps.js';
import { type PackedPlan, planPacked } from '../nn/packed/plan.js';
import { formatDuration } from './progress.js';

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

/** A bootstrapped packed plan and its costs. */
export interface BootstrapReport {
  preset: string;
  plan: PackedPlan;
  placement: BootstrapPlacement;
  /** Predicted seconds of the bootstraps (undefined: the preset was never measured at this thread count). */
  seconds?: number;
  secondsEach?: number;
  /** The bootstrapping key set: Galois keys, bytes in memory and on the wire (seeded). */
  bootstrapKeys: { galoisKeys: number; memory: number; wire: number };
  /** The network's rotations not in the bootstrapping set, capped at the top user level. */
  networkKeys: { galoisKeys: number; memory: number };
  /** Calibration images the ranges were taken over. */
  rangeImages: number;
}

/**
 * Plans `g` in the packed layout on the preset's slots, places the bootstraps for its user levels
 * and takes the refreshed values' ranges over up to `maxImages` calibration images.
 * @throws BootstrapPlacementError, BootstrapRangeError, PackedLayoutError
 */
export function bootstrapReport(g: IrGraph, calib: Tensor, preset: string, threads: number, maxImages = 8): BootstrapReport {
  const bp = bootstrapPreset(preset);
  const plan = planPacked(g, bp.slots);
  const placement = placeBootstraps(g, plan.levels.cost, bp.outputLevel);
  const n = Math.min(calib.shape[0], maxImages);
  const size = calib.data.length / calib.shape[0];
  const samples = Array.from({ length: n }, (_, i) => calib.data.subarray(i * size, (i + 1) * size));
  bootstrapRanges(g, plan, placement, samples, { maxLogScale: maxBootstrapLogScale(bp.params, bp.evalMod.logMessageRatio) });
  const seconds = bootstrapSeconds(preset, threads, placement.count);
  return { preset, plan, placement, seconds, secondsEach: bootstrapSeconds(preset, threads, 1), ...bootstrapKeyMemory(bp, plan), rangeImages: n };
}

/**
 * What `veil infer --bootstrap` records before the run: the preset, its user levels, where the
 * model bootstraps, the predicted seconds (measured per bootstrap, `BOOTSTRAP_SECONDS`; the
 * network's own layers not included) and the key memory.
 */
export function bootstrapRunJson(preset: string, bp: BootstrapParameters, plan: PackedPlan, pl: BootstrapPlacement, threads: number): Record<string, unknown> {
  const each = bootstrapSeconds(preset, threads, 1);
  const k = bootstrapKeyMemory(bp, plan);
  return {
    preset, params: bp.describe(), depth: plan.levels.depth, userLevels: bp.outputLevel, bootstraps: pl.count,
    points: pl.points.map((p) => ({ value: p.value, after: p.after, levelBefore: p.levelBefore, bound: p.bound, scale: p.scale })),
    prediction: { threads, secondsEach: each ?? null, seconds: each === undefined ? null : each * pl.count },
    keys: { bootstrap: k.bootstrapKeys, network: k.networkKeys, total: k.bootstrapKeys.memory + k.networkKeys.memory },
  };
}

/** The JSON form (the same figures as {@link describeBootstraps}). */
export function bootstrapReportJson(r: BootstrapReport, threads: number): Record<string, unknown> {
  const bp = bootstrapPreset(r.preset);
  return {
    preset: r.preset, params: bp.describe(), depth: r.plan.levels.depth, userLevels: bp.outputLevel, bootstraps: r.placement.count,
    points: r.placement.points.map((p) => ({ value: p.value, after: p.after, neededBy: p.neededBy, levelBefore: p.levelBefore, levelAfter: p.levelAfter, bound: p.bound, scale: p.scale })),
    outputLevel: r.placement.outputLevel,
    prediction: { threads, seconds: r.seconds ?? null, secondsEach: r.secondsEach ?? null, measured: r.secondsEach !== undefined },
    keys: { bootstrap: r.bootstrapKeys, network: r.networkKeys, total: r.bootstrapKeys.memory + r.networkKeys.memory },
    rangeImages: r.rangeImages,
  };
}

/** Lines of `veil inspect` for a bootstrapped packed run. */
export function describeBootstraps(g: IrGraph, r: BootstrapReport, threads: number): string[] {
  const bp = bootstrapPreset(r.preset);
  const { placement: pl, plan } = r;
  const ops = new Map(g.nodes.map((n) => [n.name, n.op]));
  const out = [
    `== packed layout with bootstrapping (${r.preset}: N = 2^${bp.params.logN}, ${bp.slots} slots, ${bp.outputLevel} user levels${bp.params.insecure ? ', NOT secure' : ', 128-bit'})`,
    `   depth ${plan.levels.depth} > ${bp.outputLevel}: ${pl.count} bootstrap(s), one Bootstrapper.bootstrap call each; the output leaves at level ${pl.outputLevel}`,
    r.seconds !== undefined
      ? `   predicted bootstrapping time ${formatDuration(r.seconds)} per image on ${threads} thread(s) (${r.secondsEach!.toFixed(2)} s each, measured; the network's own layers not included)`
      : `   predicted bootstrapping time: ${r.preset} was not measured on ${threads} thread(s) (npm run bench -- --op=bootstrap --bootstrap=${r.preset})`,
    `   keys added: bootstrapping ${r.bootstrapKeys.galoisKeys} Galois keys + relinearization + encapsulation = ${mib(r.bootstrapKeys.memory)} in memory` +
      ` (${mib(r.bootstrapKeys.wire)} on the wire, seeded); the network's ${r.networkKeys.galoisKeys} other rotations capped at level ${bp.outputLevel}: ${mib(r.networkKeys.memory)}`,
    `   bootstraps (value refreshed: its level → ${bp.outputLevel}; calibrated max |slot| over ${r.rangeImages} image(s) and the divisor s it is scaled by):`,
  ];
  const w = Math.max(0, ...pl.points.map((p) => `${ops.get(p.after)} ${p.after}`.length));
  for (const p of pl.points) {
    out.push(`     after ${`${ops.get(p.after)} ${p.after}`.padEnd(w)}  level ${String(p.levelBefore).padStart(2)} → ${p.levelAfter}` +
      `  for ${ops.get(p.neededBy)} ${p.neededBy} (${plan.levels.cost.get(p.neededBy)} levels)  |x| ≤ ${p.bound!.toPrecision(3)}, s = ${p.scale}`);
  }
  return out;
}
