/**
 * @module nn/channel/bootstrap-runner
 * A channel-layout run with bootstraps at placed points (`bootstraps.ts`; CKKS bootstrapping,
 * Cheon–Han–Kim–Kim–Song eprint 2018/153, as implemented in `bootstrap/bootstrapper.ts`). The
 * parameters are the bootstrapping set's `bp.params`: the network lives in the user levels 0..U
 * (inputs are encrypted at U), the levels above belong to the bootstrapping circuit. The runner is
 * the plain `ChannelRunner` with a hook that refreshes a placed value right after it is produced.
 *
 * One refresh of a value of C ciphertexts at level ℓ with divisor s (a power of two):
 *  1. each ciphertext at ℓ ≥ 1: drop to level 1, multiply by its slot mask encoded at Δ_0·q_1/t_ℓ,
 *     rescale: the masked value on the level-0 scale Δ_0 (the mask clears the unused slots). At
 *     ℓ = 0 the value is clean already (`cleanValues`: the placement sees to it) and on Δ_0;
 *  2. per group of k = ⌊slots/block⌋ ciphertexts: Σ_j rot(y_j, −j·block) (level 0, no level used);
 *  3. relabel the scale to Δ_0·s (message x/s) and bootstrap: level U, scale Δ_out;
 *  4. unpack by hoisted rotations rot(z, j·block), each multiplied by s·mask encoded at
 *     t_(U−1)·q_U/t_U and rescaled: x exactly on the ladder at U − 1, other channels cleared.
 */
import {
  type Ciphertext, type Encoder, InternalError, type KeyGenerator, LevelError, type Plaintext, type SecretKey,
} from '../../ckks/index.js';
import type { BootstrapKeys, Bootstrapper } from '../../bootstrap/bootstrapper.js';
import type { BootstrapParameters } from '../../bootstrap/params.js';
import type { IrGraph } from '../graph.js';
import type { Progress } from '../batch/runner.js';
import { BootstrapRangeError, type BootstrapPoint, genNetworkBootstrapKeys } from '../plan/bootstraps.js';
import { ChannelLayoutError, type ChannelPlan, ChannelRunner, type ChannelTensor, type SlotLayout } from './runner.js';
import type { ChannelBootstrapPlan, ChannelRefreshPlan } from './bootstraps.js';

/**
 * The keys of a bootstrapped channel run: the bootstrap set (`genBootstrapKeys`) extended with the
 * network's rotations and the packing rotations not already in it, capped at the top user level.
 */
export function genChannelBootstrapKeys(kg: KeyGenerator, sk: SecretKey, bp: BootstrapParameters, plan: Pick<ChannelPlan, 'rotations'>, cbp: Pick<ChannelBootstrapPlan, 'rotations'>): BootstrapKeys {
  return genNetworkBootstrapKeys(kg, sk, bp, [...plan.rotations, ...cbp.rotations]);
}

/** Wall-clock time of one refresh of a run (all its bootstraps). */
export interface ChannelBootstrapTiming {
  value: string;
  levelBefore: number;
  scale: number;
  bootstraps: number;
  ms: number;
}

/** 1 on a layout's pixel slots (spatial) or on slot 0 (vector), 0 elsewhere, times `v`. */
function maskOf(slots: number, L: SlotLayout | undefined, v: number): Float64Array {
  const m = new Float64Array(slots);
  if (!L) m[0] = v;
  else for (let y = 0; y < L.H; y++) for (let x = 0; x < L.W; x++) m[L.off + y * L.rs + x * L.cs] = v;
  return m;
}

/** Server side: a channel-layout run with the plan's bootstraps, on the bootstrapping set's parameters. */
export class ChannelBootstrapRunner {
  readonly runner: ChannelRunner;
  /** One entry per refreshed value of the last run. */
  readonly bootstraps: ChannelBootstrapTiming[] = [];
  private readonly points: Map<string, BootstrapPoint>;

