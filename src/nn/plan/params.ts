/**
 * @module nn/plan/params
 * Parameter choice for a compiled network: the smallest 128-bit-secure ring degree whose modulus
 * chain holds the network's depth (SEAL/OpenFHE `FindRingDim` in spirit, with the HE-standard
 * bounds of `ckks/params.ts`), one limb per level, the scale as close to 2^30 as the bound allows
 * (never below `minLogScale`), and the memory the run will need.
 */
import { HE_STANDARD_128, Parameters, type ParametersLiteral } from '../../ckks/index.js';
import { VeilError } from '../../errors.js';
import { sizeOf, type IrGraph } from '../graph.js';
import { type Layout, planLevels } from '../compile/compile.js';

/** Options of {@link chooseParameters}. */
export interface ChooseOptions {
  /** Smallest acceptable log2 of the scale (default 25: about 12 bits of precision at N = 2^13). */
  minLogScale?: number;
  /** Smallest ring degree to consider (default 13; the batch layout wants many slots). */
  minLogN?: number;
  /** Extra levels beyond the depth (default 0). */
  spareLevels?: number;
  /**
   * Depths (levels below the top) at which each Galois key is used, when a plan needs many keys
   * (the packed layout): the number of special limbs K is then chosen to minimise the keys' bytes
   * times their key-switching time (see {@link keySwitchCost}) instead of taking the most that fit.
   */
  rotationDepths?: readonly number[];
}

/**
 * Relative bytes and key-switching time of Galois keys capped at `depths` below the top of P's
 * chain (`GaloisKeyOptions.maxLevel`), with q = the Q limbs of a key's level, K special limbs,
 * dnum = ⌈q/α⌉ digits (α = K here):
 *   bytes ∝ Σ dnum·(q + K)                 (2·dnum·(q + K)·N residues per key)
 *   time  ∝ Σ dnum·(q + K) + 2·(q + K)     (ModUp conversions + NTTs and the inner product scale
 *                                            with dnum·(q + K); ModDown with 2·(q + K) per switch)
 * Against measurements at N = 2^16 (bench/keyswitch-k.ts, figures in `chooseParameters`) the
 * model ranks K the same way on the ResNet-20 key set but underrates large K at low levels (at 7
 * limbs K = 15 measured 1.6× K = 10's rotation time, the model says 1.3×).
 */
export function keySwitchCost(P: Parameters, depths: readonly number[]): { bytes: number; time: number } {
  const K = P.p.length;
  let bytes = 0;
  let time = 0;
  for (const d of depths) {
    const q = P.limbsAt(Math.max(0, P.levels - d));
    const dnum = Math.ceil(q / P.digitLimbs);
    bytes += dnum * (q + K);
    time += dnum * (q + K) + 2 * (q + K);
  }
  return { bytes: 2 * bytes * P.N * 4, time };
}

/** Error when no secure parameter set holds the network. */
export class ParameterChoiceError extends VeilError {
  static override readonly code: string = 'PARAMETER_CHOICE';

  constructor(readonly depth: number, detail: string) {
    super(
      `no 128-bit secure CKKS parameters hold depth ${depth}: ${detail}`,
      'lower the activation degrees (degrees { kind: \'uniform\', degree: 2 }, --degrees uniform:2 in the CLI, or OLA with a lower accuracy target), or split the network',
    );
  }
}

/** Picks parameters for `depth` levels. */
export function chooseParameters(depth: number, opts: ChooseOptions = {}): Parameters {
  const levels = depth + (opts.spareLevels ?? 0);
  const minScale = opts.minLogScale ?? 25;
  const tried: string[] = [];
  for (let logN = opts.minLogN ?? 13; logN <= 16; logN++) {
    const bound = HE_STANDARD_128[logN];
    const kMax = Math.min(6, Math.ceil(Math.sqrt(levels + 2)));
    // First pass: full-width levels (≈ 2^30) with as many special limbs as fit; second: narrower levels.
    // With rotation depths (many Galois keys), K ranges up to what the bound allows and the cheapest
    // keys win. Packed ResNet-20 (N = 2^16, 39 levels, 166 keys capped at their levels), GiB of
    // Galois keys: K = 6: 10.3, K = 10: 7.4, K = 14: 5.7, K = 15: 5.3, K = 17: 5.6 (full keys:
    // 26.7 at K = 6). Measured (bench/keyswitch-k.ts, bench/results/keyswitch-k.jsonl; loaded
    // machine, loadavg 5.5–8): one rotation at levels 38/19/5 takes 2.1/0.73/0.19 s at K = 6,
    // 1.6/0.70/0.19 s at K = 10, 2.0/0.73/0.31 s at K = 15; weighted by the keys' levels, bytes × time
    // is 1514 (K = 6), 906 (K = 10), 785 GB·s (K = 15): K = 15, as this model picks.
    const depths = opts.rotationDepths;
    if (depths && depths.length) {
      const best = cheapestKeys(logN, levels, bound, minScale, depths);
      if (best) return best;
    }
    for (const floor of [29.5, minScale]) {
      for (let K = kMax; K >= 1; K--) {
        // base 2×30 bits, K special limbs of 30 bits; a level of s bits: 60 + levels·s + 30·K ≤ bound
        const room = bound - 60 - 30 * K - 0.5; // primes sit just below 2^30: keep half a bit of slack
        const s = Math.min(29.95, levels > 0 ? room / levels : 29.95);
        if (s < floor || s < minScale) continue;
        const lit: ParametersLiteral = { logN, levels, specialLimbs: K, ...(s < 29.9 ? { logScale: Math.floor(s * 4) / 4 } : {}) };
        try {
          return new Parameters(lit);
        } catch (e) {
          tried.push(`logN ${logN}, K ${K}: ${(e as Error).message.split('. Fix')[0]}`);
        }
      }
    }
    tried.push(`logN ${logN}: levels would be narrower than 2^${minScale}`);
  }
  throw new ParameterChoiceError(depth, tried.slice(-2).join('; '));
}

