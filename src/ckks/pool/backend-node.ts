/**
 * @module ckks/pool/backend-node
 * The worker pool's backend for Node: `worker_threads` workers, init data as `workerData`, and a
 * `MessageChannel` for registrations (read synchronously by the worker with receiveMessageOnPort).
 * Loaded only under Node (`selectBackend`), so browsers never see `node:` imports.
 */
import type { MessagePort as NodeMessagePort, Worker as NodeWorker } from 'node:worker_threads';
import type { WorkerBackend } from './backend.js';

/** The Node backend (the calling thread may block in Atomics.wait). */
export async function nodeBackend(): Promise<WorkerBackend> {
  const wt = await import('node:worker_threads');
  return {
    canBlock: true,
    spawn(url, init, transfer) {
      const w: NodeWorker = new wt.Worker(url, { workerData: init, transferList: transfer as never[] });
      return {
        post: (m, t) => w.postMessage(m, t as never[]),
        onMessage: (f) => void w.on('message', f),
        onError: (f) => void w.on('error', f),
        terminate: () => w.terminate(),
        ref: () => w.ref(),
        unref: () => w.unref(),
      };
    },
    channel() {
      const ch = new wt.MessageChannel();
      ch.port1.unref();
      return { send: (m) => ch.port1.postMessage(m), workerEnd: ch.port2 as NodeMessagePort };
    },
    defaultWorkerUrl() {
      const here = new URL(import.meta.url);
      if (here.pathname.endsWith('.ts')) {
        // running from sources (e.g. under vitest): use the compiled worker from `npm run build`
        return new URL(here.href.replace(/\/src\/ckks\/pool\/backend-node\.ts$/, '/dist/src/ckks/pool/worker.js'));
      }
      return new URL('./worker.js', here);
    },
  };
}