  /**
   * @throws ChannelLayoutError when the bootstrap plan's levels do not match the bootstrapper's
   *   parameters; BootstrapRangeError when a point has no range (run `channelBootstrapRanges` first).
   */
  constructor(readonly graph: IrGraph, readonly cbp: ChannelBootstrapPlan, readonly boot: Bootstrapper, readonly enc: Encoder, onProgress?: Progress) {
    const bp = boot.bp;
    if (cbp.userLevels !== bp.outputLevel) throw new ChannelLayoutError(`the bootstrap plan is for ${cbp.userLevels} user levels, the bootstrapping set has ${bp.outputLevel}`, 'plan the bootstraps with bp.outputLevel user levels');
    if (bp.slots !== bp.params.slots) throw new ChannelLayoutError(`the channel layout bootstraps all ${bp.params.slots} slots, the set bootstraps ${bp.slots}`, 'use a full-slot bootstrapping set (such as N16-BOOT)');
    for (const p of cbp.placement.points) {
      if (p.scale === undefined) throw new BootstrapRangeError(`the bootstrap of '${p.value}' has no calibrated range`, 'call channelBootstrapRanges(graph, plan, calibrationImages, …) before running');
    }
    this.points = new Map(cbp.placement.points.map((p) => [p.value, p]));
    this.runner = new ChannelRunner(graph, boot.ev, enc, onProgress, {
      after: (n, out) => {
        const p = this.points.get(n.output);
        return p ? this.refreshValue(p, cbp.refreshes.get(p.value)!, out) : out;
      },
    });
  }

  /** Runs the graph on `input` (encrypted at the top user level: `encryptChannels(…, bp.outputLevel)`). */
  run(input: ChannelTensor): ChannelTensor {
    const U = this.boot.bp.outputLevel;
    for (const ct of input.cts) if (ct.level !== U) throw new LevelError(U, ct.level, 'the input of a bootstrapped channel run (encrypt it at the top user level)');
    this.bootstraps.length = 0;
    return this.runner.run(input);
  }

  private encodeMask(L: SlotLayout | undefined, v: number, level: number, scale: number): Plaintext {
    return this.enc.encode(maskOf(this.boot.ev.ctx.params.slots, L, v), { level, scale });
  }

  private refreshValue(p: BootstrapPoint, r: ChannelRefreshPlan, t: ChannelTensor): ChannelTensor {
    const t0 = performance.now();
    const { ev, bp } = this.boot;
    const P = ev.ctx.params;
    const U = bp.outputLevel;
    const s = p.scale!;
    const L = r.kind === 'spatial' ? t.layout : undefined;
    if (r.kind === 'spatial' && !L) throw new InternalError(`refreshed value '${p.value}' has no slot layout`);
    if (t.cts.length !== r.count) throw new InternalError(`refreshed value '${p.value}' has ${t.cts.length} ciphertexts, the plan ${r.count}`);
    const level = t.cts[0].level;
    if (level < 1 && !r.clean) throw new InternalError(`value '${p.value}' reaches its refresh at level 0 (the placement keeps one level for the mask)`);
    // 1. mask onto the level-0 scale (a clean value at level 0 is there: a copy, the value may be shared)
    const pre = level > 0 ? this.encodeMask(L, 1, 1, (P.scales[0] * P.levelModulus(1)) / P.scales[level]) : undefined;
    const y = t.cts.map((ct) => {
      if (ct.level !== level || Math.abs(ct.scale - P.scales[level]) > 1e-9 * P.scales[level]) throw new InternalError(`ciphertexts of '${p.value}' are off the ladder`);
      if (!pre) return ev.copy(ct);
      const m = ev.mulPlain(ct, pre); // at the plaintext's level 1: the product drops the rest
      ev.rescaleInPlace(m);
      m.scale = P.scales[0];
      return m;
    });
    const post = this.encodeMask(L, s, U, (P.scales[U - 1] * P.levelModulus(U)) / P.scales[U]);
    const out: Ciphertext[] = [];
    for (let g0 = 0; g0 < r.count; g0 += r.perBootstrap) {
      const k = Math.min(r.perBootstrap, r.count - g0);
      // 2. pack
      let packed = y[g0];
      for (let j = 1; j < k; j++) packed = ev.addInPlace(packed, ev.rotate(y[g0 + j], P.slots - ((j * r.block) % P.slots)));
      // 3. relabel (message x/s) and bootstrap
      packed.scale = P.scales[0] * s;
      const z = this.boot.bootstrap(packed);
      if (Math.abs(z.scale - bp.outputScale) > 1e-9 * bp.outputScale) throw new InternalError(`bootstrap output scale 2^${Math.log2(z.scale).toFixed(3)}, expected 2^${Math.log2(bp.outputScale).toFixed(3)}`);
      z.scale = P.scales[U];
      // 4. unpack, mask, restore the divisor
      const rots = k > 1 ? ev.rotateHoisted(z, Array.from({ length: k - 1 }, (_, j) => ((j + 1) * r.block) % P.slots)) : [];
      for (const c of [z, ...rots]) {
        const m = ev.mulPlain(c, post);
        ev.rescaleInPlace(m);
        m.scale = P.scales[U - 1];
        out.push(m);
      }
    }
    this.bootstraps.push({ value: p.value, levelBefore: level, scale: s, bootstraps: r.bootstraps, ms: performance.now() - t0 });
    return { ...t, cts: out };
  }
}
