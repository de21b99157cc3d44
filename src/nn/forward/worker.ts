/**
 * @module nn/forward/worker
 * Entry of a {@link ForwardPool} worker: holds the graphs and data sets it was sent, runs chunk
 * tasks on a {@link ForwardExecutor} (which keeps each chunk's values between tasks) and posts the
 * results. The platform (Node `worker_threads` or a Web Worker) comes from the CKKS pool's host
 * layer, so this file has no `node:` import.
 */
import { InternalError } from '../../errors.js';
import { workerHost } from '../../ckks/pool/host.js';
import { ForwardExecutor } from './forward.js';
import type { FromWorker, ToWorker } from './pool.js';
import type { IrGraph, Tensor } from '../graph.js';

// the host must be obtained before any other await (a browser worker listens for its init message)
const host = await workerHost();
const executor = new ForwardExecutor();
const graphs = new Map<number, IrGraph>();
const data = new Map<number, Tensor>();

host.onMessage((raw) => {
  const m = raw as ToWorker;
  switch (m.t) {
    case 'graph':
      graphs.set(m.id, m.graph);
      return;
    case 'data':
      data.set(m.id, m.data);
      return;
    case 'forget':
      for (const id of m.ids) {
        graphs.delete(id);
        data.delete(id);
      }
      return;
    case 'reset':
      executor.reset();
      graphs.clear();
      data.clear();
      return;
    case 'task': {
      let reply: FromWorker;
      try {
        const g = graphs.get(m.task.graph);
        const x = data.get(m.task.data);
        if (!g || !x) throw new InternalError(`forward worker lacks graph ${m.task.graph} or data ${m.task.data}`);
        reply = { t: 'result', id: m.id, result: executor.run({ ...m.task, graph: g, data: x }) };
      } catch (e) {
        const err = e as Error & { nodeName?: string; code?: string; fix?: string };
        reply = {
          t: 'error', id: m.id, name: err.name, message: err.message,
          ...(err.nodeName === undefined ? {} : { nodeName: err.nodeName }), ...(typeof err.code === 'string' ? { code: err.code } : {}), ...(typeof err.fix === 'string' ? { fix: err.fix } : {}),
        };
      }
      host.post(reply);
      return;
    }
  }
});
host.post({ t: 'ready' } satisfies FromWorker);
