/**
 * The web demo's inference worker (a Node worker thread): it compiles the model, keeps one `Server`
 * per browser session (built from that session's evaluation keys) and runs inferences one at a
 * time, posting per-layer progress. Inference is synchronous CPU work; running it here keeps the
 * HTTP thread free to stream that progress to the page.
 *
 * Messages in:  { t: 'keys', session, bytes } | { t: 'infer', job, session, bytes } | { t: 'drop', session }
 * Messages out: { t: 'ready', plan, compileSeconds } | { t: 'keys-ok' | 'keys-error', session, … }
 *               | { t: 'progress', job, op, node, index, total, seconds } | { t: 'done', job, bytes, layers, seconds }
 *               | { t: 'failed', job, message }
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Server } from '../../src/index.js';
import { buildDemoModel } from './model.js';
import type { Layout } from '../../src/nn/compile/compile.js';

type In =
  | { t: 'keys'; session: string; bytes: Uint8Array }
  | { t: 'infer'; job: string; session: string; bytes: Uint8Array }
  | { t: 'drop'; session: string };

const port = parentPort!;
const t0 = performance.now();
const model = buildDemoModel((workerData as { layout: Layout }).layout);
port.postMessage({ t: 'ready', plan: model.plan, compileSeconds: (performance.now() - t0) / 1000 });

const servers = new Map<string, Server>();
const describe = (e: unknown) => (e instanceof Error ? e.message : String(e));

port.on('message', (m: In) => {
  if (m.t === 'drop') {
    servers.delete(m.session);
  } else if (m.t === 'keys') {
    try {
      servers.set(m.session, new Server(model, m.bytes));
      port.postMessage({ t: 'keys-ok', session: m.session });
    } catch (e) {
      port.postMessage({ t: 'keys-error', session: m.session, message: describe(e) });
    }
  } else if (m.t === 'infer') {
    const server = servers.get(m.session);
    if (!server) {
      port.postMessage({ t: 'failed', job: m.job, message: 'unknown session (the server restarted or dropped it): reload the page to send new keys' });
      return;
    }
    try {
      const t = performance.now();
      const out = server.infer(m.bytes, (p) => port.postMessage({ t: 'progress', job: m.job, ...p }));
      const layers = server.timings.map((x) => ({ op: x.op, node: x.node, seconds: x.seconds }));
      port.postMessage({ t: 'done', job: m.job, bytes: out, layers, seconds: (performance.now() - t) / 1000 }, [out.buffer as ArrayBuffer]);
    } catch (e) {
      port.postMessage({ t: 'failed', job: m.job, message: describe(e) });
    }
  }
});
