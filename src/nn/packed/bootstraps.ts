/**
 * @module nn/packed/bootstraps
 * Bootstraps of a packed run: one `Bootstrapper.bootstrap` call per refreshed value (one
 * ciphertext per value), placed by `nn/bootstraps.ts`; here the value ranges that make each
 * bootstrap exact.
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
import type { IrGraph } from '../graph.js';
import { type BootstrapPlacement, type BootstrapRangeOptions, BootstrapRangeError, setBootstrapDivisors } from '../plan/bootstraps.js';
import type { PackedPlan } from './plan.js';
import { simulatePacked } from './simulate.js';

export * from '../plan/bootstraps.js';

/**
 * Sets each point's calibrated bound (largest |slot| of the value over the float64 packed
 * simulation of `samples`, every slot counted) and divisor s = 2^⌈log2(headroom·bound)⌉, at least 1.
 * @throws BootstrapRangeError when a value's bound needs s above 2^maxLogScale, or is not finite.
 */
export function bootstrapRanges(g: IrGraph, plan: PackedPlan, placement: BootstrapPlacement, samples: readonly ArrayLike<number>[], opts: BootstrapRangeOptions): void {
  if (placement.count === 0) return;
  if (samples.length === 0) throw new BootstrapRangeError('no calibration samples for the values to bootstrap', 'pass calibration images (the compiler\'s calibration data) so their ranges are known');
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
  setBootstrapDivisors(placement, bound, opts);
}
