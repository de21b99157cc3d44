/**
 * @module cli/bootstrap-report
 * What `veil inspect --layout packed|channel --bootstrap PRESET` prints and `--json` carries: the
 * layout's plan on the bootstrapping set's slots and user levels, where bootstraps go
 * (`nn/bootstraps.ts`: the value refreshed, its level, the node that needed it, its calibrated
 * range and divisor; in the channel layout also how many bootstraps its channels pack into,
 * `nn/channel/bootstraps.ts`), how many, their predicted time (measured seconds per bootstrap of
 * the preset, `BOOTSTRAP_SECONDS`) and the key bytes they add (the bootstrapping key set in memory
 * and on the wire; the network's own rotations and the channel packing's, capped at the top user
 * level).
 */
import { type BootstrapParameters, bootstrapPreset } from '../bootstrap/index.js';
import { bootstrapKeyMemory } from '../nn/model/bootstrap.js';
import type { IrGraph, Tensor } from '../nn/graph.js';
import { type BootstrapPlacement, bootstrapSeconds, maxBootstrapLogScale, placeBootstraps } from '../nn/plan/bootstraps.js';
import { bootstrapRanges } from '../nn/packed/bootstraps.js';
import { planPacked } from '../nn/packed/plan.js';
import { type ChannelRefreshPlan, channelBootstrapRanges, planChannel, planChannelBootstraps } from '../nn/channel/index.js';
import { formatDuration } from './progress.js';

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

