/**
 * Worker thread of the fuzz campaign (`run.ts`): builds the targets once, then runs the cases it is
 * asked for and posts one result per case, so the main thread can tell a hang (no result within the
 * time bound) and restart it from the next case.
 */
import { parentPort } from 'node:worker_threads';
import { CaseStream } from './cases.js';
import { foreignPool, makeTargets, runCase } from './targets.js';

/** A request: cases [from, to) of one target under one campaign seed. */
export interface WorkRequest {
  target: string;
  seed: number;
  from: number;
  to: number;
}

/** A message back: ready, one case's result, or done. */
export type WorkMessage =
  | { t: 'ready' }
  | { t: 'case'; i: number; outcome: string; ms: number; detail?: string }
  | { t: 'done' };

const port = parentPort!;
const targets = makeTargets();
const foreign = foreignPool(targets);
port.postMessage({ t: 'ready' } satisfies WorkMessage);
port.on('message', (req: WorkRequest) => {
  const t = targets.find((x) => x.name === req.target)!;
  const stream = new CaseStream(t.kind, t.name, req.seed);
  for (let i = req.from; i < req.to; i++) {
    const r = runCase(t, stream.get(i), foreign);
    port.postMessage({ t: 'case', i, outcome: r.outcome, ms: r.ms, ...(r.detail !== undefined && r.outcome !== 'typed' && r.outcome !== 'accepted' ? { detail: r.detail } : {}) } satisfies WorkMessage);
  }
  port.postMessage({ t: 'done' } satisfies WorkMessage);
});