/**
 * The parameters at ring degree 2^logN with full-width levels whose Galois keys at `depths` cost
 * the least bytes × time (`keySwitchCost`), over every K the 128-bit bound leaves room for; none
 * if no K fits full-width levels.
 */
function cheapestKeys(logN: number, levels: number, bound: number, minScale: number, depths: readonly number[]): Parameters | undefined {
  let best: { P: Parameters; cost: number } | undefined;
  for (let K = 1; K <= 30; K++) {
    const room = bound - 60 - 30 * K - 0.5;
    const s = Math.min(29.95, levels > 0 ? room / levels : 29.95);
    if (s < 29.5 || s < minScale) break;
    let P: Parameters;
    try {
      P = new Parameters({ logN, levels, specialLimbs: K, ...(s < 29.9 ? { logScale: Math.floor(s * 4) / 4 } : {}) });
    } catch {
      continue;
    }
    const c = keySwitchCost(P, depths);
    const cost = c.bytes * c.time;
    if (!best || cost < best.cost) best = { P, cost };
  }
  return best?.P;
}

/** Memory estimate of a run, in bytes. */
export interface MemoryEstimate {
  /** Largest sum of live ciphertext bytes at any node boundary. */
  peakCiphertexts: number;
  /** Evaluation keys (relinearization + Galois). */
  keys: number;
  /** Total predicted. */
  total: number;
  /** Bytes of one fresh ciphertext. */
  ciphertext: number;
  /** What this machine has. */
  available: number;
}

/**
 * Total memory of the machine, or 0 where unknown (browsers, Node before 20.16). Read through
 * `process.getBuiltinModule`, which is synchronous and invisible to bundlers: the module keeps no
 * `node:` import and no top-level await, so it loads in browsers and through `require()`.
 */
function totalMemory(): number {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const os = proc?.getBuiltinModule?.('node:os') as { totalmem?: () => number } | undefined;
  return typeof os?.totalmem === 'function' ? os.totalmem() : 0;
}

/** Bytes of a ciphertext with `limbs` limbs at ring degree N. */
export const ciphertextBytes = (N: number, limbs: number) => 2 * limbs * N * 4;

/** Bytes of one switching key. */
export function switchingKeyBytes(P: Parameters): number {
  return 2 * P.dnum * (P.q.length + P.p.length) * P.N * 4;
}

/**
 * Predicts peak memory of a run in a layout: live tensors × ciphertexts per tensor × bytes at their
 * level, walking the graph with the same last-use freeing as the executors; plus the keys
 * (`galoisBytes` for Galois keys capped at their levels, else `galoisKeys` full keys).
 */
export function estimateMemory(g: IrGraph, P: Parameters, layout: Layout, galoisKeys = 0, galoisBytes?: number): MemoryEstimate {
  const plan = planLevels(g, layout);
  const ctsOf = (shape: readonly number[]) => (layout === 'batch' ? sizeOf(shape) : shape.length === 3 ? shape[0] : Math.max(1, sizeOf(shape)));
  const bytesAt = (v: string, shape: readonly number[]) => {
    const level = P.levels - (plan.depthAt.get(v) ?? 0);
    return ctsOf(shape) * ciphertextBytes(P.N, P.limbsAt(Math.max(0, level)));
  };
  const live = new Map<string, number>([[g.input.name, bytesAt(g.input.name, g.input.shape)]]);
  const lastUse = new Map<string, number>();
  g.nodes.forEach((n, i) => n.inputs.forEach((v) => lastUse.set(v, i)));
  let peak = [...live.values()].reduce((a, b) => a + b, 0);
  g.nodes.forEach((n, i) => {
    live.set(n.output, bytesAt(n.output, n.outShape));
    const now = [...live.values()].reduce((a, b) => a + b, 0);
    if (now > peak) peak = now;
    for (const v of n.inputs) if (lastUse.get(v) === i) live.delete(v);
  });
  // galoisBytes: the Galois keys' bytes when they are capped (packed layout), else all full
  const keys = switchingKeyBytes(P) + (galoisBytes ?? switchingKeyBytes(P) * galoisKeys);
  return { peakCiphertexts: peak, keys, total: peak + keys, ciphertext: ciphertextBytes(P.N, P.limbsAt(P.levels)), available: totalMemory() };
}
