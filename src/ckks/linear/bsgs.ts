/**
 * @module ckks/linear/bsgs
 * Baby-step/giant-step split of a diagonal linear transform (Halevi–Shoup, "Algorithms in HElib",
 * CRYPTO 2014 §4.3; Bossuat et al., Eurocrypt 2021, §4 "double hoisting"):
 *
 *     Σ_δ d_δ ⊙ rot(x, δ) = Σ_g rot( Σ_b rot(d_{g+b}, −g) ⊙ rot(x, b), g ),   δ = g + b
 *
 * The baby rotations rot(x, b) share one decomposition of x (hoisting) and are cheap; each giant
 * rotation is a full key switch. For a set of diagonals D and a baby-step modulus n1, every δ splits
 * as b = δ mod n1, g = δ − b; the cost is |babies|·c_b + |giants \ {0}|·c_g. `chooseSplit` tries
 * every n1 (D is at most a few thousand indices, n1 at most the period) and keeps the cheapest.
 */

/** A chosen split. */
export interface BsgsSplit {
  /** Baby-step modulus. */
  n1: number;
  /** Distinct baby steps (sorted; 0 when present means x itself). */
  babies: number[];
  /** Distinct giant steps (sorted; multiples of n1). */
  giants: number[];
  /** Estimated cost in units of the baby-step cost. */
  cost: number;
}

/** Relative costs of the split's parts. */
export interface BsgsCosts {
  /** A hoisted baby rotation (default 1). */
  baby?: number;
  /** A giant rotation, a full key switch (default 4). */
  giant?: number;
  /** Largest n1 tried (default: the period). */
  maxN1?: number;
}

/** The split of diagonal indices `deltas` (each in [0, period)) with n1. */
export function splitWith(deltas: readonly number[], n1: number, costs: BsgsCosts = {}): BsgsSplit {
  const bs = new Set<number>();
  const gs = new Set<number>();
  for (const d of deltas) {
    const b = d % n1;
    bs.add(b);
    gs.add(d - b);
  }
  const babies = [...bs].sort((a, b) => a - b);
  const giants = [...gs].sort((a, b) => a - b);
  const cb = costs.baby ?? 1;
  const cg = costs.giant ?? 4;
  const cost = (babies.length - (bs.has(0) ? 1 : 0)) * cb + (giants.length - (gs.has(0) ? 1 : 0)) * cg;
  return { n1, babies, giants, cost };
}

/** The cheapest split over n1 = 1 … min(period, maxN1). */
export function chooseSplit(deltas: readonly number[], period: number, costs: BsgsCosts = {}): BsgsSplit {
  if (deltas.length === 0) return { n1: 1, babies: [], giants: [], cost: 0 };
  const cb = costs.baby ?? 1;
  const cg = costs.giant ?? 4;
  const top = Math.min(period, costs.maxN1 ?? period);
  let best = { n1: 1, cost: Infinity };
  const bSeen = new Int32Array(top + 1).fill(-1);
  const gSeen = new Map<number, number>();
  for (let n1 = 1; n1 <= top; n1++) {
    let nb = 0;
    let ng = 0;
    gSeen.clear();
    for (const d of deltas) {
      const b = d % n1;
      if (bSeen[b] !== n1) {
        bSeen[b] = n1;
        if (b !== 0) nb++;
      }
      const g = d - b;
      if (g !== 0 && !gSeen.has(g)) {
        gSeen.set(g, 1);
        ng++;
      }
    }
    const c = nb * cb + ng * cg;
    if (c < best.cost) best = { n1, cost: c };
  }
  return splitWith(deltas, best.n1, costs);
}
