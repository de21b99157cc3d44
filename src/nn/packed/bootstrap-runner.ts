/**
 * @module nn/packed/bootstrap-runner
 * A packed run with bootstraps at placed points (`bootstraps.ts`; CKKS bootstrapping, Cheon–Han–
 * Kim–Kim–Song eprint 2018/153, as implemented in `bootstrap/bootstrapper.ts`). The parameters are
 * the bootstrapping set's `bp.params`: the network lives in the user levels 0..U (U =
 * `bp.outputLevel`; the input is encrypted at U, scale Δ_out), the levels above belong to the
 * bootstrapping circuit. The runner is the plain `PackedRunner` with a hook that, right after a
 * refreshed value is produced, bootstraps it (every consumer then reads the refreshed ciphertext).
 *
 * One refresh of a value x at level ℓ with divisor s (a power of two, `BootstrapPoint.scale`):
 *  1. ℓ > 0: drop to level 1 and `setScale` to the canonical level-0 scale Δ_0 (one product by a
 *     constant, one rescale: levels the value had spare). At ℓ = 0 the runner's values already sit
 *     on Δ_0. The bootstrap's output is exactly on Δ_out only for an input on Δ_0.
 *  2. relabel the scale to Δ_0·s (free): the message reads x/s, and ScaleUp's 2^e is s times
 *     smaller, so EvalMod sees |ε| ≤ 2^−r while |x/s| ≤ 1 (module documentation of `bootstraps.ts`).
 *  3. bootstrap: level U, scale Δ_out, message x/s.
 *  4. an integer product by s (`mulInt`: exact, no level): message x at Δ_out. The bootstrap's
 *     error is multiplied by s here; that is the price of the range reduction.
 */
import {
  type Ciphertext, type CkksContext, type Encoder, type Encryptor, InternalError, type KeyGenerator, LevelError, type SecretKey,
} from '../../ckks/index.js';
import type { BootstrapKeys, Bootstrapper } from '../../bootstrap/bootstrapper.js';
import type { BootstrapParameters } from '../../bootstrap/params.js';
import type { IrGraph } from '../graph.js';
import type { Progress } from '../batch/runner.js';
import { type PackedLayout, PackedLayoutError, scatter } from './layout.js';
import type { PackedPlan } from './plan.js';
import { PackedRunner } from './runner.js';
import { type BootstrapPlacement, type BootstrapPoint, BootstrapRangeError, genNetworkBootstrapKeys } from './bootstraps.js';

/** Client side: one image placed in the input layout, encrypted at the top user level of `bp`. */
export function encryptPackedForBootstrap(ctx: CkksContext, enc: Encoder, encr: Encryptor, bp: BootstrapParameters, layout: PackedLayout, image: ArrayLike<number>): Ciphertext {
  const U = bp.outputLevel;
  return encr.encrypt(enc.encode(scatter(layout, image, ctx.params.slots), { level: U, scale: ctx.params.scales[U] }));
}

/**
 * The keys of a bootstrapped packed run: the bootstrap set (`genBootstrapKeys`: relinearization,
 * the DFT rotations at full height, conjugation, encapsulation) extended with the network's
 * rotations that are not already in it, capped at the top user level (the network never rotates
 * above it, so those keys need only the user levels' limbs).
 */
export function genPackedBootstrapKeys(kg: KeyGenerator, sk: SecretKey, bp: BootstrapParameters, plan: Pick<PackedPlan, 'rotations'>): BootstrapKeys {
  return genNetworkBootstrapKeys(kg, sk, bp, plan.rotations);
}

/** Wall-clock time of one bootstrap of a run. */
export interface BootstrapTiming {
  value: string;
  levelBefore: number;
  scale: number;
  ms: number;
}

/** Server side: a packed run with the placement's bootstraps, on the bootstrapping set's parameters. */
export class PackedBootstrapRunner {
  readonly runner: PackedRunner;
  /** One entry per bootstrap of the last run. */
  readonly bootstraps: BootstrapTiming[] = [];
  private readonly points: Map<string, BootstrapPoint>;

  /**
   * @throws PackedLayoutError when the plan's slots or the placement's levels do not match the
   *   bootstrapper's parameters; BootstrapRangeError when a point has no range (run
   *   `bootstrapRanges` on the placement first).
   */
  constructor(readonly graph: IrGraph, readonly plan: PackedPlan, readonly placement: BootstrapPlacement, readonly boot: Bootstrapper, enc: Encoder, onProgress?: Progress) {
    const bp = boot.bp;
    if (plan.slots !== bp.slots) throw new PackedLayoutError(`the plan is for ${plan.slots} slots, the bootstrapping set has ${bp.slots}`, 'plan with bp.slots slots (a full-slot bootstrapping set: bp.params.slots)');
    if (placement.budget !== bp.outputLevel) throw new PackedLayoutError(`the placement is for ${placement.budget} user levels, the bootstrapping set has ${bp.outputLevel}`, 'place the bootstraps with bp.outputLevel levels');
    for (const p of placement.points) {
      if (p.scale === undefined) throw new BootstrapRangeError(`the bootstrap of '${p.value}' has no calibrated range`, 'call bootstrapRanges(graph, plan, placement, calibrationImages, …) before running');
    }
    this.points = new Map(placement.points.map((p) => [p.value, p]));
    this.runner = new PackedRunner(graph, plan, boot.ev, enc, onProgress, {
      after: (n, out) => {
        const p = this.points.get(n.output);
        return p ? this.refreshValue(p, out) : out;
      },
    });
  }

  /** Runs the graph on `input` (encrypted at the top user level: {@link encryptPackedForBootstrap}). */
  run(input: Ciphertext): Ciphertext {
    const U = this.boot.bp.outputLevel;
    if (input.level !== U) throw new LevelError(U, input.level, 'the input of a bootstrapped packed run (encrypt it at the top user level)');
    this.bootstraps.length = 0;
    return this.runner.run(input);
  }

  private refreshValue(p: BootstrapPoint, x: Ciphertext): Ciphertext {
    const t0 = performance.now();
    const { ev, bp } = this.boot;
    const P = ev.ctx.params;
    const s = p.scale!;
    // 1. onto the canonical level-0 scale (a copy: relabelled values may be shared, e.g. by a Flatten)
    let y: Ciphertext;
    const level = x.level;
    if (level > 0) y = ev.setScale(level > 1 ? ev.dropToLevel(x, 1) : x, P.scales[0]);
    else {
      if (Math.abs(x.scale - P.scales[0]) > 1e-9 * P.scales[0]) throw new InternalError(`value '${p.value}' at level 0 has scale 2^${Math.log2(x.scale).toFixed(3)}, not the ladder's`);
      y = ev.copy(x);
    }
    // 2. relabel: message x/s (power of two: exact)
    y.scale = P.scales[0] * s;
    // 3. bootstrap, 4. back to x by an exact integer product
    const z = this.boot.bootstrap(y);
    if (Math.abs(z.scale - bp.outputScale) > 1e-9 * bp.outputScale) throw new InternalError(`bootstrap output scale 2^${Math.log2(z.scale).toFixed(3)}, expected 2^${Math.log2(bp.outputScale).toFixed(3)}`);
    z.scale = P.scales[bp.outputLevel];
    const out = s > 1 ? ev.mulInt(z, s) : z;
    this.bootstraps.push({ value: p.value, levelBefore: level, scale: s, ms: performance.now() - t0 });
    return out;
  }
}
