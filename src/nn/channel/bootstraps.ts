/**
 * @module nn/channel/bootstraps
 * Where a channel-layout run bootstraps and what each refresh costs (CKKS bootstrapping, Cheon–Han–
 * Kim–Kim–Song eprint 2018/153; the channel layout of PAPER, Chielle et al. arXiv 2509.22857). The
 * placement itself is the layout-independent one of `nn/bootstraps.ts`.
 *
 * A value of the channel layout is one ciphertext per channel (a spatial value: its H×W map at the
 * slots of its `SlotLayout`, inside the plan's span) or one per element (a vector: the element in
 * slot 0). Bootstrapping each ciphertext would cost one bootstrap per channel. A map fills only
 * `span` of the slots, so a refresh packs ⌊slots/span⌋ channels into one ciphertext (channel j
 * rotated to slots [j·span, (j+1)·span)), bootstraps that, and unpacks (rotation back by j·span).
 * Vectors pack element j into slot j. Packing needs every slot outside the map to be zero, and
 * unpacking leaves the other channels in the unused slots, which a convolution's zero margins or a
 * polynomial's interval cannot take. So each channel is multiplied by its slot mask (1 on the map's
 * pixels, or slot 0) twice:
 *  - before packing, on the way to level 0 (the product that brings the value onto the level-0
 *    scale Δ_0 anyway: it needs the value at level ≥ 1);
 *  - after unpacking, on the top user level U (one level: the value continues at U − 1). The
 *    bootstrap's range divisor s (`packed/bootstraps.ts`) is folded into this mask.
 * The first mask is skipped for a value that is zero outside its map already (`cleanValues`: a
 * masked polynomial's output, the usual value to refresh), which then packs at any level.
 * In level terms a refresh of any other value needs it at ≥ 1, and every refresh gives U − 1: the
 * placement runs with budget U − 1, the input at U, and `minRefreshLevel` 1 for those values (one
 * produced at level 0 is refreshed through an ancestor instead). The packed layout uses U.
 * Each refresh weighs ⌈channels / per bootstrap⌉ bootstraps, and the placement minimizes their sum.
 *
 * Value range: a packed ciphertext holds the masked values only, zeros elsewhere, so its bound is
 * the largest |element| of the value over the calibration images (float64 reference run).
 */
import type { IrGraph, Tensor } from '../graph.js';
import { sizeOf } from '../graph.js';
import { runReference } from '../reference.js';
import {
  type BootstrapPlacement, type BootstrapRangeOptions, BootstrapPlacementError, BootstrapRangeError, placeBootstraps,
  setBootstrapDivisors,
} from '../plan/bootstraps.js';
import type { ChannelPlan } from './runner.js';

/** How one refreshed value is packed into bootstraps. */
export interface ChannelRefreshPlan {
  value: string;
  /** Spatial (one ciphertext per channel) or vector (one per element, slot 0). */
  kind: 'spatial' | 'vector';
  /** Ciphertexts of the value. */
  count: number;
  /** Slots between packed ciphertexts: the span (spatial) or 1 (vector). */
  block: number;
  /** Ciphertexts packed into one bootstrap: ⌊slots/block⌋, at most `count`. */
  perBootstrap: number;
  /** Bootstrap calls: ⌈count / perBootstrap⌉. */
  bootstraps: number;
  /**
   * The value is zero outside its map as computed (a masked polynomial, the input, sums of such):
   * it packs as it is, also at level 0. Otherwise the mask before packing needs level ≥ 1.
   */
  clean: boolean;
}

/** Where a channel-layout run bootstraps, in real levels. */
export interface ChannelBootstrapPlan {
  /** User levels of the bootstrapping set (inputs are encrypted at U). */
  userLevels: number;
  /** The refreshed values (levels: `levelBefore` as produced, `levelAfter` = U − 1 after unpacking). */
  placement: BootstrapPlacement;
  /** Per refreshed value, its packing. */
  refreshes: Map<string, ChannelRefreshPlan>;
  /** Bootstrap calls per image (Σ of the refreshes' bootstraps). */
  bootstraps: number;
  /** Rotation steps of packing and unpacking (Galois keys needed besides the network's). */
  rotations: number[];
}

/**
 * Spatial values that are zero outside their map's pixels as the runner computes them: the input,
 * masked polynomials' outputs (their coefficients vanish there), and sums, scalar multiples and
 * reshapes of such. Convolutions and pools spill into the margins, a batch norm adds its bias
 * everywhere, vectors keep partial sums in every slot.
 */
