/**
 * @module cli/packed-report
 * What `veil inspect --layout packed` prints and `--json` carries about a packed run: the
 * parameters, the key set (Galois keys and their bytes, full and capped at the level each is used
 * at), the predicted time per layer and in all (`nn/packed/cost.ts`, operation times measured at
 * the parameters on the server's thread count), the predicted peak memory, the slot use per layer,
 * the levels and the predicted error of the logits against the float64 simulation
 * (`nn/packed/error.ts`).
 */
import { WorkerPool } from '../ckks/index.js';
import { measureLevelOpTimes } from '../nn/plan/cost-model.js';
import type { Model } from '../nn/model/model.js';
import { type PackedPrediction, predictPacked } from '../nn/packed/cost.js';
import { type PackedErrorPrediction, largestOverInputs, predictPackedError } from '../nn/packed/error.js';
import { predictChannelError } from '../nn/channel/index.js';
import { planChannel } from '../nn/channel/index.js';
import type { Tensor } from '../nn/graph.js';
import { formatDuration } from './progress.js';

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/**
 * Measures the operation times at the model's parameters (on a worker pool of `threads` threads
 * when more than one, as the server runs) and predicts one packed run.
 */
export async function predictPackedRun(model: Model, threads: number): Promise<PackedPrediction> {
  const pool = threads > 1 ? await WorkerPool.create(model.params, { threads }) : undefined;
  try {
    const lt = measureLevelOpTimes(model.params, undefined, pool ? { pool } : {});
    return predictPacked(model.graph, model.packedPlan!, model.params, lt);
  } finally {
    await pool?.close();
  }
}

/** Calibration inputs the error prediction is made for (the first 8; ≈ 2.5 s each for ResNet-20). */
const ERROR_SAMPLES = 8;

/** The first calibration inputs, one array each. */
function errorInputs(calibration: Tensor): Float64Array[] {
  const size = calibration.data.length / calibration.shape[0];
  return Array.from({ length: Math.min(ERROR_SAMPLES, calibration.shape[0]) }, (_, i) => calibration.data.subarray(i * size, (i + 1) * size));
}

/**
 * The predicted error of a packed run's outputs against the float64 simulation: per output the
 * largest σ over predictions made for each of the first calibration inputs, or, without
 * calibration inputs, from the activations' intervals.
 */
export function predictPackedRunError(m: Model, calibration?: Tensor): PackedErrorPrediction {
  if (!calibration) return predictPackedError(m.graph, m.packedPlan!, m.params);
  return largestOverInputs(errorInputs(calibration), (x) => predictPackedError(m.graph, m.packedPlan!, m.params, { samples: [x] }));
}

/** The same for a channel-layout run (against the float64 reference). */
export function predictChannelRunError(m: Model, calibration?: Tensor): PackedErrorPrediction {
  const plan = planChannel(m.graph, m.params.slots);
  if (!calibration) return predictChannelError(m.graph, m.params, {}, plan);
  return largestOverInputs(errorInputs(calibration), (x) => predictChannelError(m.graph, m.params, { samples: [x] }, plan));
}

/** The JSON form of the error prediction. */
export function errorReport(e: PackedErrorPrediction, calibrated: boolean): Record<string, unknown> {
  return {
    maxSigma: e.maxSigma, maxBound: e.maxBound, sigmas: e.sigmas, perOutputSigma: Array.from(e.perOutput),
    slopes: calibrated ? 'each calibration input (largest σ over them)' : 'the activations\' intervals (no calibration inputs: a zero input set them, pass --calibration)',
  };
}

/** The JSON form of a packed prediction (the same figures as {@link describePacked}). */
export function packedReport(m: Model, p: PackedPrediction, threads: number, err?: PackedErrorPrediction, calibrated = false): Record<string, unknown> {
  const plan = m.packedPlan!;
  return {
    depth: plan.levels.depth, params: m.params.describe(), imagesPerRun: 1,
    activations: m.compiled.fits.map((f) => ({ node: f.node, replaces: f.replaces, degree: f.degree, basis: f.basis, interval: f.interval, mse: f.error })),
    keys: {
      galoisKeys: p.memory.galoisKeys, rotations: plan.rotations, bytesPerKey: p.memory.keyBytes, bytes: p.memory.keys, cappedBytes: p.memory.keysCapped,
      rotationLevels: Object.fromEntries([...p.rotationLevels].sort((a, b) => a[0] - b[0])),
    },
    prediction: {
      threads, seconds: p.seconds, setupSeconds: p.setupSeconds,
      layers: p.layers.map((l) => ({ node: l.node, op: l.op, kind: l.kind, level: l.level, counts: l.counts, seconds: l.seconds, slotUse: l.slotUse, slotFill: l.slotFill })),
    },
    memory: { ...p.memory },
    levels: { top: m.params.levels, input: m.params.levels, output: m.params.levels - plan.levels.depth, depth: plan.levels.depth },
    ...(err ? { error: errorReport(err, calibrated) } : {}),
  };
}

