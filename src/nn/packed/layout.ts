/**
 * @module nn/packed/layout
 * Slot layouts of the packed layout: where each element of a tensor sits in the slots of ONE
 * ciphertext.
 *
 * A layout is a position per element inside a period P (a power of two dividing the slot count):
 * the ciphertext holds S/P identical replicas of the tensor, one every P slots. Replicas make every
 * rotation by less than P cyclic over the tensor, and a slot vector with period P encodes as a
 * polynomial in X^(S/P), so plaintexts built on this layout cost an FFT and NTTs of size N·P/S
 * instead of N (`ckks/linear/transform.ts`).
 *
 * Spatial tensors use multiplexed packing (Lee et al., "Low-complexity deep convolutional neural
 * networks on FHE using multiplexed parallel convolutions", ICML 2022, §4): the map of every channel
 * keeps the input's grid Hg × Wg; after strides of total factor t a channel's H × W pixels sit every
 * t grid points, and the t² sub-positions of a t × t cell hold t² different channels, so the gaps a
 * stride leaves are filled instead of carried:
 *
 *     channel c, pixel (y, x)  →  slot  block(c)·B + (t·y + sy)·Wg + (t·x + sx)
 *     block(c) = ⌊c / t²⌋,  (sy, sx) = (⌊(c mod t²)/t⌋, c mod t)
 *
 * with B = the block size (a power of two ≥ Hg·Wg) and blocks = a power of two ≥ ⌈C/t²⌉. Element
 * positions are stored explicitly (`pos`), so every linear map is computed from positions alone
 * (`diagonals.ts`), whatever layout produced them.
 */
import { VeilError } from '../../ckks/errors.js';

/** A network or tensor the packed layout cannot hold. */
export class PackedLayoutError extends VeilError {
  static override readonly code: string = 'PACKED_LAYOUT';
}

/** Multiplexed-grid description of a spatial layout. */
export interface GridSpec {
  /** Grid rows and columns (the network input's H and W). */
  Hg: number;
  Wg: number;
  /** Multiplexing factor: the product of the strides so far (a map pixel every t grid points). */
  t: number;
  /** Slots per block (a power of two ≥ Hg·Wg). */
  blockSize: number;
  /** Blocks per period (a power of two ≥ ⌈C/t²⌉). */
  blocks: number;
}

/** Where a tensor's elements sit in the slots (one ciphertext; the pattern repeats every `period` slots). */
export interface PackedLayout {
  /** Per-sample shape, [C, H, W] or [F]. */
  shape: number[];
  /** Slot of element e (row-major over `shape`) within [0, period). */
  pos: Int32Array;
  /** Power of two dividing the slot count; replicas every `period` slots. */
  period: number;
  /** Set for multiplexed spatial layouts. */
  grid?: GridSpec;
}

/** The layout's JSON form for a plan (positions are recomputed from it). */
export type PackedLayoutSpec =
  | { kind: 'grid'; shape: number[]; grid: GridSpec }
  | { kind: 'vector'; shape: number[]; period: number; stride: number };

/** Smallest power of two ≥ n (n ≥ 1). */
export function pow2AtLeast(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/**
 * Multiplexed layout of a [C, H, W] map on an Hg × Wg grid with factor t (the product of the
 * strides so far; t·H ≤ Hg and t·W ≤ Wg: convolutions without padding leave the map smaller than
 * the grid).
 * @throws PackedLayoutError when the map does not fit the grid or the period exceeds `slots`.
 */
export function gridLayout(C: number, H: number, W: number, Hg: number, Wg: number, t: number, slots: number): PackedLayout {
  if (!Number.isInteger(t) || t < 1 || t * H > Hg || t * W > Wg) {
    throw new PackedLayoutError(`a ${H}×${W} map at stride ${t} does not fit the ${Hg}×${Wg} input grid`, 'use the channel or batch layout for this network');
  }
  const blockSize = pow2AtLeast(Hg * Wg);
  const blocks = pow2AtLeast(Math.ceil(C / (t * t)));
  const grid: GridSpec = { Hg, Wg, t, blockSize, blocks };
  return layoutFromSpec({ kind: 'grid', shape: [C, H, W], grid }, slots);
}

/** A vector of F values at slots 0, stride, 2·stride, … with the given period. */
export function vectorLayout(F: number, period: number, stride = 1): PackedLayout {
  return { shape: [F], pos: Int32Array.from({ length: F }, (_, i) => i * stride), period };
}

/** Rebuilds a layout from its JSON form. @throws PackedLayoutError when it does not fit `slots`. */
export function layoutFromSpec(spec: PackedLayoutSpec, slots: number): PackedLayout {
  if (spec.kind === 'vector') {
    const l = vectorLayout(spec.shape[0], spec.period, spec.stride);
    checkFits(l, slots);
    return { ...l, shape: [...spec.shape] };
  }
  const [C, H, W] = spec.shape;
  const { Wg, t, blockSize, blocks } = spec.grid;
  const pos = new Int32Array(C * H * W);
  const t2 = t * t;
  for (let c = 0; c < C; c++) {
    const b = Math.floor(c / t2);
    const s = c % t2;
    const sy = Math.floor(s / t);
    const sx = s % t;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) pos[(c * H + y) * W + x] = b * blockSize + (t * y + sy) * Wg + (t * x + sx);
    }
  }
  const l: PackedLayout = { shape: [C, H, W], pos, period: blocks * blockSize, grid: { ...spec.grid } };
  checkFits(l, slots);
  return l;
}

/** The JSON form of a layout (grid or strided vector layouts only). */
export function layoutSpec(l: PackedLayout): PackedLayoutSpec {
  if (l.grid) return { kind: 'grid', shape: [...l.shape], grid: { ...l.grid } };
  const stride = l.pos.length > 1 ? l.pos[1] - l.pos[0] : 1;
  for (let i = 0; i < l.pos.length; i++) {
    if (l.pos[i] !== i * stride) throw new PackedLayoutError('internal: a layout with irregular positions has no JSON form', 'report this as a bug');
  }
  return { kind: 'vector', shape: [...l.shape], period: l.period, stride };
}

function checkFits(l: PackedLayout, slots: number): void {
  if (l.period > slots) {
    throw new PackedLayoutError(
      `a [${l.shape}] tensor needs ${l.period} slots in the packed layout, a ciphertext has ${slots}`,
      'use a larger ring degree (logN), or the channel or batch layout',
    );
  }
  if (slots % l.period !== 0) throw new PackedLayoutError(`internal: period ${l.period} does not divide ${slots} slots`, 'report this as a bug');
}

/** Fraction of the slots holding distinct tensor elements (replicas not counted). */
export function slotUse(l: PackedLayout, slots: number): number {
  return l.pos.length / slots;
}

/** Places one sample's values in a full slot vector (every replica). */
export function scatter(l: PackedLayout, values: ArrayLike<number>, slots: number): Float64Array {
  const v = new Float64Array(slots);
  for (let r = 0; r < slots; r += l.period) for (let e = 0; e < l.pos.length; e++) v[r + l.pos[e]] = values[e];
  return v;
}

/** Reads one sample's values from a slot vector (replica 0). */
export function gather(l: PackedLayout, slots: ArrayLike<number>): Float64Array {
  const out = new Float64Array(l.pos.length);
  for (let e = 0; e < l.pos.length; e++) out[e] = slots[l.pos[e]];
  return out;
}
