/**
 * @module train/parallel
 * Where shard steps run. {@link LocalBackend}: the calling thread, on the network itself.
 * {@link WorkerBackend}: T `worker_threads`, each with a replica of the network over the same
 * SharedArrayBuffer of parameters (read-only while a step runs; the coordinator updates it in
 * between), its own gradient buffer, and the training set in shared memory. A batch is split into
 * T contiguous shards in index order; the coordinator adds the workers' gradients in worker order,
 * so a run is reproducible for a given seed and thread count. Batch-norm uses each shard's
 * statistics (like data-parallel PyTorch without SyncBatchNorm), so results depend on T.
 */
import { InvalidArgumentError } from '../errors.js';
import { PoolOperationError } from '../ckks/pool/protocol.js';
import type { Arr } from './gemm.js';
import type { BatchStats } from './layers.js';
import type { ActivationSpec, Network } from './network.js';
import { type Dataset, ShardBuffers, type StepResult, type StepSpec, shardStep } from './step.js';

/** Runs batches: gradients land in the coordinator network's `grads`. */
export interface StepBackend {
  readonly threads: number;
  step(idx: Int32Array, spec: StepSpec): Promise<StepResult>;
  close(): Promise<void>;
}

/** Single thread. */
export class LocalBackend implements StepBackend {
  readonly threads = 1;
  private readonly buf = new ShardBuffers();
  constructor(private readonly net: Network, private readonly data: Dataset) {}
  async step(idx: Int32Array, spec: StepSpec): Promise<StepResult> {
    return shardStep(this.net, this.data, idx, spec, this.buf);
  }
  async close(): Promise<void> {}
}

/** Copies a typed array into shared memory (or returns its buffer when it already is shared). */
export function shareArray<T extends Float32Array | Uint8Array>(a: T): SharedArrayBuffer {
  if (a.buffer instanceof SharedArrayBuffer && a.byteOffset === 0 && a.byteLength === a.buffer.byteLength) return a.buffer;
  const sab = new SharedArrayBuffer(a.byteLength);
  new (a.constructor as { new (b: SharedArrayBuffer): T })(sab).set(a);
  return sab;
}

function workerUrl(): URL {
  const here = new URL(import.meta.url);
  // tests run the TypeScript sources; the worker runs from the build
  if (here.pathname.endsWith('.ts')) return new URL(here.href.replace(/\/src\/train\/parallel\.ts$/, '/dist/src/train/worker.js'));
  return new URL('./worker.js', import.meta.url);
}

interface Pending {
  resolve: (r: StepResult) => void;
  reject: (e: Error) => void;
}

/** T worker threads. Create with {@link WorkerBackend.create}. */
export class WorkerBackend implements StepBackend {
  private constructor(
    readonly threads: number,
    private readonly net: Network,
    private readonly workers: import('node:worker_threads').Worker[],
    private readonly grads: Arr[],
    private readonly pending: (Pending | null)[],
  ) {}

  /**
   * Starts `threads` workers over `net` (whose parameters must live in a SharedArrayBuffer: build
   * it with `{ shared: true }`) and the data set.
   */
  static async create(net: Network, data: Dataset, threads: number, activations: Record<string, ActivationSpec>): Promise<WorkerBackend> {
    if (!(net.params.buffer instanceof SharedArrayBuffer)) throw new InvalidArgumentError('the network parameters are not in shared memory', 'build the network with { shared: true } to train on several threads');
    const { Worker } = await import('node:worker_threads');
    const bytes = net.params.BYTES_PER_ELEMENT;
    const dataMsg = {
      x: shareArray(data.x), labels: shareArray(data.labels), shape: data.shape, count: data.count,
      teacher: data.teacher ? shareArray(data.teacher) : null,
    };
    const workers: import('node:worker_threads').Worker[] = [];
    const grads: Arr[] = [];
    const pending: (Pending | null)[] = [];
    const ready: Promise<void>[] = [];
    for (let t = 0; t < threads; t++) {
      const sab = new SharedArrayBuffer(net.size * bytes);
      grads.push(net.dtype === 'float32' ? new Float32Array(sab) : new Float64Array(sab));
      const w = new Worker(workerUrl());
      workers.push(w);
      pending.push(null);
      ready.push(new Promise<void>((resolve, reject) => {
        const on = (m: { kind: string; message?: string }) => {
          if (m.kind === 'ready') {
            w.off('message', on);
            resolve();
          } else if (m.kind === 'error') reject(new PoolOperationError(`training worker ${t} failed to start: ${m.message}`, 'see the worker\'s error in the message'));
        };
        w.on('message', on);
        w.once('error', reject);
      }));
      w.postMessage({
        kind: 'init',
        init: { graph: net.graph, dtype: net.dtype, activations, params: net.params.buffer, grads: sab, data: dataMsg },
      });
    }
    await Promise.all(ready);
    const backend = new WorkerBackend(threads, net, workers, grads, pending);
    workers.forEach((w, t) => {
      w.on('message', (m: { kind: string; result?: StepResult; message?: string }) => {
        const p = backend.pending[t];
        if (!p) return;
        backend.pending[t] = null;
        if (m.kind === 'done') p.resolve(m.result!);
        else p.reject(new PoolOperationError(`training worker ${t}: ${m.message}`, 'see the worker\'s error in the message'));
      });
      w.on('error', (e) => backend.pending[t]?.reject(e));
    });
    return backend;
  }

  async step(idx: Int32Array, spec: StepSpec): Promise<StepResult> {
    const T = this.threads;
    const n = idx.length;
    const parts: Promise<StepResult>[] = [];
    for (let t = 0; t < T; t++) {
      const a = Math.floor((t * n) / T);
      const b = Math.floor(((t + 1) * n) / T);
      const shard = idx.slice(a, b);
      parts.push(new Promise<StepResult>((resolve, reject) => {
        this.pending[t] = { resolve, reject };
        this.workers[t].postMessage({ kind: 'step', idx: shard, spec });
      }));
    }
    const rs = await Promise.all(parts);
    // reduce in worker order: deterministic for a given thread count
    const g = this.net.grads;
    g.set(this.grads[0]);
    for (let t = 1; t < T; t++) {
      const h = this.grads[t];
      for (let i = 0; i < g.length; i++) g[i] += h[i];
    }
    return mergeResults(rs);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** Sums of shard results (batch-norm sums pooled, SmartPAF maxima maxed). */
export function mergeResults(rs: StepResult[]): StepResult {
  const out: StepResult = { loss: 0, correct: 0, penalty: 0, count: 0, stats: [], pafMax: [] };
  const stats = new Map<string, BatchStats>();
  for (const r of rs) {
    out.loss += r.loss;
    out.correct += r.correct;
    out.penalty += r.penalty;
    out.count += r.count;
    r.pafMax.forEach((m, k) => {
      out.pafMax[k] = Math.max(out.pafMax[k] ?? 0, m);
    });
    for (const s of r.stats) {
      const acc = stats.get(s.node);
      if (!acc) stats.set(s.node, { node: s.node, sum: Float64Array.from(s.sum), sumSq: Float64Array.from(s.sumSq), count: s.count });
      else {
        for (let c = 0; c < s.sum.length; c++) {
          acc.sum[c] += s.sum[c];
          acc.sumSq[c] += s.sumSq[c];
        }
        acc.count += s.count;
      }
    }
  }
  out.stats = [...stats.values()];
  return out;
}
