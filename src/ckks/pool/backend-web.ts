/**
 * @module ckks/pool/backend-web
 * The worker pool's backend for browsers: module Web Workers in a cross-origin-isolated page
 * (SharedArrayBuffer available). The init data is the worker's first message; registrations go
 * over a `MessageChannel` whose port is transferred with it. A browser worker cannot receive a
 * message synchronously, so before a fine-grained operation a helper whose registrations have not
 * been delivered yet returns to its event loop once (see `host-web.ts`); the main thread
 * meanwhile works on its share and spins at the barrier (it may not block: `canBlock` is false
 * on a page's main thread, true when the pool is created inside a worker).
 */
import { type WorkerBackend, threadCanBlock } from './backend.js';

/** The Web Worker backend. */
export function webBackend(): WorkerBackend {
  return {
    canBlock: threadCanBlock(),
    spawn(url, init, transfer) {
      const w = new Worker(url, { type: 'module', name: `veil-pool-${init.index}` });
      w.postMessage({ t: 'init', init }, transfer as Transferable[]);
      return {
        post: (m, t) => w.postMessage(m, (t ?? []) as Transferable[]),
        onMessage: (f) => w.addEventListener('message', (e) => f(e.data)),
        onError: (f) => {
          w.addEventListener('error', (e) => {
            e.preventDefault();
            const msg = e instanceof ErrorEvent && e.message ? e.message : `could not load or run ${url.href} (check the URL and that it is served with the COOP/COEP headers)`;
            f(new Error(`pool worker ${init.index}: ${msg}`));
          });
          w.addEventListener('messageerror', () => f(new Error(`pool worker ${init.index}: a message could not be deserialized`)));
        },
        terminate: () => {
          w.terminate();
          return Promise.resolve();
        },
        ref: () => undefined,
        unref: () => undefined,
      };
    },
    channel() {
      const ch = new MessageChannel();
      return { send: (m) => ch.port1.postMessage(m), workerEnd: ch.port2 };
    },
    defaultWorkerUrl: () => new URL('./worker.js', import.meta.url),
  };
}
