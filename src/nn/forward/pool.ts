/**
 * @module nn/forward/pool
 *
 * Worker threads for the compile-time forward passes (`jobs.ts`, `src/nn/compile/ola-search.ts`): each worker
 * runs a {@link ForwardExecutor} (`worker.ts`). Chunk c always goes to worker c mod T, where
 * the values kept for it live; a job's results are handed to its `consume` in task order, whatever
 * order the workers finish in, so a job's outcome does not depend on the thread count. Workers
 * are Node `worker_threads` or module Web Workers, through the CKKS pool's platform layer
 * (`ckks/pool/backend.ts`): no `node:` import here, so the module loads in browsers.
 *
 * Graphs and data sets are copied to a worker once, on first use, and forgotten after
 * {@link GRAPHS_KEPT} newer graphs (the degree sweep makes one graph per point).
 *
 * @example
 * ```ts
 * const pool = await ForwardPool.create(2);
 * const m = await compileModelAsync(graph, calib, { pool });
 * const logits = await simulateAsync(m, images, { pool });
 * await pool.close();
 * ```
 */

import { InvalidArgumentError, VeilError } from '../../errors.js';
import { PoolOperationError } from '../../ckks/pool/protocol.js';
import { type BackendWorker, selectBackend } from '../../ckks/pool/backend.js';
import type { WorkerInit } from '../../ckks/pool/host.js';
import type { ForwardResult, ForwardTask } from './forward.js';
import type { IrGraph, Tensor } from '../graph.js';
import { type Job, type ProgressCallback, type Steps, reportJob } from './jobs.js';
import { NumericalError } from '../reference.js';

/** Graphs a worker keeps (least recently used forgotten first). */
export const GRAPHS_KEPT = 8;

/** Tasks in flight per worker (one running, one queued). */
const DEPTH = 2;

/** A task as sent to a worker: graph and data by id. */
export interface WireTask extends Omit<ForwardTask, 'graph' | 'data'> {
  graph: number;
  data: number;
}

/** Messages to a worker. */
export type ToWorker =
  | { t: 'graph'; id: number; graph: IrGraph }
  | { t: 'data'; id: number; data: Tensor }
  | { t: 'forget'; ids: number[] }
  | { t: 'task'; id: number; task: WireTask }
  | { t: 'reset' };

/** Messages from a worker. */
export type FromWorker =
  | { t: 'ready' }
  | { t: 'result'; id: number; result: ForwardResult }
  | { t: 'error'; id: number; name: string; message: string; nodeName?: string; code?: string; fix?: string };

interface Pending {
  resolve(r: ForwardResult): void;
  reject(e: Error): void;
}

let nextObjectId = 1;
const objectIds = new WeakMap<object, number>();
const idOf = (o: object): number => {
  let id = objectIds.get(o);
  if (id === undefined) objectIds.set(o, (id = nextObjectId++));
  return id;
};

/** The worker entry next to this module (from sources under a test runner: the built one). */
function defaultWorkerUrl(): URL {
  const here = new URL(import.meta.url);
  if (here.pathname.endsWith('.ts')) return new URL(here.href.replace(/\/src\/nn\/forward\/pool\.ts$/, '/dist/src/nn/forward/worker.js'));
  return new URL('./worker.js', here);
}

/** Rebuilds a worker's error on this thread (a NumericalError stays one, any other VeilError a VeilError with its code and fix). */
function rebuildError(m: { name: string; message: string; nodeName?: string; code?: string; fix?: string }): Error {
  const e = new Error(m.message);
  e.name = m.name;
  if (m.name === 'NumericalError') Object.setPrototypeOf(e, NumericalError.prototype);
  else if (m.code !== undefined && m.fix !== undefined) Object.setPrototypeOf(e, VeilError.prototype);
  Object.assign(e, m.nodeName === undefined ? {} : { nodeName: m.nodeName }, m.code === undefined ? {} : { code: m.code }, m.fix === undefined ? {} : { fix: m.fix });
  return e;
}

