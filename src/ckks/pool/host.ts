/**
 * @module ckks/pool/host
 * The worker side of the pool's platform layer: how a pool worker gets its init data, talks to
 * the main thread, reads registrations without awaiting, and yields to its event loop. Node
 * (`host-node.ts`, `worker_threads`) and browsers (`host-web.ts`, Web Workers) implement
 * it, so `worker.ts` has no `node:` imports and loads in both.
 */
import type { ParametersLiteral } from '../params.js';
import { webHost } from './host-web.js';

/** What `WorkerPool.create` passes to each worker. */
export interface WorkerInit {
  lit: ParametersLiteral;
  index: number;
  helper: boolean;
  ctrl: SharedArrayBuffer;
  /** Shared text buffer for the error message of a failed fine-grained operation. */
  errText: SharedArrayBuffer;
  /** Coarse task messages posted to each worker (index C_TASKS + worker): a pending one makes a helper yield. */
  tasks: SharedArrayBuffer;
  modules: string[];
  /** Receiving end of the registration channel (helpers only): a Node or Web MessagePort. */
  syncPort?: unknown;
}

/** A pool worker's view of its platform. */
export interface WorkerHost {
  readonly init: WorkerInit;
  /** Posts to the main thread. */
  post(m: unknown): void;
  /** Handles messages from the main thread (tasks, keys). */
  onMessage(f: (m: unknown) => void): void;
  /**
   * The next registration, if it can be had without returning to the event loop; `undefined`
   * otherwise (Node: not yet visible, retry; browser: not yet delivered, yield first).
   */
  receiveSync(): { message: unknown } | undefined;
  /** True if a missing registration must be waited for in the event loop (browsers), false if spinning suffices (Node). */
  readonly receiveNeedsYield: boolean;
  /** Runs `f` soon, after pending events (setImmediate in Node, a message to self in browsers). */
  soon(f: () => void): void;
}

/**
 * The host of the current platform (Node when `process.versions.node` exists, else a Web Worker).
 * Call it before any `await` in the worker: in a browser it must listen for the init message
 * from the start (the web host is therefore imported statically; it has no platform imports).
 */
export async function workerHost(): Promise<WorkerHost> {
  const g = globalThis as { process?: { versions?: { node?: string } } };
  if (g.process?.versions?.node) return (await import('#pool-node')).nodeHost();
  return webHost();
}
