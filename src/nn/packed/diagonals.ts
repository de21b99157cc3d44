/**
 * @module nn/packed/diagonals
 * A linear map between two packed layouts as slot diagonals (Halevi–Shoup's diagonal method as used
 * for convolutions by GAZELLE, Juvekar et al. USENIX Security 2018, §5; one matrix–vector product
 * per layer as in Orion's single-shot multiplexed convolutions, Ebel et al. ASPLOS 2025):
 *
 *     y[z] = Σ_δ d_δ[z] · x[z + δ]        (x rotated left by δ, times the plaintext d_δ)
 *
 * Every tap "output element o reads input element i with weight w" lands on the diagonal
 * δ = pos_in(i) − pos_out(o) (mod the input's period, over which the input repeats), at slot
 * pos_out(o) of every output replica. Zero padding, strides and the multiplexed sub-positions are
 * then nothing but zeros and placements in the diagonals; the masks that a convolution needs are
 * folded into its weights, so a layer costs one level whatever it does.
 *
 * Diagonals have period Pm = max(P_in, P_out): with P_out < P_in the output replicas inside one
 * input period read different input replicas and are enumerated separately.
 */
import type { LinearMap } from './linear.js';
import { rowsOf } from './linear.js';
import type { PackedLayout } from './layout.js';

/** The diagonals of one linear layer. */
export interface DiagonalSet {
  /** Length (and period) of every diagonal vector. */
  period: number;
  /** δ ∈ [0, P_in) → diagonal values over [0, period). */
  diagonals: Map<number, Float64Array>;
  /** Bias at the output positions (period P_out), or null. */
  bias: Float64Array | null;
  /** Number of nonzero taps (for density reports). */
  taps: number;
}

/**
 * Diagonals of `map` from layout `lin` to `lout`.
 * Cost: O(taps · Pm/P_out) time, O(#diagonals · Pm) memory.
 */
export function diagonalsOf(map: LinearMap, lin: PackedLayout, lout: PackedLayout): DiagonalSet {
  const Pin = lin.period;
  const Pout = lout.period;
  const Pm = Math.max(Pin, Pout);
  const reps = Pm / Pout;
  const diagonals = new Map<number, Float64Array>();
  const rows = rowsOf(map);
  let taps = 0;
  for (let o = 0; o < rows; o++) {
    const s = map.rowStart[o];
    const e = map.rowStart[o + 1];
    if (s === e) continue;
    for (let r = 0; r < reps; r++) {
      const z = lout.pos[o] + r * Pout;
      for (let k = s; k < e; k++) {
        let d = (lin.pos[map.cols[k]] - z) % Pin;
        if (d < 0) d += Pin;
        let v = diagonals.get(d);
        if (!v) {
          v = new Float64Array(Pm);
          diagonals.set(d, v);
        }
        v[z] += map.vals[k];
        taps++;
      }
    }
  }
  let bias: Float64Array | null = null;
  if (map.bias) {
    bias = new Float64Array(Pout);
    for (let o = 0; o < rows; o++) bias[lout.pos[o]] = map.bias[o];
  }
  return { period: Pm, diagonals, bias, taps };
}

/**
 * y = Σ_δ d_δ ⊙ rot(x, δ) (+ bias) on full slot vectors, in float64: the slot-level model of the
 * encrypted product (tests compare both).
 */
export function applyDiagonals(set: DiagonalSet, x: ArrayLike<number>, slots: number): Float64Array {
  const y = new Float64Array(slots);
  const P = set.period;
  for (const [d, v] of set.diagonals) {
    for (let z = 0; z < slots; z++) y[z] += v[z % P] * x[(z + d) % slots];
  }
  if (set.bias) {
    const Pb = set.bias.length;
    for (let z = 0; z < slots; z++) y[z] += set.bias[z % Pb];
  }
  return y;
}