/** A pool of workers for compile-time forward passes (see the module comment). */
export class ForwardPool {
  readonly threads: number;
  private readonly workers: BackendWorker[] = [];
  /** Per worker: ids of the graphs and data sets it holds, least recently used first. */
  private readonly held: Map<number, 'graph' | 'data'>[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextTask = 1;
  private fatal?: Error;
  private closed = false;

  private constructor(threads: number) {
    this.threads = threads;
  }

  /**
   * Starts `threads` workers.
   *
   * @param workerUrl - the worker entry (default `worker.js` next to this module)
   * @throws RangeError for a bad thread count; WorkerPoolUnavailableError where workers cannot run
   */
  static async create(threads: number, workerUrl?: string | URL): Promise<ForwardPool> {
    if (!Number.isInteger(threads) || threads < 1 || threads > 256) throw new InvalidArgumentError(`threads = ${threads}`, 'use an integer number of threads in 1..256');
    const backend = await selectBackend();
    const pool = new ForwardPool(threads);
    const url = workerUrl ? new URL(String(workerUrl), (globalThis as { location?: { href: string } }).location?.href) : defaultWorkerUrl();
    const ready: Promise<void>[] = [];
    for (let w = 0; w < threads; w++) {
      const worker = backend.spawn(url, { index: w } as unknown as WorkerInit, []);
      pool.workers.push(worker);
      pool.held.push(new Map());
      ready.push(new Promise<void>((resolve, reject) => {
        worker.onError((e) => {
          pool.fatal = e;
          reject(e);
          for (const p of pool.pending.values()) p.reject(e);
          pool.pending.clear();
        });
        worker.onMessage((raw) => {
          const m = raw as FromWorker;
          if (m.t === 'ready') return resolve();
          const p = pool.pending.get(m.id);
          if (!p) return;
          pool.pending.delete(m.id);
          if (m.t === 'result') p.resolve(m.result);
          else p.reject(rebuildError(m));
        });
      }));
    }
    try {
      await Promise.all(ready);
    } catch (e) {
      await pool.close();
      throw e;
    }
    for (const w of pool.workers) w.unref();
    return pool;
  }

  /** Runs job steps on the workers (see `jobs.ts`); the workers' kept values are dropped at the end. */
  async runSteps<T>(steps: Steps<T>, onProgress?: ProgressCallback): Promise<T> {
    if (this.closed) throw new PoolOperationError('the ForwardPool is closed', 'create a new pool with ForwardPool.create');
    for (const w of this.workers) w.ref();
    try {
      let next = steps.next([]);
      while (!next.done) next = steps.next(await this.runJob(next.value, onProgress));
      return next.value;
    } finally {
      this.reset();
      for (const w of this.workers) w.unref();
    }
  }

  /** Stops the workers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private reset(): void {
    if (this.closed || this.fatal) return;
    for (const [w, worker] of this.workers.entries()) {
      worker.post({ t: 'reset' } satisfies ToWorker);
      this.held[w]!.clear();
    }
  }

  /** Copies a graph or data set to worker w unless it has it; forgets old graphs. */
  private ensure(w: number, o: IrGraph | Tensor, kind: 'graph' | 'data'): number {
    const id = idOf(o);
    const held = this.held[w]!;
    if (held.has(id)) {
      held.delete(id);
      held.set(id, kind);
      return id;
    }
    const worker = this.workers[w]!;
    if (kind === 'graph') worker.post({ t: 'graph', id, graph: o as IrGraph } satisfies ToWorker);
    else {
      const t = o as Tensor;
      // a view would carry its whole underlying buffer: send a compact copy
      const data = t.data.byteOffset === 0 && t.data.byteLength === t.data.buffer.byteLength ? t.data : Float64Array.from(t.data);
      worker.post({ t: 'data', id, data: { shape: t.shape, data } } satisfies ToWorker);
    }
    held.set(id, kind);
    const graphs = [...held].filter(([, k]) => k === kind);
    const limit = kind === 'graph' ? GRAPHS_KEPT : 2;
    if (graphs.length > limit) {
      const drop = graphs.slice(0, graphs.length - limit).map(([i]) => i);
      for (const i of drop) held.delete(i);
      worker.post({ t: 'forget', ids: drop } satisfies ToWorker);
    }
    return id;
  }

  private send(task: ForwardTask): Promise<ForwardResult> {
    if (this.fatal) return Promise.reject(this.fatal);
    const w = task.chunk % this.threads;
    const { graph, data, ...rest } = task;
    const wire: WireTask = { ...rest, graph: this.ensure(w, graph, 'graph'), data: this.ensure(w, data, 'data') };
    const id = this.nextTask++;
    return new Promise<ForwardResult>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.workers[w]!.post({ t: 'task', id, task: wire } satisfies ToWorker);
    });
  }

  /**
   * Runs a job: each worker gets its chunks in task order, at most {@link DEPTH} at a time; results
   * are consumed in task order; after `consume` returns false nothing more is sent, and the job
   * returns once the tasks in flight have finished.
   */
  private runJob(job: Job, onProgress?: ProgressCallback): Promise<ForwardResult[]> {
    const tasks = job.tasks;
    reportJob(job, 0, onProgress);
    const queues: number[][] = this.workers.map(() => []);
    tasks.forEach((t, i) => queues[t.chunk % this.threads]!.push(i));
    const results: (ForwardResult | undefined)[] = new Array(tasks.length);
    const inFlight = new Array<number>(this.threads).fill(0);
    let consumed = 0;
    let stopped = false;
    let running = 0;
    return new Promise<ForwardResult[]>((resolve, reject) => {
      let failed = false;
      const finish = () => {
        if (running === 0 && (stopped || consumed === tasks.length)) resolve(results.slice(0, consumed) as ForwardResult[]);
      };
      const pump = (w: number) => {
        while (!stopped && !failed && inFlight[w]! < DEPTH && queues[w]!.length > 0) {
          const i = queues[w]!.shift()!;
          inFlight[w]!++;
          running++;
          this.send(tasks[i]!).then(
            (r) => {
              inFlight[w]!--;
              running--;
              if (failed) return;
              results[i] = r;
              while (!stopped && consumed < tasks.length && results[consumed] !== undefined) {
                const k = consumed++;
                reportJob(job, consumed, onProgress);
                if (job.consume?.(k, results[k]!) === false) stopped = true;
              }
              pump(w);
              finish();
            },
            (e: Error) => {
              inFlight[w]!--;
              running--;
              if (!failed) {
                failed = true;
                reject(e);
              }
            },
          );
        }
      };
      if (tasks.length === 0) return resolve([]);
      for (let w = 0; w < this.threads; w++) pump(w);
    });
  }
}
