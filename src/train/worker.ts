/**
 * @module train/worker
 * Worker side of data-parallel training (`parallel.ts`): a replica of the network over the shared
 * parameter buffer, its own gradient buffer, the shared training set; runs shard steps on request.
 */
import { parentPort } from 'node:worker_threads';
import type { IrGraph } from '../nn/graph.js';
import { type ActivationSpec, Network, floatArray } from './network.js';
import { type Dataset, ShardBuffers, type StepSpec, shardStep } from './step.js';

interface Init {
  graph: IrGraph;
  dtype: 'float32' | 'float64';
  activations: Record<string, ActivationSpec>;
  params: SharedArrayBuffer;
  grads: SharedArrayBuffer;
  data: { x: SharedArrayBuffer; labels: SharedArrayBuffer; shape: number[]; count: number; teacher: SharedArrayBuffer | null };
}

let net: Network | null = null;
let data: Dataset | null = null;
const buf = new ShardBuffers();

parentPort!.on('message', (m: { kind: 'init'; init: Init } | { kind: 'step'; idx: Int32Array; spec: StepSpec; running?: { node: string; mean: Float64Array; variance: Float64Array }[] } | { kind: 'close' }) => {
  try {
    if (m.kind === 'init') {
      const i = m.init;
      const n = i.params.byteLength / (i.dtype === 'float32' ? 4 : 8);
      net = new Network(i.graph, { dtype: i.dtype, activations: i.activations, params: floatArray(i.dtype, n, i.params), grads: floatArray(i.dtype, n, i.grads) });
      data = {
        x: new Float32Array(i.data.x), labels: new Uint8Array(i.data.labels), shape: i.data.shape, count: i.data.count,
        ...(i.data.teacher ? { teacher: new Float32Array(i.data.teacher) } : {}),
      };
      parentPort!.postMessage({ kind: 'ready' });
    } else if (m.kind === 'step') {
      const r = shardStep(net!, data!, m.idx, m.spec, buf);
      parentPort!.postMessage({ kind: 'done', result: r });
    } else {
      process.exit(0);
    }
  } catch (e) {
    parentPort!.postMessage({ kind: 'error', message: e instanceof Error ? `${e.message}\n${e.stack}` : String(e) });
  }
});
