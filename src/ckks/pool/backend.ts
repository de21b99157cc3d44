/**
 * @module ckks/pool/backend
 * The main-thread side of the worker pool's platform layer: what `WorkerPool` needs from a
 * platform (spawn a worker, talk to it, a registration channel, whether this thread may block),
 * and the choice of implementation: Node `worker_threads` (`backend-node.ts`) or Web Workers
 * in a cross-origin-isolated page (`backend-web.ts`). Kept apart from `pool.ts` so the pool's
 * logic stays platform-free and neither implementation is loaded where it cannot run.
 */
import { VeilError } from '../errors.js';
import type { WorkerInit } from './host.js';

/** What the pool needs from a platform: spawn a worker and talk to it. */
export interface WorkerBackend {
  /** Starts the worker at `url` and hands it `init` (moving the objects in `transfer`). */
  spawn(url: URL, init: WorkerInit, transfer: readonly unknown[]): BackendWorker;
  /**
   * A FIFO channel for registrations (messages carrying shared buffers, see `engine.ts`).
   * `workerEnd` travels in `WorkerInit.syncPort`. The worker reads it without awaiting: Node with
   * receiveMessageOnPort; a browser worker from the messages its event loop has delivered.
   */
  channel(): { send(m: unknown): void; workerEnd: unknown };
  /** Whether the calling thread may block in Atomics.wait (false on a browser main thread). */
  readonly canBlock: boolean;
  /** The worker entry used when `WorkerPoolOptions.workerUrl` is not given. */
  defaultWorkerUrl(): URL;
}

/** A spawned worker. */
export interface BackendWorker {
  post(m: unknown, transfer?: readonly unknown[]): void;
  onMessage(f: (m: unknown) => void): void;
  onError(f: (e: Error) => void): void;
  terminate(): Promise<unknown>;
  /** Keep the process alive while work is pending (Node); no-op in browsers. */
  ref(): void;
  unref(): void;
}

/** `WorkerPool.create` cannot run here: no worker threads, or no SharedArrayBuffer. */
export class WorkerPoolUnavailableError extends VeilError {
  static override readonly code: string = 'WORKER_POOL_UNAVAILABLE';
}

/** Whether this thread may block in Atomics.wait (a browser's main thread may not: it throws). */
export function threadCanBlock(): boolean {
  try {
    // the agent check comes before the value comparison: throws on a browser main thread
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * The backend of the current platform: Node when `process.versions.node` exists, else Web
 * Workers if the page is cross-origin isolated; throws `WorkerPoolUnavailableError` otherwise.
 */
export async function selectBackend(): Promise<WorkerBackend> {
  const g = globalThis as { process?: { versions?: { node?: string } }; crossOriginIsolated?: boolean; Worker?: unknown };
  if (g.process?.versions?.node) {
    if (typeof SharedArrayBuffer === 'undefined') {
      throw new WorkerPoolUnavailableError('WorkerPool needs SharedArrayBuffer, which this Node runtime lacks', 'use Node ≥ 20');
    }
    return (await import('#pool-node')).nodeBackend();
  }
  if (typeof g.Worker === 'undefined') {
    throw new WorkerPoolUnavailableError(
      'WorkerPool needs worker threads, and this environment has neither Node worker_threads nor Web Workers',
      'run in Node ≥ 20 or in a browser page, or use an Evaluator without { pool }',
    );
  }
  if (g.crossOriginIsolated !== true || typeof SharedArrayBuffer === 'undefined') {
    throw new WorkerPoolUnavailableError(
      'WorkerPool needs SharedArrayBuffer, which browsers enable only in cross-origin-isolated pages (crossOriginIsolated is false)',
      'serve the page and its scripts with the headers "Cross-Origin-Opener-Policy: same-origin" and "Cross-Origin-Embedder-Policy: require-corp"',
    );
  }
  return (await import('./backend-web.js')).webBackend();
}