/** Lines of `veil inspect` for a packed run. */
export function describePacked(m: Model, p: PackedPrediction, threads: number, err?: PackedErrorPrediction, calibrated = false): string[] {
  const plan = m.packedPlan!;
  const mem = p.memory;
  const out = [
    `== packed layout: depth ${plan.levels.depth}, ${m.params.toString()}`,
    `   one image per run, in one ciphertext of ${m.params.slots} slots; levels ${m.params.levels} → ${m.params.levels - plan.levels.depth}`,
    `   Galois keys: ${mem.galoisKeys} × ${mib(mem.keyBytes)} + relinearization key = ${mib(mem.keys)}` +
      ` (capped at the level each is used at: ${mib(mem.keysCapped)})`,
  ];
  for (const f of m.compiled.fits) out.push(`   ${f.node}: ${f.replaces} → ${f.basis === 'power' ? 'x² exact' : `degree ${f.degree} on [${f.interval[0].toFixed(3)}, ${f.interval[1].toFixed(3)}]`}`);
  out.push(`   predicted server time ${formatDuration(p.seconds)} per image (${threads} thread(s))` +
    `${mem.cached ? `, after encoding the diagonals once (${formatDuration(p.setupSeconds)}, kept across images)` : ''}; per layer:`);
  const w = Math.max(...p.layers.map((l) => `${l.op} ${l.node}`.length));
  for (const l of p.layers) {
    if (l.kind === 'fused' || l.kind === 'relabel') {
      out.push(`     ${`${l.op} ${l.node}`.padEnd(w)}  ${l.kind === 'fused' ? 'fused into the next transform' : 'relabelled (no work)'}`);
      continue;
    }
    const c = l.counts;
    const dh = c.dhFinish > 0;
    const what = l.kind === 'transform' && dh
      ? `double-hoisted: baby ${c.dhBaby} + giant ${c.dhGiant} rotations, diagonals ${c.dhDiagonal + c.dhDiagonalKept}${c.dhDiagonalKept > 0 ? ' (kept over QP)' : ' (encoded over QP in the run)'}, rescales ${c.rescale}`
      : l.kind === 'transform'
      ? `rotations ${c.hoistedRotation} hoisted + ${c.rotation}, pt×ct ${c.plainMul}, encodings ${c.encode}${mem.cached ? ' (bias; diagonals kept)' : ''}, rescales ${c.rescale}`
      : l.kind === 'rotsum' ? `rotations ${c.rotation}`
        : `ct×ct ${c.mulRelinRescale}, terms ${c.term}`;
    out.push(`     ${`${l.op} ${l.node}`.padEnd(w)}  level ${String(l.level).padStart(2)}  ${formatDuration(l.seconds).padStart(8)}  slots ${pct(l.slotUse)} (${pct(l.slotFill)} with replicas)  ${what}`);
  }
  out.push(`   memory: keys ${mib(mem.keysCapped)} (capped), ciphertexts at peak ${mib(mem.peakCiphertexts)}, encoded diagonals ${mib(mem.diagonals)}` +
    ` (${mem.cached ? 'kept' : 'encoded per run, not kept'}), total ${mib(mem.total)}`);
  if (err) out.push(errorLine(err, calibrated, 'simulation'));
  return out;
}

/** The text line of an error prediction. */
export function errorLine(err: PackedErrorPrediction, calibrated: boolean, against: 'simulation' | 'reference'): string {
  return `   predicted error vs the float64 ${against}: max per-output σ ${err.maxSigma.toExponential(2)}, bound ${err.maxBound.toExponential(2)} (${err.sigmas}σ;` +
    ` slopes ${calibrated ? 'per calibration input, the largest' : 'over the activations\' intervals, which without --calibration come from a zero input: pass --calibration'})`;
}
