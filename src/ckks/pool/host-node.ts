/**
 * @module ckks/pool/host-node
 * A pool worker's platform under Node `worker_threads`: init data from `workerData`, messages on
 * `parentPort`, registrations read synchronously with `receiveMessageOnPort` (so a helper never
 * leaves its command loop to get them). Imported dynamically, only under Node.
 */
import type { MessagePort } from 'node:worker_threads';
import { PlatformError } from '../../errors.js';
import type { WorkerHost, WorkerInit } from './host.js';

/** The Node host of the current worker thread. */
export async function nodeHost(): Promise<WorkerHost> {
  const wt = await import('node:worker_threads');
  const port = wt.parentPort;
  if (!port) throw new PlatformError('pool-worker: not running in a worker thread', 'do not run the worker script directly: WorkerPool.create starts it');
  const init = wt.workerData as WorkerInit;
  const sync = init.syncPort as MessagePort | undefined;
  return {
    init,
    post: (m) => port.postMessage(m),
    onMessage: (f) => void port.on('message', f),
    receiveSync: () => (sync ? wt.receiveMessageOnPort(sync) : undefined),
    receiveNeedsYield: false,
    soon: (f) => void setImmediate(f),
  };
}