/** A bootstrapped plan and its costs. */
export interface BootstrapReport {
  preset: string;
  layout: 'packed' | 'channel';
  /** Network depth in the layout. */
  depth: number;
  /** Levels each node consumes. */
  cost: ReadonlyMap<string, number>;
  placement: BootstrapPlacement;
  /** Bootstrap calls per image (a channel refresh may take several). */
  bootstraps: number;
  /** Channel layout: how each refreshed value packs. */
  refreshes?: ReadonlyMap<string, ChannelRefreshPlan>;
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
 * Plans `g` in the layout on the preset's slots, places the bootstraps for its user levels and
 * takes the refreshed values' ranges over up to `maxImages` calibration images.
 * @throws BootstrapPlacementError, BootstrapRangeError, PackedLayoutError, ChannelLayoutError
 */
export function bootstrapReport(g: IrGraph, calib: Tensor, preset: string, threads: number, maxImages = 8, layout: 'packed' | 'channel' = 'packed'): BootstrapReport {
  const bp = bootstrapPreset(preset);
  const n = Math.min(calib.shape[0], maxImages);
  const size = calib.data.length / calib.shape[0];
  const maxLogScale = maxBootstrapLogScale(bp.params, bp.evalMod.logMessageRatio);
  let depth: number;
  let cost: ReadonlyMap<string, number>;
  let placement: BootstrapPlacement;
  let rotations: number[];
  let bootstraps: number;
  let refreshes: ReadonlyMap<string, ChannelRefreshPlan> | undefined;
  if (layout === 'channel') {
    const plan = planChannel(g, bp.params.slots);
    const cbp = planChannelBootstraps(g, plan, bp.outputLevel, bp.params.slots);
    channelBootstrapRanges(g, cbp, { shape: [n, ...calib.shape.slice(1)], data: calib.data.subarray(0, n * size) }, { maxLogScale });
    ({ depth } = plan.levels);
    cost = plan.levels.cost;
    placement = cbp.placement;
    rotations = [...new Set([...plan.rotations, ...cbp.rotations])];
    bootstraps = cbp.bootstraps;
    refreshes = cbp.refreshes;
  } else {
    const plan = planPacked(g, bp.slots);
    placement = placeBootstraps(g, plan.levels.cost, bp.outputLevel);
    bootstrapRanges(g, plan, placement, Array.from({ length: n }, (_, i) => calib.data.subarray(i * size, (i + 1) * size)), { maxLogScale });
    ({ depth } = plan.levels);
    cost = plan.levels.cost;
    rotations = plan.rotations;
    bootstraps = placement.count;
  }
  const seconds = bootstrapSeconds(preset, threads, bootstraps);
  return {
    preset, layout, depth, cost, placement, bootstraps, ...(refreshes ? { refreshes } : {}), seconds, secondsEach: bootstrapSeconds(preset, threads, 1),
    ...bootstrapKeyMemory(bp, { rotations }), rangeImages: n,
  };
}

/**
 * What `veil infer --bootstrap` records before the run: the preset, its user levels, where the
 * model bootstraps (refreshes and the bootstrap calls they take), the predicted seconds (measured
 * per bootstrap, `BOOTSTRAP_SECONDS`; the network's own layers not included) and the key memory.
 */
export function bootstrapRunJson(preset: string, bp: BootstrapParameters, model: { depth: number; rotations: readonly number[] }, pl: BootstrapPlacement, bootstraps: number, threads: number): Record<string, unknown> {
  const each = bootstrapSeconds(preset, threads, 1);
  const k = bootstrapKeyMemory(bp, model);
  return {
    preset, params: bp.describe(), depth: model.depth, userLevels: bp.outputLevel, refreshes: pl.count, bootstraps,
    points: pl.points.map((p) => ({ value: p.value, after: p.after, levelBefore: p.levelBefore, bound: p.bound, scale: p.scale })),
    prediction: { threads, secondsEach: each ?? null, seconds: each === undefined ? null : each * bootstraps },
    keys: { bootstrap: k.bootstrapKeys, network: k.networkKeys, total: k.bootstrapKeys.memory + k.networkKeys.memory },
  };
}

/** The JSON form (the same figures as {@link describeBootstraps}). */
export function bootstrapReportJson(r: BootstrapReport, threads: number): Record<string, unknown> {
  const bp = bootstrapPreset(r.preset);
  return {
    preset: r.preset, layout: r.layout, params: bp.describe(), depth: r.depth, userLevels: bp.outputLevel, refreshes: r.placement.count, bootstraps: r.bootstraps,
    points: r.placement.points.map((p) => ({
      value: p.value, after: p.after, neededBy: p.neededBy, levelBefore: p.levelBefore, levelAfter: p.levelAfter, bound: p.bound, scale: p.scale,
      bootstraps: r.refreshes?.get(p.value)?.bootstraps ?? 1,
    })),
    outputLevel: r.placement.outputLevel,
    prediction: { threads, seconds: r.seconds ?? null, secondsEach: r.secondsEach ?? null, measured: r.secondsEach !== undefined },
    keys: { bootstrap: r.bootstrapKeys, network: r.networkKeys, total: r.bootstrapKeys.memory + r.networkKeys.memory },
    rangeImages: r.rangeImages,
  };
}

/** Lines of `veil inspect` for a bootstrapped run. */
export function describeBootstraps(g: IrGraph, r: BootstrapReport, threads: number): string[] {
  const bp = bootstrapPreset(r.preset);
  const { placement: pl } = r;
  const ops = new Map(g.nodes.map((n) => [n.name, n.op]));
  const out = [
    `== ${r.layout} layout with bootstrapping (${r.preset}: N = 2^${bp.params.logN}, ${bp.slots} slots, ${bp.outputLevel} user levels${bp.params.insecure ? ', NOT secure' : ', 128-bit'})`,
    r.layout === 'packed'
      ? `   depth ${r.depth} > ${bp.outputLevel}: ${pl.count} bootstrap(s), one Bootstrapper.bootstrap call each; the output leaves at level ${pl.outputLevel}`
      : `   depth ${r.depth} > ${bp.outputLevel}: ${pl.count} refresh(es) in ${r.bootstraps} bootstrap(s) (each packs up to ⌊slots/span⌋ channels; unpacking masks take a level: a refreshed value continues at ${pl.budget}); the output leaves at level ${pl.outputLevel}`,
    r.seconds !== undefined
      ? `   predicted bootstrapping time ${formatDuration(r.seconds)} per image on ${threads} thread(s) (${r.secondsEach!.toFixed(2)} s each, measured; the network's own layers not included)`
      : `   predicted bootstrapping time: ${r.preset} was not measured on ${threads} thread(s) (npm run bench -- --op=bootstrap --bootstrap=${r.preset})`,
    `   keys added: bootstrapping ${r.bootstrapKeys.galoisKeys} Galois keys + relinearization + encapsulation = ${mib(r.bootstrapKeys.memory)} in memory` +
      ` (${mib(r.bootstrapKeys.wire)} on the wire, seeded); the network's ${r.networkKeys.galoisKeys} other rotations capped at level ${bp.outputLevel}: ${mib(r.networkKeys.memory)}`,
    `   bootstraps (value refreshed: its level → ${pl.budget}; calibrated max |slot| over ${r.rangeImages} image(s) and the divisor s it is scaled by):`,
  ];
  const w = Math.max(0, ...pl.points.map((p) => `${ops.get(p.after)} ${p.after}`.length));
  for (const p of pl.points) {
    out.push(`     after ${`${ops.get(p.after)} ${p.after}`.padEnd(w)}  level ${String(p.levelBefore).padStart(2)} → ${p.levelAfter}` +
      `  for ${ops.get(p.neededBy)} ${p.neededBy} (${r.cost.get(p.neededBy)} levels)  |x| ≤ ${p.bound!.toPrecision(3)}, s = ${p.scale}` +
      (r.refreshes ? `, ${r.refreshes.get(p.value)!.count} ciphertext(s) in ${r.refreshes.get(p.value)!.bootstraps} bootstrap(s)` : ''));
  }
  return out;
}
