/**
 * @module ckks/pool/host-web
 * A pool worker's platform in a browser (a module Web Worker started by `backend-web.ts`).
 * The init data is the first message. Registrations arrive on the transferred `syncPort`; a Web
 * Worker has no synchronous receive (no receiveMessageOnPort), and the registrations carry fresh
 * SharedArrayBuffers, which only postMessage can hand over. So they are queued as the event loop
 * delivers them, `receiveSync` takes from that queue, and a helper missing one returns to its
 * event loop before the command (one short yield the first time a key or evaluator is used).
 */
import type { WorkerHost, WorkerInit } from './host.js';

/** What this module uses of a dedicated worker's global scope (the DOM lib types `self` as a Window). */
interface WorkerScope {
  addEventListener(type: 'message', f: (e: MessageEvent) => void): void;
  postMessage(m: unknown): void;
}

/**
 * The host of the current Web Worker; resolves when the init message has arrived. Must be called
 * before the worker's first `await`, so that no message is dispatched before it listens.
 */
export function webHost(): Promise<WorkerHost> {
  const scope = globalThis as unknown as WorkerScope;
  let handler: ((m: unknown) => void) | undefined;
  const early: unknown[] = [];
  return new Promise<WorkerHost>((resolve) => {
    let started = false;
    scope.addEventListener('message', (e) => {
      const m = e.data as { t?: string; init?: WorkerInit };
      if (!started && m?.t === 'init' && m.init) {
        started = true;
        resolve(makeHost(m.init, scope, (f) => {
          handler = f;
          for (const x of early.splice(0)) f(x);
        }));
        return;
      }
      if (handler) handler(m);
      else early.push(m);
    });
  });
}

function makeHost(init: WorkerInit, scope: WorkerScope, onMessage: (f: (m: unknown) => void) => void): WorkerHost {
  const queue: unknown[] = [];
  let head = 0;
  const sync = init.syncPort as MessagePort | undefined;
  if (sync) sync.onmessage = (e) => void queue.push(e.data); // setting onmessage starts the port
  const tick = new MessageChannel();
  const soonQueue: (() => void)[] = [];
  tick.port1.onmessage = () => soonQueue.shift()?.();
  return {
    init,
    post: (m) => scope.postMessage(m),
    onMessage,
    receiveSync() {
      if (head === queue.length) return undefined;
      const message = queue[head];
      queue[head++] = undefined;
      if (head === queue.length) queue.length = head = 0;
      return { message };
    },
    receiveNeedsYield: true,
    soon(f) {
      soonQueue.push(f);
      tick.port2.postMessage(0);
    },
  };
}
