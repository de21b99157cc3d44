/**
 * @module nn/forward/forward
 *
 * Forward passes that resume from a cut, for the compile-time search (OLA's sensitivity and degree
 * sweep, digest §1.4) and the simulation. Every value is computed per image, so a batch may be
 * split into chunks anywhere, and a pass may start at node i from the values live between node
 * i − 1 and node i of an earlier pass of a graph whose first i nodes are identical: the results are
 * bit for bit those of a full pass over the whole batch.
 *
 * {@link ForwardExecutor} runs {@link ForwardTask}s on one thread (the main thread, or each worker of
 * `pool.ts`). Per chunk and named slot it keeps the values live after every activation of
 * the last graph run there (references, no copies: outputs are never modified), so
 *  - a pass of a graph that differs from the slot's from node d on restarts after the last
 *    activation before d (the degree sweep: consecutive points share their first layers);
 *  - a pass with noise added at an activation restarts right after it (layer sensitivity).
 */

import { InternalError } from '../../errors.js';
import { type IrGraph, type IrNode, type Tensor, GraphError, isActivation } from '../graph.js';
import { NumericalError, evalNode } from '../reference.js';

/** Options of {@link runFrom}. */
export interface RunFromOptions {
  /** Check every intermediate value for NaN/Inf (default true). */
  checkFinite?: boolean;
  /** Called after each node with its inputs and output; may return a replacement output. */
  onNode?: (node: IrNode, index: number, inputs: readonly Tensor[], output: Tensor) => Tensor | void;
  /** Node indices after which the live values are recorded (see {@link liveAfter}). */
  snapshotAfter?: ReadonlySet<number>;
}

const liveCache = new WeakMap<IrGraph, string[][]>();

/**
 * For each node index i, the values live after node i: the graph input or outputs of nodes ≤ i
 * that a node > i reads, and the graph output once produced.
 */
export function liveAfter(graph: IrGraph): string[][] {
  let live = liveCache.get(graph);
  if (live) return live;
  const lastUse = new Map<string, number>();
  graph.nodes.forEach((node, i) => node.inputs.forEach((v) => lastUse.set(v, i)));
  const born = new Map<string, number>([[graph.input.name, -1]]);
  graph.nodes.forEach((node, i) => born.set(node.output, i));
  live = graph.nodes.map((_, i) => {
    const out: string[] = [];
    for (const [v, b] of born) {
      if (b > i) continue;
      if ((lastUse.get(v) ?? -1) > i || v === graph.output.name) out.push(v);
    }
    return out;
  });
  liveCache.set(graph, live);
  return live;
}

/**
 * Runs nodes `start…` of `graph` on a batch of `n` images, given every value live before `start`
 * (for `start = 0`, the graph input). `values` is not modified.
 *
 * @returns the graph output and the requested snapshots (node index → live values after it)
 * @throws NumericalError if a node produces NaN/Inf (with `checkFinite`), GraphError for a missing value
 */
export function runFrom(
  graph: IrGraph, start: number, values: ReadonlyMap<string, Tensor>, n: number, opts: RunFromOptions = {},
): { output: Tensor; snapshots: Map<number, Map<string, Tensor>> } {
  const check = opts.checkFinite ?? true;
  const live = liveAfter(graph);
  const cur = new Map(values);
  const snapshots = new Map<number, Map<string, Tensor>>();
  const nodes = graph.nodes;
  for (let i = start; i < nodes.length; i++) {
    const node = nodes[i]!;
    const ins = node.inputs.map((v) => {
      const t = cur.get(v);
      if (t === undefined) throw new GraphError(`input '${v}' is not defined`, node.name);
      return t;
    });
    let out = evalNode(node, ins, n);
    if (check) {
      const d = out.data;
      for (let k = 0; k < d.length; k++) {
        const v = d[k]!;
        if (!Number.isFinite(v)) throw new NumericalError(node.name, node.op, k, v);
      }
    }
    out = opts.onNode?.(node, i, ins, out) ?? out;
    cur.set(node.output, out);
    // free what no later node reads (memory stays bounded by the widest cut)
    const keep = live[i]!;
    if (cur.size > keep.length) {
      const ks = new Set(keep);
      for (const k of [...cur.keys()]) if (!ks.has(k)) cur.delete(k);
    }
    if (opts.snapshotAfter?.has(i)) snapshots.set(i, new Map(cur));
  }
  const y = cur.get(graph.output.name);
  if (y === undefined) throw new GraphError(`graph output '${graph.output.name}' is never produced`);
  return { output: y, snapshots };
}

