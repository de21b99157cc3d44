/**
 * @module ckks/pool/node-absent
 * What `#pool-node` resolves to outside Node (package.json `imports`, `default` condition): the
 * same names as `node.ts`, each refusing with a typed error. Reached only if code that
 * detected Node runs from a bundle built for the web (e.g. a browser bundle loaded by Node).
 */
import { WorkerPoolUnavailableError, type WorkerBackend } from './backend.js';
import type { WorkerHost } from './host.js';

const absent = (): never => {
  throw new WorkerPoolUnavailableError(
    'this build of Veil was bundled for browsers and has no Node worker_threads backend',
    "under Node, import the package itself ('veil-fhe'), not the browser bundle",
  );
};

/** Refuses: no Node backend in a browser build. */
export async function nodeBackend(): Promise<WorkerBackend> {
  return absent();
}

/** Refuses: no Node host in a browser build. */
export async function nodeHost(): Promise<WorkerHost> {
  return absent();
}