export function cleanValues(g: IrGraph, plan: ChannelPlan): Set<string> {
  const clean = new Set<string>([g.input.name]);
  for (const n of g.nodes) {
    if (!plan.layouts.has(n.output)) continue;
    const all = n.inputs.every((v) => clean.has(v));
    if ((n.op === 'Poly' && plan.levels.masked.has(n.name)) || (all && (n.op === 'Add' || n.op === 'MulConstant' || n.op === 'Flatten' || n.op === 'Reshape'))) clean.add(n.output);
  }
  return clean;
}

/** Slots per packed ciphertext and ciphertext count of a value. */
function packing(plan: ChannelPlan, g: IrGraph, value: string, slots: number, clean: ReadonlySet<string>): Omit<ChannelRefreshPlan, 'value'> {
  const shape = value === g.input.name ? g.input.shape : g.nodes.find((n) => n.output === value)!.outShape;
  const L = plan.layouts.get(value);
  const vector = plan.vectors.has(value) || !L;
  const count = vector ? sizeOf(shape) : sizeOf(shape) / (L.H * L.W);
  const block = vector ? 1 : plan.span;
  const perBootstrap = Math.max(1, Math.min(count, Math.floor(slots / block)));
  return { kind: vector ? 'vector' : 'spatial', count, block, perBootstrap, bootstraps: Math.ceil(count / perBootstrap), clean: !vector && clean.has(value) };
}

/**
 * Places the bootstraps of a channel-layout run on a bootstrapping set with `userLevels` user
 * levels and `slots` slots (see the module documentation).
 * @throws BootstrapPlacementError when U < 3 or a single node needs more than U − 2 levels.
 */
export function planChannelBootstraps(g: IrGraph, plan: ChannelPlan, userLevels: number, slots: number): ChannelBootstrapPlan {
  if (!Number.isInteger(userLevels) || userLevels < 2) {
    throw new BootstrapPlacementError(`the channel layout bootstraps with ≥ 2 user levels (one to mask before packing, one to unpack), the set has ${userLevels}`,
      'use a bootstrapping set with more user levels (e.g. bootstrapPreset(name, { userLevels: 7 })), or the packed layout');
  }
  const clean = cleanValues(g, plan);
  const weight = (v: string) => packing(plan, g, v, slots, clean).bootstraps;
  let placement: BootstrapPlacement;
  try {
    placement = placeBootstraps(g, plan.levels.cost, userLevels - 1, { inputLevel: userLevels, minRefreshLevel: (v) => (clean.has(v) ? 0 : 1), weight });
  } catch (e) {
    if (e instanceof BootstrapPlacementError) {
      const cause = e.message.slice(0, e.message.lastIndexOf('. Fix: '));
      throw new BootstrapPlacementError(`${cause} (the channel layout keeps 1 of the ${userLevels} user levels for unpacking)`, `${e.fix}, or the packed layout`, { cause: e });
    }
    throw e;
  }
  const points = placement.points;
  const refreshes = new Map<string, ChannelRefreshPlan>();
  const steps = new Set<number>();
  let bootstraps = 0;
  for (const p of points) {
    const r = { value: p.value, ...packing(plan, g, p.value, slots, clean) };
    refreshes.set(p.value, r);
    bootstraps += r.bootstraps;
    for (let j = 1; j < r.perBootstrap; j++) {
      steps.add((j * r.block) % slots);
      steps.add((slots - ((j * r.block) % slots)) % slots);
    }
  }
  steps.delete(0);
  return { userLevels, placement, refreshes, bootstraps, rotations: [...steps].sort((a, b) => a - b) };
}

/**
 * Sets each refreshed value's calibrated bound (largest |element| over `samples`, a batch
 * [n, ...input] run through the float64 reference) and its divisor s.
 * @throws BootstrapRangeError when a bound needs s above 2^maxLogScale, or there are no samples.
 */
export function channelBootstrapRanges(g: IrGraph, cbp: ChannelBootstrapPlan, samples: Tensor, opts: BootstrapRangeOptions): void {
  const pl = cbp.placement;
  if (pl.count === 0) return;
  if (!samples.shape[0]) throw new BootstrapRangeError('no calibration samples for the values to bootstrap', 'pass calibration images (the compiler\'s calibration data) so their ranges are known');
  const bound = new Map<string, number>(pl.points.map((p) => [p.value, 0]));
  runReference(g, samples, {
    checkFinite: false,
    onNode: (n, _ins, out) => {
      if (!bound.has(n.output)) return;
      let m = 0;
      for (let i = 0; i < out.data.length; i++) {
        const a = Math.abs(out.data[i]);
        m = a > m || Number.isNaN(a) ? a : m;
      }
      bound.set(n.output, Math.max(bound.get(n.output)!, m));
    },
  });
  setBootstrapDivisors(pl, bound, opts);
}