// --------------------------------------------------------------------------- graph comparison

/** Deep equality of node fields (numbers, strings, arrays, typed arrays, plain objects). */
function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (ArrayBuffer.isView(a) || ArrayBuffer.isView(b)) {
    if (!ArrayBuffer.isView(a) || !ArrayBuffer.isView(b) || a.constructor !== b.constructor) return false;
    const x = a as unknown as ArrayLike<number>;
    const y = b as unknown as ArrayLike<number>;
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
    return true;
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (const k of ka) if (!same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  return true;
}

const diffCache = new WeakMap<IrGraph, WeakMap<IrGraph, number>>();

/**
 * Index of the first node at which two graphs compute something different (a changed field,
 * weight or coefficient, or another node); `min(length)` if one is a prefix of the other.
 * Nodes before it compute the same values from the same input.
 */
export function firstDifference(a: IrGraph, b: IrGraph): number {
  if (a === b) return a.nodes.length;
  const memo = diffCache.get(a)?.get(b);
  if (memo !== undefined) return memo;
  let d = 0;
  if (a.input.name === b.input.name && same(a.input.shape, b.input.shape)) {
    const m = Math.min(a.nodes.length, b.nodes.length);
    while (d < m && same(a.nodes[d], b.nodes[d])) d++;
  }
  let inner = diffCache.get(a);
  if (!inner) diffCache.set(a, (inner = new WeakMap()));
  inner.set(b, d);
  return d;
}

/** Node indices of the activations (Relu, Gelu, Square, Poly): the snapshot points. */
export function activationIndices(graph: IrGraph): Set<number> {
  const s = new Set<number>();
  graph.nodes.forEach((n, i) => {
    if (isActivation(n) || n.op === 'Poly') s.add(i);
  });
  return s;
}

// --------------------------------------------------------------------------- noise

/**
 * The m-th (0-based) uniform in (0, 1) of the mulberry32 stream seeded with `seed`, as the
 * sensitivity probe draws them: the stream's state after k draws is seed + k·0x6d2b79f5 (mod 2³²),
 * so any draw is computed directly and a chunk's noise does not depend on how the batch was split.
 */
function uniformAt(seed: number, m: number): number {
  let t = (seed + Math.imul(m + 1, 0x6d2b79f5)) >>> 0;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
}

/**
 * Adds σ·g_i to `data[k]` for k = 0…len−1, with g_i the i-th standard normal (i = offset + k) of the
 * Box–Muller stream on mulberry32(seed): g_i = √(−2 ln u_{2i})·cos(2π u_{2i+1}).
 */
export function addGaussianNoise(data: Float64Array, sigma: number, seed: number, offset: number): void {
  const s = seed >>> 0;
  for (let k = 0; k < data.length; k++) {
    const i = offset + k;
    const g = Math.sqrt(-2 * Math.log(uniformAt(s, 2 * i))) * Math.cos(2 * Math.PI * uniformAt(s, 2 * i + 1));
    data[k]! += sigma * g;
  }
}

// --------------------------------------------------------------------------- tasks

/** One chunk of work: a forward pass of `graph` on images `[start, start + count)` of `data`. */
export interface ForwardTask {
  graph: IrGraph;
  /** `[N, ...graph.input.shape]`, validated by the caller. */
  data: Tensor;
  start: number;
  count: number;
  /** Chunk number: a worker pool sends a chunk to the same worker every time (its slots live there). */
  chunk: number;
  /**
   * Resume from, and update, the values kept for this chunk under this name (see the module
   * comment). Without it the pass starts from the input and keeps nothing.
   */
  slot?: string;
  /** Capture the first input of these nodes (calibration): forces a full pass. */
  capture?: readonly string[];
  /**
   * Add Gaussian noise of standard deviation `sigma` to the output of node `node` (an activation)
   * and run the rest; needs the slot's values of the same graph; the slot is not updated. The
   * noise of element k of the chunk's output is draw number `offset + k` of the stream.
   */
  noise?: { node: string; sigma: number; seed: number; offset: number };
  /** Check intermediate values for NaN/Inf (default true). */
  checkFinite?: boolean;
}

/** What a task returns. */
export interface ForwardResult {
  /** The chunk's output, `[count, ...graph.output.shape]` flattened. */
  output: Float64Array;
  /** Captured inputs, one per `capture` name, `[count, ...shape]` flattened. */
  captured?: Float64Array[];
}

interface SlotState {
  graph: IrGraph;
  data: Tensor;
  snapshots: Map<number, Map<string, Tensor>>;
}

/** Runs {@link ForwardTask}s on the calling thread, keeping each chunk's slots. */
export class ForwardExecutor {
  private readonly slots = new Map<string, SlotState>();
  /** Node index the last task's pass started at (0: a full pass), for tests and profiles. */
  lastFrom = 0;

  /** Forgets every kept value (end of a compilation). */
  reset(): void {
    this.slots.clear();
  }

  /** Runs one task. */
  run(task: ForwardTask): ForwardResult {
    const { graph, data, start, count } = task;
    const per = data.data.length / data.shape[0]!;
    const x: Tensor = { shape: [count, ...data.shape.slice(1)], data: data.data.subarray(start * per, (start + count) * per) };
    const key = task.slot === undefined ? undefined : `${task.slot}\u0000${task.chunk}`;
    const state = key === undefined ? undefined : this.slots.get(key);
    const acts = activationIndices(graph);
    const live = liveAfter(graph);
    const checkFinite = task.checkFinite ?? true;

    if (task.noise) {
      const idx = graph.nodes.findIndex((n) => n.name === task.noise!.node);
      const snap = state && state.data === data && firstDifference(state.graph, graph) === graph.nodes.length ? state.snapshots.get(idx) : undefined;
      if (idx < 0 || !snap) throw new InternalError(`no kept values after '${task.noise.node}' for chunk ${task.chunk}`);
      const node = graph.nodes[idx]!;
      const clean = snap.get(node.output)!;
      const noisy = Float64Array.from(clean.data);
      addGaussianNoise(noisy, task.noise.sigma, task.noise.seed, task.noise.offset);
      const values = new Map(snap);
      values.set(node.output, { shape: clean.shape, data: noisy });
      this.lastFrom = idx + 1;
      return { output: runFrom(graph, idx + 1, values, count, { checkFinite }).output.data };
    }

    // where to resume: after the last kept activation before the first node that differs
    let from = 0;
    let values: Map<string, Tensor> = new Map([[graph.input.name, x]]);
    const kept = new Map<number, Map<string, Tensor>>();
    if (state && state.data === data && !task.capture) {
      const d = firstDifference(state.graph, graph);
      let best = -1;
      for (const j of state.snapshots.keys()) if (j < d && j > best && live[j]!.every((v) => state.snapshots.get(j)!.has(v))) best = j;
      if (best >= 0) {
        from = best + 1;
        values = state.snapshots.get(best)!;
        for (const [j, s] of state.snapshots) if (j <= best) kept.set(j, s);
      }
    }
    this.lastFrom = from;
    const capture = task.capture;
    const captured: (Float64Array | undefined)[] | undefined = capture?.map(() => undefined);
    const r = runFrom(graph, from, values, count, {
      checkFinite,
      ...(key !== undefined ? { snapshotAfter: acts } : {}),
      ...(capture
        ? {
          onNode: (node: IrNode, _i: number, ins: readonly Tensor[]) => {
            const k = capture.indexOf(node.name);
            if (k >= 0) captured![k] = ins[0]!.data;
          },
        }
        : {}),
    });
    if (key !== undefined) {
      for (const [j, s] of r.snapshots) kept.set(j, s);
      this.slots.set(key, { graph, data, snapshots: kept });
    }
    const out: ForwardResult = { output: r.output.data };
    if (captured) {
      out.captured = captured.map((c, k) => {
        if (!c) throw new InternalError(`node '${capture![k]}' was not run`);
        return c;
      });
    }
    return out;
  }
}
